#pragma once
// niem-map subcommands. Each returns the process exit code: 0 success, 1 some input failed,
// 2 usage or setup error.
#include <string>
#include <vector>

namespace niem::tools {

struct options {
  std::string home;  // project root holding mappings/ and schemas/
  std::vector<std::string> args;
};

int cmd_convert(const options& o);
int cmd_check(const options& o);
int cmd_test(const options& o);
int cmd_validate(const options& o);
int cmd_scaffold(const options& o);

}  // namespace niem::tools
