#pragma once
// What the fuzz targets share: the project's mappings and agreements loaded once, scratch files
// for the loaders, and an independent validator (libxml2) for the differential checks. A check
// that fails calls `defect`, which aborts: libFuzzer keeps the input as a crash.
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/agreements.h"
#include "support/fixtures.h"

namespace niem::fuzz {

inline void silent(void*, const char*, ...) {}

[[noreturn]] inline void defect(const std::string& what) {
  std::fprintf(stderr, "DEFECT: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Loaded once per process; a fuzz target that cannot load them is broken, not fuzzed.
inline std::shared_ptr<mapping::mapping_library> project_mappings() {
  static auto lib = [] {
    auto l = testing::load_project_mappings();
    if (!l) defect("the project's mappings do not load");
    return l;
  }();
  return lib;
}

// An input "agency/record_type\n" then one record: the mapping it names and the record (no
// mapping: null).
struct addressed {
  const mapping::compiled_mapping* m = nullptr;
  std::string_view record;
};
inline addressed addressed_record(const mapping::mapping_library& lib, std::string_view in) {
  auto nl = in.find('\n');
  if (nl == std::string_view::npos) return {};
  auto address = in.substr(0, nl);
  auto slash = address.find('/');
  if (slash == std::string_view::npos) return {};
  return {lib.find(address.substr(0, slash), address.substr(slash + 1)), in.substr(nl + 1)};
}

inline const std::vector<std::shared_ptr<const routing::agreement>>& project_agreements() {
  static auto a = [] {
    auto v = testing::load_shipped_agreements(*project_mappings());
    if (v.empty()) defect("the shipped agreements do not load");
    return v;
  }();
  return a;
}

// A directory of its own for the process, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static testing::temp_dir dir{"niem-fuzz"};
  return dir.path;
}

inline void write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The exchange schema of a document's root namespace, compiled by libxml2 (which the project
// does not otherwise use: it is the second, independent implementation). Silent: its messages
// would flood the fuzzer's output.
class libxml2_schemas {
 public:
  libxml2_schemas() {
    xmlSetGenericErrorFunc(nullptr, silent);
    for (const auto& m : project_mappings()->mappings()) {
      auto file = testing::source_root() + "/schemas/exchange/" + m->exchange() + ".xsd";
      if (!std::filesystem::exists(file)) defect("no exchange schema " + file);
      auto* pc = xmlSchemaNewParserCtxt(file.c_str());
      auto* s = xmlSchemaParse(pc);
      xmlSchemaFreeParserCtxt(pc);
      if (!s) defect("libxml2 cannot compile " + file);
      by_ns_[m->root().ns] = s;
    }
  }
  ~libxml2_schemas() {
    for (auto& [ns, s] : by_ns_) xmlSchemaFree(s);
  }
  libxml2_schemas(const libxml2_schemas&) = delete;
  libxml2_schemas& operator=(const libxml2_schemas&) = delete;

  enum class verdict { not_well_formed, no_schema, invalid, valid };
  // Well-formedness, then validity against the schema of the root's namespace. No network, no
  // entity substitution, no DTD loading. `errors`, when given, receives the validity errors.
  verdict check(std::string_view doc, std::vector<std::string>* errors = nullptr) const {
    auto* d = xmlReadMemory(doc.data(), static_cast<int>(doc.size()), "doc.xml", nullptr,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d) return verdict::not_well_formed;
    auto* root = xmlDocGetRootElement(d);
    std::string ns = root && root->ns && root->ns->href
                         ? reinterpret_cast<const char*>(root->ns->href)
                         : std::string();
    auto it = by_ns_.find(ns);
    verdict v = verdict::no_schema;
    if (it != by_ns_.end()) {
      auto* vc = xmlSchemaNewValidCtxt(it->second);
      xmlSchemaSetValidErrors(vc, silent, silent, nullptr);
      if (errors)
        xmlSchemaSetValidStructuredErrors(
            vc,
            [](void* out, xmlErrorPtr e) {
              if (e && e->message)
                static_cast<std::vector<std::string>*>(out)->push_back(e->message);
            },
            errors);
      v = xmlSchemaValidateDoc(vc, d) == 0 ? verdict::valid : verdict::invalid;
      xmlSchemaFreeValidCtxt(vc);
    }
    xmlFreeDoc(d);
    return v;
  }

 private:
  std::map<std::string, xmlSchemaPtr> by_ns_;
};

inline const libxml2_schemas& libxml2() {
  static libxml2_schemas s;
  return s;
}

}  // namespace niem::fuzz
