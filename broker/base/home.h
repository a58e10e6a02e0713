#pragma once
// Where the project's files (schemas/, mappings/, the dashboard) are, for the tools and the broker
// when the configuration does not say: $NIEM_HOME; else, for an installed binary (/usr/bin), the
// installed layout beside it (../share/niem-broker); else the source tree it was built from.
#include <string>

namespace niem::base {

std::string default_home(const char* built_from);

}  // namespace niem::base
