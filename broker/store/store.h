#pragma once
// The broker's durable state: the record keys already accepted, the documents waiting for each
// subscriber, the dead letters, the facts and observations the router learned, and the audit
// trail. `store` is the interface every other module uses; two implementations hold it:
// `sqlite/` (embedded, the default: a directory) and `postgres/` (libpq: a postgresql:// URI).
// No other module speaks SQL or opens the database.
//
// Writes are applied in groups by one thread per store: every operation queued while the
// previous group was committing goes into the next transaction, so a burst of records pays one
// commit, not one each. Completions run after the commit that made their operation durable, on
// the executor the owner provides (the AMQP event loop), batched per commit.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/result.h"

namespace niem::store {

struct options {
  // Where the store is: a directory (SQLite; created if missing, holds broker.db) or a libpq
  // connection URI (postgresql://...).
  std::string locator;
  std::uint32_t group_commit_max = 1024;
  // Key of the audit trail's HMAC chain (from the configuration). Without it the chain still
  // shows accidental damage, but someone who can write the file could rebuild it.
  std::string audit_key;
  // PostgreSQL: the password, read from a file (never part of the locator, a command line or a
  // log line).
  std::string password = {};
  // PostgreSQL: how long a recipient's queue stays with a broker that stopped renewing its lease
  // (it died or lost the database) before another broker serving that recipient takes it over.
  std::uint32_t lease_ms = 5000;
  // SQLite: the free space its file system must keep; below it new records are refused with
  // store.low_space (before the disk can fill) until space returns. 0: no floor.
  std::uint64_t min_free_bytes = 0;
  // Where the free space is read from (tests inject one); empty: the store directory's file
  // system (statvfs).
  std::function<std::uint64_t()> free_bytes = {};
  // Tools that only read (niem-dsa, tests): nothing is created or migrated, and a store that
  // does not exist is an error.
  bool read_only = false;
};

enum class backend { sqlite, postgres };
// Which implementation a locator names.
backend backend_of(std::string_view locator);
// The locator with any password removed, for log lines and error messages.
std::string redact(std::string_view locator);

struct fact_row {
  std::string kind, key, value;
};

// One routing decision for the audit trail (HIPAA 164.312(b), accounting of disclosures under
// 164.528): appended in the transaction that queues (or withholds) the document, hash-chained.
struct audit_entry {
  std::int64_t seq = 0;
  std::int64_t at_ms = 0;
  std::string message_id, record_key, provider, exchange, recipient;
  std::string agreement, purpose, consent;
  std::string decision;  // "deliver" or "withhold"
  std::string reason;    // the code (NIEM-5xx) of a withholding
  std::string paths;     // the agreement's include paths that flowed, space-separated
  std::string digest;    // SHA-256 of the delivered bytes
  std::string subjects;  // the child's identifiers in the document, space-separated
  std::string prev, hash;
  // What decided it: the content hashes (SHA-256, first 16 hex digits) of the mapping that wrote
  // the document and of the covering agreement (empty: none, or an entry older than them).
  std::string mapping_version, agreement_version;
};

// Where the audit trail kept in the store begins: after the entries moved to archive files
// (store/archive.h), or at the chain's start.
struct audit_boundary {
  std::int64_t last_seq = 0;   // the last entry archived (0: none)
  std::string last_hash;       // its hash (the genesis when none): the first entry kept links to it
  std::uint64_t archived = 0;  // entries archived in all
};

// A record counted for an aggregate agreement's report (see routing::observation).
struct observation_row {
  std::string agreement, exchange, record_key, day, fields;
};

// What retention prunes, each kind by its own age (retention.h).
enum class prune_kind { records, messages, dead_letters, observations };
inline constexpr prune_kind k_prune_kinds[] = {prune_kind::records, prune_kind::messages,
                                               prune_kind::dead_letters, prune_kind::observations};
std::string_view prune_kind_name(prune_kind k);

// A message's status in the message log (its trace's `status`, a search's filter).
namespace message_status {
inline constexpr std::string_view routed = "routed";  // decided; one or more deliveries queued
inline constexpr std::string_view routed_to_none = "routed_to_none";  // decided; no delivery
inline constexpr std::string_view replayed = "replayed";              // decided again
inline constexpr std::string_view duplicate = "duplicate";            // its key came before
inline constexpr std::string_view dead_lettered = "dead_lettered";    // not mapped
inline constexpr std::string_view all[] = {routed, routed_to_none, replayed, duplicate,
                                           dead_lettered};
}  // namespace message_status

struct record_outcome;
// The status a mapped record that is not a duplicate is logged with.
std::string_view routed_status(const record_outcome& r);

// What the pipeline decided for one received record.
struct record_outcome {
  // The record as received.
  std::string message_id;
  std::string agency, record_type, content_type;
  std::string body;
  std::int64_t received_ms = 0;
  // Mapped and validated: the key, the exchange and one document per recipient (recipients that
  // share a document share the pointer; it is stored once).
  bool mapped = false;
  std::string key, exchange;
  struct delivery {
    std::string recipient;
    std::shared_ptr<const std::string> document;
    std::string consent;  // the consent it relies on, if any (checked again before delivery)
  };
  std::vector<delivery> deliveries;
  // Not mapped: why (dead-lettered with the record's bytes).
  base::errc code = base::errc::ok;
  std::string diagnostics_json;
  // Every recipient's decision, recorded with the queue entries (not for a duplicate).
  std::vector<audit_entry> audit;
  // What the router learned from the document (consents, identity links).
  std::vector<fact_row> facts;
  // Counted for aggregate reports (record_key is the record's key).
  std::vector<observation_row> observations;
  // Replays. A dead letter replayed leaves the dead-letter queue in this transaction. A
  // redecision is an accepted record decided again for some recipients: its key is already
  // accepted and its body already kept, so only the new decisions are recorded.
  std::int64_t replaces_dead_letter = 0;
  bool redecision = false;
};

// What a replay starts from: the record as received, and for whom it is decided again.
struct replay_source {
  std::string message_id, agency, record_type, content_type, body;
  std::int64_t received_ms = 0;
  std::string recipient;  // empty: every recipient (a record that never mapped)
  std::int64_t dead_letter_id = 0;
  bool redecision = false;  // the record was accepted before
};

struct audit_check {
  bool ok = false;
  std::uint64_t entries = 0;
  std::int64_t first_bad_seq = 0;  // the first entry that was altered, removed or inserted
  std::string problem;
};

// A document waiting in a subscriber's queue.
struct queue_entry {
  std::int64_t id = 0;
  std::string recipient, message_id, source_agency, record_key, exchange;
  std::shared_ptr<const std::string> document;
  std::int64_t enqueued_ms = 0;
  std::int64_t received_ms = 0;
  std::uint32_t attempts = 0;
  std::string consent;  // the consent the delivery relies on, if any
};

struct commit_result {
  enum class status { routed, duplicate, dead_lettered, failed } what = status::failed;
  std::vector<queue_entry> enqueued;  // for routed: the new entries, in id order
  std::string duplicate_of;           // for duplicate: the message id that carried the key first
  std::string error;                  // for failed: the store's error (no record content)
  // For failed: why (store.unavailable, store.full, store.read_only).
  base::errc code = base::errc::ok;
};

struct dead_letter {
  std::int64_t id = 0;
  std::string message_id, recipient, agency, record_type, exchange, record_key, code;
  std::string diagnostics_json, content_type;
  std::int64_t dead_ms = 0;
  std::uint32_t attempts = 0;
};

struct queue_stats {
  std::string recipient;
  std::uint64_t depth = 0;
  std::int64_t oldest_enqueued_ms = 0;  // 0 when empty
};

using completions = std::vector<std::function<void()>>;

// Every method may be called from any thread. Asynchronous ones complete on the executor;
// the synchronous queries wait for the store.
//
// The store plays several roles, each an interface of its own, so that a module asks for the one
// it needs: the record path (the pipeline), delivery (the transport), operations (settings,
// leads, operators' actions), queries (the admin API, reports, tools), the audit archive and
// retention. `store` is all of them; both implementations provide it.

// What every role has: the backend, whether other brokers share the store, how to learn what
// they did, and which of them leads a role.
class shared_view {
 public:
  virtual ~shared_view() = default;
  shared_view(const shared_view&) = delete;
  shared_view& operator=(const shared_view&) = delete;

  // Hands on to the watch_facts callback, in commit order, every fact that any broker sharing
  // the store committed before this call and that was not handed on yet, then calls done(true)
  // on a thread of the store's; done(false) when the database could not be read. Decisions that
  // rest on a consent call it first, so a consent or revocation committed at another broker is
  // never missed for the notification's latency. A store no other broker shares: done(true) at
  // once (this broker learns its own facts as it commits them).
  virtual void catch_up_facts(std::function<void(bool ok)> done) { done(true); }
  // This broker's name among those sharing the store (empty: a store no other broker shares).
  virtual std::string replica_id() const { return {}; }
  // Whether other brokers may share this store: what they commit reaches this one only through
  // the watchers and catch_up_facts.
  virtual bool shared() const { return false; }

  // Whether this broker is the one of those sharing the store that does `role` (e.g. produce
  // the aggregate reports): the first to ask holds it until it ends or loses the database, then
  // another takes over at its next ask. A store no other broker shares: always.
  virtual bool lead(std::string_view role) {
    (void)role;
    return true;
  }
  // Which implementation this is.
  virtual backend kind() const = 0;

 protected:
  shared_view() = default;
};

// The record path: one received record with its outcome, committed atomically, and the facts
// the records taught.
class record_path : public virtual shared_view {
 public:
  // Called (on a thread of the store's) with the facts (consents, identity links) committed since
  // the last call, in commit order, when another broker sharing the store committed some; they
  // may include this broker's own, which the router learns again harmlessly. Empty: stop.
  virtual void watch_facts(std::function<void(std::vector<fact_row>)> learned) { (void)learned; }
  // Records one received record with its outcome, atomically: dead-lettered, or (unless its key
  // was already accepted) one queue entry per delivery.
  virtual void commit_record(record_outcome rec, std::function<void(commit_result)> done) = 0;
  // Every fact recorded so far, in order (for the router at start-up, before an executor is set:
  // it waits for its own completion).
  virtual std::vector<fact_row> facts() = 0;
};

// Delivery: the subscribers' queues.
class delivery_path : public virtual shared_view {
 public:
  // Where completions run; by default on the store's thread right after the commit.
  virtual void set_executor(std::function<void(completions&&)> exec) = 0;
  // Called (on a thread of the store's) when another broker sharing the store committed queue
  // entries for a recipient; an empty recipient means any may have changed (notifications may
  // have been lost). A store no other broker shares never calls it. Empty: stop calling.
  virtual void watch(std::function<void(const std::string& recipient)> changed) { (void)changed; }
  // Which of `wanted` (the recipients this broker has subscribers for) this broker may deliver
  // to now: each recipient's queue is served by one broker of those sharing the store at a time
  // (queue order, one delivery per entry at a time). Held recipients are renewed, recipients no
  // longer wanted released; a lease not renewed within options::lease_ms is free for another.
  // A store no other broker shares: all of them.
  virtual void renew_leases(std::vector<std::string> wanted,
                            std::function<void(std::vector<std::string> held)> done) {
    done(std::move(wanted));
  }
  // Up to `limit` entries of a recipient's queue with id > after_id, in id order.
  virtual void fetch(std::string recipient, std::int64_t after_id, std::uint32_t limit,
                     std::function<void(std::vector<queue_entry>)> done) = 0;
  // The consent an entry relied on no longer holds: the entry leaves the queue undelivered and
  // `why` (a withholding) is appended to the audit trail in the same transaction.
  virtual void withdraw(std::int64_t id, audit_entry why,
                        std::function<void(bool ok)> done = {}) = 0;
  // The subscriber accepted: the entry leaves the queue.
  virtual void ack(std::int64_t id, std::function<void(bool ok)> done = {}) = 0;
  // A failed delivery attempt (modified, or the link went away while it was unsettled).
  virtual void set_attempts(std::int64_t id, std::uint32_t attempts) = 0;
  // Moves a queue entry to the dead-letter queue.
  virtual void dead_letter_entry(std::int64_t id, base::errc code, std::string detail_json,
                                 std::function<void(bool ok)> done = {}) = 0;
  // Dead-letters entries of `recipient` with id > above_id enqueued before cutoff_ms.
  virtual void expire(std::string recipient, std::int64_t above_id, std::int64_t cutoff_ms,
                      std::function<void(std::uint64_t expired)> done) = 0;
};

// Operations: durable settings an operator changes at run time, the roles one broker leads, and
// operators' actions in the audit trail.
class operations : public virtual shared_view {
 public:
  // Called (on a thread of the store's) when another broker sharing the store changed a setting
  // (put_setting) whose key starts with `prefix`: its key and value, nullopt when removed. An
  // empty key: any setting may have changed (notifications were lost); read them again. One
  // watcher per prefix; an empty one stops the calls for that prefix. Keep it short: it holds up
  // the other notifications.
  using setting_watcher =
      std::function<void(const std::string& key, const std::optional<std::string>& value)>;
  virtual void watch_settings(const std::string& prefix, setting_watcher changed) {
    (void)prefix;
    (void)changed;
  }
  // Small durable settings an operator changes at run time (e.g. `paused:RECIPIENT`): set, or
  // removed with nullopt; false when the store could not commit it.
  virtual bool put_setting(const std::string& key, std::optional<std::string> value) = 0;
  virtual std::vector<std::pair<std::string, std::string>> settings(const std::string& prefix) = 0;
  // An operator's action (replay, purge) for the audit trail, appended in its own transaction.
  virtual void audit(audit_entry e, std::function<void(bool ok)> done = {}) = 0;
};

// Queries for the admin API, reports and tools.
class queries : public virtual shared_view {
 public:
  // ---- Reading the audit trail and the observations (long scans: they never hold up the
  // writer; on a running broker they see the last committed state) ----
  // A dead letter to replay: a record that never mapped (all recipients), or a document that
  // could not be delivered (its recipient, from the record as received). NIEM-700/701.
  virtual base::result<replay_source> replay_dead_letter(std::int64_t id) = 0;
  // A withheld decision to take again for `recipient`. NIEM-700 when the audit trail holds no
  // withholding of this message from that recipient; NIEM-701 when the record is gone.
  virtual base::result<replay_source> replay_withheld(const std::string& message_id,
                                                      const std::string& recipient) = 0;
  // Verifies the audit chain with `key`, from where the store's part of it begins (the entries
  // before it are in archive files: store/archive.h verifies those).
  virtual audit_check verify_audit(std::string_view key) = 0;
  // Disclosures (delivered decisions) about one child, by client number or Medicaid id, since a
  // time, oldest first.
  virtual base::result<std::vector<audit_entry>> disclosures(std::string_view person,
                                                             std::int64_t since_ms) = 0;
  // Why records were withheld: among the last `last_entries` entries of the audit trail (newest
  // first; a bound on the scan however long the trail) that are not older than since_ms, the
  // withholdings counted by recipient, code and agreement, each recipient's largest first.
  struct withholding_count {
    std::string recipient, code, agreement;
    std::uint64_t count = 0;
    std::int64_t last_ms = 0;  // the latest of them
  };
  virtual base::result<std::vector<withholding_count>> withholdings(std::int64_t since_ms,
                                                                    std::int64_t last_entries) = 0;
  // Records counted for `agreement` from one exchange whose day lies in [from_day, to_day]
  // (YYYY-MM-DD, inclusive), in the order they were received.
  virtual base::result<std::vector<observation_row>> observations(std::string_view agreement,
                                                                  std::string_view exchange,
                                                                  std::string_view from_day,
                                                                  std::string_view to_day) = 0;
  // Synchronous queries for tools, tests and the admin API (they wait for the store thread).
  struct dead_letter_filter {
    std::string code, recipient, agency;
    std::uint32_t limit = 100;
    std::int64_t before_id = 0;  // paging: only ids below this (0: from the newest)
  };
  virtual std::vector<dead_letter> dead_letters(const dead_letter_filter& f) = 0;
  std::vector<dead_letter> dead_letters(std::uint32_t limit) {
    dead_letter_filter f;
    f.limit = limit;
    return dead_letters(f);
  }
  virtual std::optional<dead_letter> dead_letter_by_id(std::int64_t id) = 0;
  virtual std::vector<std::pair<std::string, std::uint64_t>> dead_letter_counts() = 0;  // by code
  virtual std::uint64_t dead_letter_count() = 0;
  virtual bool purge_dead_letter(std::int64_t id) = 0;
  // Everything the store knows of one message: as received, every decision (the audit trail),
  // what still waits in a queue, its dead letters, each subscriber's acceptance.
  struct message_trace {
    bool found = false;
    std::string message_id, agency, record_type, record_key, exchange, status, code;
    std::int64_t received_ms = 0;
    std::vector<audit_entry> decisions;
    std::vector<queue_entry> queued;  // without their documents
    std::vector<dead_letter> dead_letters;
    struct receipt {
      std::string recipient;
      std::int64_t accepted_ms = 0;
      std::uint32_t attempts = 0;  // deliveries before the one accepted
    };
    std::vector<receipt> receipts;  // each subscriber's acceptance
  };
  virtual message_trace trace(const std::string& message_id) = 0;
  // Finding messages. Every filter given must hold: key (the record's key), person (a child's
  // client number or Medicaid id in a document decided for someone), exchange, agency (the
  // sender), recipient (a decision for that agency, delivered or withheld), status (as in the
  // trace), received at or after from_ms and before to_ms. Newest first (by the time received,
  // then id); `before` is the last id of the previous page. Each search is served by an index
  // (message_index for person and recipient, one on messages for each other column).
  struct message_query {
    std::string key = {}, person = {}, exchange = {}, agency = {}, recipient = {}, status = {};
    std::int64_t from_ms = 0, to_ms = 0;  // 0: open
    std::uint32_t limit = 50;
    std::string before = {};  // a message id
  };
  struct message_summary {
    std::string message_id, agency, record_type, record_key, exchange, status, code;
    std::int64_t received_ms = 0;
    // Each recipient's latest decision, and its acceptance if the subscriber accepted it.
    struct recipient {
      std::string name, decision, reason;
      std::int64_t accepted_ms = 0;
    };
    std::vector<recipient> recipients;
  };
  virtual base::result<std::vector<message_summary>> find_messages(const message_query& q) = 0;
  // Bytes the store occupies (SQLite: the database and its WAL; PostgreSQL: the database).
  virtual std::uint64_t size_bytes() = 0;
  virtual std::vector<queue_stats> stats(const std::vector<std::string>& recipients) = 0;
  struct counters {
    std::uint64_t commits = 0;        // transactions committed
    std::uint64_t ops = 0;            // operations they carried
    std::uint64_t failed_groups = 0;  // groups that could not commit (nothing of them stored)
    double last_group_seconds = 0;    // how long the last group took, commit included
    std::uint64_t queued = 0;         // operations waiting for the next group
  };
  virtual counters stats_counters() const = 0;
  // Whether the database answers (the last group reached it), and if not why, without secrets;
  // and the connections this store holds open to it. Never waits.
  struct health {
    bool reachable = true;  // and accepts writes
    std::string problem;
    base::errc code = base::errc::ok;  // why not: store.unavailable, store.full, store.read_only,
                                       // store.low_space
    std::uint32_t connections = 1;
    // SQLite: the free space of the store's file system (last read) and its floor; 0 elsewhere.
    std::uint64_t free_bytes = 0, min_free_bytes = 0;
  };
  virtual health check() const { return {}; }
};

// The audit archive's boundary (archive/archive.h).
class audit_archive : public virtual shared_view {
 public:
  // ---- The audit archive (store/archive.h) ----
  // Where the store's part of the chain begins.
  virtual base::result<audit_boundary> audit_start() = 0;
  // The entries after `after_seq`, oldest first, at most `limit`.
  virtual base::result<std::vector<audit_entry>> audit_entries(std::int64_t after_seq,
                                                               std::uint32_t limit) = 0;
  // In one transaction: the entries up to `last_seq` removed, the archive recorded as the new
  // start of the store's chain (`files`: where they went), and `record` appended to the chain.
  // Nothing is done (false) unless the store's chain still begins at `from` and its entry
  // `last_seq` has the hash `last_hash` (what the files end with).
  virtual base::result<bool> archive_audit(const audit_boundary& from, std::int64_t last_seq,
                                           const std::string& last_hash, std::uint64_t entries,
                                           const std::string& files, audit_entry record) = 0;
};

// Retention (store/retention.h).
class maintenance : public virtual shared_view {
 public:
  // Retention (store/retention.h drives it): removes up to `batch` rows of `kind` older than
  // cutoff_ms, oldest first, as one operation of the writer's queue, so that records go on
  // committing between batches. done(ok, n): n rows removed; fewer than `batch` means nothing
  // older is left. Kinds: records kept for replay (no longer replayable), the message log (a
  // message's row, its receipts and its recipients' search terms; the 'person:' terms stay as
  // long as the audit trail, which the accounting of disclosures reads through them), dead
  // letters, observations for aggregate reports.
  virtual void prune(prune_kind kind, std::int64_t cutoff_ms, std::uint32_t batch,
                     std::function<void(bool ok, std::uint64_t n)> done) = 0;
  // Gives up to `pages` free pages back to the file system (SQLite's incremental vacuum, on a
  // store created with it); done(pages freed). PostgreSQL reuses the space of deleted rows itself
  // (autovacuum): done(0).
  virtual void reclaim(std::uint32_t pages, std::function<void(std::uint64_t)> done) {
    (void)pages;
    done(0);
  }
};

class store : public record_path,
              public delivery_path,
              public operations,
              public queries,
              public audit_archive,
              public maintenance {
 public:
  // Opens (creating and migrating unless read_only) the store the locator names.
  static base::result<std::unique_ptr<store>> open(const options& opt, const base::clock& clk);
  virtual ~store() = default;
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // Waits until every operation queued so far has committed and its completion has been handed
  // to the executor.
  virtual void flush() = 0;

 protected:
  store() = default;
};

}  // namespace niem::store
