#pragma once
// What the agreement and policy tests share: the project's mappings and shipped agreements, the
// golden documents, and small readers of documents.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "routing/agreement.h"
#include "routing/policy.h"
#include "routing/xml_stream.h"
#include "support/fixtures.h"

namespace niem::routing::test {

namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct fixture {
  std::shared_ptr<mapping::mapping_library> lib = testing::load_project_mappings();
  std::vector<exchange_root> roots;
  std::string xsd = testing::source_root() + "/schemas/agreement/agreement.xsd";
  fixture() {
    REQUIRE(lib);
    roots = lib->exchanges();
  }
  std::vector<std::string> shipped() const {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(testing::source_root() + "/config/agreements"))
      if (e.path().extension() == ".xml") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string research_key = "test-research-pseudonym-key-0123456789";
  base::result<std::vector<std::shared_ptr<const agreement>>> load(
      const std::vector<std::string>& files) const {
    std::map<std::string, std::string> keys;
    for (const auto& f : files)
      if (f.ends_with("DSA-007.xml")) keys[f] = research_key;
    return load_agreements(files, xsd, *lib->schemas(), roots, keys);
  }
  // The golden documents of an exchange (tests/*.expected.xml beside its mapping).
  std::vector<std::pair<std::string, std::string>> goldens(const std::string& exchange) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& m : lib->mappings()) {
      if (m->exchange() != exchange) continue;
      for (auto& e : fs::directory_iterator(fs::path(m->file()).parent_path() / "tests"))
        if (e.path().string().ends_with(".expected.xml"))
          out.emplace_back(e.path().filename().string(), slurp(e.path()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

inline const agreement& by_id(const std::vector<std::shared_ptr<const agreement>>& all,
                              const std::string& id) {
  for (const auto& a : all)
    if (a->id == id) return *a;
  FAIL("no agreement " << id);
  throw 0;
}

// Every element of a document as a path of local names below the root ("nc:Person/..." style
// with local names only: "Person/PersonName").
inline std::vector<std::string> element_paths(std::string_view doc) {
  std::vector<std::string> out, stack;
  xml_stream x(doc);
  bool root = false;
  for (;;) {
    auto k = x.next();
    if (k == xml_stream::kind::done || k == xml_stream::kind::error) break;
    if (k == xml_stream::kind::start) {
      if (!root) {
        root = true;
        continue;
      }
      stack.emplace_back(x.name().local);
      std::string p;
      for (const auto& s : stack) p += (p.empty() ? "" : "/") + s;
      out.push_back(p);
    } else if (k == xml_stream::kind::end && !stack.empty()) {
      stack.pop_back();
    }
  }
  return out;
}

inline bool valid(fixture& f, const std::string& doc, std::string* why = nullptr) {
  validation::validator v(f.lib->schemas());
  auto rep = v.validate(doc, "filtered");
  if (!rep.valid && why && !rep.diagnostics.empty()) *why = base::format(rep.diagnostics.front());
  return rep.valid;
}

inline const std::string k_ns =
    R"(xmlns="urn:niem-broker:agreement:1" xmlns:nc="http://release.niem.gov/niem/niem-core/5.0/" )"
    R"(xmlns:hs="http://release.niem.gov/niem/domains/humanServices/5.2/" )"
    R"(xmlns:ext="http://example.gov/niem-broker/extension/1.0/")";

inline std::string agreement_text(const std::string& id, const std::string& exchange,
                                  const std::vector<std::string>& includes) {
  std::string s = "<?xml version=\"1.0\"?>\n<agreement " + k_ns + " id=\"" + id +
                  "\" version=\"1\" level=\"identifiable\">\n<title>t</title>\n"
                  "<provider agency=\"cws\"/><recipient agency=\"court\"/>"
                  "<purpose code=\"COURT_PROCEEDING\"/><effective from=\"2024-01-01\"/>\n"
                  "<terms exchange=\"" +
                  exchange + "\">\n";
  for (const auto& i : includes) s += "  <include path=\"" + i + "\"/>\n";
  return s + "</terms>\n</agreement>\n";
}

}  // namespace niem::routing::test
