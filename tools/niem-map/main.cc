// niem-map: the integration engineer's tool for writing, checking and testing mappings.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/home.h"
#include "commands.h"

namespace {

const char* k_usage = R"(usage: niem-map COMMAND [OPTIONS]

Commands:
  convert   convert native records to validated NIEM documents
  check     compile and lint mapping files
  test      run the golden tests stored beside the mappings
  validate  validate XML documents against any schema set
  scaffold  write a first mapping and native record from an IEPD's sample or schema

Run 'niem-map COMMAND --help' for a command's options.
Environment: NIEM_HOME is the project root holding mappings/ and schemas/ (default: the source tree).
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(k_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  niem::tools::options o;
  o.home = niem::base::default_home(NIEM_DEFAULT_HOME);
  for (int i = 2; i < argc; ++i) o.args.emplace_back(argv[i]);
  std::string cmd = argv[1];
  if (cmd == "convert") return niem::tools::cmd_convert(o);
  if (cmd == "check") return niem::tools::cmd_check(o);
  if (cmd == "test") return niem::tools::cmd_test(o);
  if (cmd == "validate") return niem::tools::cmd_validate(o);
  if (cmd == "scaffold") return niem::tools::cmd_scaffold(o);
  std::fprintf(stderr, "niem-map: unknown command '%s'\n\n%s", cmd.c_str(), k_usage);
  return 2;
}
