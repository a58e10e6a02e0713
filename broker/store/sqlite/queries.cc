// Replay sources, records kept for replay, dead letters, operator settings, message traces.
#include <filesystem>
#include <memory>
#include <variant>

#include <fmt/format.h>

#include "store/replay_errors.h"
#include "store/search.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

namespace niem::store::sqlite {

bool sqlite_store::read_kept_record(replay_source& r) {
  stmt k(db_,
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

base::result<replay_source> sqlite_store::replay_dead_letter(std::int64_t id) {
  std::optional<replay_source> out;
  base::errc why = base::errc::replay_not_found;
  eng_.run_sync([&] {
    stmt d(db_,
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
      stmt m(db_, "SELECT received_ms FROM messages WHERE message_id=?");
      m.bind(1, r.message_id);
      if (m.step() == SQLITE_ROW) r.received_ms = m.i64(0);
      out = std::move(r);
      return true;
    }
    // An undeliverable document: decided again from the record as received.
    if (!read_kept_record(r)) {
      why = base::errc::replay_not_retained;
      return true;
    }
    out = std::move(r);
    return true;
  });
  if (!out) return dead_letter_replay_error(why, id);
  return std::move(*out);
}

base::result<replay_source> sqlite_store::replay_withheld(const std::string& message_id,
                                                          const std::string& recipient) {
  std::optional<replay_source> out;
  base::errc why = base::errc::replay_not_found;
  eng_.run_sync([&] {
    // The latest decision for this recipient must be a withholding.
    stmt a(db_,
           "SELECT decision FROM audit WHERE message_id=? AND recipient=? ORDER BY "
           "seq DESC LIMIT 1");
    a.bind(1, message_id).bind(2, recipient);
    if (a.step() != SQLITE_ROW || a.text(0) != "withhold") return true;
    replay_source r;
    r.message_id = message_id;
    r.recipient = recipient;
    if (!read_kept_record(r)) {
      why = base::errc::replay_not_retained;
      return true;
    }
    out = std::move(r);
    return true;
  });
  if (!out) return withheld_replay_error(why, message_id, recipient);
  return std::move(*out);
}

std::uint64_t sqlite_store::dead_letter_count() {
  std::uint64_t n = 0;
  eng_.run_sync([&] {
    stmt s(db_, "SELECT COUNT(*) FROM dead_letters");
    if (s.step() == SQLITE_ROW) n = static_cast<std::uint64_t>(s.i64(0));
    return true;
  });
  return n;
}

std::vector<dead_letter> sqlite_store::dead_letters(const dead_letter_filter& f) {
  std::vector<dead_letter> out;
  eng_.run_sync([&] {
    stmt s(db_, fmt::format("SELECT {} FROM dead_letters WHERE (?1 = '' OR code = ?1) AND "
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

std::optional<dead_letter> sqlite_store::dead_letter_by_id(std::int64_t id) {
  std::optional<dead_letter> out;
  eng_.run_sync([&] {
    stmt s(db_, fmt::format("SELECT {} FROM dead_letters WHERE id = ?", k_dead_columns).c_str());
    s.bind(1, id);
    if (s.step() == SQLITE_ROW) out = read_dead_letter(s);
    return true;
  });
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> sqlite_store::dead_letter_counts() {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  eng_.run_sync([&] {
    stmt s(db_, "SELECT code, COUNT(*) FROM dead_letters GROUP BY code");
    while (s.step() == SQLITE_ROW)
      out.emplace_back(s.text(0), static_cast<std::uint64_t>(s.i64(1)));
    return true;
  });
  return out;
}

bool sqlite_store::purge_dead_letter(std::int64_t id) {
  bool gone = false;
  eng_.run_sync([&] {
    if (!del_dead_.reset().bind(1, id).run()) return false;
    gone = sqlite3_changes(db_) > 0;
    return true;
  });
  return gone;
}

// In the meta table, beside the schema version; the `setting:` prefix keeps them apart.
bool sqlite_store::put_setting(const std::string& key, std::optional<std::string> value) {
  bool ok = false;
  eng_.run_sync([&] {
    stmt q(db_, value ? "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"
                      : "DELETE FROM meta WHERE key = ?");
    const std::string full = "setting:" + key;  // bound without a copy: must outlive the run
    q.bind(1, full);
    if (value) q.bind(2, *value);
    ok = q.run();
    return ok;
  });
  return ok;
}

std::vector<std::pair<std::string, std::string>> sqlite_store::settings(const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  eng_.run_sync([&] {
    stmt q(db_, "SELECT substr(key, 9), value FROM meta WHERE key >= ? AND key < ? ORDER BY key");
    const std::string from = "setting:" + prefix, to = from + "\xff";  // bound without a copy
    q.bind(1, from);
    q.bind(2, to);
    while (q.step() == SQLITE_ROW) out.emplace_back(q.text(0), q.text(1));
    return true;
  });
  return out;
}

sqlite_store::message_trace sqlite_store::trace(const std::string& message_id) {
  message_trace t;
  eng_.run_sync([&] {
    stmt m(db_,
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
    stmt a(db_, fmt::format("SELECT {} FROM audit WHERE message_id = ? "
                            "ORDER BY seq",
                            k_audit_columns)
                    .c_str());
    a.bind(1, message_id);
    while (a.step() == SQLITE_ROW) t.decisions.push_back(read_entry(a));
    stmt q(db_,
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
    stmt d(db_, fmt::format("SELECT {} FROM dead_letters WHERE message_id = ? "
                            "ORDER BY id",
                            k_dead_columns)
                    .c_str());
    d.bind(1, message_id);
    while (d.step() == SQLITE_ROW) t.dead_letters.push_back(read_dead_letter(d));
    stmt r(db_,
           "SELECT recipient, accepted_ms, attempts FROM receipts WHERE message_id = ? "
           "ORDER BY accepted_ms, recipient");
    r.bind(1, message_id);
    while (r.step() == SQLITE_ROW)
      t.receipts.push_back({r.text(0), r.i64(1), static_cast<std::uint32_t>(r.i64(2))});
    return true;
  });
  return t;
}

base::result<std::vector<store::message_summary>> sqlite_store::find_messages(
    const message_query& q) {
  std::string err;
  sqlite3* db = open_reader(err);
  if (!db) return std::vector<base::diagnostic>{error(err)};
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> close(db, sqlite3_close);
  auto query = search::messages(q, search::dialect::sqlite);
  stmt s(db, query.text.c_str());
  if (!s) return std::vector<base::diagnostic>{error(sqlite3_errmsg(db))};
  int i = 0;
  for (const auto& a : query.args) std::visit([&](const auto& v) { s.bind(++i, v); }, a);
  std::vector<message_summary> page;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    page.push_back({s.text(0),
                    s.text(1),
                    s.text(2),
                    s.text(3),
                    s.text(4),
                    s.text(6),
                    s.text(7),
                    s.i64(5),
                    {}});
  if (rc != SQLITE_DONE) return std::vector<base::diagnostic>{error(sqlite3_errmsg(db))};
  // Each result's decisions and receipts: a few rows per message, by index.
  stmt a(db,
         "SELECT recipient, decision, reason FROM audit WHERE message_id = ? AND provider NOT "
         "LIKE 'admin:%' ORDER BY seq");
  stmt r(db, "SELECT recipient, accepted_ms FROM receipts WHERE message_id = ?");
  if (!a || !r) return std::vector<base::diagnostic>{error(sqlite3_errmsg(db))};
  for (auto& m : page) {
    a.reset().bind(1, m.message_id);
    while (a.step() == SQLITE_ROW) search::add_decision(m, a.text(0), a.text(1), a.text(2));
    r.reset().bind(1, m.message_id);
    while (r.step() == SQLITE_ROW) search::add_receipt(m, r.text(0), r.i64(1));
  }
  return page;
}

std::uint64_t sqlite_store::size_bytes() {
  std::uint64_t n = 0;
  for (const char* f : {"broker.db", "broker.db-wal"}) {
    std::error_code ec;
    auto sz = std::filesystem::file_size(std::filesystem::path(opt_.locator) / f, ec);
    if (!ec) n += sz;
  }
  return n;
}

}  // namespace niem::store::sqlite
