// The two validators on every record the fuzzer makes: each mapping writes the document with its
// compiled checks on, Xerces parses the same bytes, and their verdicts must be the same. Input:
// "agency/record_type\n" then one record (fuzz_record's corpus). Any disagreement is a defect of
// one of them (docs/ARCHITECTURE.md, "Two validators").
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "mapping/mapping.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static mapping::converter conv(lib, {}, {}, mapping::validation_mode::both);
  auto [m, record] = fuzz::addressed_record(*lib, {reinterpret_cast<const char*>(data), size});
  if (!m) return 0;
  if (!m->checks_complete()) fuzz::defect("a project mapping without complete compiled checks");
  auto r = conv.convert(*m, record, "fuzz");
  if (!r.ok() && r.errors().front().code == base::errc::xml_validators_disagree) {
    auto written = m->map(record, "fuzz", {}, nullptr, true);
    fuzz::defect("the compiled checker and Xerces disagree: " + r.errors().front().message +
                 (written.ok() ? "\n" + written.value().document : std::string()));
  }
  return 0;
}
