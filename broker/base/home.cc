#include "base/home.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace niem::base {

std::string default_home(const char* built_from) {
  if (const char* h = std::getenv("NIEM_HOME"); h && *h) return h;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto installed = exe.parent_path().parent_path() / "share" / "niem-broker";
    if (std::filesystem::exists(installed / "schemas" / "mapping" / "mapping.xsd", ec))
      return installed.string();
  }
  return built_from;
}

}  // namespace niem::base
