// Two parsers, one verdict: the broker's hardened Xerces validation and libxml2 must agree on
// well-formedness and validity of any document against the exchange schemas. Excluded, because
// the broker refuses them by design before any schema question: documents with a DOCTYPE (no
// DTDs), documents beyond the hardening limits, documents not in UTF-8, and roots in no exchange's
// namespace. Four known differences, all libxml2's, are allowed: see only_dangling_idrefs,
// only_padded_dates, holds_nul and has_two_colon_name; and one of the broker's by design:
// only_other_version.
#include <cstdint>
#include <cstring>

#include "fuzz_support.h"
#include "validation/validation.h"

using namespace niem;

namespace {

bool refused_by_design(const validation::validation_report& r) {
  for (const auto& d : r.diagnostics) switch (d.code) {
      case base::errc::xml_doctype_forbidden:
      case base::errc::xml_external_entity:
      case base::errc::xml_too_large:
      case base::errc::xml_too_deep:
      case base::errc::xml_too_many_elements:
      case base::errc::xml_too_many_attributes:
      case base::errc::xml_text_too_large:
      case base::errc::xml_no_grammar:
      case base::errc::xml_encoding_not_utf8:
        return true;
      default:
        break;
    }
  return false;
}

// libxml2 does not check that every IDREF names an ID of the document (XML Schema 1.0 part 1,
// 3.3.4, Validation Root Valid), which Xerces does: a dangling structures:ref is invalid to
// Xerces and valid to libxml2. Known, and the safe way round (the broker refuses more).
bool only_dangling_idrefs(const validation::validation_report& r) {
  if (r.diagnostics.empty()) return false;
  for (const auto& d : r.diagnostics)
    if (d.message.find("is referenced but was never declared") == std::string::npos) return false;
  return true;
}

// libxml2 2.9.14 does not collapse whitespace around the values of the date and time types
// (xs:date, xs:dateTime, xs:gYear, ...), whose whiteSpace facet is fixed to collapse: a valid
// <nc:Date> 2019-02-28</nc:Date> is invalid to it. Every error must be of that kind.
bool only_padded_dates(const std::vector<std::string>& errors) {
  if (errors.empty()) return false;
  for (const auto& e : errors) {
    auto type = e.find("is not a valid value of the atomic type 'xs:");
    if (type == std::string::npos) return false;
    static const char* dates[] = {"xs:date'",      "xs:dateTime'",   "xs:time'",
                                  "xs:gYear'",     "xs:gYearMonth'", "xs:gMonth'",
                                  "xs:gMonthDay'", "xs:gDay'",       "xs:duration'"};
    bool date = false;
    for (const char* d : dates) date = date || e.compare(type + 41, std::strlen(d), d) == 0;
    // The value is quoted after "': '"; padded means whitespace just inside its quotes.
    auto open = e.rfind("': '", type);
    auto close = e.rfind("' is not a valid value", type + 1);
    if (!date || open == std::string::npos || close == std::string::npos || close <= open + 4)
      return false;
    auto first = e[open + 4], last = e[close - 1];
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    if (!ws(first) && !ws(last)) return false;
  }
  return true;
}

// libxml2 2.9.14, given a buffer and its size, stops at a NUL byte after the root element and
// calls the rest trailing nothing: `<a/>\0\x80` is well-formed to it. A NUL is no XML character
// anywhere, and Xerces (with the broker's UTF-8 check) refuses the document. Found by CI's
// fuzz_xml_differential (regression-nul-after-root); the safe way round.
bool holds_nul(std::string_view doc) {
  return doc.find('\0') != std::string_view::npos;
}

// The broker refuses a document whose XML declaration names a version other than 1.0 (a 1.1
// document reads under other character and line-end rules: one record, two readings). XML 1.0
// (5th edition, 2.8) lets a 1.0 processor read "1.1" as 1.0, and libxml2 does. Found by a
// fuzz_xml_differential campaign (regression-xml-version-1.1); the safe way round.
bool only_other_version(const validation::validation_report& r) {
  return r.diagnostics.size() == 1 && r.diagnostics[0].code == base::errc::xml_not_well_formed &&
         r.diagnostics[0].message.find("(only 1.0 is accepted)") != std::string::npos;
}

// A name with two colons (`xmlns:a:b="..."`) is no QName: the document is not namespace-well-formed
// (Namespaces in XML 1.0, section 3). Xerces refuses it; libxml2 reports a namespace error and
// still reads and validates the document. Found by CI's fuzz_xml_differential
// (regression-two-colon-name); the safe way round.
bool has_two_colon_name(std::string_view doc) {
  auto name_char = [](char c) {
    return !(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '=' || c == '/' || c == '>' ||
             c == '<' || c == '"' || c == '\'');
  };
  for (std::size_t i = 0; i < doc.size(); ++i) {
    if (doc[i] != '<' || i + 1 >= doc.size() || doc[i + 1] == '!' || doc[i + 1] == '?') continue;
    // Through the tag, skipping quoted values; each name's colons counted.
    std::size_t j = i + 1, colons = 0;
    char quote = 0;
    for (; j < doc.size() && (quote || doc[j] != '>'); ++j) {
      char c = doc[j];
      if (quote) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '"' || c == '\'') {
        quote = c;
        colons = 0;
      } else if (!name_char(c)) {
        colons = 0;
      } else if (c == ':' && ++colons >= 2) {
        return true;
      }
    }
    i = j;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static validation::validator xerces(lib->schemas());
  static const auto& xml2 = fuzz::libxml2();
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto x = xerces.validate(doc, "fuzz");
  if (refused_by_design(x)) return 0;
  std::vector<std::string> xml2_errors;
  auto l = xml2.check(doc, &xml2_errors);
  using v = fuzz::libxml2_schemas::verdict;
  if (l == v::no_schema) return 0;
  if (!x.valid && l == v::valid && only_dangling_idrefs(x)) return 0;
  if (!x.valid && l == v::valid && holds_nul(doc)) return 0;
  if (!x.valid && l == v::valid && only_other_version(x)) return 0;
  if (!x.valid && l == v::valid && has_two_colon_name(doc)) return 0;
  if (x.valid && l == v::invalid && only_padded_dates(xml2_errors)) return 0;
  if (x.valid != (l == v::valid)) {
    std::string why = x.diagnostics.empty() ? "" : x.diagnostics.front().message;
    fuzz::defect(std::string("Xerces says ") + (x.valid ? "valid" : "invalid (" + why + ")") +
                 ", libxml2 says " + (l == v::valid ? "valid" : "not valid"));
  }
  return 0;
}
