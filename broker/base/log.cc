#include "base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "base/text.h"

namespace niem::base {

namespace {
std::atomic<log_level> g_min{log_level::info};
constexpr std::string_view k_names[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_log_level(log_level min) {
  g_min = min;
}

void log(log_level level, std::string_view component, std::string_view message,
         std::initializer_list<log_field> fields) {
  if (level < g_min.load(std::memory_order_relaxed)) return;
  auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::string line =
      fmt::format(R"({{"ts":"{:%FT%TZ}","level":"{}","component":"{}","msg":"{}")", now,
                  k_names[static_cast<int>(level)], json_escape(component), json_escape(message));
  for (const auto& [k, v] : fields)
    line += fmt::format(R"(,"{}":"{}")", json_escape(k), json_escape(v));
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace niem::base
