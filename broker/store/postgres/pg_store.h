#pragma once
// The PostgreSQL implementation (libpq, no ORM), for replicas that share one database. Split
// like the SQLite one: schema.cc (DDL, migrations under an advisory lock, connection, the group
// transaction), records.cc, queues.cc, audit.cc, queries.cc.
//
// Every write group takes the audit chain's head row (FOR UPDATE) first: the chain stays one
// sequence in commit order whichever replica appends, and queue ids are handed out in commit
// order, so a reader that has seen id N never later finds a committed entry below N.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "store/engine.h"
#include "store/postgres/pg.h"
#include "store/store.h"
#include "store/write_health.h"

namespace niem::store::postgres {

// Ops the group transaction pipelines (engine op kinds).
inline constexpr int k_staged_record = 1;
inline constexpr int k_staged_ack = 2;

// A record's outcome on its way to the database, and what became of it.
struct record_job {
  record_outcome rec;
  commit_result res;
};

// What a failed statement means for the store: store.full (disk full), store.read_only (a
// standby, or default_transaction_read_only), else store.unavailable.
base::errc classify(const result& r);
// Logs a failed statement (SQLSTATE, its code and message, never values) and answers false.
bool log_failure(const char* statement, const result& r);

// Statements sent in pipeline mode, each with what to do with its result; sent and collected in
// chunks so that neither side's socket buffer fills while the other is not reading.
// The SQL of a statement planned at each execution instead of prepared (schema.cc); null for a
// prepared one.
const char* planned_each_time(std::string_view name);

class pipeline_batch {
 public:
  using handler = std::function<bool(const result&)>;
  void add(const char* name, params p, handler on = {}, bool binary_result = false) {
    items_.push_back({name, planned_each_time(name), std::move(p), std::move(on), binary_result});
  }
  // A statement sent with its text (transaction control, which cannot be prepared); `name` for
  // the log.
  void add_text(const char* name, const char* sql, params p = {}) {
    items_.push_back({name, sql, std::move(p), {}, false});
  }
  bool empty() const { return items_.empty(); }
  // The failed statement's result code after run() answered false (classify).
  base::errc failure() const { return failure_; }
  // False at the first statement that failed (logged); the transaction is then to be rolled back.
  bool run(connection& c);

 private:
  struct item {
    const char* name;
    const char* sql;  // set: sent with this text rather than as the prepared statement `name`
    params p;
    handler on;
    bool binary;
  };
  std::vector<item> items_;
  base::errc failure_ = base::errc::ok;
};

base::result<std::unique_ptr<store>> open(const options& opt, const base::clock& clk);

class pg_store final : public store, engine::committer {
 public:
  pg_store(const options& opt, const base::clock& clk);
  ~pg_store() override;

  base::result<bool> init();

  backend kind() const override { return backend::postgres; }
  void set_executor(std::function<void(completions&&)> exec) override { eng_.set_executor(exec); }
  void watch(std::function<void(const std::string&)> changed) override;
  void watch_facts(std::function<void(std::vector<fact_row>)> learned) override;
  void catch_up_facts(std::function<void(bool)> done) override;
  void watch_settings(const std::string& prefix, setting_watcher changed) override;
  std::string replica_id() const override { return replica_id_; }
  bool shared() const override { return true; }
  bool lead(std::string_view role) override;
  void renew_leases(std::vector<std::string> wanted,
                    std::function<void(std::vector<std::string>)> done) override;
  void commit_record(record_outcome rec, std::function<void(commit_result)> done) override;
  void fetch(std::string recipient, std::int64_t after_id, std::uint32_t limit,
             std::function<void(std::vector<queue_entry>)> done) override;
  void withdraw(std::int64_t id, audit_entry why, std::function<void(bool)> done) override;
  std::vector<fact_row> facts() override;
  void ack(std::int64_t id, std::function<void(bool)> done) override;
  void set_attempts(std::int64_t id, std::uint32_t attempts) override;
  void dead_letter_entry(std::int64_t id, base::errc code, std::string detail_json,
                         std::function<void(bool)> done) override;
  void expire(std::string recipient, std::int64_t above_id, std::int64_t cutoff_ms,
              std::function<void(std::uint64_t)> done) override;
  base::result<replay_source> replay_dead_letter(std::int64_t id) override;
  base::result<replay_source> replay_withheld(const std::string& message_id,
                                              const std::string& recipient) override;
  void prune(prune_kind kind, std::int64_t cutoff_ms, std::uint32_t batch,
             std::function<void(bool, std::uint64_t)> done) override;
  void audit(audit_entry e, std::function<void(bool)> done) override;
  audit_check verify_audit(std::string_view key) override;
  base::result<audit_boundary> audit_start() override;
  base::result<std::vector<audit_entry>> audit_entries(std::int64_t after_seq,
                                                       std::uint32_t limit) override;
  base::result<bool> archive_audit(const audit_boundary& from, std::int64_t last_seq,
                                   const std::string& last_hash, std::uint64_t entries,
                                   const std::string& files, audit_entry record) override;
  base::result<std::vector<audit_entry>> disclosures(std::string_view person,
                                                     std::int64_t since_ms) override;
  base::result<std::vector<withholding_count>> withholdings(std::int64_t since_ms,
                                                            std::int64_t last_entries) override;
  base::result<std::vector<observation_row>> observations(std::string_view agreement,
                                                          std::string_view exchange,
                                                          std::string_view from_day,
                                                          std::string_view to_day) override;
  std::vector<dead_letter> dead_letters(const dead_letter_filter& f) override;
  using store::dead_letters;
  std::optional<dead_letter> dead_letter_by_id(std::int64_t id) override;
  std::vector<std::pair<std::string, std::uint64_t>> dead_letter_counts() override;
  std::uint64_t dead_letter_count() override;
  bool purge_dead_letter(std::int64_t id) override;
  bool put_setting(const std::string& key, std::optional<std::string> value) override;
  std::vector<std::pair<std::string, std::string>> settings(const std::string& prefix) override;
  message_trace trace(const std::string& message_id) override;
  base::result<std::vector<message_summary>> find_messages(const message_query& q) override;
  std::uint64_t size_bytes() override;
  std::vector<queue_stats> stats(const std::vector<std::string>& recipients) override;
  counters stats_counters() const override { return eng_.counters(); }
  health check() const override;
  void flush() override { eng_.flush(); }

 private:
  // engine::committer: one transaction per group; when an op fails, the group is rolled back and
  // each op is applied again in a transaction of its own (PostgreSQL aborts the whole
  // transaction at an error, so a savepoint per op would cost two round trips each).
  bool apply_group(std::vector<op>& batch, std::vector<char>& ok) override;
  bool run_transaction(std::vector<op>& batch, std::size_t from, std::size_t to,
                       std::vector<char>& ok, bool pipelined);
  // records.cc: records and acks [from, to) in pipelined round trips: the keys first (which are
  // new decides what follows; `keys_known`: already asked with the transaction's begin, their
  // message ids in `fresh`), then every other statement.
  bool run_staged(std::vector<op>& batch, std::size_t from, std::size_t to, std::vector<char>& ok,
                  std::set<std::string, std::less<>>& fresh, bool keys_known);
  // The statement that tells which of the records' keys are new (their message ids into `fresh`
  // once `b` runs).
  void add_keys(pipeline_batch& b, std::vector<op>& batch, std::size_t from, std::size_t to,
                std::set<std::string, std::less<>>& fresh);

  // schema.cc
  bool connect(std::string& error);
  bool ensure_connected();
  bool prepare_all();
  base::diagnostic error(std::string msg) const;
  // A statement of the group failed: logged (SQLSTATE and message only, never values).
  bool failed(const result& r, const char* what);
  // A statement failed with `code` (classify): a disk full or read-only database is noted for
  // /readyz and the released records' outcome. Answers false.
  bool refused(base::errc code, const char* what);
  // Runs a prepared statement; false (logged) when it fails.
  result run(const char* name, const params& p, bool binary_result = false) {
    if (const char* sql = planned_each_time(name)) return conn_.exec(sql, p, binary_result);
    return conn_.run(name, p, binary_result);
  }

  // records.cc (engine thread, inside the transaction)
  bool log_message(const record_outcome& r, std::string_view status, std::string_view code);
  bool apply_record(const record_outcome& r, commit_result& out);
  // audit.cc: entries get their sequence number and link from the head read at the start of the
  // transaction; the head row is written back before the commit.
  bool append_audit(std::vector<audit_entry> entries, std::int64_t now);
  // Numbers and links the entries from the head (which it advances) and returns the insert's
  // parameters (which hold copies of the values).
  params audit_params(std::vector<audit_entry>& entries, std::int64_t now);
  // queues.cc
  bool release_doc(std::int64_t doc_id);
  bool apply_ack(std::int64_t id);
  bool apply_dead_letter(std::int64_t id, base::errc code, std::string_view detail);
  // queries.cc
  bool read_kept_record(replay_source& r);
  // A connection of its own for the long scans (they never hold up the writer).
  bool open_reader(connection& c, std::string& error) const;

  // listen.cc: LISTEN on a connection of its own; notifications from other brokers' commits
  // (not this one's writer) go to the watcher.
  void listen_loop();
  bool listen_reconnect(bool& was_down, std::chrono::steady_clock::time_point& last_poll);
  bool listen_new_facts();
  void listen_setting(const std::string& key, const std::optional<std::string>& value);
  void listen_tell(const std::string& recipient);
  void listen_notifications();
  void listen_catch_up(bool up);
  void drain_wake();
  connection listen_conn_;  // listening before init() returns: no commit goes unheard
  std::thread listener_;
  std::atomic<bool> stopping_{false};
  std::mutex watch_mu_;
  std::function<void(const std::string&)> watcher_;
  std::function<void(std::vector<fact_row>)> fact_watcher_;
  std::map<std::string, setting_watcher> settings_watchers_;  // by key prefix
  std::int64_t facts_seen_ = 0;  // listener thread: the last fact's seq handed on
  // catch_up_facts: answered by the listener thread, woken through an eventfd.
  std::mutex catch_up_mu_;
  std::vector<std::function<void(bool)>> catch_ups_;
  bool listener_done_ = false;  // under catch_up_mu_: later catch-ups are answered false at once
  int wake_fd_ = -1;
  void wake_listener();
  // Fault injection for tests (NIEM_FAULT_LISTEN_DELAY_MS): notifications are handed on this much
  // later, as from a slow or distant listener.
  int listen_delay_ms_ = 0;
  bool facts_changed_ = false;  // this transaction inserted facts: notified with the commit
  std::atomic<int> writer_pid_{0};
  std::atomic<bool> db_up_{true};
  write_health writes_;  // disk full or read-only, though the database answers
  std::atomic<bool> listening_{false}, leader_up_{false};
  mutable std::mutex problem_mu_;
  std::string problem_;  // why the database does not answer (no secrets)
  // Session advisory locks of the roles this broker leads, on a connection of their own.
  std::mutex lead_mu_;
  connection leader_;
  std::string replica_id_;  // this broker's name in the recipients' leases
  // Recipients that got entries in this transaction: notified with the commit.
  std::set<std::string, std::less<>> notify_;

  options opt_;
  const base::clock& clk_;
  std::string where_;  // the locator without secrets, for messages
  connection conn_;
  engine eng_;
  std::chrono::steady_clock::time_point next_reconnect_{};
  // The audit chain's head as of this transaction.
  std::int64_t head_seq_ = 0, head_seq_at_begin_ = 0;
  std::string head_hash_;
};

}  // namespace niem::store::postgres
