// The agreement loader (the broker at start-up, niem-dsa check) on any agreement file, checked
// against the project's exchange schemas (a filter may not drop a required element). Every
// refusal names a code and the file.
#include <cstdint>

#include "fuzz_loaders.h"
#include "routing/agreement.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static const auto file = fuzz::staged_file("config/agreements/fuzz.xml", {});
  static const auto xsd = testing::source_root() + "/schemas/agreement/agreement.xsd";
  static const auto roots = lib->exchanges();
  fuzz::write_file(file, {reinterpret_cast<const char*>(data), size});
  auto r =
      routing::load_agreements({file}, xsd, *lib->schemas(), roots, {{file, std::string(40, 'k')}});
  fuzz::check_load_report(r, file);
  return 0;
}
