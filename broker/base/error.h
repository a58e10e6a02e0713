#pragma once
// The catalogue of stable error codes, defined once in errors.inc. Every reason a record is
// rejected, dead-lettered or withheld has one code; the same string appears in logs, metrics,
// dead-letter properties and the audit trail, so codes are never renamed or reused.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace niem::base {

enum class errc : std::uint16_t {
  ok = 0,
#define NIEM_ERROR(e, number, name, summary, meaning) e = number,
#include "base/errors.inc"
#undef NIEM_ERROR
};

struct error_info {
  errc code;
  std::string_view id;       // stable string id, e.g. "NIEM-105"
  std::string_view name;     // short machine name, e.g. "record.bad_date"
  std::string_view summary;  // one line for people
  std::string_view meaning;  // the catalogue's entry (docs/ERRORS.md)
};

// Looks up the catalogue entry for a code (never fails: unknown codes map to `internal`).
const error_info& info(errc code);
std::string_view code_id(errc code);
// The code of a stable id ("NIEM-105"); `internal` for an unknown one.
errc parse_code(std::string_view id);
// The whole catalogue, in code order (for docs and for the catalogue test).
const std::vector<error_info>& catalogue();
// The catalogue as the Markdown table of docs/ERRORS.md (which is generated from it).
std::string catalogue_markdown();

// A diagnostic: one problem with where it was found. `where` is a human locator (file:line:col,
// record index, element path) and `field` names the source field or NIEM path involved.
struct diagnostic {
  errc code = errc::internal;
  std::string message;
  std::string where;
  std::string field;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

std::string format(const diagnostic& d);

}  // namespace niem::base
