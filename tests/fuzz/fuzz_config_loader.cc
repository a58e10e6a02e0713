// The broker's configuration loader on any configuration file, placed where the shipped ones are
// (config/, with the project's mappings, agreements, schemas and secrets files beside it), then
// cross-checked against the project's mappings as the broker does. Every refusal names a code
// and the file.
#include <cstdint>

#include "config/config.h"
#include "fuzz_loaders.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static const auto file = [] {
    std::vector<std::string> beside;
    for (auto& e : std::filesystem::directory_iterator(testing::source_root() + "/config"))
      beside.push_back("config/" + e.path().filename().string());
    auto f = fuzz::staged_file("config/fuzz.xml", {"mappings", "schemas"});
    for (const auto& b : beside) {
      auto to = fuzz::scratch_dir() / b;
      if (!std::filesystem::exists(std::filesystem::symlink_status(to)))
        std::filesystem::create_symlink(std::filesystem::path(testing::source_root()) / b, to);
    }
    return f;
  }();
  static const auto xsd = testing::source_root() + "/schemas/config/broker-config.xsd";
  static const auto facts = [] {
    std::vector<config::mapping_fact> v;
    for (const auto& m : lib->mappings())
      v.push_back({m->agency(), m->record_type(), m->exchange(), m->file()});
    return v;
  }();
  fuzz::write_file(file, {reinterpret_cast<const char*>(data), size});
  auto r = config::load(file, xsd);
  fuzz::check_load_report(r, file);
  if (r.ok())
    for (const auto& d : config::cross_check(r.value(), facts))
      if (d.line == 0 && d.where.empty()) fuzz::defect("a cross-check finding without a line");
  return 0;
}
