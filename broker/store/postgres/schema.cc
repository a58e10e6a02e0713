// The PostgreSQL schema and its migrations, the writer's connection and its prepared
// statements, and the group transaction.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "store/audit_chain.h"
#include "store/postgres/pg_store.h"

namespace niem::store::postgres {

namespace {

constexpr int k_schema_version = 5;
// pg_advisory_lock key held while the schema is created or migrated: replicas starting at once
// take turns ("niem" in ASCII).
constexpr std::int64_t k_migration_lock = 0x6e69656d;

// Version 1. Ids are identities (never reused); the audit trail's sequence numbers are given by
// the broker from audit_head, so that they have no gaps whatever rolls back.
constexpr const char* k_schema_v1 = R"sql(
CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS messages(
  message_id text PRIMARY KEY, agency text NOT NULL, record_type text NOT NULL,
  record_key text, exchange text, received_ms bigint NOT NULL, status text NOT NULL, code text);
CREATE TABLE IF NOT EXISTS record_keys(
  agency text NOT NULL, record_type text NOT NULL, record_key text NOT NULL,
  message_id text NOT NULL, PRIMARY KEY(agency, record_type, record_key));
-- NIEM documents, shared by the queue entries that deliver the same bytes; a document goes with
-- the last entry that refers to it (no reference count to update per acknowledgement).
CREATE TABLE IF NOT EXISTS documents(
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body bytea NOT NULL);
CREATE TABLE IF NOT EXISTS queue(
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, recipient text NOT NULL,
  message_id text NOT NULL, source_agency text NOT NULL, record_key text NOT NULL,
  exchange text NOT NULL, doc_id bigint NOT NULL, enqueued_ms bigint NOT NULL,
  received_ms bigint NOT NULL, attempts integer NOT NULL DEFAULT 0,
  consent text NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS queue_by_recipient ON queue(recipient, id);
CREATE INDEX IF NOT EXISTS queue_by_message ON queue(message_id);
CREATE INDEX IF NOT EXISTS queue_by_doc ON queue(doc_id);
CREATE TABLE IF NOT EXISTS facts(
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text NOT NULL, key text NOT NULL,
  value text NOT NULL, UNIQUE(kind, key));
CREATE TABLE IF NOT EXISTS observations(
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, agreement text NOT NULL,
  exchange text NOT NULL, record_key text NOT NULL, day text NOT NULL, fields text NOT NULL);
CREATE INDEX IF NOT EXISTS observations_by_day ON observations(agreement, exchange, day);
CREATE TABLE IF NOT EXISTS records(
  message_id text PRIMARY KEY, agency text NOT NULL, record_type text NOT NULL,
  content_type text NOT NULL, body bytea NOT NULL, received_ms bigint NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_time ON records(received_ms);
CREATE TABLE IF NOT EXISTS receipts(
  message_id text NOT NULL, recipient text NOT NULL, accepted_ms bigint NOT NULL,
  attempts integer NOT NULL, PRIMARY KEY(message_id, recipient));
CREATE TABLE IF NOT EXISTS dead_letters(
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, message_id text NOT NULL,
  recipient text, agency text NOT NULL, record_type text, exchange text, record_key text,
  code text NOT NULL, diagnostics text, content_type text, body bytea, dead_ms bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS dead_letters_by_message ON dead_letters(message_id);
CREATE TABLE IF NOT EXISTS audit(
  seq bigint PRIMARY KEY, at_ms bigint NOT NULL, message_id text NOT NULL,
  record_key text NOT NULL, provider text NOT NULL, exchange text NOT NULL,
  recipient text NOT NULL, agreement text NOT NULL, purpose text NOT NULL, consent text NOT NULL,
  decision text NOT NULL, reason text NOT NULL, paths text NOT NULL, digest text NOT NULL,
  subjects text NOT NULL, prev text NOT NULL, hash text NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_message ON audit(message_id, recipient);
CREATE TABLE IF NOT EXISTS audit_head(
  id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL);
INSERT INTO audit_head VALUES(1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
  ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS settings(key text PRIMARY KEY, value text NOT NULL);
-- Which broker serves each recipient's queue, until when (the database's clock, ms).
CREATE TABLE IF NOT EXISTS recipient_leases(
  recipient text PRIMARY KEY, owner text NOT NULL, until_ms bigint NOT NULL);
INSERT INTO meta VALUES('schema_version', '1') ON CONFLICT DO NOTHING;
)sql";

// Version 2: message search (store::find_messages). The indexes serve a search newest first
// by any one column; message_index by who a message is about or for ('person:ID',
// 'recipient:AGENCY'; store/search.h), filled here from the decisions already audited.
constexpr const char* k_migrate_v1 = R"sql(
CREATE INDEX IF NOT EXISTS messages_by_time ON messages(received_ms, message_id);
CREATE INDEX IF NOT EXISTS messages_by_key ON messages(record_key, received_ms, message_id);
CREATE INDEX IF NOT EXISTS messages_by_exchange ON messages(exchange, received_ms, message_id);
CREATE INDEX IF NOT EXISTS messages_by_agency ON messages(agency, received_ms, message_id);
CREATE INDEX IF NOT EXISTS messages_by_status ON messages(status, received_ms, message_id);
CREATE TABLE IF NOT EXISTS message_index(
  term text NOT NULL, received_ms bigint NOT NULL, message_id text NOT NULL,
  PRIMARY KEY(term, received_ms, message_id));
INSERT INTO message_index(term, received_ms, message_id)
  SELECT DISTINCT 'recipient:' || a.recipient, m.received_ms, a.message_id FROM audit a
  JOIN messages m ON m.message_id = a.message_id
  WHERE a.decision IN ('deliver', 'withhold') AND a.recipient <> ''
  ON CONFLICT DO NOTHING;
INSERT INTO message_index(term, received_ms, message_id)
  SELECT DISTINCT 'person:' || w.word, m.received_ms, a.message_id FROM audit a
  JOIN messages m ON m.message_id = a.message_id,
  unnest(string_to_array(a.subjects, ' ')) AS w(word)
  WHERE a.decision IN ('deliver', 'withhold') AND w.word <> ''
  ON CONFLICT DO NOTHING;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
)sql";

// Version 3: which mapping and agreement (their content hashes) decided each audit entry.
constexpr const char* k_migrate_v2 = R"sql(
ALTER TABLE audit ADD COLUMN IF NOT EXISTS mapping_version text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN IF NOT EXISTS agreement_version text NOT NULL DEFAULT '';
UPDATE meta SET value = '3' WHERE key = 'schema_version';
)sql";

// Version 4: the audit entries moved to archive files (store/archive.h); the chain in the table
// continues from the last one's hash.
constexpr const char* k_migrate_v3 = R"sql(
CREATE TABLE IF NOT EXISTS audit_archives(
  id bigserial PRIMARY KEY, at_ms bigint NOT NULL, first_seq bigint NOT NULL,
  last_seq bigint NOT NULL, last_hash text NOT NULL, entries bigint NOT NULL, files text NOT NULL);
UPDATE meta SET value = '4' WHERE key = 'schema_version';
)sql";

// Version 5: the bodies (documents, kept records, dead letters) compressed with lz4 instead of
// pglz. A placement's document is past TOAST's 2 kB threshold, and pglz made its insert the
// writer's costliest statement (0.095 ms against 0.061 ms with lz4, pg_stat_statements over a
// benchmark run). A server built without lz4 keeps pglz.
constexpr const char* k_migrate_v4 = R"sql(
DO $$ BEGIN
  ALTER TABLE documents ALTER COLUMN body SET COMPRESSION lz4;
  ALTER TABLE records ALTER COLUMN body SET COMPRESSION lz4;
  ALTER TABLE dead_letters ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;
END $$;
UPDATE meta SET value = '5' WHERE key = 'schema_version';
)sql";

struct statement {
  const char* name;
  const char* sql;
  // Planned at each execution, not prepared once: a plan made while the queue was small
  // (a fresh store) scanned the whole queue per group of acknowledgements as it grew (1.8 ms a
  // group at 1,500 records/s, auto_explain), until an ANALYZE that may be a minute away.
  bool each_time = false;
};

constexpr statement k_statements[] = {
    {"head", "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"},
    {"set_head", "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1"},
    {"ins_message",
     "INSERT INTO messages(message_id, agency, record_type, record_key, exchange, received_ms, "
     "status, code) VALUES($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (message_id) DO UPDATE SET "
     "agency = EXCLUDED.agency, record_type = EXCLUDED.record_type, record_key = "
     "EXCLUDED.record_key, exchange = EXCLUDED.exchange, received_ms = EXCLUDED.received_ms, "
     "status = EXCLUDED.status, code = EXCLUDED.code"},
    {"ins_key",
     "INSERT INTO record_keys(agency, record_type, record_key, message_id) VALUES($1,$2,$3,$4) "
     "ON CONFLICT DO NOTHING"},
    {"sel_key",
     "SELECT message_id FROM record_keys WHERE agency=$1 AND record_type=$2 AND record_key=$3"},
    // One document and the entries of every recipient that receives it, in one statement.
    {"ins_doc_queue",
     "WITH d AS (INSERT INTO documents(body) VALUES($1) RETURNING id) "
     "INSERT INTO queue(recipient, message_id, source_agency, record_key, exchange, doc_id, "
     "enqueued_ms, received_ms, consent) SELECT u.r, $3, $4, $5, $6, d.id, $7, $8, u.c FROM d, "
     "unnest($2::text[], $9::text[]) WITH ORDINALITY AS u(r, c, n) ORDER BY u.n "
     "RETURNING id, recipient"},
    // A group's documents and their queue entries in one statement: the documents' ids are drawn
    // first, then the entries are inserted in the order given (their ids in that order).
    {"ins_docs_queue",
     "WITH b AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('documents', 'id')) AS id, "
     "t.body, t.n FROM unnest($1::bytea[]) WITH ORDINALITY AS t(body, n)), d AS (INSERT INTO "
     "documents(id, body) OVERRIDING SYSTEM VALUE SELECT id, body FROM b) INSERT INTO "
     "queue(recipient, message_id, source_agency, record_key, exchange, doc_id, enqueued_ms, "
     "received_ms, consent) SELECT u.r, u.m, u.a, u.k, u.x, b.id, $9, u.rm, u.c FROM "
     "unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
     "$8::bigint[], $10::text[]) WITH ORDINALITY AS u(dn, r, m, a, k, x, rm, c, o) JOIN b ON b.n "
     "= u.dn ORDER BY u.o RETURNING id, recipient, message_id"},
    {"ins_record",
     "INSERT INTO records(message_id, agency, record_type, content_type, body, received_ms) "
     "VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT (message_id) DO UPDATE SET agency = EXCLUDED.agency, "
     "record_type = EXCLUDED.record_type, content_type = EXCLUDED.content_type, body = "
     "EXCLUDED.body, received_ms = EXCLUDED.received_ms"},
    {"ins_fact",
     "INSERT INTO facts(kind, key, value) VALUES($1,$2,$3) ON CONFLICT (kind, key) DO NOTHING"},
    {"ins_obs",
     "INSERT INTO observations(agreement, exchange, record_key, day, fields) "
     "VALUES($1,$2,$3,$4,$5)"},
    {"ins_dead",
     "INSERT INTO dead_letters(message_id, recipient, agency, record_type, exchange, record_key, "
     "code, diagnostics, content_type, body, dead_ms, attempts) "
     "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"},
    {"del_dead", "DELETE FROM dead_letters WHERE id=$1"},
    {"ins_audit",
     "INSERT INTO audit(seq, at_ms, message_id, record_key, provider, exchange, recipient, "
     "agreement, purpose, consent, decision, reason, paths, digest, subjects, prev, hash, "
     "mapping_version, agreement_version) "
     "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], "
     "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], "
     "$13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], "
     "$19::text[])"},
    {"sel_fetch",
     "SELECT q.id, q.message_id, q.source_agency, q.record_key, q.exchange, q.doc_id, "
     "q.enqueued_ms, q.received_ms, q.attempts, d.body, q.consent FROM queue q JOIN documents d "
     "ON d.id = q.doc_id WHERE q.recipient=$1 AND q.id>$2 ORDER BY q.id LIMIT $3"},
    {"del_queue",
     "DELETE FROM queue WHERE id=$1 RETURNING recipient, message_id, source_agency, "
     "record_key, exchange, doc_id, attempts"},
    // An acknowledgement: the entry goes, its receipt is written, and its document goes with the
    // last entry that refers to it (the subquery sees the queue before this statement's delete).
    {"ack",
     "WITH q AS (DELETE FROM queue WHERE id=$1 RETURNING message_id, recipient, doc_id, "
     "attempts), r AS (INSERT INTO receipts(message_id, recipient, accepted_ms, attempts) "
     "SELECT message_id, recipient, $2, attempts FROM q ON CONFLICT (message_id, recipient) DO "
     "UPDATE SET accepted_ms = EXCLUDED.accepted_ms, attempts = EXCLUDED.attempts) "
     "DELETE FROM documents d USING q WHERE d.id = q.doc_id AND NOT EXISTS (SELECT 1 FROM queue "
     "o WHERE o.doc_id = q.doc_id AND o.id <> $1)"},
    // After an entry was deleted in this transaction: its document, if no other entry needs it.
    {"free_doc",
     "DELETE FROM documents WHERE id=$1 AND NOT EXISTS (SELECT 1 FROM queue WHERE doc_id=$1)"},
    {"sel_doc", "SELECT body FROM documents WHERE id=$1"},
    {"upd_attempts", "UPDATE queue SET attempts=$1 WHERE id=$2"},
    {"sel_expire",
     "SELECT id, enqueued_ms FROM queue WHERE recipient=$1 AND id>$2 ORDER BY id LIMIT 10000"},
    {"sel_stats", "SELECT COUNT(*), COALESCE(MIN(enqueued_ms), 0) FROM queue WHERE recipient=$1"},
    // A group's records, several rows a statement (one statement's overhead, not one a row).
    {"ins_keys",
     "INSERT INTO record_keys(agency, record_type, record_key, message_id) SELECT a, t, k, m FROM "
     "unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(a, t, k, m, n) "
     "ORDER BY n ON CONFLICT DO NOTHING RETURNING message_id"},
    {"ins_messages",
     "INSERT INTO messages(message_id, agency, record_type, record_key, exchange, received_ms, "
     "status, code) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
     "$5::text[], $6::bigint[], $7::text[], $8::text[]) ON CONFLICT (message_id) DO UPDATE SET "
     "agency = EXCLUDED.agency, record_type = EXCLUDED.record_type, record_key = "
     "EXCLUDED.record_key, exchange = EXCLUDED.exchange, received_ms = EXCLUDED.received_ms, "
     "status = EXCLUDED.status, code = EXCLUDED.code"},
    {"ins_terms",
     "INSERT INTO message_index(term, received_ms, message_id) SELECT * FROM unnest($1::text[], "
     "$2::bigint[], $3::text[]) ON CONFLICT DO NOTHING"},
    {"ins_facts",
     "INSERT INTO facts(kind, key, value) SELECT k, y, v FROM unnest($1::text[], $2::text[], "
     "$3::text[]) WITH ORDINALITY AS u(k, y, v, n) ORDER BY n ON CONFLICT (kind, key) DO NOTHING"},
    {"ins_observations",
     "INSERT INTO observations(agreement, exchange, record_key, day, fields) SELECT a, e, k, d, f "
     "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS "
     "u(a, e, k, d, f, n) ORDER BY n"},
    // A group's acknowledgements: the entries go, their receipts are written, and each document
    // goes with the last entry that refers to it.
    {"acks",
     "WITH q AS (DELETE FROM queue WHERE id = ANY($1::bigint[]) RETURNING message_id, recipient, "
     "doc_id, attempts), r AS (INSERT INTO receipts(message_id, recipient, accepted_ms, attempts) "
     "SELECT message_id, recipient, $2, attempts FROM q ON CONFLICT (message_id, recipient) DO "
     "UPDATE SET accepted_ms = EXCLUDED.accepted_ms, attempts = EXCLUDED.attempts) "
     "DELETE FROM documents d USING (SELECT DISTINCT doc_id FROM q) g WHERE d.id = g.doc_id AND "
     "NOT EXISTS (SELECT 1 FROM queue o WHERE o.doc_id = g.doc_id AND o.id <> ALL($1::bigint[]))",
     true},
    // Delivered to the other brokers' listeners when the transaction commits.
    {"notify", "SELECT pg_notify('niem_queue', r) FROM unnest($1::text[]) AS r"},
    // Takes or renews the leases of the recipients wanted (free, expired or already ours) and
    // answers which are ours; gives back those no longer wanted.
    {"renew_leases",
     "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms), "
     "g AS (DELETE FROM recipient_leases WHERE owner = $2 AND recipient <> ALL($1::text[])) "
     "INSERT INTO recipient_leases(recipient, owner, until_ms) SELECT r, $2, now.ms + $3 FROM "
     "unnest($1::text[]) AS r, now ON CONFLICT (recipient) DO UPDATE SET owner = EXCLUDED.owner, "
     "until_ms = EXCLUDED.until_ms WHERE recipient_leases.owner = EXCLUDED.owner OR "
     "recipient_leases.until_ms < (SELECT ms FROM now) RETURNING recipient"},
};

}  // namespace

base::result<std::unique_ptr<store>> open(const options& opt, const base::clock& clk) {
  auto s = std::make_unique<pg_store>(opt, clk);
  auto r = s->init();
  if (!r.ok()) return r.errors();
  return std::unique_ptr<store>(std::move(s));
}

pg_store::pg_store(const options& opt, const base::clock& clk)
    : opt_(opt),
      clk_(clk),
      where_(redact(opt.locator)),
      eng_(*this, opt.group_commit_max),
      head_hash_(k_genesis) {
  std::random_device rd;
  replica_id_ = fmt::format("{:08x}{:08x}", rd(), rd());
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (const char* d = std::getenv("NIEM_FAULT_LISTEN_DELAY_MS")) {
    listen_delay_ms_ = std::clamp(std::atoi(d), 0, 60'000);
    base::log(base::log_level::warn, "store",
              "fault injection: other brokers' notifications are handed on late (a test setting)",
              {{"delay_ms", std::to_string(listen_delay_ms_)}});
  }
}

pg_store::~pg_store() {
  stopping_ = true;
  wake_listener();
  if (listener_.joinable()) listener_.join();
  eng_.stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

base::diagnostic pg_store::error(std::string msg) const {
  base::diagnostic d;
  d.code = base::errc::io_error;
  d.where = where_;
  d.message = std::move(msg);
  return d;
}

base::errc classify(const result& r) {
  auto state = r.state();
  if (state == "53100") return base::errc::store_full;       // disk_full
  if (state == "25006") return base::errc::store_read_only;  // read_only_sql_transaction
  return base::errc::store_unavailable;
}

bool log_failure(const char* statement, const result& r) {
  base::log(base::log_level::error, "store", "a statement failed; its transaction is rolled back",
            {{"statement", statement},
             {"code", base::code_id(classify(r))},
             {"sqlstate", r.state()},
             {"error", r.message()}});
  return false;
}

bool pg_store::failed(const result& r, const char* what) {
  log_failure(what, r);
  return refused(classify(r), what);
}

bool pg_store::refused(base::errc code, const char* what) {
  if (code == base::errc::store_full || code == base::errc::store_read_only)
    writes_.refused(code,
                    fmt::format("{}: {}", what,
                                code == base::errc::store_full ? "the database's disk is full"
                                                               : "the database is read-only"));
  return false;
}

bool pg_store::connect(std::string& err) {
  if (!conn_.open(opt_.locator, opt_.password, err)) return false;
  writer_pid_ = PQbackendPID(conn_.raw());
  // Read-only tools can never write, whatever they are asked.
  if (opt_.read_only && !conn_.exec("SET default_transaction_read_only = on").ok()) {
    err = conn_.error();
    return false;
  }
  return true;
}

bool pg_store::prepare_all() {
  for (const auto& s : k_statements)
    if (!s.each_time && !conn_.prepare(s.name, s.sql)) return false;
  return true;
}

const char* planned_each_time(std::string_view name) {
  // Asked for every statement a group sends: only the few planned each time are compared.
  static const auto each_time = [] {
    std::vector<const statement*> out;
    for (const auto& s : k_statements)
      if (s.each_time) out.push_back(&s);
    return out;
  }();
  for (const auto* s : each_time)
    if (name == s->name) return s->sql;
  return nullptr;
}

base::result<bool> pg_store::init() {
  auto fail = [&](std::string msg) -> base::result<bool> {
    return std::vector<base::diagnostic>{error(std::move(msg))};
  };
  std::string err;
  if (!connect(err)) return fail(fmt::format("cannot connect: {}", err));
  auto version = [&]() -> int {
    auto r = conn_.exec(
        "SELECT value FROM meta WHERE key = 'schema_version' AND to_regclass('meta') IS NOT NULL");
    return r.ok() && r.rows() == 1 ? static_cast<int>(r.i64(0, 0)) : 0;
  };
  if (!opt_.read_only) {
    // Replicas starting at once take turns; the second finds the schema made.
    if (!conn_.exec(fmt::format("SELECT pg_advisory_lock({})", k_migration_lock).c_str()).ok())
      return fail(fmt::format("cannot take the migration lock: {}", conn_.error()));
    auto exists = conn_.exec("SELECT to_regclass('meta') IS NOT NULL");
    int v = exists.ok() && exists.text(0, 0) == "t" ? version() : 0;
    std::string problem;
    if (v > k_schema_version) {
      problem =
          fmt::format("the database has schema {}, newer than this broker's {}: run a newer broker",
                      v, k_schema_version);
    } else if (v == 0) {
      auto r = conn_.exec(fmt::format("BEGIN; {} COMMIT;", k_schema_v1).c_str());
      if (!r.ok()) {
        conn_.exec("ROLLBACK");
        problem = fmt::format("cannot create the schema: {}", r.message());
      }
    }
    // Then from version N to N+1, each in its transaction, under the lock.
    for (auto [from, sql] :
         {std::pair{1, k_migrate_v1}, {2, k_migrate_v2}, {3, k_migrate_v3}, {4, k_migrate_v4}}) {
      if (!problem.empty() || version() != from) continue;
      auto r = conn_.exec(fmt::format("BEGIN; {} COMMIT;", sql).c_str());
      if (!r.ok()) {
        conn_.exec("ROLLBACK");
        problem = fmt::format("cannot migrate the schema to version {}: {}", from + 1, r.message());
      }
    }
    conn_.exec(fmt::format("SELECT pg_advisory_unlock({})", k_migration_lock).c_str());
    if (!problem.empty()) return fail(problem);
  }
  auto exists = conn_.exec("SELECT to_regclass('meta') IS NOT NULL");
  if (!exists.ok() || exists.text(0, 0) != "t") return fail("the database holds no broker store");
  int v = version();
  if (v != k_schema_version)
    return fail(fmt::format("the database has schema {}; this program knows schema {}", v,
                            k_schema_version));
  if (!prepare_all()) return fail(fmt::format("cannot prepare statements: {}", conn_.error()));
  eng_.start();
  if (!opt_.read_only) {
    std::string lerr;
    if (!listen_conn_.open(opt_.locator, opt_.password, lerr) ||
        !listen_conn_.exec("LISTEN niem_queue").ok() ||
        !listen_conn_.exec("LISTEN niem_facts").ok() ||
        !listen_conn_.exec("LISTEN niem_settings").ok())
      listen_conn_.close();  // the thread keeps trying
    // Facts up to now are read by the caller (facts()); later ones come through the watcher.
    auto last = conn_.exec("SELECT COALESCE(MAX(seq), 0) FROM facts");
    if (last.ok() && last.rows() == 1) facts_seen_ = last.i64(0, 0);
    listener_ = std::thread([this] { listen_loop(); });
  }
  return true;
}

store::health pg_store::check() const {
  health h;
  // The writer's last group reached the database, and (a broker, not a tool) the listener's
  // connection, which notices a database gone even while nothing is written, is up.
  h.reachable = db_up_.load() && (opt_.read_only || listening_.load());
  if (!h.reachable) {
    std::lock_guard lk(problem_mu_);
    h.problem = problem_.empty() ? "the database connection was lost" : problem_;
    h.code = base::errc::store_unavailable;
  } else if (writes_.code() != base::errc::ok) {
    h.reachable = false;
    h.code = writes_.code();
    h.problem = writes_.problem();
  }
  h.connections =
      (db_up_.load() ? 1u : 0u) + (listening_.load() ? 1u : 0u) + (leader_up_.load() ? 1u : 0u);
  return h;
}

bool pg_store::ensure_connected() {
  if (conn_.good()) return true;
  auto now = std::chrono::steady_clock::now();
  if (now < next_reconnect_) return false;
  next_reconnect_ = now + std::chrono::milliseconds(500);
  std::string err;
  if (!connect(err) || !prepare_all()) {
    {
      std::lock_guard lk(problem_mu_);
      problem_ = err.empty() ? conn_.error() : err;
    }
    db_up_ = false;
    base::log(base::log_level::warn, "store", "the database is unreachable; retrying",
              {{"store", where_}, {"error", err.empty() ? conn_.error() : err}});
    conn_.close();
    return false;
  }
  db_up_ = true;
  base::log(base::log_level::info, "store", "reconnected to the database", {{"store", where_}});
  return true;
}

bool pg_store::run_transaction(std::vector<op>& batch, std::size_t from, std::size_t to,
                               std::vector<char>& ok, bool pipelined) {
  bool any = false;
  for (auto i = from; i < to; ++i) any = any || static_cast<bool>(batch[i].apply);
  if (!any) return true;  // barriers only
  auto staged = [&](std::size_t i) {
    return pipelined && (batch[i].kind == k_staged_record || batch[i].kind == k_staged_ack);
  };
  // The transaction's start and its end are one round trip each (pipelined), whatever the group.
  // The start also asks which keys of the first run of records are new.
  pipeline_batch start;
  start.add_text("begin", "BEGIN");
  start.add("head", {}, [this](const result& head) {
    if (head.rows() != 1) return false;
    head_seq_ = head_seq_at_begin_ = head.i64(0, 0);
    head_hash_ = head.text(0, 1);
    return true;
  });
  std::set<std::string, std::less<>> first_fresh;
  auto first_run = from;  // the end of the run of staged ops the group starts with
  while (first_run < to && staged(first_run)) ++first_run;
  if (first_run > from) add_keys(start, batch, from, first_run, first_fresh);
  if (!start.run(conn_)) {
    conn_.exec("ROLLBACK");
    return refused(start.failure(), "begin");
  }
  notify_.clear();
  facts_changed_ = false;
  for (auto i = from; i < to;) {
    if (staged(i)) {
      // A run of records and acknowledgements: pipelined.
      auto j = i;
      while (j < to && staged(j)) ++j;
      std::set<std::string, std::less<>> fresh;
      bool known = i == from;
      if (!run_staged(batch, i, j, ok, known ? first_fresh : fresh, known)) {
        conn_.exec("ROLLBACK");
        return false;
      }
      i = j;
      continue;
    }
    if (batch[i].apply && !(ok[i] = batch[i].apply())) {
      conn_.exec("ROLLBACK");
      return false;
    }
    ++i;
  }
  pipeline_batch end;
  if (head_seq_ != head_seq_at_begin_)
    end.add("set_head", params().num(head_seq_).text(head_hash_));
  std::vector<std::string_view> rs(notify_.begin(), notify_.end());
  if (!rs.empty()) end.add("notify", params().array(rs));
  if (facts_changed_) end.add_text("notify_facts", "SELECT pg_notify('niem_facts', '')");
  end.add_text("commit", "COMMIT");
  if (!end.run(conn_)) {
    conn_.exec("ROLLBACK");  // none open when the commit itself failed: nothing is done
    return refused(end.failure(), "commit");
  }
  return true;
}

bool pg_store::apply_group(std::vector<op>& batch, std::vector<char>& ok) {
  if (!ensure_connected()) return false;
  if (run_transaction(batch, 0, batch.size(), ok, true)) return true;
  if (!conn_.good()) {
    std::lock_guard lk(problem_mu_);
    problem_ = conn_.error();
    db_up_ = false;
  }
  // The group failed. The connection gone: nothing is known to be committed; the callers
  // release what they hold and it comes again. Otherwise one op failed: each op again alone.
  std::fill(ok.begin(), ok.end(), 0);
  if (!conn_.good()) return false;
  if (writes_.code() == base::errc::store_read_only) {
    // A standby (or a read-only session): a new connection may reach the new primary after a
    // failover, or a database whose setting was changed back.
    conn_.close();
    return false;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::vector<char> one(batch.size(), 0);
    if (run_transaction(batch, i, i + 1, one, false)) ok[i] = one[i] || !batch[i].apply;
    if (!conn_.good()) break;
  }
  return true;
}

bool pg_store::open_reader(connection& c, std::string& err) const {
  if (!c.open(opt_.locator, opt_.password, err)) return false;
  return c.exec("SET default_transaction_read_only = on").ok();
}

}  // namespace niem::store::postgres
