// The store's message search and its single-writer lock, both backends.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "store/retention.h"
#include "store/store.h"
#include "support/store_backends.h"
#include "support/temp_dir.h"

#include "store/tests/store_helpers.h"

using namespace niem;
using namespace niem::store_test;
using store::commit_result;

namespace {

std::vector<std::string> ids_of(store::store& s, store::store::message_query q) {
  auto r = s.find_messages(q);
  REQUIRE(r.ok());
  std::vector<std::string> out;
  for (const auto& m : *r) out.push_back(m.message_id);
  return out;
}

using ids = std::vector<std::string>;

// Five messages: M1 and M5 about CWS-1, M2 about CWS-2 (each delivered to the court, withheld
// from the school), M3 dead-lettered from Medicaid, M4 a duplicate of M1's key.
void five_messages(store::store& s) {
  auto at = [](store::record_outcome r, std::int64_t ms) {
    r.received_ms = ms;
    return r;
  };
  auto m1 = commit(s, at(audited("M1", "E-1", "CWS-1 9555A"), 1000));
  REQUIRE(m1.enqueued.size() == 1);
  ack(s, m1.enqueued[0].id);
  commit(s, at(audited("M2", "E-2", "CWS-2 9555B"), 2000));
  store::record_outcome bad;
  bad.message_id = "M3";
  bad.agency = "medicaid";
  bad.record_type = "claim";
  bad.content_type = "text/plain";
  bad.body = "x|y";
  bad.received_ms = 3000;
  bad.code = base::errc::record_malformed_json;
  REQUIRE(commit(s, bad).what == commit_result::status::dead_lettered);
  REQUIRE(commit(s, at(audited("M4", "E-1", "CWS-1 9555A"), 4000)).what ==
          commit_result::status::duplicate);
  auto m5 = at(audited("M5", "E-5", "CWS-1 9555A"), 5000);
  m5.exchange = "consent-directive";
  commit(s, m5);
}

}  // namespace

STORE_TEST(case_14,
           "messages are found by key, person, exchange, agency, recipient, status and time, "
           "newest first, a page at a time") {
  base::manual_clock clk(1'000'000);
  auto s = f.open(clk);
  five_messages(*s);
  using q = store::store::message_query;
  CHECK(ids_of(*s, q{}) == ids{"M5", "M4", "M3", "M2", "M1"});
  CHECK(ids_of(*s, q{.key = "E-1"}) == ids{"M4", "M1"});
  CHECK(ids_of(*s, q{.person = "CWS-1"}) == ids{"M5", "M1"});
  CHECK(ids_of(*s, q{.person = "9555B"}) == ids{"M2"});
  CHECK(ids_of(*s, q{.person = "CWS"}).empty());  // whole identifiers only
  CHECK(ids_of(*s, q{.exchange = "consent-directive"}) == ids{"M5"});
  CHECK(ids_of(*s, q{.agency = "medicaid"}) == ids{"M3"});
  CHECK(ids_of(*s, q{.recipient = "school"}) == ids{"M5", "M2", "M1"});
  CHECK(ids_of(*s, q{.recipient = "phn"}).empty());
  CHECK(ids_of(*s, q{.status = "dead_lettered"}) == ids{"M3"});
  CHECK(ids_of(*s, q{.status = "duplicate"}) == ids{"M4"});
  CHECK(ids_of(*s, q{.from_ms = 2000, .to_ms = 5000}) == ids{"M4", "M3", "M2"});
  // Every filter given holds.
  CHECK(ids_of(*s, q{.person = "CWS-1", .recipient = "court"}) == ids{"M5", "M1"});
  CHECK(ids_of(*s, q{.person = "CWS-1", .exchange = "consent-directive"}) == ids{"M5"});
  CHECK(ids_of(*s, q{.person = "CWS-2", .to_ms = 2000}).empty());
  CHECK(ids_of(*s, q{.key = "E-1", .agency = "medicaid"}).empty());
  CHECK(ids_of(*s, q{.recipient = "school", .from_ms = 1500, .to_ms = 5000}) == ids{"M2"});
  // Values are bound, never part of the statement.
  CHECK(ids_of(*s, q{.key = "' OR '1'='1"}).empty());
  // Pages: each starts after the last id of the one before, with and without an index term.
  CHECK(ids_of(*s, q{.limit = 2}) == ids{"M5", "M4"});
  CHECK(ids_of(*s, q{.limit = 2, .before = "M4"}) == ids{"M3", "M2"});
  CHECK(ids_of(*s, q{.limit = 2, .before = "M2"}) == ids{"M1"});
  CHECK(ids_of(*s, q{.person = "CWS-1", .limit = 1}) == ids{"M5"});
  CHECK(ids_of(*s, q{.person = "CWS-1", .limit = 1, .before = "M5"}) == ids{"M1"});
  CHECK(ids_of(*s, q{.before = "no-such-id"}).empty());

  // Each result gives what became of it for each recipient.
  auto r = s->find_messages(q{.key = "E-1"});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  const auto& m1 = (*r)[1];
  CHECK(m1.message_id == "M1");
  CHECK(m1.status == "routed");
  CHECK(m1.exchange == "placement-notification");
  CHECK(m1.received_ms == 1000);
  REQUIRE(m1.recipients.size() == 2);
  CHECK(m1.recipients[0].name == "court");
  CHECK(m1.recipients[0].decision == "deliver");
  CHECK(m1.recipients[0].accepted_ms == 1'000'000);
  CHECK(m1.recipients[1].name == "school");
  CHECK(m1.recipients[1].decision == "withhold");
  CHECK(m1.recipients[1].reason == "NIEM-503");
  CHECK(m1.recipients[1].accepted_ms == 0);
  const auto& m4 = (*r)[0];
  CHECK(m4.status == "duplicate");
  CHECK(m4.code == "NIEM-113");
  CHECK(m4.recipients.empty());
}

STORE_TEST(case_15, "a store from before message search is indexed from its audit trail") {
  base::manual_clock clk(1'000'000);
  {
    auto s = f.open(clk);
    five_messages(*s);
  }
  // Back to the schema before search: no index of terms, no indexes on messages.
  bool sqlite = f.kind() == store::backend::sqlite;
  REQUIRE(f.exec(fmt::format(
      "DROP TABLE message_index; DROP INDEX messages_by_time; DROP INDEX messages_by_key; "
      "DROP INDEX messages_by_exchange; DROP INDEX messages_by_agency; "
      "DROP INDEX messages_by_status; ALTER TABLE audit DROP COLUMN mapping_version; "
      "ALTER TABLE audit DROP COLUMN agreement_version; UPDATE meta SET value = '{}' WHERE key = "
      "'schema_version';",
      sqlite ? 5 : 1)));
  auto s = f.open(clk);
  CHECK(f.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == (sqlite ? 8 : 5));
  using q = store::store::message_query;
  CHECK(ids_of(*s, q{.person = "CWS-1"}) == ids{"M5", "M1"});
  CHECK(ids_of(*s, q{.person = "9555B"}) == ids{"M2"});
  CHECK(ids_of(*s, q{.recipient = "school"}) == ids{"M5", "M2", "M1"});
  CHECK(ids_of(*s, q{.agency = "medicaid"}) == ids{"M3"});
  auto d = s->disclosures("CWS-1", 0);
  REQUIRE(d.ok());
  CHECK(d->size() == 2);
}

STORE_TEST(case_16,
           "retention removes each kind after its own age, a batch at a time, and keeps the audit "
           "trail and what the accounting of disclosures reads") {
  constexpr std::int64_t day = 86'400'000;
  base::manual_clock clk(100 * day);
  auto s = f.open(clk);
  // Old (day 10) and recent (day 95) messages, each acknowledged by the court; one dead letter
  // of each age; observations of both days.
  for (int i = 0; i < 5; ++i) {
    bool old = i < 3;
    clk.set_ms((old ? 10 : 95) * day);
    auto r =
        audited(fmt::format("M{}", i), fmt::format("E-{}", i), fmt::format("CWS-{} 9555{}", i, i));
    r.received_ms = clk.now_ms();
    r.observations.push_back(
        {"DSA-009@1", "placement-notification", "", old ? "1970-01-11" : "1970-04-06", "{}"});
    auto c = commit(*s, r);
    REQUIRE(c.enqueued.size() == 1);
    ack(*s, c.enqueued[0].id);
    if (i != 0 && i != 4) continue;
    store::record_outcome bad;
    bad.message_id = fmt::format("D{}", i);
    bad.agency = "cws";
    bad.record_type = "placement";
    bad.content_type = "application/json";
    bad.body = "{";
    bad.received_ms = clk.now_ms();
    bad.code = base::errc::record_malformed_json;
    commit(*s, bad);
  }
  clk.set_ms(100 * day);
  store::retention_policy p;
  p.keep_seconds = {{store::prune_kind::records, 30 * 86'400},
                    {store::prune_kind::messages, 60 * 86'400},
                    {store::prune_kind::dead_letters, 60 * 86'400},
                    {store::prune_kind::observations, 60 * 86'400}};
  p.batch = 2;  // several batches for three old rows
  p.pause_ms = 0;
  store::retention ret(*s, p, clk);
  auto removed = ret.run_pass();
  CHECK(removed[store::prune_kind::records] == 3);
  CHECK(removed[store::prune_kind::messages] == 4);  // three placements and a dead letter
  CHECK(removed[store::prune_kind::dead_letters] == 1);
  CHECK(removed[store::prune_kind::observations] == 3);

  using q = store::store::message_query;
  CHECK(ids_of(*s, q{}) == ids{"M4", "M3", "D4"});
  CHECK_FALSE(s->trace("M0").found);
  CHECK(s->trace("M3").found);
  CHECK(f.scalar("SELECT COUNT(*) FROM receipts WHERE message_id = 'M0'") == 0);
  CHECK(f.scalar("SELECT COUNT(*) FROM receipts WHERE message_id = 'M3'") == 1);
  // The recipients' search terms go; the child's stay with the audit trail.
  CHECK(f.scalar("SELECT COUNT(*) FROM message_index WHERE message_id = 'M0' AND term LIKE "
                 "'recipient:%'") == 0);
  CHECK(f.scalar("SELECT COUNT(*) FROM message_index WHERE message_id = 'M0' AND term LIKE "
                 "'person:%'") == 2);
  auto d = s->disclosures("CWS-0", 0);
  REQUIRE(d.ok());
  CHECK(d->size() == 1);
  auto v = s->verify_audit(k_key);
  CHECK(v.ok);
  CHECK(v.entries == 10);
  // Dead letters, records kept for replay and observations: only the recent ones.
  auto dls = s->dead_letters(10);
  REQUIRE(dls.size() == 1);
  CHECK(dls[0].message_id == "D4");
  auto gone = s->replay_withheld("M0", "school");
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.errors()[0].code == base::errc::replay_not_retained);
  CHECK(s->replay_withheld("M3", "school").ok());
  auto obs = s->observations("DSA-009@1", "placement-notification", "1970-01-01", "1970-12-31");
  REQUIRE(obs.ok());
  CHECK(obs->size() == 2);
  // A key is forgotten with its message: sent again, it is a new record.
  auto now = [&](store::record_outcome r) {
    r.received_ms = clk.now_ms();
    return r;
  };
  CHECK(commit(*s, now(audited("M9", "E-0", "CWS-0 95550"))).what == commit_result::status::routed);
  CHECK(commit(*s, now(audited("M8", "E-3", "CWS-3 95553"))).what ==
        commit_result::status::duplicate);
  // A second pass finds nothing more.
  auto again = ret.run_pass();
  for (auto kind : store::k_prune_kinds) CHECK(again[kind] == 0);
}

TEST_CASE(
    "sqlite: below the free-space floor new records are refused with store.low_space, "
    "acknowledgements go on, and ingest resumes by itself when space returns") {
  testing::temp_dir dir("niem-store-floor");
  base::manual_clock clk(5000);
  std::atomic<std::uint64_t> free{std::uint64_t{10} << 30};
  auto opened = store::store::open({.locator = dir.path.string(),
                                    .audit_key = k_key,
                                    .min_free_bytes = std::uint64_t{1} << 30,
                                    .free_bytes = [&] { return free.load(); }},
                                   clk);
  REQUIRE(opened.ok());
  auto& s = *opened.value();
  auto first = commit(s, routed("M1", "E-1", {"court"}));
  REQUIRE(first.what == commit_result::status::routed);
  CHECK(s.check().reachable);
  CHECK(s.check().free_bytes == std::uint64_t{10} << 30);
  CHECK(s.check().min_free_bytes == std::uint64_t{1} << 30);

  free = std::uint64_t{512} << 20;  // below the floor
  auto refused = commit(s, routed("M2", "E-2", {"court"}));
  CHECK(refused.what == commit_result::status::failed);
  CHECK(refused.code == base::errc::store_low_space);
  CHECK(refused.enqueued.empty());
  auto h = s.check();
  CHECK_FALSE(h.reachable);
  CHECK(h.code == base::errc::store_low_space);
  CHECK(h.problem.find("below its floor") != std::string::npos);
  // Nothing of the refused record was stored; what frees space goes on.
  CHECK_FALSE(s.trace("M2").found);
  ack(s, first.enqueued[0].id);
  CHECK(fetch(s, "court").empty());

  free = std::uint64_t{2} << 30;
  auto resumed = commit(s, routed("M2", "E-2", {"court"}));
  CHECK(resumed.what == commit_result::status::routed);
  CHECK(s.check().reachable);
  CHECK(s.check().code == base::errc::ok);
}

TEST_CASE("sqlite: a second writer is refused while one has the store open; readers are not") {
  testing::store_fixture f(store::backend::sqlite);
  base::manual_clock clk(1000);
  {
    auto first = f.open(clk);
    store::options o;
    o.locator = f.locator();
    auto second = store::store::open(o, clk);
    REQUIRE_FALSE(second.ok());
    CHECK(second.errors().front().message.find("in use by another process") != std::string::npos);
    auto reader = f.open_read_only();
    CHECK(reader->verify_audit("store-test-audit-key-0123456789abcdef").ok);
  }
  // Released with the first: the store opens again.
  auto again = f.open(clk);
  CHECK(again->verify_audit("store-test-audit-key-0123456789abcdef").ok);
}
