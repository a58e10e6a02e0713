#pragma once
// The embedded implementation: one SQLite database in a directory (WAL, synchronous=FULL), owned
// by the engine's thread. Split by concern: schema.cc (DDL, migrations, opening), records.cc
// (the commit of a record's outcome), queues.cc (delivery), audit.cc (the chain and its
// readers), queries.cc (replay sources, dead letters, settings, traces).
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/engine.h"
#include "store/sqlite/stmt.h"
#include "store/store.h"
#include "store/write_health.h"

namespace niem::store::sqlite {

base::result<std::unique_ptr<store>> open(const options& opt, const base::clock& clk);

class sqlite_store final : public store, engine::committer {
 public:
  sqlite_store(const options& opt, const base::clock& clk);
  ~sqlite_store() override;

  // schema.cc: opens, creates and migrates (read-only: checks) the database; starts the threads.
  base::result<bool> init();

  backend kind() const override { return backend::sqlite; }
  health check() const override {
    health h;
    h.free_bytes = free_bytes_.load(std::memory_order_relaxed);
    h.min_free_bytes = opt_.min_free_bytes;
    if (writes_.code() != base::errc::ok) {
      h.reachable = false;
      h.code = writes_.code();
      h.problem = writes_.problem();
    }
    return h;
  }
  void set_executor(std::function<void(completions&&)> exec) override { eng_.set_executor(exec); }
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
  void reclaim(std::uint32_t pages, std::function<void(std::uint64_t)> done) override;
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
  void flush() override { eng_.flush(); }

 private:
  // engine::committer: one transaction per group, a savepoint per op.
  bool apply_group(std::vector<op>& batch, std::vector<char>& ok) override;
  void idle() override;

  // schema.cc
  int schema_version();
  bool prepare();
  std::string last_error() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }
  // A statement of the group failed with SQLite's `rc`: a full disk or a read-only database is
  // noted (write_health); anything else is the op's own failure.
  void note_failure(int rc);
  write_health writes_;
  void checkpoint_loop();
  // Refreshes the query planner's statistics (at open, then hourly from idle()).
  void analyze();
  std::chrono::steady_clock::time_point next_analyze_{};
  // A connection of its own for the long scans of tools and the admin API: WAL lets it read the
  // last committed state while the writer goes on.
  sqlite3* open_reader(std::string& error) const;
  base::diagnostic error(std::string msg) const;

  // records.cc (engine thread, inside the transaction)
  bool log_message(const record_outcome& r, std::string_view status, std::string_view code);
  bool apply_record(const record_outcome& r, commit_result& out);
  // audit.cc
  bool append_audit(audit_entry e, std::int64_t now);
  // queues.cc
  bool release_doc(std::int64_t doc_id);
  bool apply_ack(std::int64_t id);
  bool apply_dead_letter(std::int64_t id, base::errc code, std::string_view detail);
  // records.cc: whether the file system's free space is below the floor; refuses with
  // store.low_space when it is.
  bool below_floor();
  std::atomic<std::uint64_t> free_bytes_{0};
  bool low_space_ = false;
  // prune.cc
  bool prune_messages(std::int64_t cutoff_ms, std::uint32_t batch, std::uint64_t& n);
  // queries.cc: fills `r` (a redecision) from the record kept for r.message_id.
  bool read_kept_record(replay_source& r);

  options opt_;
  const base::clock& clk_;
  std::string path_;  // DIR/broker.db
  sqlite3* db_ = nullptr;
  engine eng_;

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
  std::atomic<int> wal_frames_{0};                   // after the last commit (wal hook)
  sqlite3* ckpt_db_ = nullptr;
  int lock_fd_ = -1;  // broker.lock, flock'ed while this writer is open
  std::thread ckpt_thread_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_stopping_ = false;

  stmt begin_, commit_, rollback_, savepoint_, release_, rollback_to_;
  stmt ins_message_, ins_key_, sel_key_, ins_doc_, ins_ref_, ins_queue_, ins_dead_;
  stmt sel_fetch_, del_queue_, dec_doc_, del_doc_, del_ref_, sel_doc_, upd_attempts_, sel_expire_,
      sel_stats_;
  stmt ins_audit_, ins_fact_, ins_obs_, ins_record_, del_dead_, ins_receipt_, ins_term_;
  std::string last_hash_;  // head of the audit chain
};

}  // namespace niem::store::sqlite
