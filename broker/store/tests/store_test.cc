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

STORE_TEST(case_1, "a routed record is queued once per recipient and its document stored once") {
  base::manual_clock clk(5000);
  auto s = f.open(clk);
  auto c = commit(*s, routed("M1", "E-1", {"court", "medicaid"}));
  REQUIRE(c.what == commit_result::status::routed);
  REQUIRE(c.enqueued.size() == 2);
  CHECK(c.enqueued[0].document == c.enqueued[1].document);
  auto court = fetch(*s, "court");
  REQUIRE(court.size() == 1);
  CHECK(court[0].message_id == "M1");
  CHECK(court[0].record_key == "E-1");
  CHECK(*court[0].document == "<doc/>");
  CHECK(court[0].enqueued_ms == 5000);
  CHECK(court[0].received_ms == 1000);
  CHECK(fetch(*s, "court", court[0].id).empty());
  CHECK(fetch(*s, "phn").empty());
}

STORE_TEST(case_2, "a key already accepted is acknowledged as a duplicate and not queued again") {
  base::manual_clock clk(5000);
  auto s = f.open(clk);
  REQUIRE(commit(*s, routed("M1", "E-1", {"court"})).what == commit_result::status::routed);
  auto dup = commit(*s, routed("M2", "E-1", {"court"}));
  CHECK(dup.what == commit_result::status::duplicate);
  CHECK(dup.duplicate_of == "M1");
  CHECK(fetch(*s, "court").size() == 1);
  // The same key from another record type is a different record.
  auto other = routed("M3", "E-1", {"court"});
  other.record_type = "consent";
  CHECK(commit(*s, other).what == commit_result::status::routed);
}

STORE_TEST(case_3,
           "acks remove entries, dead letters keep the reason, and state survives a reopen") {
  base::manual_clock clk(5000);
  std::int64_t first = 0;
  {
    auto s = f.open(clk);
    commit(*s, routed("M1", "E-1", {"court", "medicaid"}));
    commit(*s, routed("M2", "E-2", {"court"}));
    store::record_outcome bad;
    bad.message_id = "M3";
    bad.agency = "cws";
    bad.record_type = "placement";
    bad.content_type = "application/json";
    bad.body = "{not json";
    bad.code = base::errc::record_malformed_json;
    bad.diagnostics_json = R"([{"code":"NIEM-101"}])";
    CHECK(commit(*s, bad).what == commit_result::status::dead_lettered);
    auto court = fetch(*s, "court");
    REQUIRE(court.size() == 2);
    first = court[0].id;
    std::promise<bool> acked;
    s->ack(court[0].id, [&](bool ok) { acked.set_value(ok); });
    CHECK(acked.get_future().get());
    std::promise<bool> dl;
    s->dead_letter_entry(court[1].id, base::errc::delivery_rejected, R"({"condition":"x"})",
                         [&](bool ok) { dl.set_value(ok); });
    CHECK(dl.get_future().get());
  }
  auto s = f.open(clk);
  CHECK(fetch(*s, "court").empty());
  auto med = fetch(*s, "medicaid");
  REQUIRE(med.size() == 1);  // the shared document outlived the court's ack
  CHECK(*med[0].document == "<doc/>");
  auto dls = s->dead_letters(10);
  REQUIRE(dls.size() == 2);
  CHECK(dls[0].code == "NIEM-400");
  CHECK(dls[0].recipient == "court");
  CHECK(dls[0].message_id == "M2");
  CHECK(dls[1].code == "NIEM-101");
  CHECK(dls[1].recipient.empty());
  CHECK(s->dead_letter_count() == 2);
  auto st = s->stats({"court", "medicaid"});
  CHECK(st[0].depth == 0);
  CHECK(st[1].depth == 1);
  CHECK(first > 0);
}

STORE_TEST(case_12,
           "a queue id is never reused, even after the entries at the tail were acknowledged") {
  // The broker loads entries above the highest id it has seen; a reused id would hide an entry.
  base::manual_clock clk(5000);
  std::int64_t last = 0;
  {
    auto s = f.open(clk);
    for (int i = 0; i < 3; ++i) {
      auto c = commit(*s, routed(fmt::format("M{}", i), fmt::format("E-{}", i), {"court"}));
      REQUIRE(c.enqueued.size() == 1);
      CHECK(c.enqueued[0].id > last);
      last = ack(*s, c.enqueued[0].id);  // the queue is empty again each time
    }
  }
  auto s = f.open(clk);  // and across a restart
  auto c = commit(*s, routed("M9", "E-9", {"court"}));
  REQUIRE(c.enqueued.size() == 1);
  CHECK(c.enqueued[0].id > last);
}

TEST_CASE("sqlite: a store of schema 1 is migrated, keeping its queue and never reusing its ids") {
  testing::store_fixture f(store::backend::sqlite);
  base::manual_clock clk(5000);
  {
    auto s = f.open(clk);
    commit(*s, routed("M1", "E-1", {"court"}));
    commit(*s, routed("M2", "E-2", {"court"}));
  }
  // Turn it back into a schema-1 store: a queue table whose ids SQLite may reuse, and reference
  // counts in the documents' rows.
  const char* downgrade = R"sql(
    ALTER TABLE documents ADD COLUMN refs INTEGER NOT NULL DEFAULT 0;
    UPDATE documents SET refs = (SELECT refs FROM doc_refs WHERE doc_refs.id = documents.id);
    DROP TABLE doc_refs;
    DROP INDEX queue_by_recipient;
    ALTER TABLE queue RENAME TO q2;
    CREATE TABLE queue(id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, message_id TEXT NOT NULL,
      source_agency TEXT NOT NULL, record_key TEXT NOT NULL, exchange TEXT NOT NULL,
      doc_id INTEGER NOT NULL, enqueued_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0);
    INSERT INTO queue SELECT id, recipient, message_id, source_agency, record_key, exchange,
      doc_id, enqueued_ms, received_ms, attempts FROM q2;
    DROP TABLE q2;
    CREATE INDEX queue_by_recipient ON queue(recipient, id);
    ALTER TABLE audit DROP COLUMN mapping_version;
    ALTER TABLE audit DROP COLUMN agreement_version;
    UPDATE meta SET value = '1' WHERE key = 'schema_version';)sql";
  REQUIRE(f.exec(downgrade));

  auto s = f.open(clk);
  auto q = fetch(*s, "court");
  REQUIRE(q.size() == 2);
  CHECK(q[0].message_id == "M1");
  CHECK(q[1].message_id == "M2");
  auto top = q[1].id;
  ack(*s, top);
  auto c = commit(*s, routed("M3", "E-3", {"court"}));
  REQUIRE(c.enqueued.size() == 1);
  CHECK(c.enqueued[0].id > top);
  // The migrated reference counts still free each document with its last entry.
  ack(*s, q[0].id);
  ack(*s, c.enqueued[0].id);
  s.reset();
  CHECK(f.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == 8);
  CHECK(f.scalar("SELECT COUNT(*) FROM documents") == 0);
  CHECK(f.scalar("SELECT COUNT(*) FROM doc_refs") == 0);
}

STORE_TEST(case_5, "a document shared by two recipients is freed with its last acknowledgement") {
  base::manual_clock clk(5000);
  std::int64_t a = 0, b = 0;
  {
    auto s = f.open(clk);
    auto c = commit(*s, routed("M1", "E-1", {"court", "cws"}));
    REQUIRE(c.enqueued.size() == 2);
    CHECK(c.enqueued[0].document == c.enqueued[1].document);
    a = c.enqueued[0].id;
    b = c.enqueued[1].id;
    ack(*s, a);
  }
  CHECK(f.scalar("SELECT COUNT(*) FROM documents") == 1);  // still wanted by the other
  // SQLite counts references; PostgreSQL frees a document with the last entry that names it.
  if (f.kind() == store::backend::sqlite) CHECK(f.scalar("SELECT refs FROM doc_refs") == 1);
  {
    auto s = f.open(clk);
    auto q = fetch(*s, "cws");
    REQUIRE(q.size() == 1);
    CHECK(q[0].id == b);
    REQUIRE(q[0].document);
    CHECK(!q[0].document->empty());
    ack(*s, b);
    ack(*s, b);  // a second acknowledgement of the same entry changes nothing
  }
  CHECK(f.scalar("SELECT COUNT(*) FROM documents") == 0);
  if (f.kind() == store::backend::sqlite) CHECK(f.scalar("SELECT COUNT(*) FROM doc_refs") == 0);
}

STORE_TEST(case_6, "entries older than the time-to-live expire into the dead-letter queue") {
  base::manual_clock clk(1'000'000);
  auto s = f.open(clk);
  commit(*s, routed("M1", "E-1", {"court"}));
  clk.advance_ms(60'000);
  commit(*s, routed("M2", "E-2", {"court"}));
  std::promise<std::uint64_t> n;
  s->expire("court", 0, clk.now_ms() - 30'000, [&](std::uint64_t k) { n.set_value(k); });
  CHECK(n.get_future().get() == 1);
  auto left = fetch(*s, "court");
  REQUIRE(left.size() == 1);
  CHECK(left[0].message_id == "M2");
  auto dls = s->dead_letters(10);
  REQUIRE(dls.size() == 1);
  CHECK(dls[0].code == "NIEM-402");
}

STORE_TEST(case_7, "concurrent commits share transactions (group commit)") {
  base::manual_clock clk(1);
  auto s = f.open(clk);
  std::atomic<int> done{0};
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i)
    s->commit_record(routed(fmt::format("M{}", i), fmt::format("K{}", i), {"court"}),
                     [&](commit_result c) {
                       if (c.what == commit_result::status::routed) ++done;
                     });
  s->flush();
  CHECK(done == n);
  auto c = s->stats_counters();
  CHECK(c.ops >= static_cast<std::uint64_t>(n));
  CHECK(c.commits < static_cast<std::uint64_t>(n) / 4);  // far fewer fsyncs than records
  CHECK(s->stats({"court"})[0].depth == static_cast<std::uint64_t>(n));
}

STORE_TEST(case_8, "every decision is in the audit chain, which verifies across restarts") {
  base::manual_clock clk(1'000'000);
  {
    auto s = f.open(clk);
    commit(*s, audited("M1", "E-1", "CWS-1 9555A"));
    commit(*s, audited("M2", "E-2", "CWS-2 9555B"));
    // A duplicate decides nothing and leaves no entry.
    commit(*s, audited("M3", "E-1", "CWS-1 9555A"));
  }
  {
    auto s = f.open(clk);  // the chain continues from its head after a restart
    commit(*s, audited("M4", "E-4", "CWS-1 9555A"));
  }
  auto s = f.open(clk);
  auto v = s->verify_audit(k_key);
  INFO(v.problem);
  CHECK(v.ok);
  CHECK(v.entries == 6);
  // With another key nothing verifies: the chain is keyed.
  CHECK_FALSE(s->verify_audit("another-key-0123456789abcdef0123").ok);

  auto d = s->disclosures("CWS-1", 0);
  REQUIRE(d.ok());
  REQUIRE(d->size() == 2);  // M1 and M4 to the court; the withheld school entries are not
  CHECK((*d)[0].message_id == "M1");
  CHECK((*d)[1].message_id == "M4");
  CHECK((*d)[0].recipient == "court");
  CHECK((*d)[0].paths == "nc:Person/nc:PersonName");
  CHECK(s->disclosures("9555B", 0)->size() == 1);
  CHECK(s->disclosures("CWS", 0)->empty());  // whole identifiers only
  CHECK(s->disclosures("CWS-1", 2'000'000)->empty());
}

STORE_TEST(case_13,
           "withholdings are counted by recipient, code and agreement, within the time and the "
           "entries asked for") {
  base::manual_clock clk(1'000'000);
  auto s = f.open(clk);
  commit(*s, audited("M1", "E-1", "CWS-1"));  // court delivered, school withheld NIEM-503
  commit(*s, audited("M2", "E-2", "CWS-2"));
  clk.advance_ms(60'000);
  auto r = audited("M3", "E-3", "CWS-3");
  r.audit[0].recipient = "oversight";
  r.audit[0].agreement = "DSA-009@1";
  r.audit[0].decision = "withhold";
  r.audit[0].reason = "NIEM-510";
  commit(*s, std::move(r));  // school NIEM-503 again, and oversight NIEM-510

  auto all = s->withholdings(0, 1000);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].recipient == "oversight");
  CHECK((*all)[0].code == "NIEM-510");
  CHECK((*all)[0].agreement == "DSA-009@1");
  CHECK((*all)[0].count == 1);
  CHECK((*all)[0].last_ms == 1'060'000);
  CHECK((*all)[1].recipient == "school");
  CHECK((*all)[1].code == "NIEM-503");
  CHECK((*all)[1].agreement == "DSA-008@1");
  CHECK((*all)[1].count == 3);
  CHECK((*all)[1].last_ms == 1'060'000);
  // Not older than a time: only M3's two.
  auto recent = s->withholdings(1'030'000, 1000);
  REQUIRE(recent.ok());
  REQUIRE(recent->size() == 2);
  CHECK((*recent)[1].count == 1);
  // Only the last two entries of the trail (M3's): M1 and M2 are not scanned.
  auto last = s->withholdings(0, 2);
  REQUIRE(last.ok());
  REQUIRE(last->size() == 2);
  CHECK((*last)[0].count == 1);
  CHECK((*last)[1].count == 1);
}

STORE_TEST(case_9, "tampering with the audit trail is found at the right entry") {
  base::manual_clock clk(1'000'000);
  {
    auto s = f.open(clk);
    for (int i = 1; i <= 4; ++i)
      commit(*s, audited(fmt::format("M{}", i), fmt::format("E-{}", i), "CWS-1"));
  }
  REQUIRE(f.open(clk)->verify_audit(k_key).ok);
  auto check_at = [&](testing::store_fixture& c, std::int64_t seq, const char* words) {
    auto v = c.open_read_only()->verify_audit(k_key);
    INFO(v.problem);
    CHECK_FALSE(v.ok);
    CHECK(v.first_bad_seq == seq);
    CHECK(v.problem.find(words) != std::string::npos);
  };
  struct tamper {
    const char* name;
    const char* sql;
    std::int64_t seq;
    const char* words;
  };
  for (const auto& t : std::vector<tamper>{
           {"-edit", "UPDATE audit SET recipient = 'phn' WHERE seq = 3", 3, "altered"},
           {"-delete", "DELETE FROM audit WHERE seq = 3", 4, "removed"},
           {"-insert",
            "INSERT INTO audit(seq, at_ms, message_id, record_key, provider, exchange, recipient, "
            "agreement, purpose, consent, decision, reason, paths, digest, subjects, prev, hash) "
            "SELECT 100, at_ms, 'FORGED', record_key, provider, exchange, 'phn', agreement, "
            "purpose, consent, decision, reason, paths, digest, subjects, hash, hash FROM audit "
            "WHERE seq = 8",
            100, "removed"},
           {"-truncate", "DELETE FROM audit WHERE seq >= 7", 7, "removed from the end"},
           {"-relink",
            "UPDATE audit SET prev = (SELECT prev FROM audit WHERE seq = 2) WHERE seq = 3", 3,
            "does not link"},
       }) {
    INFO(t.name);
    auto c = f.copy();
    CHECK(c->exec(t.sql));
    check_at(*c, t.seq, t.words);
  }
  // An entry appended at the end in sequence, but without the key, does not verify either.
  auto c = f.copy();
  CHECK(c->exec(
      "INSERT INTO audit(seq, at_ms, message_id, record_key, provider, exchange, recipient, "
      "agreement, purpose, consent, decision, reason, paths, digest, subjects, prev, hash) "
      "SELECT 9, at_ms, 'FORGED', record_key, provider, exchange, 'phn', agreement, purpose, "
      "consent, decision, reason, paths, digest, subjects, hash, hash FROM audit WHERE seq = 8"));
  check_at(*c, 9, "altered");
}

STORE_TEST(case_10, "operator settings are stored by prefix, survive a reopen and can be removed") {
  base::manual_clock clk(5000);
  {
    auto s = f.open(clk);
    CHECK(s->settings("paused:").empty());
    CHECK(s->put_setting("paused:court", "1"));
    CHECK(s->put_setting("paused:phn", "1"));
    CHECK(s->put_setting("pausedx", "other"));  // shares the prefix's letters, not the prefix
    CHECK(s->put_setting("paused:phn", std::nullopt));
    CHECK(s->put_setting("paused:never-set", std::nullopt));  // removing nothing is fine
  }
  auto s = f.open(clk);
  auto paused = s->settings("paused:");
  REQUIRE(paused.size() == 1);
  CHECK(paused[0].first == "paused:court");
  CHECK(paused[0].second == "1");
  CHECK(s->settings("").size() == 2);  // the schema version is not a setting
}

STORE_TEST(case_11, "an acknowledgement leaves a receipt in the message's trace") {
  base::manual_clock clk(5000);
  auto s = f.open(clk);
  commit(*s, routed("M1", "E-1", {"court", "medicaid"}));
  auto court = fetch(*s, "court");
  REQUIRE(court.size() == 1);
  s->set_attempts(court[0].id, 2);
  clk.advance_ms(1500);
  ack(*s, court[0].id);
  ack(*s, court[0].id);  // a second acknowledgement of the same entry changes nothing
  auto t = s->trace("M1");
  REQUIRE(t.found);
  REQUIRE(t.receipts.size() == 1);
  CHECK(t.receipts[0].recipient == "court");
  CHECK(t.receipts[0].accepted_ms == 6500);
  CHECK(t.receipts[0].attempts == 2);
  REQUIRE(t.queued.size() == 1);  // medicaid has not taken its copy
  CHECK(t.queued[0].recipient == "medicaid");
}

TEST_CASE("postgres: replicas starting at once create the schema once, and a newer one is refused",
          "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  base::manual_clock clk(5000);
  // Four brokers open the empty database together: the advisory lock makes them take turns.
  std::vector<std::thread> starts;
  std::atomic<int> opened{0};
  std::vector<std::unique_ptr<store::store>> stores(4);
  for (int i = 0; i < 4; ++i)
    starts.emplace_back([&, i] {
      store::options o;
      o.locator = f.locator();
      o.audit_key = "store-test-audit-key-0123456789abcdef";
      auto s = store::store::open(o, clk);
      if (s) {
        stores[i] = std::move(s.value());
        ++opened;
      }
    });
  for (auto& t : starts) t.join();
  CHECK(opened == 4);
  // A key accepted through one is a duplicate through another.
  REQUIRE(commit(*stores[0], routed("M1", "E-1", {"court"})).what == commit_result::status::routed);
  auto dup = commit(*stores[1], routed("M2", "E-1", {"court"}));
  CHECK(dup.what == commit_result::status::duplicate);
  CHECK(dup.duplicate_of == "M1");
  // Entries appended through two stores form one chain.
  commit(*stores[2], audited("M3", "E-3", "CWS-3"));
  commit(*stores[3], audited("M4", "E-4", "CWS-4"));
  commit(*stores[2], audited("M5", "E-5", "CWS-5"));
  auto v = stores[0]->verify_audit(k_key);
  INFO(v.problem);
  CHECK(v.ok);
  CHECK(v.entries == 6);
  stores.clear();

  CHECK(f.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'"));
  store::options o;
  o.locator = f.locator();
  auto newer = store::store::open(o, clk);
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.errors()[0].message.find("newer than this broker") != std::string::npos);
}

TEST_CASE(
    "postgres: bodies are compressed with lz4, in a new store and after migrating from "
    "schema 4",
    "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  base::manual_clock clk(5000);
  const char* lz4_bodies =
      "SELECT COUNT(*) FROM pg_attribute WHERE attrelid IN ('documents'::regclass, "
      "'records'::regclass, 'dead_letters'::regclass) AND attname = 'body' AND attcompression = "
      "'l'";
  store::options o;
  o.locator = f.locator();
  o.audit_key = "store-test-audit-key-0123456789abcdef";
  {
    auto s = store::store::open(o, clk);
    REQUIRE(s.ok());
  }
  CHECK(f.scalar(lz4_bodies) == 3);
  // Back to schema 4 (pglz, the server's default): the migration sets lz4 again.
  REQUIRE(f.exec(
      "ALTER TABLE documents ALTER COLUMN body SET COMPRESSION pglz; ALTER TABLE records ALTER "
      "COLUMN body SET COMPRESSION pglz; ALTER TABLE dead_letters ALTER COLUMN body SET "
      "COMPRESSION pglz; UPDATE meta SET value = '4' WHERE key = 'schema_version'"));
  REQUIRE(f.scalar(lz4_bodies) == 0);
  auto s = store::store::open(o, clk);
  REQUIRE(s.ok());
  CHECK(f.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == 5);
  CHECK(f.scalar(lz4_bodies) == 3);
}

TEST_CASE("postgres: a password in the store's URI is refused, and never shown") {
  store::options o;
  o.locator = "postgresql://niem:s3cret@db.example/niem?sslmode=verify-full";
  auto s = store::store::open(o, base::default_clock());
  REQUIRE_FALSE(s.ok());
  CHECK(s.errors()[0].message.find("password") != std::string::npos);
  CHECK(s.errors()[0].where.find("s3cret") == std::string::npos);
  CHECK(store::redact("postgresql://u:pw@h/d?password=x&a=b") ==
        "postgresql://u:***@h/d?password=***&a=b");
  CHECK(store::redact("/var/lib/niem") == "/var/lib/niem");
  CHECK(store::backend_of("postgres://h/d") == store::backend::postgres);
  CHECK(store::backend_of("var/store") == store::backend::sqlite);
}

TEST_CASE("postgres: a broker hears at once of entries another broker sharing the store committed",
          "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  base::manual_clock clk(5000);
  auto a = f.open(clk), b = f.open(clk);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> heard;
  b->watch([&](const std::string& recipient) {
    std::lock_guard lk(mu);
    heard.push_back(recipient);
    cv.notify_all();
  });
  // Its own commits are not news to it.
  commit(*b, routed("M0", "E-0", {"court"}));
  commit(*a, routed("M1", "E-1", {"court", "medicaid"}));
  std::unique_lock lk(mu);
  REQUIRE(cv.wait_for(lk, std::chrono::seconds(5), [&] { return heard.size() >= 2; }));
  std::sort(heard.begin(), heard.end());
  CHECK(heard == std::vector<std::string>{"court", "medicaid"});
  lk.unlock();
  auto q = fetch(*b, "court");
  CHECK(q.size() == 2);  // and it finds them in the store
  b->watch({});
}

TEST_CASE("postgres: one broker leads a role, and another takes over when it is gone",
          "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  base::manual_clock clk(5000);
  auto a = f.open(clk), b = f.open(clk);
  CHECK(a->lead("reports"));
  CHECK(a->lead("reports"));  // still
  CHECK_FALSE(b->lead("reports"));
  CHECK(b->lead("other"));
  a.reset();  // its session ends, and with it the lock
  // The server ends the session a moment after the client has gone (the broker asks again at
  // its next check): b leads at one of its asks within a few seconds.
  bool took_over = false;
  for (int i = 0; i < 100 && !took_over; ++i) {
    took_over = b->lead("reports");
    if (!took_over) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(took_over);
}

namespace {

// The test cluster's port, and the TLS files pg_cluster.sh made.
std::string cluster_port(const std::string& locator) {
  auto at = locator.rfind(':');
  return locator.substr(at + 1, locator.find('/', at) - at - 1);
}
std::string tls_file(const char* name) {
  return std::string(NIEM_TEST_PG_STATE) + "/tls/" + name;
}
std::string database_of(const std::string& locator) {
  return locator.substr(locator.rfind('/') + 1);
}

}  // namespace

TEST_CASE("postgres: TLS to the database with verify-full and a client certificate", "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  auto db = database_of(f.locator());
  REQUIRE(f.exec("ALTER DATABASE " + db + " OWNER TO niem_tls"));
  auto uri = [&](const std::string& host, const std::string& ca) {
    return "postgresql://niem_tls@" + host + ":" + cluster_port(f.locator()) + "/" + db +
           "?sslmode=verify-full&sslrootcert=" + ca + "&sslcert=" + tls_file("client.crt") +
           "&sslkey=" + tls_file("client.key");
  };
  base::manual_clock clk(5000);
  store::options o;
  o.audit_key = k_key;
  o.locator = uri("localhost", tls_file("ca.crt"));
  {
    auto s = store::store::open(o, clk);
    INFO((s.ok() ? std::string() : s.errors()[0].message));
    REQUIRE(s.ok());
    CHECK(commit(**s, routed("M1", "E-1", {"court"})).what == commit_result::status::routed);
  }
  CHECK(f.scalar("SELECT COUNT(*) FROM queue") == 1);
  // A server the CA did not certify, or one whose certificate names another host, is refused.
  o.locator = uri("localhost", tls_file("client.crt"));
  CHECK_FALSE(store::store::open(o, clk).ok());
  o.locator = uri("127.0.0.1", tls_file("ca.crt")) + "&host=db.example&hostaddr=127.0.0.1";
  auto wrong_name = store::store::open(o, clk);
  REQUIRE_FALSE(wrong_name.ok());
  CHECK(wrong_name.errors()[0].message.find("db.example") != std::string::npos);
  // Without TLS the role may not log in at all.
  o.locator = "postgresql://niem_tls@127.0.0.1:" + cluster_port(f.locator()) + "/" + db +
              "?sslmode=disable";
  CHECK_FALSE(store::store::open(o, clk).ok());
}

TEST_CASE("postgres: the password comes from the options and never shows in an error",
          "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  auto db = database_of(f.locator());
  REQUIRE(f.exec("ALTER DATABASE " + db + " OWNER TO niem_pw"));
  std::ifstream in(tls_file("niem_pw.password"));
  std::string password;
  std::getline(in, password);
  REQUIRE(password.size() == 32);
  base::manual_clock clk(5000);
  store::options o;
  o.locator = "postgresql://niem_pw@127.0.0.1:" + cluster_port(f.locator()) + "/" + db;
  o.password = password;
  {
    auto s = store::store::open(o, clk);
    INFO((s.ok() ? std::string() : s.errors()[0].message));
    CHECK(s.ok());
  }
  o.password = "not-" + password;
  auto wrong = store::store::open(o, clk);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.errors()[0].message.find("password authentication failed") != std::string::npos);
  CHECK(wrong.errors()[0].message.find(o.password) == std::string::npos);
  CHECK(wrong.errors()[0].where.find(o.password) == std::string::npos);
}

namespace {

std::vector<std::string> renew(store::store& s, std::vector<std::string> wanted) {
  std::promise<std::vector<std::string>> p;
  s.renew_leases(std::move(wanted), [&](std::vector<std::string> held) { p.set_value(held); });
  return p.get_future().get();
}

}  // namespace

TEST_CASE(
    "postgres: one broker serves a recipient's queue at a time, and a dead one's is taken over",
    "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  base::manual_clock clk(5000);
  auto open_with_lease = [&] {
    store::options o;
    o.locator = f.locator();
    o.audit_key = k_key;
    o.lease_ms = 700;
    auto s = store::store::open(o, clk);
    REQUIRE(s.ok());
    return std::move(s.value());
  };
  auto a = open_with_lease(), b = open_with_lease();
  CHECK(renew(*a, {"court", "phn"}) == std::vector<std::string>{"court", "phn"});
  CHECK(renew(*b, {"court", "medicaid"}) == std::vector<std::string>{"medicaid"});
  CHECK(renew(*a, {"court", "phn"}).size() == 2);  // renewed, still A's
  // A no longer serves phn: B may take it at once.
  CHECK(renew(*a, {"court"}) == std::vector<std::string>{"court"});
  CHECK(renew(*b, {"phn"}) == std::vector<std::string>{"phn"});
  // A dies without giving court back: B takes it once the lease has run out.
  a.reset();
  CHECK(renew(*b, {"court", "phn"}) == std::vector<std::string>{"phn"});
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  auto held = renew(*b, {"court", "phn"});
  std::sort(held.begin(), held.end());
  CHECK(held == std::vector<std::string>{"court", "phn"});
}

TEST_CASE("sqlite: a store no other broker shares serves every recipient") {
  testing::store_fixture f(store::backend::sqlite);
  base::manual_clock clk(5000);
  auto s = f.open(clk);
  CHECK(renew(*s, {"court", "phn"}) == std::vector<std::string>{"court", "phn"});
  CHECK(s->lead("reports"));
}

TEST_CASE("postgres: a broker learns the facts another broker sharing the store committed",
          "[postgres]") {
  testing::store_fixture f(store::backend::postgres);
  base::manual_clock clk(5000);
  auto a = f.open(clk), b = f.open(clk);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<store::fact_row> learned;
  b->watch_facts([&](std::vector<store::fact_row> fs) {
    std::lock_guard lk(mu);
    learned.insert(learned.end(), fs.begin(), fs.end());
    cv.notify_all();
  });
  auto r = routed("M1", "E-1", {"court"});
  r.facts = {{"consent", "CNS-1", "revoked 2026-11-30"}, {"link", "CWS-1", "95550001C"}};
  commit(*a, r);
  std::unique_lock lk(mu);
  REQUIRE(cv.wait_for(lk, std::chrono::seconds(5), [&] { return learned.size() >= 2; }));
  CHECK(learned[0].key == "CNS-1");
  CHECK(learned[0].value == "revoked 2026-11-30");
  CHECK(learned[1].kind == "link");
  lk.unlock();
  b->watch_facts({});
}
