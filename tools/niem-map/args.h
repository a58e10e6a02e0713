#pragma once
// niem-map's command-line options: --name VALUE or --name=VALUE (repeatable), positionals, --help.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace niem::tools {

struct parsed_args {
  std::map<std::string, std::vector<std::string>> flags;
  std::vector<std::string> positional;
  bool help = false;
  std::string error;

  std::optional<std::string> get(const std::string& k) const {
    auto it = flags.find(k);
    if (it == flags.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
};

inline parsed_args parse(const std::vector<std::string>& args,
                         const std::vector<std::string>& with_value) {
  parsed_args p;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      p.help = true;
    } else if (a.rfind("--", 0) == 0) {
      auto eq = a.find('=');
      std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (std::find(with_value.begin(), with_value.end(), name) == with_value.end()) {
        p.error = fmt::format("unknown option --{}", name);
      } else if (eq != std::string::npos) {
        p.flags[name].push_back(a.substr(eq + 1));
      } else if (i + 1 < args.size()) {
        p.flags[name].push_back(args[++i]);
      } else {
        p.error = fmt::format("--{} needs a value", name);
      }
    } else {
      p.positional.push_back(a);
    }
  }
  return p;
}

}  // namespace niem::tools
