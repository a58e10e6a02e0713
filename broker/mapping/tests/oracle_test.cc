// The sampling oracle of validation "compiled": which documents a converter offers it (every one
// of the rules' first minute, then one in N of each mapping's), what it reports, and that a full
// queue drops a sample instead of holding up the record.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "exchange_fixture.h"
#include "mapping/oracle.h"

using namespace niem;
using namespace niem::mapping::test;

namespace {

const std::string k_good = R"({"id":"k","name":"Ann","code":"X","status":"active"})";
const std::string k_bad = R"({"id":"k","name":"Ann","code":"X","status":"lapsed"})";

// The small exchange, its mapping loaded.
struct loaded {
  exchange_dir x{k_v5};
  base::result<std::shared_ptr<mapping::mapping_library>> lib = x.load(k_checked_rules);
  const mapping::compiled_mapping* m = lib.ok() ? lib.value()->find("a", "r") : nullptr;
};

// What an oracle heard, for the test to read after drain().
struct heard {
  std::mutex mu;
  int checked = 0, dropped = 0, valid = 0, agreed = 0;
  std::vector<std::string> tags;

  mapping::validation_oracle::listener listener() {
    mapping::validation_oracle::listener l;
    l.checked = [this](const mapping::oracle_sample& s, const validation::validation_report& r) {
      std::lock_guard lk(mu);
      ++checked;
      valid += r.valid;
      agreed += r.valid == s.compiled_valid;
      tags.push_back(s.tag);
    };
    l.dropped = [this](const mapping::oracle_sample&) {
      std::lock_guard lk(mu);
      ++dropped;
    };
    return l;
  }
  // An oracle (default options) reporting to this.
  std::shared_ptr<mapping::validation_oracle> oracle() {
    return std::make_shared<mapping::validation_oracle>(mapping::validation_oracle::options{},
                                                        listener());
  }
};

}  // namespace

TEST_CASE("a converter offers every document of the first minute, then one in N per mapping") {
  loaded fx;
  REQUIRE(fx.m);
  const auto& lib = fx.lib;
  const auto* m = fx.m;
  heard h;
  auto oracle = h.oracle();
  base::manual_clock clk(1'000'000);
  mapping::validation_policy policy(mapping::validation_mode::compiled);
  policy.sample_one_in = 4;
  policy.sample_first_ms = 60'000;
  mapping::converter conv(lib.value(), {}, {}, policy, {oracle, clk.now_ms()}, clk);
  // The first minute: every document, valid or not, each under its record's tag.
  for (int i = 0; i < 5; ++i) REQUIRE(conv.convert(*m, k_good, "rec", fmt::format("m{}", i)));
  CHECK_FALSE(conv.convert(*m, k_bad, "rec", "m5").ok());
  oracle->drain();
  {
    std::lock_guard lk(h.mu);
    CHECK(h.checked == 6);
    CHECK(h.valid == 5);
    CHECK(h.agreed == 6);
    CHECK(h.tags.back() == "m5");
  }
  // After it: the documents numbered 0, 4, 8 ... of the mapping (6 converted so far: 8 is next).
  clk.advance_ms(60'000);
  for (int i = 0; i < 8; ++i) REQUIRE(conv.convert(*m, k_good, "rec", fmt::format("n{}", i)));
  oracle->drain();
  std::lock_guard lk(h.mu);
  CHECK(h.checked == 8);
  CHECK(h.tags[6] == "n2");
  CHECK(h.tags[7] == "n6");
  CHECK(h.dropped == 0);
}

TEST_CASE("only documents judged by compiled checks alone are sampled") {
  loaded fx;
  REQUIRE(fx.m);
  const auto& lib = fx.lib;
  const auto* m = fx.m;
  heard h;
  auto oracle = h.oracle();
  base::manual_clock clk(0);
  for (auto mode : {mapping::validation_mode::full, mapping::validation_mode::both}) {
    mapping::validation_policy policy(mode);
    policy.sample_one_in = 1;
    mapping::converter conv(lib.value(), {}, {}, policy, {oracle, 0}, clk);
    REQUIRE(conv.convert(*m, k_good, "rec", "t"));
  }
  // Compiled, but with sampling off after the first minute (over before the first record).
  mapping::validation_policy off(mapping::validation_mode::compiled);
  off.sample_one_in = 0;
  off.sample_first_ms = 0;
  mapping::converter conv(lib.value(), {}, {}, off, {oracle, 0}, clk);
  REQUIRE(conv.convert(*m, k_good, "rec", "t"));
  oracle->drain();
  std::lock_guard lk(h.mu);
  CHECK(h.checked == 0);
}

TEST_CASE("the oracle reports Xerces' verdict beside the compiled one, and drops when full") {
  loaded fx;
  REQUIRE(fx.m);
  const auto* m = fx.m;
  auto written = m->map(k_good, "rec", {}, nullptr, true);
  REQUIRE(written.ok());

  // The first check waits for the test, so that the queue (one place) fills behind it.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::pair<bool, bool>> verdicts;  // (compiled, Xerces)
  int dropped = 0;
  mapping::validation_oracle::listener l;
  l.checked = [&](const mapping::oracle_sample& s, const validation::validation_report& r) {
    std::unique_lock lk(mu);
    verdicts.emplace_back(s.compiled_valid, r.valid);
    cv.wait(lk, [&] { return release; });
  };
  l.dropped = [&](const mapping::oracle_sample&) {
    std::lock_guard lk(mu);
    ++dropped;
  };
  mapping::validation_oracle::options opt;
  opt.max_queue = 1;
  mapping::validation_oracle oracle(opt, l);
  auto sample = [&](std::string doc, bool compiled_valid) {
    mapping::oracle_sample s;
    s.schemas = m->schemas();
    s.exchange = m->exchange();
    s.document = std::move(doc);
    s.compiled_valid = compiled_valid;
    return s;
  };
  REQUIRE(oracle.offer(sample(written->document, true)));
  for (;;) {  // until the thread took it off the queue
    std::lock_guard lk(mu);
    if (!verdicts.empty()) break;
  }
  // A document the compiled checks would have passed but Xerces refuses (a disagreement).
  auto broken = written->document;
  broken.replace(broken.find("active"), 6, "lapsed");
  CHECK(oracle.offer(sample(broken, true)));
  CHECK_FALSE(oracle.offer(sample(written->document, true)));
  {
    std::lock_guard lk(mu);
    release = true;
    CHECK(dropped == 1);
  }
  cv.notify_all();
  oracle.drain();
  std::lock_guard lk(mu);
  REQUIRE(verdicts.size() == 2);
  CHECK(verdicts[0] == std::pair{true, true});
  CHECK(verdicts[1] == std::pair{true, false});
}
