// The audit trail: appending to the hash chain in the caller's transaction, operators' entries,
// and the long readers (verification, disclosures, observations) on a connection of their own.
#include <fmt/format.h>

#include "store/audit_chain.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

namespace niem::store::sqlite {

bool sqlite_store::append_audit(audit_entry e, std::int64_t now) {
  e.at_ms = now;
  e.prev = last_hash_;
  e.hash = chain_hash(opt_.audit_key, e.prev, e);
  auto& s = ins_audit_.reset();
  s.bind(1, e.at_ms).bind(2, e.message_id).bind(3, e.record_key).bind(4, e.provider);
  s.bind(5, e.exchange).bind(6, e.recipient).bind(7, e.agreement).bind(8, e.purpose);
  s.bind(9, e.consent).bind(10, e.decision).bind(11, e.reason).bind(12, e.paths);
  s.bind(13, e.digest).bind(14, e.subjects).bind(15, e.prev).bind(16, e.hash);
  s.bind(17, e.mapping_version).bind(18, e.agreement_version);
  if (!s.run()) return false;
  last_hash_ = e.hash;
  return true;
}

void sqlite_store::audit(audit_entry e, std::function<void(bool)> done) {
  eng_.push({[this, e = std::move(e)] { return append_audit(e, clk_.now_ms()); }, std::move(done)});
}

namespace {

// A reader connection closed at the end of the scope.
struct reader {
  sqlite3* db = nullptr;
  ~reader() {
    if (db) sqlite3_close(db);
  }
};

// Where the store's part of the chain begins: after the last archive, if any.
base::result<audit_boundary> read_boundary(sqlite3* db) {
  audit_boundary b;
  b.last_hash = std::string(k_genesis);
  stmt s(db,
         "SELECT last_seq, last_hash, (SELECT COALESCE(SUM(entries), 0) FROM audit_archives) "
         "FROM audit_archives ORDER BY last_seq DESC LIMIT 1");
  if (!s)
    return base::diagnostic{base::errc::io_error,
                            fmt::format("cannot read the audit archives: {}", sqlite3_errmsg(db)),
                            "",
                            "",
                            0,
                            0};
  if (s.step() == SQLITE_ROW) {
    b.last_seq = s.i64(0);
    b.last_hash = s.text(1);
    b.archived = static_cast<std::uint64_t>(s.i64(2));
  }
  return b;
}

}  // namespace

audit_check sqlite_store::verify_audit(std::string_view key) {
  chain_verifier v(key);
  std::string err;
  reader r{open_reader(err)};
  if (!r.db) {
    v.read_failed(err);
    return v.result();
  }
  auto start = read_boundary(r.db);
  if (!start) {
    v.read_failed(start.errors().front().message);
    return v.result();
  }
  v.start_after(start->last_seq, start->last_hash);
  stmt s(r.db, fmt::format("SELECT {} FROM audit ORDER BY seq", k_audit_columns).c_str());
  if (!s) {
    v.read_failed(fmt::format("cannot read the audit trail: {}", sqlite3_errmsg(r.db)));
    return v.result();
  }
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    if (!v.add(read_entry(s))) return v.result();
  if (rc != SQLITE_DONE) {
    v.read_failed(fmt::format("cannot read the audit trail: {}", sqlite3_errmsg(r.db)));
    return v.result();
  }
  // SQLite's high-water mark of the ids it handed out (AUTOINCREMENT).
  stmt hw(r.db, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'");
  v.finish(hw && hw.step() == SQLITE_ROW ? hw.i64(0) : 0);
  return v.result();
}

base::result<audit_boundary> sqlite_store::audit_start() {
  std::string err;
  reader r{open_reader(err)};
  if (!r.db) return std::vector<base::diagnostic>{error(err)};
  return read_boundary(r.db);
}

base::result<std::vector<audit_entry>> sqlite_store::audit_entries(std::int64_t after_seq,
                                                                   std::uint32_t limit) {
  std::string err;
  reader r{open_reader(err)};
  if (!r.db) return std::vector<base::diagnostic>{error(err)};
  stmt s(r.db,
         fmt::format("SELECT {} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", k_audit_columns)
             .c_str());
  if (!s) return std::vector<base::diagnostic>{error(sqlite3_errmsg(r.db))};
  s.bind(1, after_seq).bind(2, static_cast<std::int64_t>(limit));
  std::vector<audit_entry> out;
  while (s.step() == SQLITE_ROW) out.push_back(read_entry(s));
  return out;
}

base::result<bool> sqlite_store::archive_audit(const audit_boundary& from, std::int64_t last_seq,
                                               const std::string& last_hash, std::uint64_t entries,
                                               const std::string& files, audit_entry record) {
  std::string problem;
  bool done = false;
  eng_.run_sync([&] {
    auto now = read_boundary(db_);
    if (!now) {
      problem = now.errors().front().message;
      return false;
    }
    if (now->last_seq != from.last_seq || now->last_hash != from.last_hash) {
      problem = "the audit trail was archived meanwhile (its start moved)";
      return false;
    }
    stmt h(db_, "SELECT hash FROM audit WHERE seq = ?");
    if (!h || h.bind(1, last_seq).step() != SQLITE_ROW || h.text(0) != last_hash) {
      problem = fmt::format("entry {} is not the one the archive ends with", last_seq);
      return false;
    }
    stmt del(db_, "DELETE FROM audit WHERE seq <= ?");
    stmt ins(db_,
             "INSERT INTO audit_archives(at_ms, first_seq, last_seq, last_hash, entries, files) "
             "VALUES(?, ?, ?, ?, ?, ?)");
    if (!del || !ins) return false;
    const auto at = clk_.now_ms();
    ins.bind(1, at).bind(2, from.last_seq + 1).bind(3, last_seq).bind(4, last_hash);
    ins.bind(5, static_cast<std::int64_t>(entries)).bind(6, files);
    if (!del.bind(1, last_seq).run() || !ins.run() || !append_audit(std::move(record), at))
      return false;
    done = true;
    return true;
  });
  if (!done && problem.empty()) problem = last_error();
  if (!done) return std::vector<base::diagnostic>{error(problem)};
  return true;
}

base::result<std::vector<audit_entry>> sqlite_store::disclosures(std::string_view person,
                                                                 std::int64_t since_ms) {
  std::string err;
  reader r{open_reader(err)};
  if (!r.db) return std::vector<base::diagnostic>{error(err)};
  std::vector<audit_entry> out;
  // The person's messages come from message_index; their decisions from audit_by_message.
  stmt s(r.db,
         fmt::format("SELECT {} FROM audit WHERE message_id IN (SELECT message_id FROM "
                     "message_index WHERE term = 'person:' || ?1) AND decision = 'deliver' "
                     "AND at_ms >= ?2 AND instr(' ' || subjects || ' ', ' ' || ?1 || ' ') > 0 "
                     "ORDER BY seq",
                     k_audit_columns)
             .c_str());
  if (!s) return std::vector<base::diagnostic>{error(sqlite3_errmsg(r.db))};
  s.bind(1, person).bind(2, since_ms);
  while (s.step() == SQLITE_ROW) out.push_back(read_entry(s));
  return out;
}

base::result<std::vector<store::withholding_count>> sqlite_store::withholdings(
    std::int64_t since_ms, std::int64_t last_entries) {
  std::string err;
  reader r{open_reader(err)};
  if (!r.db) return std::vector<base::diagnostic>{error(err)};
  // The range on seq (the rowid) bounds the scan.
  stmt s(r.db,
         "SELECT recipient, reason, agreement, COUNT(*), MAX(at_ms) FROM audit WHERE "
         "seq > (SELECT COALESCE(MAX(seq), 0) FROM audit) - ? AND decision = 'withhold' AND "
         "at_ms >= ? GROUP BY recipient, reason, agreement "
         "ORDER BY recipient, COUNT(*) DESC, reason, agreement");
  if (!s) return std::vector<base::diagnostic>{error(sqlite3_errmsg(r.db))};
  s.bind(1, last_entries).bind(2, since_ms);
  std::vector<withholding_count> out;
  while (s.step() == SQLITE_ROW)
    out.push_back(
        {s.text(0), s.text(1), s.text(2), static_cast<std::uint64_t>(s.i64(3)), s.i64(4)});
  return out;
}

base::result<std::vector<observation_row>> sqlite_store::observations(std::string_view agreement,
                                                                      std::string_view exchange,
                                                                      std::string_view from_day,
                                                                      std::string_view to_day) {
  std::string err;
  reader r{open_reader(err)};
  if (!r.db) return std::vector<base::diagnostic>{error(err)};
  std::vector<observation_row> out;
  stmt s(r.db,
         "SELECT agreement, exchange, record_key, day, fields FROM observations WHERE "
         "agreement = ? AND exchange = ? AND day >= ? AND day <= ? ORDER BY id");
  if (!s) return std::vector<base::diagnostic>{error(sqlite3_errmsg(r.db))};
  s.bind(1, agreement).bind(2, exchange).bind(3, from_day).bind(4, to_day);
  while (s.step() == SQLITE_ROW)
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4)});
  return out;
}

}  // namespace niem::store::sqlite
