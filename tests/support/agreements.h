#pragma once
// The shipped data-sharing agreements (config/agreements), loaded against the project's exchange
// schemas, for tests that route with the real policy. DSA-007 gets a stand-in pseudonym secret.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "routing/agreement.h"
#include "support/fixtures.h"

namespace niem::testing {

// How many agreement files are shipped: what load_shipped_agreements() returns when all load.
inline std::size_t shipped_agreement_files() {
  std::size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator(source_root() + "/config/agreements"))
    n += e.path().extension() == ".xml";
  return n;
}

// Every shipped agreement, or only those whose file name is in `only` (e.g. "DSA-009.xml").
// Empty when they do not load (the caller REQUIREs a size).
inline std::vector<std::shared_ptr<const routing::agreement>> load_shipped_agreements(
    const mapping::mapping_library& lib, const std::vector<std::string>& only = {}) {
  auto roots = lib.exchanges();
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(source_root() + "/config/agreements"))
    if (only.empty() ||
        std::find(only.begin(), only.end(), e.path().filename().string()) != only.end())
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::map<std::string, std::string> keys;
  for (const auto& f : files)
    if (f.ends_with("DSA-007.xml")) keys[f] = std::string(40, 'k');
  auto a = routing::load_agreements(files, source_root() + "/schemas/agreement/agreement.xsd",
                                    *lib.schemas(), roots, keys);
  return a ? *a : std::vector<std::shared_ptr<const routing::agreement>>{};
}

}  // namespace niem::testing
