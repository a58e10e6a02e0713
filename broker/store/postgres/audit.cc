// The audit trail: appending to the one chain all replicas share (its head row is held by the
// transaction), operators' entries, and the long readers on a connection of their own.
#include <fmt/format.h>

#include "store/audit_chain.h"
#include "store/postgres/pg_store.h"
#include "store/postgres/rows.h"

namespace niem::store::postgres {

bool pg_store::append_audit(std::vector<audit_entry> entries, std::int64_t now) {
  if (entries.empty()) return true;
  auto r = run("ins_audit", audit_params(entries, now));
  return r.ok() || failed(r, "ins_audit");
}

params pg_store::audit_params(std::vector<audit_entry>& entries, std::int64_t now) {
  auto seq = head_seq_;
  auto hash = head_hash_;
  std::vector<std::int64_t> seqs, ats;
  std::vector<std::vector<std::string_view>> cols(17);
  for (auto& e : entries) {
    e.seq = ++seq;
    e.at_ms = now;
    e.prev = hash;
    e.hash = chain_hash(opt_.audit_key, e.prev, e);
    hash = e.hash;
    seqs.push_back(e.seq);
    ats.push_back(e.at_ms);
    std::string_view v[] = {e.message_id,       e.record_key, e.provider, e.exchange,
                            e.recipient,        e.agreement,  e.purpose,  e.consent,
                            e.decision,         e.reason,     e.paths,    e.digest,
                            e.subjects,         e.prev,       e.hash,     e.mapping_version,
                            e.agreement_version};
    for (std::size_t c = 0; c < cols.size(); ++c) cols[c].push_back(v[c]);
  }
  params p;
  p.array(seqs).array(ats);
  for (const auto& c : cols) p.array(c);
  // A transaction that fails is rolled back and the next one reads the head again.
  head_seq_ = seq;
  head_hash_ = hash;
  return p;
}

void pg_store::audit(audit_entry e, std::function<void(bool)> done) {
  eng_.push(
      {[this, e = std::move(e)] { return append_audit({e}, clk_.now_ms()); }, std::move(done)});
}

namespace {

// Where the store's part of the chain begins: after the last archive, if any.
base::result<audit_boundary> read_boundary(connection& c) {
  auto r = c.exec(
      "SELECT last_seq, last_hash, (SELECT COALESCE(SUM(entries), 0) FROM audit_archives) "
      "FROM audit_archives ORDER BY last_seq DESC LIMIT 1");
  if (!r.ok())
    return base::diagnostic{base::errc::io_error,
                            fmt::format("cannot read the audit archives: {}", r.message()),
                            "",
                            "",
                            0,
                            0};
  audit_boundary b;
  b.last_hash = std::string(k_genesis);
  if (r.rows() == 1) {
    b.last_seq = r.i64(0, 0);
    b.last_hash = r.text(0, 1);
    b.archived = static_cast<std::uint64_t>(r.i64(0, 2));
  }
  return b;
}

}  // namespace

base::result<audit_boundary> pg_store::audit_start() {
  connection c;
  std::string err;
  if (!open_reader(c, err)) return std::vector<base::diagnostic>{error(err)};
  return read_boundary(c);
}

base::result<std::vector<audit_entry>> pg_store::audit_entries(std::int64_t after_seq,
                                                               std::uint32_t limit) {
  connection c;
  std::string err;
  if (!open_reader(c, err)) return std::vector<base::diagnostic>{error(err)};
  auto r = c.exec(
      fmt::format("SELECT {} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2", k_audit_columns)
          .c_str(),
      params().num(after_seq).num(limit));
  if (!r.ok()) return std::vector<base::diagnostic>{error(r.message())};
  std::vector<audit_entry> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_entry(r, i));
  return out;
}

base::result<bool> pg_store::archive_audit(const audit_boundary& from, std::int64_t last_seq,
                                           const std::string& last_hash, std::uint64_t entries,
                                           const std::string& files, audit_entry record) {
  std::string problem;
  bool done = false;
  eng_.run_sync([&] {
    // In the group's transaction, which holds the chain's head (replicas append meanwhile).
    auto now = read_boundary(conn_);
    if (!now) {
      problem = now.errors().front().message;
      return false;
    }
    if (now->last_seq != from.last_seq || now->last_hash != from.last_hash) {
      problem = "the audit trail was archived meanwhile (its start moved)";
      return false;
    }
    auto h = conn_.exec("SELECT hash FROM audit WHERE seq = $1", params().num(last_seq));
    if (!h.ok() || h.rows() != 1 || h.text(0, 0) != last_hash) {
      problem = fmt::format("entry {} is not the one the archive ends with", last_seq);
      return false;
    }
    const auto at = clk_.now_ms();
    auto d = conn_.exec("DELETE FROM audit WHERE seq <= $1", params().num(last_seq));
    auto a = conn_.exec(
        "INSERT INTO audit_archives(at_ms, first_seq, last_seq, last_hash, entries, files) "
        "VALUES($1, $2, $3, $4, $5, $6)",
        params()
            .num(at)
            .num(from.last_seq + 1)
            .num(last_seq)
            .text(last_hash)
            .num(static_cast<std::int64_t>(entries))
            .text(files));
    if (!d.ok() || !a.ok()) {
      problem = d.ok() ? a.message() : d.message();
      return false;
    }
    if (!append_audit({std::move(record)}, at)) return false;
    done = true;
    return true;
  });
  if (!done && problem.empty()) problem = "the archive's transaction did not commit";
  if (!done) return std::vector<base::diagnostic>{error(problem)};
  return true;
}

audit_check pg_store::verify_audit(std::string_view key) {
  chain_verifier v(key);
  connection c;
  std::string err;
  if (!open_reader(c, err)) {
    v.read_failed(fmt::format("cannot connect: {}", err));
    return v.result();
  }
  // One snapshot for the whole read; a cursor keeps memory flat over six years of entries.
  if (!c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").ok()) {
    v.read_failed(fmt::format("cannot read the audit trail: {}", c.error()));
    return v.result();
  }
  auto start = read_boundary(c);
  if (!start) {
    v.read_failed(start.errors().front().message);
    return v.result();
  }
  v.start_after(start->last_seq, start->last_hash);
  if (!c.exec(fmt::format("DECLARE chain NO SCROLL CURSOR FOR SELECT {} FROM audit ORDER BY seq",
                          k_audit_columns)
                  .c_str())
           .ok()) {
    v.read_failed(fmt::format("cannot read the audit trail: {}", c.error()));
    return v.result();
  }
  for (;;) {
    auto r = c.exec("FETCH 5000 FROM chain");
    if (!r.ok()) {
      v.read_failed(fmt::format("cannot read the audit trail: {}", r.message()));
      return v.result();
    }
    if (r.rows() == 0) break;
    for (int i = 0; i < r.rows(); ++i)
      if (!v.add(read_entry(r, i))) return v.result();
  }
  // The head row is the high-water mark: entries removed from the end leave it above the last.
  auto h = c.exec("SELECT seq FROM audit_head WHERE id = 1");
  v.finish(h.ok() && h.rows() == 1 ? h.i64(0, 0) : 0);
  c.exec("COMMIT");
  return v.result();
}

base::result<std::vector<audit_entry>> pg_store::disclosures(std::string_view person,
                                                             std::int64_t since_ms) {
  connection c;
  std::string err;
  if (!open_reader(c, err)) return std::vector<base::diagnostic>{error(err)};
  // The person's messages come from message_index; their decisions from audit_by_message.
  auto r = c.exec(fmt::format("SELECT {} FROM audit WHERE message_id IN (SELECT message_id FROM "
                              "message_index WHERE term = 'person:' || $2) AND decision = "
                              "'deliver' AND at_ms >= $1 "
                              "AND position(' ' || $2 || ' ' in ' ' || subjects || ' ') > 0 "
                              "ORDER BY seq",
                              k_audit_columns)
                      .c_str(),
                  params().num(since_ms).text(person));
  if (!r.ok()) return std::vector<base::diagnostic>{error(r.message())};
  std::vector<audit_entry> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_entry(r, i));
  return out;
}

base::result<std::vector<store::withholding_count>> pg_store::withholdings(
    std::int64_t since_ms, std::int64_t last_entries) {
  connection c;
  std::string err;
  if (!open_reader(c, err)) return std::vector<base::diagnostic>{error(err)};
  // The range on seq (the primary key) bounds the scan.
  auto r = c.exec(
      "SELECT recipient, reason, agreement, COUNT(*), MAX(at_ms) FROM audit WHERE "
      "seq > (SELECT COALESCE(MAX(seq), 0) FROM audit) - $1 AND decision = 'withhold' AND "
      "at_ms >= $2 GROUP BY recipient, reason, agreement "
      "ORDER BY recipient, COUNT(*) DESC, reason, agreement",
      params().num(last_entries).num(since_ms));
  if (!r.ok()) return std::vector<base::diagnostic>{error(r.message())};
  std::vector<withholding_count> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2),
                   static_cast<std::uint64_t>(r.i64(i, 3)), r.i64(i, 4)});
  return out;
}

base::result<std::vector<observation_row>> pg_store::observations(std::string_view agreement,
                                                                  std::string_view exchange,
                                                                  std::string_view from_day,
                                                                  std::string_view to_day) {
  connection c;
  std::string err;
  if (!open_reader(c, err)) return std::vector<base::diagnostic>{error(err)};
  auto r = c.exec(
      "SELECT agreement, exchange, record_key, day, fields FROM observations WHERE "
      "agreement = $1 AND exchange = $2 AND day >= $3 AND day <= $4 ORDER BY id",
      params().text(agreement).text(exchange).text(from_day).text(to_day));
  if (!r.ok()) return std::vector<base::diagnostic>{error(r.message())};
  std::vector<observation_row> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4)});
  return out;
}

}  // namespace niem::store::postgres
