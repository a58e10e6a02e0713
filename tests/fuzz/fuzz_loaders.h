#pragma once
// The loaders' shared check: a file that does not load is reported, every diagnostic with a code
// and the file it is about (the operator must be able to find the problem).
#include <string>

#include "base/result.h"
#include "fuzz_support.h"

namespace niem::fuzz {

template <typename T>
void check_load_report(const base::result<T>& r, const std::string& file) {
  if (r.ok()) return;
  if (r.errors().empty()) fuzz::defect("a file refused without a diagnostic");
  for (const auto& d : r.errors()) {
    if (d.code == base::errc::ok) fuzz::defect("a diagnostic without a code: " + d.message);
    if (d.where.empty() && d.message.find(file) == std::string::npos)
      fuzz::defect("a diagnostic that names no file: " + base::format(d));
  }
}

// A tree in the scratch directory that looks like the project's from the file under test:
// `rel` (e.g. "mappings/fuzz/mapping.xml") with the project's `links` beside it.
inline std::string staged_file(const std::string& rel, std::initializer_list<const char*> links) {
  namespace fs = std::filesystem;
  const auto& root = scratch_dir();
  for (const char* l : links) {
    auto to = root / l;
    if (!fs::exists(fs::symlink_status(to))) {
      fs::create_directories(to.parent_path());
      fs::create_symlink(fs::path(testing::source_root()) / l, to);
    }
  }
  auto p = root / rel;
  fs::create_directories(p.parent_path());
  return p.string();
}

}  // namespace niem::fuzz
