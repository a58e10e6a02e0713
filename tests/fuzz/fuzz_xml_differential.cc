// Two parsers, one verdict: the broker's hardened Xerces validation and libxml2 must agree on
// well-formedness and validity of any document against the exchange schemas. Excluded, because
// the broker refuses them by design before any schema question: documents with a DOCTYPE (no
// DTDs), documents beyond the hardening limits, documents not in UTF-8, and roots in no exchange's
// namespace.
#include <cstdint>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static validation::validator xerces(lib->schemas());
  static const auto& xml2 = fuzz::libxml2();
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto x = xerces.validate(doc, "fuzz");
  if (refused_by_design(x)) return 0;
  auto l = xml2.check(doc);
  using v = fuzz::libxml2_schemas::verdict;
  if (l == v::no_schema) return 0;
  if (x.valid != (l == v::valid)) {
    std::string why = x.diagnostics.empty() ? "" : x.diagnostics.front().message;
    fuzz::defect(std::string("Xerces says ") + (x.valid ? "valid" : "invalid (" + why + ")") +
                 ", libxml2 says " + (l == v::valid ? "valid" : "not valid"));
  }
  return 0;
}
