// The compiled checker against Xerces on every record the project has and on mutations of them:
// each document is judged by both (validation mode `both`), and they must never disagree.
// NIEM_DIFFERENTIAL_RECORDS sets the mutated records per mapping (default 2,500: over 10^4 for each
// of the two libraries); the long run in the README sets it high on a release build.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "differential/mutations.h"
#include "mapping/mapping.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace niem;

namespace {

struct tally {
  std::uint64_t records = 0, valid = 0, invalid = 0, refused = 0, disagreements = 0;
  std::vector<std::string> shown;  // the first disagreements, for the failure message
  std::map<std::string, std::uint64_t> invalid_by_mapping;
  // A sample of the written documents for libxml2 (project mappings only): the exchange's schema,
  // the file, the compiled verdict.
  struct sampled {
    std::string schema, file;
    bool valid;
  };
  std::vector<sampled> for_xmllint;
  fs::path sample_dir;
};

// One record in 20 that writes a document: its document goes to xmllint (about 160 in CI's run).
void sample(const mapping::compiled_mapping& m, const std::string& rec, tally& t) {
  if (t.sample_dir.empty() || t.records % 20 != 0) return;
  auto w = m.map(rec, "record", {}, nullptr, true);
  if (!w.ok() || !w.value().checked) return;
  const auto file = t.sample_dir / fmt::format("{}.xml", t.for_xmllint.size());
  std::ofstream(file, std::ios::binary) << w.value().document;
  t.for_xmllint.push_back(
      {std::string(NIEM_SOURCE_ROOT) + "/schemas/exchange/" + m.exchange() + ".xsd", file.string(),
       w.value().check_errors.empty()});
}

// xmllint's verdict on each sampled document, by exchange schema, against the compiled one.
std::uint64_t xmllint_disagreements(tally& t) {
  std::map<std::string, std::vector<const tally::sampled*>> by_schema;
  for (const auto& s : t.for_xmllint) by_schema[s.schema].push_back(&s);
  std::uint64_t differ = 0;
  for (const auto& [schema, docs] : by_schema) {
    std::string cmd = "xmllint --noout --schema '" + schema + "'";
    for (const auto* d : docs) cmd += " '" + d->file + "'";
    cmd += " 2>&1";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
      ::pclose(p);
    }
    for (const auto* d : docs) {
      const bool valid = out.find(d->file + " validates") != std::string::npos;
      const bool invalid = out.find(d->file + " fails to validate") != std::string::npos;
      if (valid == invalid || valid != d->valid) {
        ++differ;
        if (t.shown.size() < 20)
          t.shown.push_back(fmt::format("xmllint and the compiled checker differ on {} ({})",
                                        d->file,
                                        d->valid ? "compiled: valid" : "compiled: invalid"));
      }
    }
  }
  return differ;
}

std::vector<std::string> mapping_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.path().filename() == "mapping.xml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

void judge(mapping::converter& conv, const mapping::compiled_mapping& m, const std::string& rec,
           tally& t) {
  ++t.records;
  sample(m, rec, t);
  auto r = conv.convert(m, rec, "record");
  if (r.ok()) {
    ++t.valid;
    return;
  }
  const auto& first = r.errors().front();
  if (first.code == base::errc::xml_validators_disagree) {
    ++t.disagreements;
    if (t.shown.size() < 20)
      t.shown.push_back(fmt::format("{}: {} [{}]\n  record: {}", m.file(), first.message,
                                    first.field, rec.substr(0, 400)));
  } else if (first.code == base::errc::xml_schema_invalid) {
    ++t.invalid;
    ++t.invalid_by_mapping[m.file()];
  } else {
    ++t.refused;
  }
}

std::uint64_t budget_per_mapping() {
  if (const char* e = std::getenv("NIEM_DIFFERENTIAL_RECORDS"))
    return std::strtoull(e, nullptr, 10);
  return 2500;
}

tally run_library(const fs::path& dir, const fs::path& xmllint_dir = {}) {
  auto lib = mapping::mapping_library::load(
      mapping_files(dir), std::string(NIEM_SOURCE_ROOT) + "/schemas/mapping/mapping.xsd");
  REQUIRE(lib.ok());
  mapping::converter conv(lib.value(), {}, {}, mapping::validation_mode::both);
  tally t;
  t.sample_dir = xmllint_dir;
  std::uint64_t n = 0;
  for (const auto& m : lib.value()->mappings()) {
    INFO(m->file());
    CHECK(m->checks_complete());
    const auto seeds = test::seed_records(*m);
    CHECK(!seeds.empty());
    for (const auto& s : seeds) judge(conv, *m, s, t);
    test::mutated_records(*m, seeds, budget_per_mapping(), 0x5eed + n++,
                          [&](const std::string& rec) { judge(conv, *m, rec, t); });
  }
  std::cout << fmt::format(
      "{}: {} records, {} valid, {} invalid (both agree), {} refused by the mapping, {} "
      "disagreements\n",
      dir.string(), t.records, t.valid, t.invalid, t.refused, t.disagreements);
  for (const auto& [file, count] : t.invalid_by_mapping)
    std::cout << fmt::format("  {}: {} invalid\n", file, count);
  return t;
}

void require_agreement(const tally& t) {
  std::string shown;
  for (const auto& s : t.shown) shown += s + "\n";
  INFO(shown);
  CHECK(t.disagreements == 0);
  // The records reach both verdicts (a corpus judged all valid would prove nothing).
  CHECK(t.valid > 0);
  CHECK(t.invalid > 0);
}

}  // namespace

TEST_CASE("the compiled checker and Xerces agree on the project's mappings and their mutations") {
  testing::temp_dir tmp("niem-differential");
  auto t = run_library(fs::path(NIEM_SOURCE_ROOT) / "mappings", tmp.path);
  require_agreement(t);
  // And libxml2 on a sample of the written documents, valid and invalid.
  const auto xmllint = xmllint_disagreements(t);
  std::uint64_t sampled_invalid = 0;
  for (const auto& s : t.for_xmllint) sampled_invalid += s.valid ? 0 : 1;
  std::cout << fmt::format("xmllint: {} sampled documents ({} invalid), {} disagreements\n",
                           t.for_xmllint.size(), sampled_invalid, xmllint);
  std::string shown;
  for (const auto& s : t.shown) shown += s + "\n";
  INFO(shown);
  CHECK(xmllint == 0);
  CHECK(t.for_xmllint.size() >= 100);
  CHECK(sampled_invalid > 0);
  if (!std::getenv("NIEM_DIFFERENTIAL_RECORDS")) CHECK(t.records >= 10'000);
}

TEST_CASE("the compiled checker and Xerces agree on the published IEPDs' mappings") {
  auto t = run_library(fs::path(NIEM_SOURCE_ROOT) / "tests" / "iepd");
  require_agreement(t);
}
