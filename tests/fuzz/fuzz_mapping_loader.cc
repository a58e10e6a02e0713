// The mapping loader (niem-map and the broker at start-up) on any mapping file: parsed against the
// mapping language schema, then compiled against the exchange schema it names (relative to it, as
// in the project: ../../schemas/exchange/...). Every refusal names a code and the file.
#include <cstdint>

#include "fuzz_loaders.h"
#include "mapping/mapping.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto file = fuzz::staged_file("mappings/fuzz/mapping.xml", {"schemas"});
  static const auto xsd = testing::source_root() + "/schemas/mapping/mapping.xsd";
  fuzz::write_file(file, {reinterpret_cast<const char*>(data), size});
  auto r = mapping::mapping_library::load({file}, xsd);
  fuzz::check_load_report(r, file);
  return 0;
}
