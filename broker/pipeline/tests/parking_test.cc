// Replicas: a record whose decision waits for the other brokers' facts is parked while the store
// catches up, never a worker blocked on the database.
#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "pipeline/pipeline.h"
#include "support/fixtures.h"

using namespace niem;
using pipeline::outcome;
using namespace std::chrono_literals;

namespace {

// A store shared with other brokers, as the pipeline sees it: commits go to a real store; each
// catch-up waits until the test answers it.
class held_catch_ups final : public store::record_path {
 public:
  explicit held_catch_ups(store::store& real) : real_(real) {}
  bool shared() const override { return true; }
  store::backend kind() const override { return real_.kind(); }
  void catch_up_facts(std::function<void(bool)> done) override {
    std::lock_guard lk(mu_);
    waiting_.push_back(std::move(done));
  }
  void commit_record(store::record_outcome rec,
                     std::function<void(store::commit_result)> done) override {
    real_.commit_record(std::move(rec), std::move(done));
  }
  std::vector<store::fact_row> facts() override { return real_.facts(); }

  std::size_t pending() {
    std::lock_guard lk(mu_);
    return waiting_.size();
  }
  // Waits (up to 10 s) until `n` catch-ups are asked for.
  bool await(std::size_t n) {
    for (int i = 0; i < 1000 && pending() < n; ++i) std::this_thread::sleep_for(10ms);
    return pending() == n;
  }
  // Answers every catch-up asked for so far.
  void answer(bool ok) {
    std::vector<std::function<void(bool)>> w;
    {
      std::lock_guard lk(mu_);
      w.swap(waiting_);
    }
    for (auto& f : w) f(ok);
  }

 private:
  store::store& real_;
  std::mutex mu_;
  std::vector<std::function<void(bool)>> waiting_;
};

std::vector<std::string> placements() {
  std::ifstream in(testing::source_root() + "/mappings/cws-placement/examples/placements.ndjson");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

struct rig {
  testing::temp_dir dir{"niem-parking"};
  base::manual_clock clk{1'800'000'000'000};
  std::unique_ptr<store::store> real;
  std::unique_ptr<held_catch_ups> st;
  std::unique_ptr<pipeline::pipeline> pl;
  rig() {
    auto lib = testing::load_project_mappings();
    REQUIRE(lib);
    auto s = store::store::open(
        {.locator = dir.path.string(), .audit_key = "parking-test-audit-key"}, clk);
    REQUIRE(s.ok());
    real = std::move(s.value());
    st = std::make_unique<held_catch_ups>(*real);
    auto router = std::make_shared<routing::subscription_router>(
        std::vector<routing::subscription>{{"court", "placement-notification"}});
    pipeline::options o;
    o.workers = 1;  // one worker: a blocked one would hold every record behind it
    o.oversight = std::make_shared<oversight::medication_oversight>(
        std::make_shared<oversight::medication::check>(
            oversight::medication::check_inputs{"pharmacy-claim", "medicaid-application",
                                                "psychotropic-order", "placement-notification"}),
        "medication-authorization-exception", "medication-check");
    pl = std::make_unique<pipeline::pipeline>(lib, router, *st, std::move(o));
  }
  std::future<outcome> submit(const std::string& body, int n) {
    pipeline::job j;
    j.message_id = fmt::format("P{}", n);
    j.agency = "cws";
    j.record_type = "placement";
    j.content_type = "application/json";
    j.body = body;
    j.received_ms = clk.now_ms();
    auto p = std::make_shared<std::promise<outcome>>();
    auto f = p->get_future();
    pl->submit(std::move(j), [p](outcome o) { p->set_value(std::move(o)); });
    return f;
  }
};

}  // namespace

TEST_CASE("on a shared store, records waiting for a catch-up are parked while one worker goes on") {
  rig r;
  auto lines = placements();
  REQUIRE(lines.size() >= 4);
  // The check reads placements: each waits for the other brokers' facts first. One worker takes
  // up all three while none is answered.
  std::vector<std::future<outcome>> first;
  for (int i = 0; i < 3; ++i) first.push_back(r.submit(lines[i], i));
  REQUIRE(r.st->await(3));
  for (auto& f : first) CHECK(f.wait_for(50ms) == std::future_status::timeout);
  // Answered: each is decided and committed.
  r.st->answer(true);
  for (auto& f : first) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    auto o = f.get();
    CHECK(o.what == outcome::status::accepted);
    CHECK(o.enqueued.size() == 1);
  }
  // One that arrives after those catch-ups began is not covered by them: it waits for its own.
  // The store could not read the facts: it is decided all the same (in doubt, with a warning).
  auto late = r.submit(lines[3], 3);
  REQUIRE(r.st->await(1));
  CHECK(late.wait_for(50ms) == std::future_status::timeout);
  r.st->answer(false);
  REQUIRE(late.wait_for(10s) == std::future_status::ready);
  CHECK(late.get().what == outcome::status::accepted);
}

TEST_CASE("the pipeline stops only once its parked records are taken up again") {
  rig r;
  auto lines = placements();
  auto f = r.submit(lines[0], 0);
  REQUIRE(r.st->await(1));
  // Stopping waits for the parked record; the store answers meanwhile.
  std::atomic<bool> answered{false};
  std::thread answer([&] {
    std::this_thread::sleep_for(100ms);
    answered = true;
    r.st->answer(true);
  });
  r.pl->stop();
  CHECK(answered);
  answer.join();
  // Its commit completes on the store's thread.
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  CHECK(f.get().what == outcome::status::accepted);
}
