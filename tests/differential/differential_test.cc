// The compiled checker against Xerces on every record the project has and on mutations of them:
// each document is judged by both (validation mode `both`), and they must never disagree.
// NIEM_DIFFERENTIAL_RECORDS sets the mutated records per mapping (default 2,500: over 10^4 for each
// of the two libraries); the long run in the README sets it high on a release build.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "differential/mutations.h"
#include "mapping/mapping.h"

namespace fs = std::filesystem;
using namespace niem;

namespace {

struct tally {
  std::uint64_t records = 0, valid = 0, invalid = 0, refused = 0, disagreements = 0;
  std::vector<std::string> shown;  // the first disagreements, for the failure message
  std::map<std::string, std::uint64_t> invalid_by_mapping;
};

std::vector<std::string> mapping_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.path().filename() == "mapping.xml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

void judge(mapping::converter& conv, const mapping::compiled_mapping& m, const std::string& rec,
           tally& t) {
  ++t.records;
  auto r = conv.convert(m, rec, "record");
  if (r.ok()) {
    ++t.valid;
    return;
  }
  const auto& first = r.errors().front();
  if (first.code == base::errc::xml_validators_disagree) {
    ++t.disagreements;
    if (t.shown.size() < 20)
      t.shown.push_back(fmt::format("{}: {} [{}]\n  record: {}", m.file(), first.message,
                                    first.field, rec.substr(0, 400)));
  } else if (first.code == base::errc::xml_schema_invalid) {
    ++t.invalid;
    ++t.invalid_by_mapping[m.file()];
  } else {
    ++t.refused;
  }
}

std::uint64_t budget_per_mapping() {
  if (const char* e = std::getenv("NIEM_DIFFERENTIAL_RECORDS"))
    return std::strtoull(e, nullptr, 10);
  return 2500;
}

tally run_library(const fs::path& dir) {
  auto lib = mapping::mapping_library::load(
      mapping_files(dir), std::string(NIEM_SOURCE_ROOT) + "/schemas/mapping/mapping.xsd");
  REQUIRE(lib.ok());
  mapping::converter conv(lib.value(), {}, {}, mapping::validation_mode::both);
  tally t;
  std::uint64_t n = 0;
  for (const auto& m : lib.value()->mappings()) {
    INFO(m->file());
    CHECK(m->checks_complete());
    const auto seeds = test::seed_records(*m);
    CHECK(!seeds.empty());
    for (const auto& s : seeds) judge(conv, *m, s, t);
    test::mutated_records(*m, seeds, budget_per_mapping(), 0x5eed + n++,
                          [&](const std::string& rec) { judge(conv, *m, rec, t); });
  }
  std::cout << fmt::format(
      "{}: {} records, {} valid, {} invalid (both agree), {} refused by the mapping, {} "
      "disagreements\n",
      dir.string(), t.records, t.valid, t.invalid, t.refused, t.disagreements);
  for (const auto& [file, count] : t.invalid_by_mapping)
    std::cout << fmt::format("  {}: {} invalid\n", file, count);
  return t;
}

void require_agreement(const tally& t) {
  std::string shown;
  for (const auto& s : t.shown) shown += s + "\n";
  INFO(shown);
  CHECK(t.disagreements == 0);
  // The records reach both verdicts (a corpus judged all valid would prove nothing).
  CHECK(t.valid > 0);
  CHECK(t.invalid > 0);
}

}  // namespace

TEST_CASE("the compiled checker and Xerces agree on the project's mappings and their mutations") {
  auto t = run_library(fs::path(NIEM_SOURCE_ROOT) / "mappings");
  require_agreement(t);
  if (!std::getenv("NIEM_DIFFERENTIAL_RECORDS")) CHECK(t.records >= 10'000);
}

TEST_CASE("the compiled checker and Xerces agree on the published IEPDs' mappings") {
  auto t = run_library(fs::path(NIEM_SOURCE_ROOT) / "tests" / "iepd");
  require_agreement(t);
}
