// Two parsers, one verdict: the broker's hardened Xerces validation and libxml2 must agree on
// well-formedness and validity of any document against the exchange schemas. Excluded, because
// the broker refuses them by design before any schema question: documents with a DOCTYPE (no
// DTDs), documents beyond the hardening limits, documents not in UTF-8, and roots in no exchange's
// namespace. One known difference is allowed: see only_dangling_idrefs.
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

// libxml2 does not check that every IDREF names an ID of the document (XML Schema 1.0 part 1,
// 3.3.4, Validation Root Valid), which Xerces does: a dangling structures:ref is invalid to
// Xerces and valid to libxml2. Known, and the safe way round (the broker refuses more).
bool only_dangling_idrefs(const validation::validation_report& r) {
  if (r.diagnostics.empty()) return false;
  for (const auto& d : r.diagnostics)
    if (d.message.find("is referenced but was never declared") == std::string::npos) return false;
  return true;
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
  if (!x.valid && l == v::valid && only_dangling_idrefs(x)) return 0;
  if (x.valid != (l == v::valid)) {
    std::string why = x.diagnostics.empty() ? "" : x.diagnostics.front().message;
    fuzz::defect(std::string("Xerces says ") + (x.valid ? "valid" : "invalid (" + why + ")") +
                 ", libxml2 says " + (l == v::valid ? "valid" : "not valid"));
  }
  return 0;
}
