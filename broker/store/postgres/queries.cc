// Replay sources, records kept for replay, dead letters, operator settings (shared by every
// replica), message traces, the database's size.
#include <fmt/format.h>

#include <type_traits>
#include <unordered_map>
#include <variant>

#include "store/postgres/pg_store.h"
#include "store/postgres/rows.h"
#include "store/replay_errors.h"
#include "store/search.h"

namespace niem::store::postgres {

bool pg_store::read_kept_record(replay_source& r) {
  auto k = conn_.exec(
      "SELECT agency, record_type, content_type, body, received_ms FROM records WHERE "
      "message_id=$1",
      params().text(r.message_id));
  if (!k.ok() || k.rows() != 1) return false;
  r.agency = k.text(0, 0);
  r.record_type = k.text(0, 1);
  r.content_type = k.text(0, 2);
  r.body = k.text(0, 3);
  r.received_ms = k.i64(0, 4);
  r.redecision = true;
  return true;
}

base::result<replay_source> pg_store::replay_dead_letter(std::int64_t id) {
  std::optional<replay_source> out;
  base::errc why = base::errc::replay_not_found;
  eng_.run_sync([&] {
    out.reset();
    why = base::errc::replay_not_found;
    auto d = conn_.exec(
        "SELECT message_id, COALESCE(recipient, ''), agency, COALESCE(record_type, ''), "
        "COALESCE(content_type, ''), body FROM dead_letters WHERE id=$1",
        params().num(id));
    if (!d.ok()) return failed(d, "replay_dead_letter");
    if (d.rows() != 1) return true;
    replay_source r;
    r.message_id = d.text(0, 0);
    r.recipient = d.text(0, 1);
    r.dead_letter_id = id;
    if (r.recipient.empty()) {
      // A record that never mapped: its bytes are the dead letter's.
      r.agency = d.text(0, 2);
      r.record_type = d.text(0, 3);
      r.content_type = d.text(0, 4);
      r.body = d.null(0, 5) ? std::string() : d.text(0, 5);
      auto m = conn_.exec("SELECT received_ms FROM messages WHERE message_id=$1",
                          params().text(r.message_id));
      if (m.ok() && m.rows() == 1) r.received_ms = m.i64(0, 0);
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

base::result<replay_source> pg_store::replay_withheld(const std::string& message_id,
                                                      const std::string& recipient) {
  std::optional<replay_source> out;
  base::errc why = base::errc::replay_not_found;
  eng_.run_sync([&] {
    out.reset();
    why = base::errc::replay_not_found;
    // The latest decision for this recipient must be a withholding.
    auto a = conn_.exec(
        "SELECT decision FROM audit WHERE message_id=$1 AND recipient=$2 ORDER BY seq DESC "
        "LIMIT 1",
        params().text(message_id).text(recipient));
    if (!a.ok()) return failed(a, "replay_withheld");
    if (a.rows() != 1 || a.text(0, 0) != "withhold") return true;
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

std::uint64_t pg_store::dead_letter_count() {
  std::uint64_t n = 0;
  eng_.run_sync([&] {
    auto r = conn_.exec("SELECT COUNT(*) FROM dead_letters");
    if (!r.ok()) return failed(r, "dead_letter_count");
    n = static_cast<std::uint64_t>(r.i64(0, 0));
    return true;
  });
  return n;
}

std::vector<dead_letter> pg_store::dead_letters(const dead_letter_filter& f) {
  std::vector<dead_letter> out;
  eng_.run_sync([&] {
    out.clear();
    auto r = conn_.exec(
        fmt::format("SELECT {} FROM dead_letters WHERE ($1 = '' OR code = $1) AND "
                    "($2 = '' OR recipient = $2) AND ($3 = '' OR agency = $3) AND "
                    "($4 = 0 OR id < $4) ORDER BY id DESC LIMIT $5",
                    k_dead_columns)
            .c_str(),
        params().text(f.code).text(f.recipient).text(f.agency).num(f.before_id).num(f.limit));
    if (!r.ok()) return failed(r, "dead_letters");
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_dead_letter(r, i));
    return true;
  });
  return out;
}

std::optional<dead_letter> pg_store::dead_letter_by_id(std::int64_t id) {
  std::optional<dead_letter> out;
  eng_.run_sync([&] {
    out.reset();
    auto r =
        conn_.exec(fmt::format("SELECT {} FROM dead_letters WHERE id = $1", k_dead_columns).c_str(),
                   params().num(id));
    if (!r.ok()) return failed(r, "dead_letter_by_id");
    if (r.rows() == 1) out = read_dead_letter(r, 0);
    return true;
  });
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> pg_store::dead_letter_counts() {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  eng_.run_sync([&] {
    out.clear();
    auto r = conn_.exec("SELECT code, COUNT(*) FROM dead_letters GROUP BY code ORDER BY code");
    if (!r.ok()) return failed(r, "dead_letter_counts");
    for (int i = 0; i < r.rows(); ++i)
      out.emplace_back(r.text(i, 0), static_cast<std::uint64_t>(r.i64(i, 1)));
    return true;
  });
  return out;
}

bool pg_store::purge_dead_letter(std::int64_t id) {
  bool gone = false;
  eng_.run_sync([&] {
    auto r = run("del_dead", params().num(id));
    if (!r.ok()) return failed(r, "purge_dead_letter");
    gone = r.affected() > 0;
    return true;
  });
  return gone;
}

bool pg_store::put_setting(const std::string& key, std::optional<std::string> value) {
  bool ok = false;
  eng_.run_sync([&] {
    auto r = value ? conn_.exec(
                         "INSERT INTO settings(key, value) VALUES($1, $2) ON CONFLICT (key) DO "
                         "UPDATE SET value = EXCLUDED.value",
                         params().text(key).text(*value))
                   : conn_.exec("DELETE FROM settings WHERE key = $1", params().text(key));
    if (!r.ok()) return failed(r, "put_setting");
    // Other brokers apply it when this commits: "+KEY\nVALUE", or "-KEY" when removed.
    auto n = conn_.exec("SELECT pg_notify('niem_settings', $1)",
                        params().text(value ? "+" + key + "\n" + *value : "-" + key));
    if (!n.ok()) return failed(n, "put_setting");
    ok = true;
    return true;
  });
  return ok;
}

std::vector<std::pair<std::string, std::string>> pg_store::settings(const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  eng_.run_sync([&] {
    out.clear();
    auto r =
        conn_.exec("SELECT key, value FROM settings WHERE left(key, length($1)) = $1 ORDER BY key",
                   params().text(prefix));
    if (!r.ok()) return failed(r, "settings");
    for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.text(i, 0), r.text(i, 1));
    return true;
  });
  return out;
}

base::result<std::vector<store::message_summary>> pg_store::find_messages(const message_query& q) {
  connection c;
  std::string err;
  if (!open_reader(c, err)) return std::vector<base::diagnostic>{error(err)};
  auto query = search::messages(q, search::dialect::postgres);
  params p;
  for (const auto& a : query.args)
    std::visit(
        [&](const auto& v) {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>)
            p.text(v);
          else
            p.num(v);
        },
        a);
  auto r = c.exec(query.text.c_str(), p);
  if (!r.ok()) return std::vector<base::diagnostic>{error(r.message())};
  std::vector<message_summary> page;
  std::unordered_map<std::string, std::size_t> at;
  std::vector<std::string_view> ids;
  for (int i = 0; i < r.rows(); ++i) {
    page.push_back({r.text(i, 0),
                    r.text(i, 1),
                    r.text(i, 2),
                    r.text(i, 3),
                    r.text(i, 4),
                    r.text(i, 6),
                    r.text(i, 7),
                    r.i64(i, 5),
                    {}});
    at[page.back().message_id] = page.size() - 1;
  }
  if (page.empty()) return page;
  for (const auto& m : page) ids.push_back(m.message_id);
  // Each result's decisions and receipts, by index, in one statement each.
  auto a = c.exec(
      "SELECT message_id, recipient, decision, reason FROM audit WHERE message_id = "
      "ANY($1::text[]) AND provider NOT LIKE 'admin:%' ORDER BY seq",
      params().array(ids));
  auto rc = c.exec(
      "SELECT message_id, recipient, accepted_ms FROM receipts WHERE message_id = "
      "ANY($1::text[])",
      params().array(ids));
  if (!a.ok()) return std::vector<base::diagnostic>{error(a.message())};
  if (!rc.ok()) return std::vector<base::diagnostic>{error(rc.message())};
  for (int i = 0; i < a.rows(); ++i)
    search::add_decision(page[at[a.text(i, 0)]], a.text(i, 1), a.text(i, 2), a.text(i, 3));
  for (int i = 0; i < rc.rows(); ++i)
    search::add_receipt(page[at[rc.text(i, 0)]], rc.text(i, 1), rc.i64(i, 2));
  return page;
}

store::message_trace pg_store::trace(const std::string& message_id) {
  message_trace t;
  eng_.run_sync([&] {
    t = {};
    auto m = conn_.exec(
        "SELECT agency, record_type, COALESCE(record_key,''), COALESCE(exchange,''), "
        "received_ms, status, COALESCE(code,'') FROM messages WHERE message_id = $1",
        params().text(message_id));
    if (!m.ok()) return failed(m, "trace");
    if (m.rows() != 1) return true;
    t.found = true;
    t.message_id = message_id;
    t.agency = m.text(0, 0);
    t.record_type = m.text(0, 1);
    t.record_key = m.text(0, 2);
    t.exchange = m.text(0, 3);
    t.received_ms = m.i64(0, 4);
    t.status = m.text(0, 5);
    t.code = m.text(0, 6);
    auto a = conn_.exec(
        fmt::format("SELECT {} FROM audit WHERE message_id = $1 ORDER BY seq", k_audit_columns)
            .c_str(),
        params().text(message_id));
    for (int i = 0; a.ok() && i < a.rows(); ++i) t.decisions.push_back(read_entry(a, i));
    auto q = conn_.exec(
        "SELECT id, recipient, enqueued_ms, attempts, consent FROM queue WHERE message_id = $1 "
        "ORDER BY id",
        params().text(message_id));
    for (int i = 0; q.ok() && i < q.rows(); ++i) {
      queue_entry e;
      e.id = q.i64(i, 0);
      e.recipient = q.text(i, 1);
      e.enqueued_ms = q.i64(i, 2);
      e.attempts = static_cast<std::uint32_t>(q.i64(i, 3));
      e.consent = q.text(i, 4);
      e.message_id = message_id;
      t.queued.push_back(std::move(e));
    }
    auto d = conn_.exec(
        fmt::format("SELECT {} FROM dead_letters WHERE message_id = $1 ORDER BY id", k_dead_columns)
            .c_str(),
        params().text(message_id));
    for (int i = 0; d.ok() && i < d.rows(); ++i) t.dead_letters.push_back(read_dead_letter(d, i));
    auto r = conn_.exec(
        "SELECT recipient, accepted_ms, attempts FROM receipts WHERE message_id = $1 "
        "ORDER BY accepted_ms, recipient",
        params().text(message_id));
    for (int i = 0; r.ok() && i < r.rows(); ++i)
      t.receipts.push_back({r.text(i, 0), r.i64(i, 1), static_cast<std::uint32_t>(r.i64(i, 2))});
    return true;
  });
  return t;
}

std::uint64_t pg_store::size_bytes() {
  std::uint64_t n = 0;
  eng_.run_sync([&] {
    auto r = conn_.exec("SELECT pg_database_size(current_database())");
    if (!r.ok()) return failed(r, "size_bytes");
    n = static_cast<std::uint64_t>(r.i64(0, 0));
    return true;
  });
  return n;
}

}  // namespace niem::store::postgres
