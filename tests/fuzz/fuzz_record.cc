// Each mapping's record path (JSON and delimited) as the pipeline runs it: map, then validate with
// Xerces. Input: "agency/record_type\n" then one record. Checked beyond "no crash": a document
// the converter accepts is also valid for libxml2 (the mapping core must never write a value the
// XSD specification excludes, whatever one validator allows), and converting is deterministic.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "mapping/mapping.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static mapping::converter conv(lib);
  static const auto& xml2 = fuzz::libxml2();
  auto [m, record] = fuzz::addressed_record(*lib, {reinterpret_cast<const char*>(data), size});
  if (!m) return 0;
  auto r = conv.convert(*m, record, "fuzz");
  if (!r.ok()) {
    if (r.errors().empty()) fuzz::defect("a refused record without a diagnostic");
    return 0;
  }
  const auto& doc = r.value().document;
  auto v = xml2.check(doc);
  if (v != fuzz::libxml2_schemas::verdict::valid)
    fuzz::defect("converted document that libxml2 does not call valid:\n" + doc);
  auto again = conv.convert(*m, record, "fuzz");
  if (!again.ok() || again.value().document != doc) fuzz::defect("conversion is not deterministic");
  return 0;
}
