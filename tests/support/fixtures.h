#pragma once
// Shared helpers for the integration tests: project paths, the example records, temp dirs.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mapping/mapping.h"
#include "oversight/medication.h"
#include "support/temp_dir.h"

namespace niem::testing {

inline std::string source_root() {
  return NIEM_SOURCE_ROOT;
}
inline std::string shared_dir() {
  return NIEM_SHARED_DIR;
}

// One of the project's exchange schemas (schemas/exchange/NAME.xsd), loaded once; null when it
// does not load (the caller REQUIREs it).
inline std::shared_ptr<const validation::schema_set> exchange_schema(const std::string& name) {
  auto r = validation::schema_set::load(
      {{source_root() + "/schemas/exchange/" + name + ".xsd"}, "", {}});
  return r ? r.value() : nullptr;
}

inline std::vector<std::string> mapping_files() {
  std::vector<std::string> out;
  for (auto& e : std::filesystem::recursive_directory_iterator(source_root() + "/mappings"))
    if (e.path().filename() == "mapping.xml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The exchanges the broker writes itself, as the shipped configurations name them.
inline std::vector<mapping::written_exchange> written_exchanges() {
  const std::string x = "medication-authorization-exception";
  return {{x, source_root() + "/schemas/exchange/" + x + ".xsd",
           oversight::medication::exception_root()}};
}

// Every mapping of the project, with the exchanges the broker writes itself.
inline std::shared_ptr<mapping::mapping_library> load_project_mappings() {
  auto lib = mapping::mapping_library::load(
      mapping_files(), source_root() + "/schemas/mapping/mapping.xsd", written_exchanges());
  if (!lib) return nullptr;
  return lib.value();
}

struct example_record {
  const mapping::compiled_mapping* mapping;
  std::string text;
  std::string where;
};

// Every record of every example file of every mapping (examples/ beside each mapping) and of
// every golden input (tests/NAME.input.*).
inline std::vector<example_record> example_records(const mapping::mapping_library& lib) {
  std::vector<example_record> out;
  for (const auto& m : lib.mappings()) {
    auto dir = std::filesystem::path(m->file()).parent_path();
    std::vector<std::filesystem::path> files;
    for (auto& e : std::filesystem::directory_iterator(dir / "examples")) files.push_back(e.path());
    for (auto& e : std::filesystem::directory_iterator(dir / "tests"))
      if (e.path().filename().string().find(".input.") != std::string::npos)
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::string line;
      int n = 0;
      while (std::getline(in, line)) {
        ++n;
        if (m->format() == mapping::record_format::delimited && n == 1) continue;
        if (line.find_first_not_of(" \r\n\t") == std::string::npos) continue;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out.push_back({m.get(), line, f.filename().string() + ":" + std::to_string(n)});
      }
    }
  }
  return out;
}

}  // namespace niem::testing
