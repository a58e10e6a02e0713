#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "base/log.h"
#include "store/audit_chain.h"
#include "store/sqlite/sqlite_store.h"

namespace niem::store::sqlite {

namespace {

constexpr const char* k_schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '8');
-- Every record received, with what became of it (the start of a message's trace).
CREATE TABLE IF NOT EXISTS messages(
  message_id TEXT PRIMARY KEY, agency TEXT NOT NULL, record_type TEXT NOT NULL,
  record_key TEXT, exchange TEXT, received_ms INTEGER NOT NULL, status TEXT NOT NULL,
  code TEXT) WITHOUT ROWID;
-- Message search: newest first by any one column (each index also holds the message id).
CREATE INDEX IF NOT EXISTS messages_by_time ON messages(received_ms);
CREATE INDEX IF NOT EXISTS messages_by_key ON messages(record_key, received_ms);
CREATE INDEX IF NOT EXISTS messages_by_exchange ON messages(exchange, received_ms);
CREATE INDEX IF NOT EXISTS messages_by_agency ON messages(agency, received_ms);
CREATE INDEX IF NOT EXISTS messages_by_status ON messages(status, received_ms);
-- ... and by who a message is about or for ('person:ID', 'recipient:AGENCY'; store/search.h),
-- written with its decisions. The audit trail says the same, but not in an order a search can
-- walk.
CREATE TABLE IF NOT EXISTS message_index(
  term TEXT NOT NULL, received_ms INTEGER NOT NULL, message_id TEXT NOT NULL,
  PRIMARY KEY(term, received_ms, message_id)) WITHOUT ROWID;
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
  prev TEXT NOT NULL, hash TEXT NOT NULL, mapping_version TEXT NOT NULL DEFAULT '',
  agreement_version TEXT NOT NULL DEFAULT '');
-- A message's decisions, for its trace and its search result.
CREATE INDEX IF NOT EXISTS audit_by_message ON audit(message_id);
-- The audit entries moved to archive files (store/archive.h): the chain in the table continues
-- from the last one's hash.
CREATE TABLE IF NOT EXISTS audit_archives(
  id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL, entries INTEGER NOT NULL, files TEXT NOT NULL);
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

// Schema 5 could not search messages: the indexes and message_index are created above, and the
// index is filled here from the decisions already in the audit trail.
constexpr const char* k_migrate_v5 = R"sql(
BEGIN IMMEDIATE;
INSERT OR IGNORE INTO message_index(term, received_ms, message_id)
  SELECT 'recipient:' || a.recipient, m.received_ms, a.message_id FROM audit a
  JOIN messages m ON m.message_id = a.message_id
  WHERE a.decision IN ('deliver', 'withhold') AND a.recipient <> '';
WITH RECURSIVE split(message_id, word, rest) AS (
  SELECT message_id, '', subjects || ' ' FROM audit WHERE decision IN ('deliver', 'withhold')
  UNION ALL
  SELECT message_id, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
  FROM split WHERE rest <> '')
INSERT OR IGNORE INTO message_index(term, received_ms, message_id)
  SELECT 'person:' || s.word, m.received_ms, s.message_id FROM split s
  JOIN messages m ON m.message_id = s.message_id WHERE s.word <> '';
UPDATE meta SET value = '6' WHERE key = 'schema_version';
COMMIT;
)sql";

// Schema 6 did not record which mapping and agreement (their content hashes) decided an entry.
constexpr const char* k_migrate_v6 = R"sql(
BEGIN IMMEDIATE;
ALTER TABLE audit ADD COLUMN mapping_version TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN agreement_version TEXT NOT NULL DEFAULT '';
UPDATE meta SET value = '7' WHERE key = 'schema_version';
COMMIT;
)sql";

// Schema 7 had no archive of the audit trail.
constexpr const char* k_migrate_v7 = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS audit_archives(
  id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL, entries INTEGER NOT NULL, files TEXT NOT NULL);
UPDATE meta SET value = '8' WHERE key = 'schema_version';
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

constexpr int k_schema_version = 8;

}  // namespace

base::result<std::unique_ptr<store>> open(const options& opt, const base::clock& clk) {
  auto s = std::make_unique<sqlite_store>(opt, clk);
  auto r = s->init();
  if (!r.ok()) return r.errors();
  return std::unique_ptr<store>(std::move(s));
}

sqlite_store::sqlite_store(const options& opt, const base::clock& clk)
    : opt_(opt),
      clk_(clk),
      path_((std::filesystem::path(opt.locator) / "broker.db").string()),
      eng_(*this, opt.group_commit_max),
      last_hash_(k_genesis) {}

sqlite_store::~sqlite_store() {
  eng_.stop();
  {
    std::lock_guard lk(ckpt_mu_);
    ckpt_stopping_ = true;
  }
  ckpt_cv_.notify_all();
  if (ckpt_thread_.joinable()) ckpt_thread_.join();
  if (ckpt_db_) {
    sqlite3_wal_checkpoint_v2(ckpt_db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_close_v2(ckpt_db_);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the writer's lock
  // close_v2 defers the close until the statements (members, destroyed after this body) are
  // finalized.
  if (db_) sqlite3_close_v2(db_);
}

base::diagnostic sqlite_store::error(std::string msg) const {
  base::diagnostic d;
  d.code = base::errc::io_error;
  d.where = opt_.locator;
  d.message = std::move(msg);
  return d;
}

int sqlite_store::schema_version() {
  sqlite3_stmt* q = nullptr;
  int v = 0;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q,
                         nullptr) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  return v;
}

base::result<bool> sqlite_store::init() {
  auto fail = [&](std::string msg) -> base::result<bool> {
    return std::vector<base::diagnostic>{error(std::move(msg))};
  };
  if (opt_.read_only) {
    if (!std::filesystem::exists(path_)) return fail(fmt::format("no store at {}", path_));
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK)
      return fail(fmt::format("cannot open {}: {}", path_, last_error()));
    sqlite3_busy_timeout(db_, 5000);
    if (schema_version() != k_schema_version)
      return fail(fmt::format("{} has schema {}; this program knows schema {}", path_,
                              schema_version(), k_schema_version));
    if (!prepare()) return fail(fmt::format("cannot prepare statements: {}", last_error()));
    eng_.start();
    return true;
  }
  std::error_code ec;
  std::filesystem::create_directories(opt_.locator, ec);
  if (ec) return fail(fmt::format("cannot create the store directory: {}", ec.message()));
  // One writer per store: the audit chain's head is kept in memory between transactions, so a
  // second process appending (another broker, niem-dsa archive) would fork the chain. Held until
  // the store closes; readers (tools, --read-only) take none.
  auto lock_path = (std::filesystem::path(opt_.locator) / "broker.lock").string();
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return fail(fmt::format("cannot open {}: {}", lock_path, std::strerror(errno)));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return fail(
        fmt::format("{} is in use by another process (a broker, or niem-dsa archive): "
                    "one writer at a time",
                    opt_.locator));
  if (sqlite3_open_v2(path_.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return fail(fmt::format("cannot open {}: {}", path_, last_error()));
  const char* pragmas =
      // auto_vacuum takes effect on a new database only (an older one keeps its free pages
      // for reuse; `VACUUM` converts it).
      "PRAGMA auto_vacuum=INCREMENTAL; "
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; "
      "PRAGMA cache_size=-16384; PRAGMA busy_timeout=5000;";
  char* err = nullptr;
  if (sqlite3_exec(db_, pragmas, nullptr, nullptr, &err) != SQLITE_OK ||
      sqlite3_exec(db_, k_schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : last_error();
    sqlite3_free(err);
    return fail(fmt::format("cannot initialise {}: {}", path_, msg));
  }
  // Older stores are brought up to date one version at a time, each step in its transaction.
  for (auto [from, sql] : {std::pair{1, k_migrate_v1},
                           {2, k_migrate_v2},
                           {3, k_migrate_v3},
                           {4, k_migrate_v4},
                           {5, k_migrate_v5},
                           {6, k_migrate_v6},
                           {7, k_migrate_v7}}) {
    if (schema_version() != from) continue;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : last_error();
      sqlite3_free(err);
      return fail(fmt::format("cannot migrate {} to schema {}: {}", path_, from + 1, msg));
    }
  }
  if (schema_version() != k_schema_version)
    return fail(fmt::format("{} has schema {}; this broker knows schema {}", path_,
                            schema_version(), k_schema_version));
  if (!prepare()) return fail(fmt::format("cannot prepare statements: {}", last_error()));
  {
    stmt head(db_, "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (head && head.step() == SQLITE_ROW) last_hash_ = head.text(0);
  }
  if (sqlite3_open_v2(path_.c_str(), &ckpt_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK ||
      sqlite3_exec(ckpt_db_, "PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL;", nullptr, nullptr,
                   nullptr) != SQLITE_OK ||
      sqlite3_exec(db_, "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;", nullptr,
                   nullptr, nullptr) != SQLITE_OK)
    return fail(fmt::format("cannot open {} for checkpoints: {}", path_, last_error()));
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<sqlite_store*>(self)->wal_frames_.store(frames, std::memory_order_relaxed);
        return SQLITE_OK;
      },
      this);
  analyze();
  below_floor();  // the free space, before the first record
  eng_.start();
  ckpt_thread_ = std::thread([this] { checkpoint_loop(); });
  return true;
}

bool sqlite_store::prepare() {
  struct {
    stmt* s;
    const char* sql;
  } all[] = {
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&savepoint_, "SAVEPOINT op"},
      {&release_, "RELEASE op"},
      {&rollback_to_, "ROLLBACK TO op"},
      {&ins_message_,
       "INSERT OR REPLACE INTO messages(message_id, agency, record_type, record_key, exchange, "
       "received_ms, status, code) VALUES(?,?,?,?,?,?,?,?)"},
      {&ins_key_,
       "INSERT INTO record_keys(agency, record_type, record_key, message_id) VALUES(?,?,?,?) "
       "ON CONFLICT DO NOTHING"},
      {&sel_key_,
       "SELECT message_id FROM record_keys WHERE agency=? AND record_type=? AND record_key=?"},
      {&ins_doc_, "INSERT INTO documents(body) VALUES(?)"},
      {&ins_ref_, "INSERT INTO doc_refs(id, refs) VALUES(?, ?)"},
      {&ins_queue_,
       "INSERT INTO queue(recipient, message_id, source_agency, record_key, exchange, doc_id, "
       "enqueued_ms, received_ms, consent) VALUES(?,?,?,?,?,?,?,?,?)"},
      {&ins_fact_, "INSERT OR IGNORE INTO facts(kind, key, value) VALUES(?,?,?)"},
      {&ins_record_,
       "INSERT OR REPLACE INTO records(message_id, agency, record_type, content_type, body, "
       "received_ms) VALUES(?,?,?,?,?,?)"},
      {&del_dead_, "DELETE FROM dead_letters WHERE id=?"},
      {&ins_obs_,
       "INSERT INTO observations(agreement, exchange, record_key, day, fields) "
       "VALUES(?,?,?,?,?)"},
      {&ins_dead_,
       "INSERT INTO dead_letters(message_id, recipient, agency, record_type, exchange, "
       "record_key, code, diagnostics, content_type, body, dead_ms, attempts) "
       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)"},
      {&sel_fetch_,
       "SELECT q.id, q.message_id, q.source_agency, q.record_key, q.exchange, q.doc_id, "
       "q.enqueued_ms, q.received_ms, q.attempts, d.body, q.consent FROM queue q JOIN documents "
       "d ON "
       "d.id = q.doc_id WHERE q.recipient=? AND q.id>? ORDER BY q.id LIMIT ?"},
      {&del_queue_,
       "DELETE FROM queue WHERE id=? RETURNING recipient, message_id, source_agency, "
       "record_key, exchange, doc_id, attempts"},
      {&dec_doc_, "UPDATE doc_refs SET refs = refs - 1 WHERE id=? RETURNING refs"},
      {&del_doc_, "DELETE FROM documents WHERE id=?"},
      {&ins_receipt_,
       "INSERT OR REPLACE INTO receipts(message_id, recipient, accepted_ms, attempts) "
       "VALUES(?, ?, ?, ?)"},
      {&del_ref_, "DELETE FROM doc_refs WHERE id=?"},
      {&sel_doc_, "SELECT body FROM documents WHERE id=?"},
      {&ins_audit_,
       "INSERT INTO audit(at_ms, message_id, record_key, provider, exchange, recipient, "
       "agreement, purpose, consent, decision, reason, paths, digest, subjects, prev, hash, "
       "mapping_version, agreement_version) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
      {&upd_attempts_, "UPDATE queue SET attempts=? WHERE id=?"},
      {&sel_expire_,
       "SELECT id, enqueued_ms FROM queue WHERE recipient=? AND id>? ORDER BY id LIMIT 10000"},
      {&ins_term_,
       "INSERT OR IGNORE INTO message_index(term, received_ms, message_id) VALUES(?,?,?)"},
      {&sel_stats_, "SELECT COUNT(*), COALESCE(MIN(enqueued_ms), 0) FROM queue WHERE recipient=?"},
  };
  for (auto& a : all) {
    *a.s = stmt(db_, a.sql);
    if (!*a.s) return false;
  }
  // A reader cannot take the write lock IMMEDIATE asks for.
  if (opt_.read_only) begin_ = stmt(db_, "BEGIN");
  return static_cast<bool>(begin_);
}

void sqlite_store::checkpoint_loop() {
  std::unique_lock lk(ckpt_mu_);
  while (!ckpt_stopping_) {
    ckpt_cv_.wait_for(lk, std::chrono::milliseconds(50));
    if (ckpt_stopping_) break;
    lk.unlock();
    sqlite3_wal_checkpoint_v2(ckpt_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lk.lock();
  }
}

void sqlite_store::idle() {
  if (wal_frames_.load(std::memory_order_relaxed) > k_wal_recycle_frames) {
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc == SQLITE_OK && done == log) wal_frames_.store(0, std::memory_order_relaxed);
  }
  if (std::chrono::steady_clock::now() >= next_analyze_) analyze();
}

void sqlite_store::analyze() {
  // The planner's statistics, so that a search on two columns walks the index of the more
  // selective one. analysis_limit samples each index (milliseconds, whatever the size); an hour's
  // traffic does not change the shape of the data much.
  sqlite3_exec(db_, "PRAGMA analysis_limit=1000; ANALYZE;", nullptr, nullptr, nullptr);
  next_analyze_ = std::chrono::steady_clock::now() + std::chrono::hours(1);
}

void sqlite_store::note_failure(int rc) {
  if ((rc & 0xff) == SQLITE_FULL)
    writes_.refused(base::errc::store_full, "the store's disk is full: " + last_error());
  else if ((rc & 0xff) == SQLITE_READONLY)
    writes_.refused(base::errc::store_read_only, "the store is read-only: " + last_error());
}

bool sqlite_store::apply_group(std::vector<op>& batch, std::vector<char>& ok) {
  auto chain_before = last_hash_;  // an op or group that is rolled back leaves no link
  bool began = begin_.reset().run();
  if (!began) note_failure(sqlite3_extended_errcode(db_));
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].apply || !began) continue;
    auto op_chain = last_hash_;
    savepoint_.reset().run();
    ok[i] = batch[i].apply();
    if (!ok[i]) {
      note_failure(sqlite3_extended_errcode(db_));
      if (sqlite3_get_autocommit(db_)) {
        // SQLite rolled the whole transaction back itself (a full disk, an I/O error): the ops
        // before this one are gone too, and the next would each commit alone, outside the
        // group, behind the chain's back. Nothing of the group is stored.
        std::fill(ok.begin(), ok.end(), 0);
        last_hash_ = chain_before;
        base::log(base::log_level::error, "store", "the transaction was rolled back by SQLite",
                  {{"error", last_error()},
                   {"code", std::string(base::code_id(writes_.failure_code()))}});
        return false;
      }
      rollback_to_.reset().run();
      last_hash_ = op_chain;
    }
    release_.reset().run();
  }
  bool committed = began && commit_.reset().run();
  if (!committed) last_hash_ = chain_before;
  if (began && !committed) {
    note_failure(sqlite3_extended_errcode(db_));
    base::log(
        base::log_level::error, "store", "commit failed; the group is rolled back",
        {{"error", last_error()}, {"code", std::string(base::code_id(writes_.failure_code()))}});
    rollback_.reset().run();
  }
  return committed;
}

sqlite3* sqlite_store::open_reader(std::string& err) const {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    err = fmt::format("cannot open {}: {}", path_, sqlite3_errmsg(db));
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

}  // namespace niem::store::sqlite
