#include <catch2/catch.hpp>
#include <fstream>
#include <future>

#include <fmt/format.h>

#include "pipeline/pipeline.h"
#include "pipeline/probe.h"
#include "support/fixtures.h"

using namespace niem;
using pipeline::outcome;

namespace {

std::string first_line(const std::string& file, int skip = 0) {
  std::ifstream in(file);
  std::string line;
  for (int i = 0; i <= skip; ++i) std::getline(in, line);
  return line;
}

struct rig {
  testing::temp_dir dir{"niem-pipeline"};
  base::manual_clock clk{1'800'000'000'000};
  std::shared_ptr<mapping::mapping_library> lib = testing::load_project_mappings();
  std::unique_ptr<store::store> st;
  std::unique_ptr<pipeline::pipeline> pl;
  explicit rig(std::shared_ptr<const routing::router> router = nullptr) {
    REQUIRE(lib);
    auto s = store::store::open({.locator = dir.path.string(),
                                 .group_commit_max = 256,
                                 .audit_key = "pipeline-test-audit-key"},
                                clk);
    REQUIRE(s.ok());
    st = std::move(s.value());
    if (!router)
      router = std::make_shared<routing::subscription_router>(
          std::vector<routing::subscription>{{"court", "placement-notification"},
                                             {"medicaid", "placement-notification"},
                                             {"cws", "pharmacy-claim"}});
    pl = std::make_unique<pipeline::pipeline>(lib, router, *st, [] {
      pipeline::options o;
      o.workers = 2;
      return o;
    }());
  }
  static pipeline::job make_job(std::string agency, std::string type, std::string ct,
                                std::string body, std::string id) {
    pipeline::job j;
    j.message_id = std::move(id);
    j.agency = std::move(agency);
    j.record_type = std::move(type);
    j.content_type = std::move(ct);
    j.body = std::move(body);
    return j;
  }
  outcome run(std::string agency, std::string type, std::string ct, std::string body,
              std::string id = "") {
    static int n = 0;
    pipeline::job j;
    j.message_id = id.empty() ? fmt::format("M{}", ++n) : id;
    j.agency = std::move(agency);
    j.record_type = std::move(type);
    j.content_type = std::move(ct);
    j.body = std::move(body);
    j.received_ms = clk.now_ms();
    std::promise<outcome> p;
    pl->submit(std::move(j), [&](outcome o) { p.set_value(std::move(o)); });
    return p.get_future().get();
  }
};

}  // namespace

TEST_CASE("a valid placement is mapped, validated and queued for each subscriber") {
  rig r;
  auto rec =
      first_line(testing::source_root() + "/mappings/cws-placement/examples/placements.ndjson");
  auto o = r.run("cws", "placement", "application/json", rec);
  REQUIRE(o.what == outcome::status::accepted);
  REQUIRE(o.enqueued.size() == 2);
  CHECK(o.enqueued[0].recipient == "court");
  CHECK(o.enqueued[1].recipient == "medicaid");
  CHECK(o.enqueued[0].document->find("PlacementNotification") != std::string::npos);
  CHECK(o.enqueued[0].record_key.size() > 0);
  // The same record again is acknowledged as a duplicate and queued nowhere.
  auto again = r.run("cws", "placement", "application/json; charset=utf-8", rec);
  CHECK(again.what == outcome::status::duplicate);
  CHECK(again.enqueued.empty());
  CHECK(r.st->stats({"court"})[0].depth == 1);
}

TEST_CASE("a delimited claim arrives as header plus one line, CRLF or not") {
  rig r;
  auto file =
      testing::source_root() + "/mappings/mmis-pharmacy-claim/examples/mmis_rx_20260601.txt";
  auto body = first_line(file) + "\r\n" + first_line(file, 1) + "\r\n";
  auto o = r.run("medicaid", "pharmacy_claim", "text/csv", body);
  REQUIRE(o.what == outcome::status::accepted);
  REQUIRE(o.enqueued.size() == 1);
  CHECK(o.enqueued[0].recipient == "cws");
  auto two = r.run("medicaid", "pharmacy_claim", "text/csv",
                   first_line(file) + "\n" + first_line(file, 2) + "\n" + first_line(file, 3));
  CHECK(two.what == outcome::status::dead_lettered);
  CHECK(two.code == base::errc::record_bad_value);
  auto headless = r.run("medicaid", "pharmacy_claim", "text/csv", first_line(file, 2));
  CHECK(headless.what == outcome::status::dead_lettered);
}

TEST_CASE("bad records are dead-lettered with their reason, never queued") {
  rig r;
  auto o = r.run("cws", "placement", "application/json", "{\"event_id\": ");
  CHECK(o.what == outcome::status::dead_lettered);
  CHECK(o.code == base::errc::record_malformed_json);
  CHECK(o.detail.find("NIEM-101") != std::string::npos);
  auto ct = r.run("cws", "placement", "application/xml", "{}");
  CHECK(ct.code == base::errc::record_bad_content_type);
  auto empty = r.run("cws", "placement", "application/json", "  ");
  CHECK(empty.code == base::errc::record_empty);
  auto unmapped = r.run("court", "placement", "application/json", "{}");
  CHECK(unmapped.code == base::errc::record_no_mapping);
  // Every golden negative fixture of the placement mapping is dead-lettered with its code.
  auto bad = std::filesystem::path(testing::source_root()) / "mappings/cws-placement/tests/bad";
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(bad)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::string body((std::istreambuf_iterator<char>(in)), {});
    auto expect = e.path();
    expect.replace_extension(".expect");
    std::ifstream ein(expect);
    std::string code;
    ein >> code;
    auto res = r.run("cws", "placement", "application/json", body);
    INFO(e.path().filename().string());
    CHECK(res.what == outcome::status::dead_lettered);
    CHECK(base::code_id(res.code) == code);  // the code its fixture names
    ++n;
  }
  CHECK(n > 5);
  for (const auto& q : r.st->stats({"court", "medicaid"})) {
    INFO(q.recipient);
    CHECK(q.depth == 0);  // no queue got any of them
  }
  auto dls = r.st->dead_letters(1000);
  CHECK(dls.size() == static_cast<std::size_t>(n + 4));
  CHECK(dls.back().diagnostics_json.find("\"code\":\"NIEM-101\"") != std::string::npos);
}

namespace {

// A router that stops inside `route` until the test lets it go: a record held in flight.
class gated_router final : public routing::router {
 public:
  explicit gated_router(std::vector<routing::subscription> subs) : inner_(std::move(subs)) {}
  std::vector<routing::decision> route(const routing::routed_document& doc,
                                       std::vector<routing::fact>* learned,
                                       std::vector<routing::observation>* counted) const override {
    ++calls;
    entered.set_value();
    gate.wait();
    return inner_.route(doc, learned, counted);
  }
  std::vector<std::string> recipients() const override { return inner_.recipients(); }
  mutable std::atomic<int> calls{0};
  mutable std::promise<void> entered;
  std::shared_future<void> gate;

 private:
  routing::subscription_router inner_;
};

}  // namespace

TEST_CASE(
    "a swap of rules applies from the next record, and a record in flight finishes under its own") {
  std::promise<void> open;
  auto gated = std::make_shared<gated_router>(std::vector<routing::subscription>{
      {"court", "placement-notification"}, {"medicaid", "placement-notification"}});
  gated->gate = open.get_future().share();
  auto entered = gated->entered.get_future();
  rig r(gated);
  REQUIRE(r.pl->current()->generation == 1);
  auto file = testing::source_root() + "/mappings/cws-placement/examples/placements.ndjson";

  // Record A enters routing under generation 1 and is held there.
  std::promise<outcome> a_done;
  r.pl->submit(rig::make_job("cws", "placement", "application/json", first_line(file), "SWAP-A"),
               [&](outcome o) { a_done.set_value(std::move(o)); });
  REQUIRE(entered.wait_for(std::chrono::seconds(30)) == std::future_status::ready);

  // Generation 2: the court alone subscribes.
  auto next = std::make_shared<pipeline::rules>(*pipeline::make_rules(
      r.lib, std::make_shared<routing::subscription_router>(
                 std::vector<routing::subscription>{{"court", "placement-notification"}})));
  next->generation = 2;
  r.pl->swap(next);
  CHECK(r.pl->current()->generation == 2);

  open.set_value();
  auto a = a_done.get_future().get();
  REQUIRE(a.what == outcome::status::accepted);
  CHECK(a.enqueued.size() == 2);  // decided by the rules it started with: court and medicaid

  auto b = r.run("cws", "placement", "application/json", first_line(file, 1), "SWAP-B");
  REQUIRE(b.what == outcome::status::accepted);
  REQUIRE(b.enqueued.size() == 1);
  CHECK(b.enqueued[0].recipient == "court");
  CHECK(gated->calls == 1);  // B never saw the old router
}

TEST_CASE("every audit entry names the version of the mapping that decided it") {
  rig r;
  auto file = testing::source_root() + "/mappings/cws-placement/examples/placements.ndjson";
  auto o = r.run("cws", "placement", "application/json", first_line(file), "VERSIONED");
  REQUIRE(o.what == outcome::status::accepted);
  const auto* m = r.lib->find("cws", "placement");
  REQUIRE(m);
  CHECK(m->version().size() == 16);
  CHECK(m->version().find_first_not_of("0123456789abcdef") == std::string::npos);
  auto t = r.st->trace("VERSIONED");
  REQUIRE(t.decisions.size() == 2);
  for (const auto& d : t.decisions) {
    INFO(d.recipient);
    CHECK(d.mapping_version == m->version());
    CHECK(d.agreement_version.empty());  // a subscription router has no agreements
  }
  CHECK(r.st->verify_audit("pipeline-test-audit-key").ok);
}

TEST_CASE("the sampling oracle checks documents judged by compiled checks alone, after the fact") {
  rig r;
  auto& probe = pipeline::probe();
  const auto sampled = probe.sampled.value({"placement-notification"});
  const auto disagreed = probe.disagreements.value({"placement-notification"});
  // Rules loaded just now: every document of their first minute is sampled.
  auto now = pipeline::make_rules(r.lib, r.pl->current()->router,
                                  mapping::validation_policy(mapping::validation_mode::compiled));
  auto fresh = std::make_shared<pipeline::rules>(*now);
  fresh->loaded_ms = base::default_clock().now_ms();
  r.pl->swap(fresh);
  const auto file = testing::source_root() + "/mappings/cws-placement/examples/placements.ndjson";
  for (int i = 0; i < 3; ++i) {
    auto o = r.run("cws", "placement", "application/json", first_line(file, i));
    REQUIRE(o.what == outcome::status::accepted);
  }
  r.pl->settle_samples();
  CHECK(probe.sampled.value({"placement-notification"}) == sampled + 3);
  CHECK(probe.disagreements.value({"placement-notification"}) == disagreed);
}
