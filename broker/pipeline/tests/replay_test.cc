// Replay decides again under the agreements and consents as they stand at replay time: a claim
// withheld from phn for want of consent is delivered once the consent is recorded, and withheld
// again (NIEM-507) after its revocation; a record that failed mapping leaves the dead-letter
// queue when it is replayed; every replayed decision is audited.
#include <catch2/catch.hpp>
#include <filesystem>
#include <future>

#include <fmt/format.h>

#include "pipeline/pipeline.h"
#include "routing/policy.h"
#include "support/agreements.h"
#include "support/records.h"

using namespace niem;
using pipeline::outcome;
namespace fs = std::filesystem;

namespace {

// 2026-11-22T12:00:00Z
constexpr std::int64_t k_now = 1'795'348'800'000;

std::string claim(const std::string& id, const std::string& fill = "20261101") {
  return testing::test_claim(id, fill);
}

std::string consent(const std::string& record_id, const std::string& status) {
  return R"({"record_type":"consent","consent_id":"CNS-R1","record_id":")" + record_id +
         R"(","status":")" + status +
         R"(","subject":{"client_id":"CWS-7001-0001","medicaid_id":"95557001Q"},)"
         R"("grantor":{"role":"PARENT","name":"P"},"recipient":"phn",)"
         R"("purposes":["CARE_COORDINATION"],"data_categories":["MEDICATION"],)"
         R"("effective_date":"2026-01-01","expiration_date":"2099-12-31",)"
         R"("disclosure_acknowledged":true)" +
         (status == "REVOKED" ? std::string(R"(,"revoked_at":"2026-11-22T08:00:00-08:00")") : "") +
         "}";
}

struct rig {
  testing::temp_dir dir{"niem-replay"};
  base::manual_clock clk{k_now};
  std::shared_ptr<mapping::mapping_library> lib = testing::load_project_mappings();
  std::unique_ptr<store::store> st;
  std::shared_ptr<routing::policy_router> router;
  std::unique_ptr<pipeline::pipeline> pl;
  int n = 0;
  rig() {
    REQUIRE(lib);
    auto agreements = testing::load_shipped_agreements(*lib);
    REQUIRE(agreements.size() == testing::shipped_agreement_files());
    auto s = store::store::open({.locator = dir.path.string(),
                                 .group_commit_max = 256,
                                 .audit_key = "replay-test-audit-key"},
                                clk);
    REQUIRE(s.ok());
    st = std::move(s.value());
    router = std::make_shared<routing::policy_router>(
        std::vector<routing::policy_subscription>{{"phn", "pharmacy-claim", "CARE_COORDINATION"},
                                                  {"cws", "pharmacy-claim", "OVERSIGHT"}},
        agreements, clk, std::make_shared<routing::consent_registry>());
    pl = std::make_unique<pipeline::pipeline>(lib, router, *st, [] {
      pipeline::options o;
      o.workers = 2;
      return o;
    }());
  }
  outcome finish(pipeline::job j) {
    std::promise<outcome> p;
    pl->submit(std::move(j), [&](outcome o) { p.set_value(std::move(o)); });
    return p.get_future().get();
  }
  outcome run(std::string agency, std::string type, std::string ct, std::string body) {
    pipeline::job j;
    j.message_id = fmt::format("M{}", ++n);
    j.agency = std::move(agency);
    j.record_type = std::move(type);
    j.content_type = std::move(ct);
    j.body = std::move(body);
    j.received_ms = clk.now_ms();
    return finish(std::move(j));
  }
  std::vector<store::audit_entry> audit_of(const std::string& message_id) {
    st->flush();
    auto all = st->disclosures("95557001Q", 0);
    REQUIRE(all.ok());
    std::vector<store::audit_entry> out;
    for (auto& a : *all)
      if (a.message_id == message_id) out.push_back(a);
    return out;
  }
};

}  // namespace

TEST_CASE("a withheld claim replayed is decided under the consents of the replay's day") {
  rig r;
  auto first = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-R1"));
  REQUIRE(first.what == outcome::status::accepted);
  // cws receives it (DSA-003); phn has no consent yet (DSA-004).
  REQUIRE(first.enqueued.size() == 1);
  CHECK(first.enqueued[0].recipient == "cws");
  REQUIRE(first.withheld.size() == 1);
  CHECK(first.withheld[0].recipient == "phn");
  CHECK(first.withheld[0].reason == base::errc::route_no_consent);

  // Nothing withheld from cws: nothing to replay there; an unknown message neither.
  auto none = r.st->replay_withheld(first.message_id, "cws");
  REQUIRE_FALSE(none.ok());
  CHECK(none.errors()[0].code == base::errc::replay_not_found);
  CHECK_FALSE(r.st->replay_withheld("M999", "phn").ok());

  // The consent arrives; the replay delivers the claim to phn, and only to phn.
  REQUIRE(r.run("cws", "consent", "application/json", consent("CNS-R1-1", "ACTIVE")).what ==
          outcome::status::accepted);
  auto src = r.st->replay_withheld(first.message_id, "phn");
  REQUIRE(src.ok());
  auto again = r.finish(pipeline::replay_job(*src));
  REQUIRE(again.what == outcome::status::accepted);
  REQUIRE(again.enqueued.size() == 1);
  CHECK(again.enqueued[0].recipient == "phn");
  CHECK(again.enqueued[0].consent == "CNS-R1");
  CHECK(again.enqueued[0].message_id == first.message_id);
  CHECK(r.st->stats({"cws"})[0].depth == 1);  // cws was not sent it twice
  // Its latest decision is a delivery now: a second replay finds nothing withheld.
  CHECK_FALSE(r.st->replay_withheld(first.message_id, "phn").ok());

  // After the revocation, a claim withheld then replayed stays withheld, now as revoked.
  REQUIRE(r.run("cws", "consent", "application/json", consent("CNS-R1-2", "REVOKED")).what ==
          outcome::status::accepted);
  auto later = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-R2"));
  REQUIRE(later.withheld.size() == 1);
  CHECK(later.withheld[0].reason == base::errc::route_consent_revoked);
  auto src2 = r.st->replay_withheld(later.message_id, "phn");
  REQUIRE(src2.ok());
  auto still = r.finish(pipeline::replay_job(*src2));
  REQUIRE(still.what == outcome::status::accepted);
  CHECK(still.enqueued.empty());
  REQUIRE(still.withheld.size() == 1);
  CHECK(still.withheld[0].reason == base::errc::route_consent_revoked);

  // Every decision, first and replayed, is in the audit trail, which verifies.
  r.st->flush();
  auto check = r.st->verify_audit("replay-test-audit-key");
  CHECK(check.ok);
  auto delivered = r.audit_of(first.message_id);  // deliveries about the child
  REQUIRE(delivered.size() == 2);                 // cws first, phn on replay
  CHECK(delivered[0].recipient == "cws");
  CHECK(delivered[1].recipient == "phn");
  CHECK(delivered[1].consent == "CNS-R1");
}

TEST_CASE("a dead-lettered record replayed leaves the dead-letter queue once it maps") {
  rig r;
  // A claim whose fill date is not a date: dead-lettered with its bytes.
  auto bad = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-D1", "2026-11-01"));
  REQUIRE(bad.what == outcome::status::dead_lettered);
  auto dls = r.st->dead_letters(10);
  REQUIRE(dls.size() == 1);
  auto src = r.st->replay_dead_letter(dls[0].id);
  REQUIRE(src.ok());
  CHECK(src->recipient.empty());
  CHECK_FALSE(src->redecision);
  // Replayed as it is, it fails again: the dead letter is replaced, not duplicated.
  auto again = r.finish(pipeline::replay_job(*src));
  CHECK(again.what == outcome::status::dead_lettered);
  auto dls2 = r.st->dead_letters(10);
  REQUIRE(dls2.size() == 1);
  CHECK(dls2[0].id > dls[0].id);  // ids are never reused: a second request cannot hit another
  // Fixed (here: the record corrected by hand, as an operator would after a mapping fix), it is
  // routed and leaves the queue; the key now counts as accepted.
  auto fixed = r.st->replay_dead_letter(dls2[0].id);
  REQUIRE(fixed.ok());
  fixed->body = claim("RX-D1");
  auto ok = r.finish(pipeline::replay_job(*fixed));
  REQUIRE(ok.what == outcome::status::accepted);
  CHECK(ok.enqueued.size() == 1);
  CHECK(r.st->dead_letter_count() == 0);
  CHECK(r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-D1")).what ==
        outcome::status::duplicate);
  CHECK_FALSE(r.st->replay_dead_letter(dls2[0].id).ok());
}

TEST_CASE("records are kept for replay until purged with the delivery time-to-live") {
  rig r;
  auto o = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-P1"));
  REQUIRE(o.withheld.size() == 1);
  CHECK(r.st->replay_withheld(o.message_id, "phn").ok());
  std::promise<std::uint64_t> purged;
  r.st->prune(store::prune_kind::records, k_now + 1, 100,
              [&](bool, std::uint64_t n) { purged.set_value(n); });
  CHECK(purged.get_future().get() == 1);
  auto gone = r.st->replay_withheld(o.message_id, "phn");
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.errors()[0].code == base::errc::replay_not_retained);
}
