#include "store/store.h"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "base/digest.h"
#include "base/log.h"

namespace niem::store {

namespace {

constexpr const char* k_schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '5');
-- Every record received, with what became of it (the start of a message's trace).
CREATE TABLE IF NOT EXISTS messages(
  message_id TEXT PRIMARY KEY, agency TEXT NOT NULL, record_type TEXT NOT NULL,
  record_key TEXT, exchange TEXT, received_ms INTEGER NOT NULL, status TEXT NOT NULL,
  code TEXT) WITHOUT ROWID;
-- Keys of records already accepted: a record sent twice is processed once.
CREATE TABLE IF NOT EXISTS record_keys(
  agency TEXT NOT NULL, record_type TEXT NOT NULL, record_key TEXT NOT NULL,
  message_id TEXT NOT NULL, PRIMARY KEY(agency, record_type, record_key)) WITHOUT ROWID;
-- NIEM documents, shared by the queue entries that deliver the same bytes. Their reference
-- counts live apart: each acknowledgement changes one, and an UPDATE rewrites the whole row.
CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS doc_refs(id INTEGER PRIMARY KEY, refs INTEGER NOT NULL);
-- One durable queue per subscriber, in id order. AUTOINCREMENT: an id is never reused after
-- its entry is acknowledged, so a new entry always sorts after everything already loaded.
CREATE TABLE IF NOT EXISTS queue(
  id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, message_id TEXT NOT NULL,
  source_agency TEXT NOT NULL, record_key TEXT NOT NULL, exchange TEXT NOT NULL,
  doc_id INTEGER NOT NULL, enqueued_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, consent TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS queue_by_recipient ON queue(recipient, id);
-- What documents taught the router (consents, identity links), replayed in order at start-up.
CREATE TABLE IF NOT EXISTS facts(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
  value TEXT NOT NULL, UNIQUE(kind, key));
-- Records counted for aggregate agreements' reports (by role: the child's ids, dates, class,
-- county), read when a report is produced; the records themselves never flow.
CREATE TABLE IF NOT EXISTS observations(
  id INTEGER PRIMARY KEY, agreement TEXT NOT NULL, exchange TEXT NOT NULL,
  record_key TEXT NOT NULL, day TEXT NOT NULL, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS observations_by_day ON observations(agreement, exchange, day);
-- Accepted records as received, kept as long as the delivery time-to-live, so that a withheld
-- decision or an undeliverable document can be decided again (replay) under today's policy.
CREATE TABLE IF NOT EXISTS records(
  message_id TEXT PRIMARY KEY, agency TEXT NOT NULL, record_type TEXT NOT NULL,
  content_type TEXT NOT NULL, body BLOB NOT NULL, received_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_time ON records(received_ms);
-- Each subscriber's acceptance of a document (the end of a message's trace), in the transaction
-- that removes it from the queue: when, after how many attempts. A later acceptance (a replay)
-- replaces it.
CREATE TABLE IF NOT EXISTS receipts(
  message_id TEXT NOT NULL, recipient TEXT NOT NULL, accepted_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL, PRIMARY KEY(message_id, recipient)) WITHOUT ROWID;
-- Records that failed mapping or validation, and documents that could not be delivered.
CREATE TABLE IF NOT EXISTS dead_letters(
  id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, recipient TEXT, agency TEXT NOT NULL,
  record_type TEXT, exchange TEXT, record_key TEXT, code TEXT NOT NULL, diagnostics TEXT,
  content_type TEXT, body BLOB, dead_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
-- The audit trail: one entry per routing decision, append-only, each entry's hash an HMAC over
-- the previous hash and its own fields.
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, message_id TEXT NOT NULL,
  record_key TEXT NOT NULL, provider TEXT NOT NULL, exchange TEXT NOT NULL, recipient TEXT NOT NULL,
  agreement TEXT NOT NULL, purpose TEXT NOT NULL, consent TEXT NOT NULL, decision TEXT NOT NULL,
  reason TEXT NOT NULL, paths TEXT NOT NULL, digest TEXT NOT NULL, subjects TEXT NOT NULL,
  prev TEXT NOT NULL, hash TEXT NOT NULL);
)sql";

// Schema 1 let SQLite reuse the id of an acknowledged entry at the tail of a queue, so a new
// entry could sort before what the broker had already loaded and wait until a restart.
constexpr const char* k_migrate_v1 = R"sql(
BEGIN IMMEDIATE;
DROP INDEX IF EXISTS queue_by_recipient;
ALTER TABLE queue RENAME TO queue_v1;
CREATE TABLE queue(
  id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, message_id TEXT NOT NULL,
  source_agency TEXT NOT NULL, record_key TEXT NOT NULL, exchange TEXT NOT NULL,
  doc_id INTEGER NOT NULL, enqueued_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0);
INSERT INTO queue SELECT * FROM queue_v1;
DROP TABLE queue_v1;
CREATE INDEX queue_by_recipient ON queue(recipient, id);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
COMMIT;
)sql";

// Schema 3 did not know which consent a queued document relied on, so a revocation could not
// withdraw it.
constexpr const char* k_migrate_v3 = R"sql(
BEGIN IMMEDIATE;
ALTER TABLE queue ADD COLUMN consent TEXT NOT NULL DEFAULT '';
UPDATE meta SET value = '4' WHERE key = 'schema_version';
COMMIT;
)sql";

// Schema 4 did not count records for aggregate reports nor keep records for replay (those
// tables are created above), and could give a new dead letter the id of one just replayed or
// purged, so that an operator's second request would reach another letter.
constexpr const char* k_migrate_v4 = R"sql(
BEGIN IMMEDIATE;
ALTER TABLE dead_letters RENAME TO dead_letters_v4;
CREATE TABLE dead_letters(
  id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, recipient TEXT,
  agency TEXT NOT NULL, record_type TEXT, exchange TEXT, record_key TEXT, code TEXT NOT NULL,
  diagnostics TEXT, content_type TEXT, body BLOB, dead_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0);
INSERT INTO dead_letters SELECT * FROM dead_letters_v4;
DROP TABLE dead_letters_v4;
UPDATE meta SET value = '5' WHERE key = 'schema_version';
COMMIT;
)sql";

// Schema 2 kept a document's reference count in its row, so that each acknowledgement rewrote
// the document.
constexpr const char* k_migrate_v2 = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS doc_refs(id INTEGER PRIMARY KEY, refs INTEGER NOT NULL);
INSERT OR REPLACE INTO doc_refs(id, refs) SELECT id, refs FROM documents;
ALTER TABLE documents DROP COLUMN refs;
UPDATE meta SET value = '3' WHERE key = 'schema_version';
COMMIT;
)sql";

constexpr std::string_view k_genesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// What an entry's hash covers, in a fixed order, separated by a byte no field contains.
std::string chain_input(std::string_view prev, const audit_entry& e) {
  return fmt::format(
      "{}\x1e{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}"
      "\x1f{}\x1f{}",
      prev, e.at_ms, e.message_id, e.record_key, e.provider, e.exchange, e.recipient, e.agreement,
      e.purpose, e.consent, e.decision, e.reason, e.paths, e.digest, e.subjects);
}

struct op {
  std::function<bool()> apply;     // inside the group's transaction; false rolls this op back
  std::function<void(bool)> done;  // after the commit, on the executor
  std::promise<void>* barrier = nullptr;
};

class stmt {
 public:
  stmt() = default;
  stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
      s_ = nullptr;
  }
  stmt(stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  stmt& operator=(stmt&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~stmt() { sqlite3_finalize(s_); }
  explicit operator bool() const { return s_ != nullptr; }
  stmt& reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return *this;
  }
  stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  stmt& bind_blob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  stmt& bind_null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  // Empty text is stored as NULL (optional columns: key, exchange, code).
  stmt& bind_opt(int i, std::string_view v) { return v.empty() ? bind_null(i) : bind(i, v); }
  int step() { return sqlite3_step(s_); }
  bool run() {
    int rc = step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::string text(int c) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, sqlite3_column_bytes(s_, c)) : std::string();
  }
  std::string blob(int c) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    return p ? std::string(p, sqlite3_column_bytes(s_, c)) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

}  // namespace

struct store::impl {
  sqlite3* db = nullptr;
  const base::clock* clk = nullptr;
  options opt;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<op> ops;
  bool stopping = false;
  std::thread thread;
  // Checkpoints copy the WAL into the database on a connection and thread of their own (PASSIVE:
  // never blocking the writer), so a commit never waits for one (SQLite's automatic checkpoint
  // would run inside a commit and stall every record in that group).
  //
  // The WAL starts over only when a write transaction begins with every frame already copied,
  // which a busy writer never sees: the checkpointer is always a commit or two behind. So once
  // the WAL is past k_wal_recycle_frames the store thread, between two groups, copies the few
  // frames left itself; the next group then writes from the start of the file. A WAL kept small
  // and overwritten in place (rather than appended to without end) also makes each commit's
  // fdatasync cheaper: no block allocation or file size change to journal.
  static constexpr int k_wal_recycle_frames = 4096;  // 16 MiB of 4 KiB pages
  std::atomic<int> wal_frames{0};                    // after the last commit (wal hook)
  sqlite3* ckpt_db = nullptr;
  std::thread ckpt_thread;
  std::condition_variable ckpt_cv;
  std::function<void(completions&&)> exec;
  std::atomic<std::uint64_t> commits{0}, ops_applied{0};

  stmt begin, commit, rollback, savepoint, release, rollback_to;
  stmt ins_message, ins_key, sel_key, ins_doc, ins_ref, ins_queue, ins_dead;
  stmt sel_fetch, del_queue, dec_doc, del_doc, del_ref, sel_doc, upd_attempts, sel_expire,
      sel_stats;
  stmt ins_audit, ins_fact, ins_obs, ins_record, del_dead, ins_receipt;
  std::string audit_key;
  std::string last_hash = std::string(k_genesis);  // head of the audit chain

  ~impl() {
    {
      std::lock_guard lk(mu);
      stopping = true;
    }
    cv.notify_all();
    ckpt_cv.notify_all();
    if (thread.joinable()) thread.join();
    if (ckpt_thread.joinable()) ckpt_thread.join();
    if (ckpt_db) {
      sqlite3_wal_checkpoint_v2(ckpt_db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
      sqlite3_close_v2(ckpt_db);
    }
    // close_v2 defers the close until the statements (members, destroyed after this body) are
    // finalized.
    if (db) sqlite3_close_v2(db);
  }

  void checkpoint_loop() {
    std::unique_lock lk(mu);
    while (!stopping) {
      ckpt_cv.wait_for(lk, std::chrono::milliseconds(50));
      if (stopping) break;
      lk.unlock();
      sqlite3_wal_checkpoint_v2(ckpt_db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lk.lock();
    }
  }

  int schema_version() {
    sqlite3_stmt* q = nullptr;
    int v = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
      v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
  }
  std::string last_error() const { return db ? sqlite3_errmsg(db) : "no database"; }

  bool prepare() {
    struct {
      stmt* s;
      const char* sql;
    } all[] = {
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&savepoint, "SAVEPOINT op"},
        {&release, "RELEASE op"},
        {&rollback_to, "ROLLBACK TO op"},
        {&ins_message,
         "INSERT OR REPLACE INTO messages(message_id, agency, record_type, record_key, exchange, "
         "received_ms, status, code) VALUES(?,?,?,?,?,?,?,?)"},
        {&ins_key,
         "INSERT INTO record_keys(agency, record_type, record_key, message_id) VALUES(?,?,?,?) "
         "ON CONFLICT DO NOTHING"},
        {&sel_key,
         "SELECT message_id FROM record_keys WHERE agency=? AND record_type=? AND record_key=?"},
        {&ins_doc, "INSERT INTO documents(body) VALUES(?)"},
        {&ins_ref, "INSERT INTO doc_refs(id, refs) VALUES(?, ?)"},
        {&ins_queue,
         "INSERT INTO queue(recipient, message_id, source_agency, record_key, exchange, doc_id, "
         "enqueued_ms, received_ms, consent) VALUES(?,?,?,?,?,?,?,?,?)"},
        {&ins_fact, "INSERT OR IGNORE INTO facts(kind, key, value) VALUES(?,?,?)"},
        {&ins_record,
         "INSERT OR REPLACE INTO records(message_id, agency, record_type, content_type, body, "
         "received_ms) VALUES(?,?,?,?,?,?)"},
        {&del_dead, "DELETE FROM dead_letters WHERE id=?"},
        {&ins_obs,
         "INSERT INTO observations(agreement, exchange, record_key, day, fields) "
         "VALUES(?,?,?,?,?)"},
        {&ins_dead,
         "INSERT INTO dead_letters(message_id, recipient, agency, record_type, exchange, "
         "record_key, code, diagnostics, content_type, body, dead_ms, attempts) "
         "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)"},
        {&sel_fetch,
         "SELECT q.id, q.message_id, q.source_agency, q.record_key, q.exchange, q.doc_id, "
         "q.enqueued_ms, q.received_ms, q.attempts, d.body, q.consent FROM queue q JOIN documents "
         "d ON "
         "d.id = q.doc_id WHERE q.recipient=? AND q.id>? ORDER BY q.id LIMIT ?"},
        {&del_queue,
         "DELETE FROM queue WHERE id=? RETURNING recipient, message_id, source_agency, "
         "record_key, exchange, doc_id, attempts"},
        {&dec_doc, "UPDATE doc_refs SET refs = refs - 1 WHERE id=? RETURNING refs"},
        {&del_doc, "DELETE FROM documents WHERE id=?"},
        {&ins_receipt,
         "INSERT OR REPLACE INTO receipts(message_id, recipient, accepted_ms, attempts) "
         "VALUES(?, ?, ?, ?)"},
        {&del_ref, "DELETE FROM doc_refs WHERE id=?"},
        {&sel_doc, "SELECT body FROM documents WHERE id=?"},
        {&ins_audit,
         "INSERT INTO audit(at_ms, message_id, record_key, provider, exchange, recipient, "
         "agreement, purpose, consent, decision, reason, paths, digest, subjects, prev, hash) "
         "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
        {&upd_attempts, "UPDATE queue SET attempts=? WHERE id=?"},
        {&sel_expire,
         "SELECT id, enqueued_ms FROM queue WHERE recipient=? AND id>? ORDER BY id LIMIT 10000"},
        {&sel_stats, "SELECT COUNT(*), COALESCE(MIN(enqueued_ms), 0) FROM queue WHERE recipient=?"},
    };
    for (auto& a : all) {
      *a.s = stmt(db, a.sql);
      if (!*a.s) return false;
    }
    return true;
  }

  void push(op o) {
    {
      std::lock_guard lk(mu);
      ops.push_back(std::move(o));
    }
    cv.notify_one();
  }

  // Runs `f` on the store thread (in the next group) and waits for it: the synchronous queries of
  // tools and the admin API. `f` returns false to roll its own work back.
  template <class F>
  void run_sync(F&& f) {
    std::promise<void> p;
    push({[&f] { return f(); }, {}, &p});
    p.get_future().wait();
  }

  void loop() {
    std::vector<op> batch;
    for (;;) {
      batch.clear();
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return stopping || !ops.empty(); });
        if (ops.empty()) return;  // stopping and drained
        while (!ops.empty() && batch.size() < opt.group_commit_max) {
          batch.push_back(std::move(ops.front()));
          ops.pop_front();
        }
      }
      run_batch(batch);
      if (wal_frames.load(std::memory_order_relaxed) > k_wal_recycle_frames) {
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc == SQLITE_OK && done == log) wal_frames.store(0, std::memory_order_relaxed);
      }
    }
  }

  void run_batch(std::vector<op>& batch) {
    std::vector<char> ok(batch.size(), 0);
    auto chain_before = last_hash;  // an op or group that is rolled back leaves no link
    bool began = begin.reset().run();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].apply || !began) continue;
      auto op_chain = last_hash;
      savepoint.reset().run();
      ok[i] = batch[i].apply();
      if (!ok[i]) {
        rollback_to.reset().run();
        last_hash = op_chain;
      }
      release.reset().run();
    }
    bool committed = began && commit.reset().run();
    if (!committed) last_hash = chain_before;
    if (committed) {
      commits.fetch_add(1, std::memory_order_relaxed);
      ops_applied.fetch_add(batch.size(), std::memory_order_relaxed);
    }
    if (began && !committed) {
      base::log(base::log_level::error, "store", "commit failed; the group is rolled back",
                {{"error", last_error()}});
      rollback.reset().run();
    }
    completions c;
    std::vector<std::promise<void>*> barriers;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done)
        c.push_back([d = std::move(batch[i].done), good = committed && ok[i]] { d(good); });
      if (batch[i].barrier) barriers.push_back(batch[i].barrier);
    }
    if (!c.empty()) {
      std::function<void(completions &&)> run_on;
      {
        std::lock_guard lk(mu);
        run_on = exec;
      }
      if (run_on) {
        run_on(std::move(c));
      } else {
        for (auto& f : c) f();
      }
    }
    for (auto* b : barriers) b->set_value();
  }

  // ---- operations (store thread, inside the transaction) ----

  bool log_message(const record_outcome& r, std::string_view status, std::string_view code) {
    auto& s = ins_message.reset();
    s.bind(1, r.message_id).bind(2, r.agency).bind(3, r.record_type);
    s.bind_opt(4, r.key);
    s.bind_opt(5, r.exchange);
    s.bind(6, r.received_ms).bind(7, status);
    s.bind_opt(8, code);
    return s.run();
  }

  bool apply_record(const record_outcome& r, commit_result& out) {
    auto now = clk->now_ms();
    // A replayed dead letter leaves the dead-letter queue (if it fails again, it comes back in
    // with today's diagnostics).
    if (r.replaces_dead_letter && !del_dead.reset().bind(1, r.replaces_dead_letter).run())
      return false;
    if (!r.mapped) {
      auto code = base::code_id(r.code);
      auto& s = ins_dead.reset();
      s.bind(1, r.message_id).bind_null(2).bind(3, r.agency).bind(4, r.record_type);
      s.bind_opt(5, r.exchange);
      s.bind_opt(6, r.key);
      s.bind(7, code).bind(8, r.diagnostics_json).bind(9, r.content_type).bind_blob(10, r.body);
      s.bind(11, now).bind(12, std::int64_t{0});
      if (!s.run() || !log_message(r, "dead_lettered", code)) return false;
      out.what = commit_result::status::dead_lettered;
      return true;
    }
    if (!r.redecision) {
      auto& k = ins_key.reset();
      k.bind(1, r.agency).bind(2, r.record_type).bind(3, r.key).bind(4, r.message_id);
      if (!k.run()) return false;
    }
    if (!r.redecision && sqlite3_changes(db) == 0) {
      auto& q = sel_key.reset();
      q.bind(1, r.agency).bind(2, r.record_type).bind(3, r.key);
      if (q.step() == SQLITE_ROW) out.duplicate_of = q.text(0);
      if (!log_message(r, "duplicate", base::code_id(base::errc::record_duplicate_key)))
        return false;
      out.what = commit_result::status::duplicate;
      return true;
    }
    // Store each distinct document once, referenced by every entry that delivers it.
    std::map<const std::string*, std::int64_t> doc_ids;
    std::map<const std::string*, std::int64_t> refs;
    for (const auto& d : r.deliveries) ++refs[d.document.get()];
    for (const auto& [doc, n] : refs) {
      if (!ins_doc.reset().bind_blob(1, *doc).run()) return false;
      auto id = sqlite3_last_insert_rowid(db);
      if (!ins_ref.reset().bind(1, id).bind(2, n).run()) return false;
      doc_ids[doc] = id;
    }
    for (const auto& d : r.deliveries) {
      auto& s = ins_queue.reset();
      s.bind(1, d.recipient).bind(2, r.message_id).bind(3, r.agency).bind(4, r.key);
      s.bind(5, r.exchange).bind(6, doc_ids[d.document.get()]).bind(7, now).bind(8, r.received_ms);
      s.bind(9, d.consent);
      if (!s.run()) return false;
      queue_entry e;
      e.id = sqlite3_last_insert_rowid(db);
      e.recipient = d.recipient;
      e.message_id = r.message_id;
      e.source_agency = r.agency;
      e.record_key = r.key;
      e.exchange = r.exchange;
      e.document = d.document;
      e.enqueued_ms = now;
      e.received_ms = r.received_ms;
      e.consent = d.consent;
      out.enqueued.push_back(std::move(e));
    }
    if (!r.redecision && !r.body.empty()) {
      auto& q = ins_record.reset();
      q.bind(1, r.message_id).bind(2, r.agency).bind(3, r.record_type).bind(4, r.content_type);
      q.bind_blob(5, r.body).bind(6, r.received_ms);
      if (!q.run()) return false;
    }
    for (const auto& f : r.facts)
      if (!ins_fact.reset().bind(1, f.kind).bind(2, f.key).bind(3, f.value).run()) return false;
    for (const auto& o : r.observations) {
      auto& q = ins_obs.reset();
      q.bind(1, o.agreement).bind(2, o.exchange).bind(3, r.key).bind(4, o.day).bind(5, o.fields);
      if (!q.run()) return false;
    }
    if (!log_message(r,
                     r.redecision           ? "replayed"
                     : r.deliveries.empty() ? "routed_to_none"
                                            : "routed",
                     ""))
      return false;
    for (const auto& a : r.audit)
      if (!append_audit(a, now)) return false;
    out.what = commit_result::status::routed;
    return true;
  }

  bool append_audit(audit_entry e, std::int64_t now) {
    e.at_ms = now;
    e.prev = last_hash;
    e.hash = base::hmac_sha256_hex(audit_key, chain_input(e.prev, e));
    auto& s = ins_audit.reset();
    s.bind(1, e.at_ms).bind(2, e.message_id).bind(3, e.record_key).bind(4, e.provider);
    s.bind(5, e.exchange).bind(6, e.recipient).bind(7, e.agreement).bind(8, e.purpose);
    s.bind(9, e.consent).bind(10, e.decision).bind(11, e.reason).bind(12, e.paths);
    s.bind(13, e.digest).bind(14, e.subjects).bind(15, e.prev).bind(16, e.hash);
    if (!s.run()) return false;
    last_hash = e.hash;
    return true;
  }

  bool release_doc(std::int64_t doc_id) {
    auto& d = dec_doc.reset().bind(1, doc_id);
    int rc = d.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return false;
    bool last = rc == SQLITE_DONE || d.i64(0) <= 0;  // no count (ever): nothing else refers to it
    d.reset();
    return !last ||
           (del_doc.reset().bind(1, doc_id).run() && del_ref.reset().bind(1, doc_id).run());
  }

  bool apply_ack(std::int64_t id) {
    auto& d = del_queue.reset().bind(1, id);
    int rc = d.step();
    if (rc == SQLITE_DONE) return true;  // already gone (acked or expired): nothing to do
    if (rc != SQLITE_ROW) return false;
    auto recipient = d.text(0), message_id = d.text(1);
    auto doc = d.i64(5), attempts = d.i64(6);
    d.reset();
    auto& r = ins_receipt.reset();
    r.bind(1, message_id).bind(2, recipient).bind(3, clk->now_ms()).bind(4, attempts);
    return r.run() && release_doc(doc);
  }

  bool apply_dead_letter(std::int64_t id, base::errc code, std::string_view detail) {
    auto& d = del_queue.reset().bind(1, id);
    int rc = d.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    auto recipient = d.text(0), message_id = d.text(1), agency = d.text(2), key = d.text(3),
         exchange = d.text(4);
    auto doc = d.i64(5), attempts = d.i64(6);
    d.reset();
    std::string body;
    {
      auto& s = sel_doc.reset().bind(1, doc);
      if (s.step() == SQLITE_ROW) body = s.blob(0);
      s.reset();
    }
    auto& s = ins_dead.reset();
    s.bind(1, message_id).bind(2, recipient).bind(3, agency).bind_null(4).bind(5, exchange);
    s.bind(6, key).bind(7, base::code_id(code)).bind(8, detail).bind(9, "application/xml");
    s.bind_blob(10, body).bind(11, clk->now_ms()).bind(12, attempts);
    if (!s.run()) return false;
    return release_doc(doc);
  }
};

store::store(std::unique_ptr<impl> im) : impl_(std::move(im)) {}
store::~store() = default;

base::result<std::unique_ptr<store>> store::open(const options& opt, const base::clock& clk) {
  auto fail = [&](std::string msg) {
    base::diagnostic d;
    d.code = base::errc::io_error;
    d.where = opt.dir;
    d.message = std::move(msg);
    return d;
  };
  std::error_code ec;
  std::filesystem::create_directories(opt.dir, ec);
  if (ec) return fail(fmt::format("cannot create the store directory: {}", ec.message()));
  auto im = std::make_unique<impl>();
  im->clk = &clk;
  im->opt = opt;
  auto path = (std::filesystem::path(opt.dir) / "broker.db").string();
  if (sqlite3_open_v2(path.c_str(), &im->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return fail(fmt::format("cannot open {}: {}", path, im->last_error()));
  const char* pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; "
      "PRAGMA cache_size=-16384; PRAGMA busy_timeout=5000;";
  char* err = nullptr;
  if (sqlite3_exec(im->db, pragmas, nullptr, nullptr, &err) != SQLITE_OK ||
      sqlite3_exec(im->db, k_schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : im->last_error();
    sqlite3_free(err);
    return fail(fmt::format("cannot initialise {}: {}", path, msg));
  }
  // Older stores are brought up to date one version at a time, each step in its transaction.
  for (auto [from, sql] :
       {std::pair{1, k_migrate_v1}, {2, k_migrate_v2}, {3, k_migrate_v3}, {4, k_migrate_v4}}) {
    if (im->schema_version() != from) continue;
    if (sqlite3_exec(im->db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : im->last_error();
      sqlite3_free(err);
      return fail(fmt::format("cannot migrate {} to schema {}: {}", path, from + 1, msg));
    }
  }
  if (im->schema_version() != 5)
    return fail(
        fmt::format("{} has schema {}; this broker knows schema 5", path, im->schema_version()));
  if (!im->prepare()) return fail(fmt::format("cannot prepare statements: {}", im->last_error()));
  im->audit_key = opt.audit_key;
  {
    stmt head(im->db, "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (head && head.step() == SQLITE_ROW) im->last_hash = head.text(0);
  }
  if (sqlite3_open_v2(path.c_str(), &im->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK ||
      sqlite3_exec(im->ckpt_db, "PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL;", nullptr,
                   nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(im->db, "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;",
                   nullptr, nullptr, nullptr) != SQLITE_OK)
    return fail(fmt::format("cannot open {} for checkpoints: {}", path, im->last_error()));
  auto* raw = im.get();
  sqlite3_wal_hook(
      im->db,
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<impl*>(self)->wal_frames.store(frames, std::memory_order_relaxed);
        return SQLITE_OK;
      },
      raw);
  im->thread = std::thread([raw] { raw->loop(); });
  im->ckpt_thread = std::thread([raw] { raw->checkpoint_loop(); });
  return std::unique_ptr<store>(new store(std::move(im)));
}

void store::set_executor(std::function<void(completions&&)> exec) {
  std::lock_guard lk(impl_->mu);
  impl_->exec = std::move(exec);
}

void store::commit_record(record_outcome rec, std::function<void(commit_result)> done) {
  auto res = std::make_shared<commit_result>();
  auto r = std::make_shared<record_outcome>(std::move(rec));
  impl_->push({[this, r, res] { return impl_->apply_record(*r, *res); },
               [res, done = std::move(done)](bool ok) {
                 if (!ok) {
                   res->what = commit_result::status::failed;
                   res->enqueued.clear();
                   res->error = "store write failed";
                 }
                 done(std::move(*res));
               }});
}

void store::fetch(std::string recipient, std::int64_t after_id, std::uint32_t limit,
                  std::function<void(std::vector<queue_entry>)> done) {
  auto out = std::make_shared<std::vector<queue_entry>>();
  impl_->push({[this, out, recipient = std::move(recipient), after_id, limit] {
                 auto& s = impl_->sel_fetch.reset();
                 s.bind(1, recipient).bind(2, after_id).bind(3, static_cast<std::int64_t>(limit));
                 std::unordered_map<std::int64_t, std::shared_ptr<const std::string>> docs;
                 while (s.step() == SQLITE_ROW) {
                   queue_entry e;
                   e.id = s.i64(0);
                   e.recipient = recipient;
                   e.message_id = s.text(1);
                   e.source_agency = s.text(2);
                   e.record_key = s.text(3);
                   e.exchange = s.text(4);
                   auto& doc = docs[s.i64(5)];
                   if (!doc) doc = std::make_shared<const std::string>(s.blob(9));
                   e.document = doc;
                   e.enqueued_ms = s.i64(6);
                   e.received_ms = s.i64(7);
                   e.attempts = static_cast<std::uint32_t>(s.i64(8));
                   e.consent = s.text(10);
                   out->push_back(std::move(e));
                 }
                 s.reset();
                 return true;
               },
               [out, done = std::move(done)](bool) { done(std::move(*out)); }});
}

void store::withdraw(std::int64_t id, audit_entry why, std::function<void(bool)> done) {
  impl_->push({[this, id, why = std::move(why)]() mutable {
                 auto& d = impl_->del_queue.reset().bind(1, id);
                 int rc = d.step();
                 if (rc == SQLITE_DONE) return true;  // already gone: nothing withdrawn
                 if (rc != SQLITE_ROW) return false;
                 auto doc = d.i64(5);
                 d.reset();
                 if (why.agreement.empty()) {
                   // Withheld under the agreement and purpose it was queued under.
                   stmt a(impl_->db,
                          "SELECT agreement, purpose FROM audit WHERE message_id=? AND "
                          "recipient=? AND decision='deliver' ORDER BY seq DESC LIMIT 1");
                   a.bind(1, why.message_id).bind(2, why.recipient);
                   if (a.step() == SQLITE_ROW) {
                     why.agreement = a.text(0);
                     why.purpose = a.text(1);
                   }
                 }
                 return impl_->release_doc(doc) && impl_->append_audit(why, impl_->clk->now_ms());
               },
               std::move(done)});
}

std::vector<fact_row> store::facts() {
  std::vector<fact_row> out;
  std::promise<void> done;
  impl_->push({[this, &out] {
                 stmt s(impl_->db, "SELECT kind, key, value FROM facts ORDER BY seq");
                 while (s && s.step() == SQLITE_ROW)
                   out.push_back({s.text(0), s.text(1), s.text(2)});
                 return true;
               },
               [&done](bool) { done.set_value(); }});
  // The completion may run on the executor; at start-up there is none yet.
  done.get_future().wait();
  return out;
}

void store::ack(std::int64_t id, std::function<void(bool)> done) {
  impl_->push({[this, id] { return impl_->apply_ack(id); }, std::move(done)});
}

void store::set_attempts(std::int64_t id, std::uint32_t attempts) {
  impl_->push({[this, id, attempts] {
                 return impl_->upd_attempts.reset()
                     .bind(1, static_cast<std::int64_t>(attempts))
                     .bind(2, id)
                     .run();
               },
               {}});
}

void store::dead_letter_entry(std::int64_t id, base::errc code, std::string detail_json,
                              std::function<void(bool)> done) {
  impl_->push({[this, id, code, detail = std::move(detail_json)] {
                 return impl_->apply_dead_letter(id, code, detail);
               },
               std::move(done)});
}

void store::expire(std::string recipient, std::int64_t above_id, std::int64_t cutoff_ms,
                   std::function<void(std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  impl_->push({[this, n, recipient = std::move(recipient), above_id, cutoff_ms] {
                 std::vector<std::int64_t> ids;
                 auto& s = impl_->sel_expire.reset().bind(1, recipient).bind(2, above_id);
                 // Ids grow with time, so the scan stops at the first entry young enough.
                 while (s.step() == SQLITE_ROW) {
                   if (s.i64(1) >= cutoff_ms) break;
                   ids.push_back(s.i64(0));
                 }
                 s.reset();
                 for (auto id : ids) {
                   if (!impl_->apply_dead_letter(id, base::errc::delivery_expired, "{}"))
                     return false;
                 }
                 *n = ids.size();
                 return true;
               },
               [n, done = std::move(done)](bool ok) { done(ok ? *n : 0); }});
}

std::vector<queue_stats> store::stats(const std::vector<std::string>& recipients) {
  std::vector<queue_stats> out;
  impl_->run_sync([&] {
    for (const auto& r : recipients) {
      auto& s = impl_->sel_stats.reset().bind(1, r);
      queue_stats q;
      q.recipient = r;
      if (s.step() == SQLITE_ROW) {
        q.depth = static_cast<std::uint64_t>(s.i64(0));
        q.oldest_enqueued_ms = s.i64(1);
      }
      s.reset();
      out.push_back(q);
    }
    return true;
  });
  return out;
}

std::vector<dead_letter> store::dead_letters(std::uint32_t limit) {
  dead_letter_filter f;
  f.limit = limit;
  return dead_letters(f);
}

namespace {

// Fills `r` (a redecision) from the record kept for r.message_id; false if it is no longer kept.
bool read_kept_record(sqlite3* db, replay_source& r) {
  stmt k(db,
         "SELECT agency, record_type, content_type, body, received_ms FROM records WHERE "
         "message_id=?");
  k.bind(1, r.message_id);
  if (k.step() != SQLITE_ROW) return false;
  r.agency = k.text(0);
  r.record_type = k.text(1);
  r.content_type = k.text(2);
  r.body = k.blob(3);
  r.received_ms = k.i64(4);
  r.redecision = true;
  return true;
}

std::vector<base::diagnostic> replay_error(base::errc code, std::string msg) {
  base::diagnostic d;
  d.code = code;
  d.message = std::move(msg);
  return {d};
}

}  // namespace

base::result<replay_source> store::replay_dead_letter(std::int64_t id) {
  std::optional<replay_source> out;
  base::errc why = base::errc::replay_not_found;
  impl_->run_sync([&] {
    stmt d(impl_->db,
           "SELECT message_id, recipient, agency, record_type, content_type, body "
           "FROM dead_letters WHERE id=?");
    d.bind(1, id);
    if (d.step() != SQLITE_ROW) return true;
    replay_source r;
    r.message_id = d.text(0);
    r.recipient = d.text(1);
    r.dead_letter_id = id;
    if (r.recipient.empty()) {
      // A record that never mapped: its bytes are the dead letter's.
      r.agency = d.text(2);
      r.record_type = d.text(3);
      r.content_type = d.text(4);
      r.body = d.blob(5);
      stmt m(impl_->db, "SELECT received_ms FROM messages WHERE message_id=?");
      m.bind(1, r.message_id);
      if (m.step() == SQLITE_ROW) r.received_ms = m.i64(0);
      out = std::move(r);
      return true;
    }
    // An undeliverable document: decided again from the record as received.
    if (!read_kept_record(impl_->db, r)) {
      why = base::errc::replay_not_retained;
      return true;
    }
    out = std::move(r);
    return true;
  });
  if (!out)
    return replay_error(why, why == base::errc::replay_not_found
                                 ? fmt::format("no dead letter {}", id)
                                 : fmt::format("dead letter {}: the record is no longer kept", id));
  return std::move(*out);
}

base::result<replay_source> store::replay_withheld(const std::string& message_id,
                                                   const std::string& recipient) {
  std::optional<replay_source> out;
  base::errc why = base::errc::replay_not_found;
  impl_->run_sync([&] {
    // The latest decision for this recipient must be a withholding.
    stmt a(impl_->db,
           "SELECT decision FROM audit WHERE message_id=? AND recipient=? ORDER BY "
           "seq DESC LIMIT 1");
    a.bind(1, message_id).bind(2, recipient);
    if (a.step() != SQLITE_ROW || a.text(0) != "withhold") return true;
    replay_source r;
    r.message_id = message_id;
    r.recipient = recipient;
    if (!read_kept_record(impl_->db, r)) {
      why = base::errc::replay_not_retained;
      return true;
    }
    out = std::move(r);
    return true;
  });
  if (!out)
    return replay_error(
        why, why == base::errc::replay_not_found
                 ? fmt::format("message {} was not withheld from {}", message_id, recipient)
                 : fmt::format("message {}: the record is no longer kept", message_id));
  return std::move(*out);
}

void store::purge_records(std::int64_t cutoff_ms, std::function<void(std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  impl_->push({[this, n, cutoff_ms] {
                 stmt d(impl_->db, "DELETE FROM records WHERE received_ms < ?");
                 d.bind(1, cutoff_ms);
                 if (!d.run()) return false;
                 *n = static_cast<std::uint64_t>(sqlite3_changes(impl_->db));
                 return true;
               },
               [n, done = std::move(done)](bool) {
                 if (done) done(*n);
               }});
}

std::uint64_t store::dead_letter_count() {
  std::uint64_t n = 0;
  impl_->run_sync([&] {
    stmt s(impl_->db, "SELECT COUNT(*) FROM dead_letters");
    if (s.step() == SQLITE_ROW) n = static_cast<std::uint64_t>(s.i64(0));
    return true;
  });
  return n;
}

store::counters store::stats_counters() const {
  return {impl_->commits.load(), impl_->ops_applied.load()};
}

void store::flush() {
  std::promise<void> p;
  impl_->push({{}, {}, &p});
  p.get_future().wait();
}

namespace {

// A read-only connection to the store of `dir` for tools (the broker may be running: WAL lets a
// reader see the last committed state).
sqlite3* open_read_only(const std::string& dir, std::string& error) {
  sqlite3* db = nullptr;
  auto path = (std::filesystem::path(dir) / "broker.db").string();
  if (!std::filesystem::exists(path)) {
    error = fmt::format("no store at {}", path);
    return nullptr;
  }
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    error = fmt::format("cannot open {}: {}", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

audit_entry read_entry(stmt& s) {
  audit_entry e;
  e.seq = s.i64(0);
  e.at_ms = s.i64(1);
  e.message_id = s.text(2);
  e.record_key = s.text(3);
  e.provider = s.text(4);
  e.exchange = s.text(5);
  e.recipient = s.text(6);
  e.agreement = s.text(7);
  e.purpose = s.text(8);
  e.consent = s.text(9);
  e.decision = s.text(10);
  e.reason = s.text(11);
  e.paths = s.text(12);
  e.digest = s.text(13);
  e.subjects = s.text(14);
  e.prev = s.text(15);
  e.hash = s.text(16);
  return e;
}

constexpr const char* k_audit_columns =
    "seq, at_ms, message_id, record_key, provider, exchange, recipient, agreement, purpose, "
    "consent, decision, reason, paths, digest, subjects, prev, hash";

}  // namespace

audit_check verify_audit(const std::string& dir, std::string_view key) {
  audit_check r;
  sqlite3* db = open_read_only(dir, r.problem);
  if (!db) return r;
  {
    stmt s(db, fmt::format("SELECT {} FROM audit ORDER BY seq", k_audit_columns).c_str());
    if (!s) {
      r.problem = fmt::format("cannot read the audit trail: {}", sqlite3_errmsg(db));
    } else {
      std::string prev(k_genesis);
      std::int64_t last_seq = 0;
      int rc;
      r.ok = true;
      while ((rc = s.step()) == SQLITE_ROW) {
        auto e = read_entry(s);
        ++r.entries;
        auto bad = [&](std::string why) {
          r.ok = false;
          r.first_bad_seq = e.seq;
          r.problem = std::move(why);
        };
        // Entries are numbered without gaps (AUTOINCREMENT, never deleted by the broker).
        if (last_seq != 0 && e.seq != last_seq + 1)
          bad(fmt::format("entry {} follows entry {}: entries between them were removed", e.seq,
                          last_seq));
        else if (!base::constant_time_equal(e.prev, prev))
          bad(
              fmt::format("entry {} does not link to the entry before it (removed, inserted or "
                          "altered)",
                          e.seq));
        else if (!base::constant_time_equal(e.hash,
                                            base::hmac_sha256_hex(key, chain_input(e.prev, e))))
          bad(fmt::format("entry {} was altered (its hash does not match its content)", e.seq));
        if (!r.ok) break;
        prev = e.hash;
        last_seq = e.seq;
      }
      if (r.ok && rc != SQLITE_DONE) {
        r.ok = false;
        r.problem = fmt::format("cannot read the audit trail: {}", sqlite3_errmsg(db));
      }
      // Entries removed from the end leave the chain whole; SQLite's high-water mark of the
      // ids it handed out still shows them.
      stmt hw(db, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'");
      if (r.ok && hw && hw.step() == SQLITE_ROW && hw.i64(0) > last_seq) {
        r.ok = false;
        r.first_bad_seq = last_seq + 1;
        r.problem =
            fmt::format("entries {} to {} were removed from the end", last_seq + 1, hw.i64(0));
      }
    }
  }
  sqlite3_close(db);
  return r;
}

base::result<std::vector<audit_entry>> disclosures(const std::string& dir, std::string_view person,
                                                   std::int64_t since_ms) {
  std::string error;
  sqlite3* db = open_read_only(dir, error);
  if (!db) {
    base::diagnostic d;
    d.code = base::errc::io_error;
    d.where = dir;
    d.message = error;
    return std::vector<base::diagnostic>{d};
  }
  std::vector<audit_entry> out;
  {
    stmt s(db, fmt::format("SELECT {} FROM audit WHERE decision = 'deliver' AND at_ms >= ? AND "
                           "instr(' ' || subjects || ' ', ' ' || ? || ' ') > 0 ORDER BY seq",
                           k_audit_columns)
                   .c_str());
    if (s) {
      s.bind(1, since_ms).bind(2, person);
      while (s.step() == SQLITE_ROW) out.push_back(read_entry(s));
    }
  }
  sqlite3_close(db);
  return out;
}

base::result<std::vector<observation_row>> observations(const std::string& dir,
                                                        std::string_view agreement,
                                                        std::string_view exchange,
                                                        std::string_view from_day,
                                                        std::string_view to_day) {
  std::string error;
  sqlite3* db = open_read_only(dir, error);
  if (!db) {
    base::diagnostic d;
    d.code = base::errc::io_error;
    d.where = dir;
    d.message = error;
    return std::vector<base::diagnostic>{d};
  }
  std::vector<observation_row> out;
  {
    stmt s(db,
           "SELECT agreement, exchange, record_key, day, fields FROM observations WHERE "
           "agreement = ? AND exchange = ? AND day >= ? AND day <= ? ORDER BY id");
    if (s) {
      s.bind(1, agreement).bind(2, exchange).bind(3, from_day).bind(4, to_day);
      while (s.step() == SQLITE_ROW)
        out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4)});
    }
  }
  sqlite3_close(db);
  return out;
}

namespace {

dead_letter read_dead_letter(stmt& s) {
  dead_letter d;
  d.id = s.i64(0);
  d.message_id = s.text(1);
  d.recipient = s.text(2);
  d.agency = s.text(3);
  d.record_type = s.text(4);
  d.exchange = s.text(5);
  d.record_key = s.text(6);
  d.code = s.text(7);
  d.diagnostics_json = s.text(8);
  d.content_type = s.text(9);
  d.dead_ms = s.i64(10);
  d.attempts = static_cast<std::uint32_t>(s.i64(11));
  return d;
}

constexpr const char* k_dead_columns =
    "id, message_id, COALESCE(recipient,''), agency, COALESCE(record_type,''), "
    "COALESCE(exchange,''), COALESCE(record_key,''), code, COALESCE(diagnostics,''), "
    "COALESCE(content_type,''), dead_ms, attempts";

}  // namespace

void store::audit(audit_entry e, std::function<void(bool)> done) {
  impl_->push({[this, e = std::move(e)] { return impl_->append_audit(e, impl_->clk->now_ms()); },
               std::move(done)});
}

std::vector<dead_letter> store::dead_letters(const dead_letter_filter& f) {
  std::vector<dead_letter> out;
  impl_->run_sync([&] {
    stmt s(impl_->db, fmt::format("SELECT {} FROM dead_letters WHERE (?1 = '' OR code = ?1) AND "
                                  "(?2 = '' OR recipient = ?2) AND (?3 = '' OR agency = ?3) AND "
                                  "(?4 = 0 OR id < ?4) ORDER BY id DESC LIMIT ?5",
                                  k_dead_columns)
                          .c_str());
    s.bind(1, f.code).bind(2, f.recipient).bind(3, f.agency).bind(4, f.before_id);
    s.bind(5, static_cast<std::int64_t>(f.limit));
    while (s.step() == SQLITE_ROW) out.push_back(read_dead_letter(s));
    return true;
  });
  return out;
}

std::optional<dead_letter> store::dead_letter_by_id(std::int64_t id) {
  std::optional<dead_letter> out;
  impl_->run_sync([&] {
    stmt s(impl_->db,
           fmt::format("SELECT {} FROM dead_letters WHERE id = ?", k_dead_columns).c_str());
    s.bind(1, id);
    if (s.step() == SQLITE_ROW) out = read_dead_letter(s);
    return true;
  });
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> store::dead_letter_counts() {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  impl_->run_sync([&] {
    stmt s(impl_->db, "SELECT code, COUNT(*) FROM dead_letters GROUP BY code");
    while (s.step() == SQLITE_ROW)
      out.emplace_back(s.text(0), static_cast<std::uint64_t>(s.i64(1)));
    return true;
  });
  return out;
}

bool store::purge_dead_letter(std::int64_t id) {
  bool gone = false;
  impl_->run_sync([&] {
    if (!impl_->del_dead.reset().bind(1, id).run()) return false;
    gone = sqlite3_changes(impl_->db) > 0;
    return true;
  });
  return gone;
}

// In the meta table, beside the schema version; the `setting:` prefix keeps them apart.
bool store::put_setting(const std::string& key, std::optional<std::string> value) {
  bool ok = false;
  impl_->run_sync([&] {
    stmt q(impl_->db, value ? "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"
                            : "DELETE FROM meta WHERE key = ?");
    const std::string full = "setting:" + key;  // bound without a copy: must outlive the run
    q.bind(1, full);
    if (value) q.bind(2, *value);
    ok = q.run();
    return ok;
  });
  return ok;
}

std::vector<std::pair<std::string, std::string>> store::settings(const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  impl_->run_sync([&] {
    stmt q(impl_->db,
           "SELECT substr(key, 9), value FROM meta WHERE key >= ? AND key < ? ORDER BY key");
    const std::string from = "setting:" + prefix, to = from + "\xff";  // bound without a copy
    q.bind(1, from);
    q.bind(2, to);
    while (q.step() == SQLITE_ROW) out.emplace_back(q.text(0), q.text(1));
    return true;
  });
  return out;
}

store::message_trace store::trace(const std::string& message_id) {
  message_trace t;
  impl_->run_sync([&] {
    stmt m(impl_->db,
           "SELECT agency, record_type, COALESCE(record_key,''), "
           "COALESCE(exchange,''), received_ms, status, COALESCE(code,'') FROM "
           "messages WHERE message_id = ?");
    m.bind(1, message_id);
    if (m.step() != SQLITE_ROW) return true;
    t.found = true;
    t.message_id = message_id;
    t.agency = m.text(0);
    t.record_type = m.text(1);
    t.record_key = m.text(2);
    t.exchange = m.text(3);
    t.received_ms = m.i64(4);
    t.status = m.text(5);
    t.code = m.text(6);
    stmt a(impl_->db, fmt::format("SELECT {} FROM audit WHERE message_id = ? "
                                  "ORDER BY seq",
                                  k_audit_columns)
                          .c_str());
    a.bind(1, message_id);
    while (a.step() == SQLITE_ROW) t.decisions.push_back(read_entry(a));
    stmt q(impl_->db,
           "SELECT id, recipient, enqueued_ms, attempts, consent FROM queue WHERE "
           "message_id = ? ORDER BY id");
    q.bind(1, message_id);
    while (q.step() == SQLITE_ROW) {
      queue_entry e;
      e.id = q.i64(0);
      e.recipient = q.text(1);
      e.enqueued_ms = q.i64(2);
      e.attempts = static_cast<std::uint32_t>(q.i64(3));
      e.consent = q.text(4);
      e.message_id = message_id;
      t.queued.push_back(std::move(e));
    }
    stmt d(impl_->db, fmt::format("SELECT {} FROM dead_letters WHERE message_id = ? "
                                  "ORDER BY id",
                                  k_dead_columns)
                          .c_str());
    d.bind(1, message_id);
    while (d.step() == SQLITE_ROW) t.dead_letters.push_back(read_dead_letter(d));
    stmt r(impl_->db,
           "SELECT recipient, accepted_ms, attempts FROM receipts WHERE message_id = ? "
           "ORDER BY accepted_ms, recipient");
    r.bind(1, message_id);
    while (r.step() == SQLITE_ROW)
      t.receipts.push_back({r.text(0), r.i64(1), static_cast<std::uint32_t>(r.i64(2))});
    return true;
  });
  return t;
}

std::uint64_t store::size_bytes() const {
  std::uint64_t n = 0;
  for (const char* f : {"broker.db", "broker.db-wal"}) {
    std::error_code ec;
    auto sz = std::filesystem::file_size(std::filesystem::path(impl_->opt.dir) / f, ec);
    if (!ec) n += sz;
  }
  return n;
}

}  // namespace niem::store
