#pragma once
// Records for the differential tests of the two validators: each mapping's own records (golden
// inputs, examples, negative fixtures) and variants of them with one field, then several, set to
// values at and past the edges of what schemas allow.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mapping/mapping.h"

namespace niem::test {

// The records beside a mapping: tests/*.input.*, tests/bad/*, examples/* (one JSON document per
// .json file, one per line otherwise; a delimited file's header skipped).
std::vector<std::string> seed_records(const mapping::compiled_mapping& m);

// Calls `each` with up to `budget` variants of `seeds`: first every field of every seed set to
// each edge value and each code of the mapping's tables, removed, and joined by an unknown field;
// then, while the budget lasts, random combinations of two or three such changes (`seed` fixes
// the sequence).
void mutated_records(const mapping::compiled_mapping& m, const std::vector<std::string>& seeds,
                     std::uint64_t budget, std::uint64_t seed,
                     const std::function<void(const std::string&)>& each);

}  // namespace niem::test
