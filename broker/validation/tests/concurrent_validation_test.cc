// Validators on many threads share one locked grammar pool. Xerces builds some of the pool's state
// on first use without a lock (each pattern facet's character-class maps among them: two workers
// validating their first documents at once aborted the broker in RangeToken::doCreateMap). These
// tests load the project's exchange schemas afresh many times and validate, from 8 threads released
// together, documents that reach every pattern facet the exchanges use: every verdict must be the
// one a single thread gives, and the process must survive.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "validation/validation.h"

using namespace niem::validation;
namespace fs = std::filesystem;

namespace {

const std::string k_root = NIEM_SOURCE_ROOT;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

schema_source exchange_schemas() {
  schema_source src;
  for (const auto& e : fs::directory_iterator(k_root + "/schemas/exchange"))
    if (e.path().extension() == ".xsd") src.files.push_back(e.path().string());
  std::sort(src.files.begin(), src.files.end());
  return src;
}

struct document {
  std::string name, bytes;
  bool valid = true;
};

// The elements whose types have a pattern facet (schemas/extension/niem-broker-ext.xsd), each with
// a value its pattern takes and one it refuses.
struct pattern_case {
  std::string element, good, bad;
};
const std::vector<pattern_case> k_patterns = {{"CountyFIPSCode", "06037", "6O037"},
                                              {"DrugNDCCode", "00002-3228-30", "00000-0000-0x"},
                                              {"DiagnosisCode", "F90.2", "f90.2"},
                                              {"AuthorizedMaximumDailyDoseText", "0.5 mg", "5 mgs"},
                                              {"ConsentRecipientID", "court", "Court"}};

std::string lone_element(const std::string& element, const std::string& value) {
  return "<ext:" + element + " xmlns:ext='http://example.gov/niem-broker/extension/1.0/'>" + value +
         "</ext:" + element + ">";
}

// First each pattern's element alone (a global element is a document of its own), taken and
// refused: these reach the patterns within microseconds of a thread's start, so that threads
// released together meet in them. Then every golden document of every mapping (all valid), and
// for each pattern a golden copy whose value breaks it.
std::vector<document> documents() {
  std::vector<document> docs;
  for (const auto& p : k_patterns) {
    docs.push_back({p.element + " alone", lone_element(p.element, p.good), true});
    docs.push_back({"bad " + p.element + " alone", lone_element(p.element, p.bad), false});
  }
  std::vector<document> golden;
  for (const auto& e : fs::recursive_directory_iterator(k_root + "/mappings")) {
    const auto name = e.path().filename().string();
    if (name.size() > 13 && name.ends_with(".expected.xml"))
      golden.push_back({e.path().string(), slurp(e.path()), true});
  }
  std::sort(golden.begin(), golden.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (const auto& p : k_patterns) {
    const std::regex re("(<[A-Za-z0-9]+:" + p.element + ">)[^<]*(</)");
    for (const auto& d : golden) {
      if (!std::regex_search(d.bytes, re)) continue;
      docs.push_back({d.name + " with a bad " + p.element,
                      std::regex_replace(d.bytes, re, "$1" + p.bad + "$2",
                                         std::regex_constants::format_first_only),
                      false});
      break;
    }
  }
  docs.insert(docs.end(), golden.begin(), golden.end());
  return docs;
}

std::size_t broken_golden(const std::vector<document>& docs) {
  return static_cast<std::size_t>(std::count_if(docs.begin(), docs.end(), [](auto& d) {
    return !d.valid && d.name.find(" with a bad ") != std::string::npos;
  }));
}

int loads_to_run() {
  const char* v = std::getenv("NIEM_CONCURRENT_LOADS");
  return v ? std::max(1, std::atoi(v)) : 100;
}

}  // namespace

TEST_CASE("the documents reach every pattern facet of the exchanges, each way",
          "[validation][threads]") {
  auto docs = documents();
  auto set = schema_set::load(exchange_schemas());
  REQUIRE(set.ok());
  // One golden copy per pattern facet was broken: if no golden file holds one of those elements,
  // this test no longer exercises its pattern inside a whole document.
  CHECK(broken_golden(docs) == k_patterns.size());
  CHECK(set.value()->prepared_regexes() >= 5);
  validator v(set.value());
  for (const auto& d : docs) {
    INFO(d.name);
    CHECK(v.validate(d.bytes, d.name).valid == d.valid);
  }
}

TEST_CASE("8 threads validating a freshly loaded schema set's first documents agree with one",
          "[validation][threads]") {
  const auto docs = documents();
  const auto src = exchange_schemas();
  const int loads = loads_to_run();
  constexpr int k_threads = 8;
  std::atomic<int> wrong{0};
  std::string first_wrong;
  std::mutex first_wrong_mutex;
  for (int load = 0; load < loads; ++load) {
    auto r = schema_set::load(src);
    REQUIRE(r.ok());
    std::shared_ptr<const schema_set> set = r.value();
    // Released together by a spinning flag (a latch's wake-up spreads them over tens of
    // microseconds, more than it takes to build a character class's map).
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
      threads.emplace_back([&] {
        validator v(set);
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (const auto& d : docs) {
          if (v.validate(d.bytes, d.name).valid != d.valid && wrong.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(first_wrong_mutex);
            first_wrong = d.name;
          }
        }
      });
    while (ready.load() < k_threads) std::this_thread::yield();
    go.store(true, std::memory_order_release);
    for (auto& th : threads) th.join();
  }
  INFO("first wrong verdict: " << first_wrong);
  CHECK(wrong.load() == 0);
}
