// Delivery: reading a subscriber's queue, acknowledgements with their receipts, withdrawals,
// failed attempts, dead-lettering and expiry of entries, queue statistics.
#include <unordered_map>

#include "store/postgres/pg_store.h"

namespace niem::store::postgres {

bool pg_store::release_doc(std::int64_t doc_id) {
  auto g = run("free_doc", params().num(doc_id));
  return g.ok() || failed(g, "free_doc");
}

bool pg_store::apply_ack(std::int64_t id) {
  // Already gone (acknowledged or expired): the statement changes nothing.
  auto r = run("ack", params().num(id).num(clk_.now_ms()));
  return r.ok() || failed(r, "ack");
}

bool pg_store::apply_dead_letter(std::int64_t id, base::errc code, std::string_view detail) {
  auto d = run("del_queue", params().num(id));
  if (!d.ok()) return failed(d, "del_queue");
  if (d.rows() == 0) return true;
  auto doc = d.i64(0, 5);
  auto b = run("sel_doc", params().num(doc), true);
  if (!b.ok()) return failed(b, "sel_doc");
  std::string body = b.rows() == 1 ? b.text(0, 0) : std::string();
  auto recipient = d.text(0, 0), message_id = d.text(0, 1), agency = d.text(0, 2),
       key = d.text(0, 3), exchange = d.text(0, 4);
  params p;
  p.text(message_id).text(recipient).text(agency).opt("").text(exchange).text(key);
  p.text(base::code_id(code)).text(detail).text("application/xml").binary(body);
  p.num(clk_.now_ms()).num(d.i64(0, 6));
  auto ins = run("ins_dead", p);
  if (!ins.ok()) return failed(ins, "ins_dead");
  return release_doc(doc);
}

void pg_store::fetch(std::string recipient, std::int64_t after_id, std::uint32_t limit,
                     std::function<void(std::vector<queue_entry>)> done) {
  auto out = std::make_shared<std::vector<queue_entry>>();
  eng_.push({[this, out, recipient = std::move(recipient), after_id, limit] {
               out->clear();
               auto s = run("sel_fetch", params().text(recipient).num(after_id).num(limit), true);
               if (!s.ok()) return failed(s, "sel_fetch");
               std::unordered_map<std::int64_t, std::shared_ptr<const std::string>> docs;
               for (int i = 0; i < s.rows(); ++i) {
                 queue_entry e;
                 e.id = s.i64(i, 0);
                 e.recipient = recipient;
                 e.message_id = s.text(i, 1);
                 e.source_agency = s.text(i, 2);
                 e.record_key = s.text(i, 3);
                 e.exchange = s.text(i, 4);
                 auto& doc = docs[s.i64(i, 5)];
                 if (!doc) doc = std::make_shared<const std::string>(s.text(i, 9));
                 e.document = doc;
                 e.enqueued_ms = s.i64(i, 6);
                 e.received_ms = s.i64(i, 7);
                 e.attempts = static_cast<std::uint32_t>(s.i64(i, 8));
                 e.consent = s.text(i, 10);
                 out->push_back(std::move(e));
               }
               return true;
             },
             [out, done = std::move(done)](bool) { done(std::move(*out)); }});
}

void pg_store::withdraw(std::int64_t id, audit_entry why, std::function<void(bool)> done) {
  eng_.push({[this, id, why = std::move(why)]() mutable {
               auto d = run("del_queue", params().num(id));
               if (!d.ok()) return failed(d, "del_queue");
               if (d.rows() == 0) return true;  // already gone: nothing withdrawn
               if (why.agreement.empty()) {
                 // Withheld under the agreement and purpose it was queued under.
                 auto a = conn_.exec(
                     "SELECT agreement, purpose FROM audit WHERE message_id=$1 AND recipient=$2 "
                     "AND decision='deliver' ORDER BY seq DESC LIMIT 1",
                     params().text(why.message_id).text(why.recipient));
                 if (a.ok() && a.rows() == 1) {
                   why.agreement = a.text(0, 0);
                   why.purpose = a.text(0, 1);
                 }
               }
               return release_doc(d.i64(0, 5)) && append_audit({why}, clk_.now_ms());
             },
             std::move(done)});
}

void pg_store::ack(std::int64_t id, std::function<void(bool)> done) {
  op o{[this, id] { return apply_ack(id); }, std::move(done)};
  o.kind = k_staged_ack;
  o.data = std::make_shared<std::int64_t>(id);
  eng_.push(std::move(o));
}

void pg_store::set_attempts(std::int64_t id, std::uint32_t attempts) {
  eng_.push({[this, id, attempts] {
               auto r = run("upd_attempts", params().num(attempts).num(id));
               return r.ok() || failed(r, "upd_attempts");
             },
             {}});
}

void pg_store::dead_letter_entry(std::int64_t id, base::errc code, std::string detail_json,
                                 std::function<void(bool)> done) {
  eng_.push({[this, id, code, detail = std::move(detail_json)] {
               return apply_dead_letter(id, code, detail);
             },
             std::move(done)});
}

void pg_store::expire(std::string recipient, std::int64_t above_id, std::int64_t cutoff_ms,
                      std::function<void(std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  eng_.push({[this, n, recipient = std::move(recipient), above_id, cutoff_ms] {
               *n = 0;
               auto s = run("sel_expire", params().text(recipient).num(above_id));
               if (!s.ok()) return failed(s, "sel_expire");
               std::vector<std::int64_t> ids;
               // Ids grow with time, so the scan stops at the first entry young enough.
               for (int i = 0; i < s.rows(); ++i) {
                 if (s.i64(i, 1) >= cutoff_ms) break;
                 ids.push_back(s.i64(i, 0));
               }
               for (auto id : ids)
                 if (!apply_dead_letter(id, base::errc::delivery_expired, "{}")) return false;
               *n = ids.size();
               return true;
             },
             [n, done = std::move(done)](bool ok) { done(ok ? *n : 0); }});
}

std::vector<queue_stats> pg_store::stats(const std::vector<std::string>& recipients) {
  std::vector<queue_stats> out;
  eng_.run_sync([&] {
    out.clear();
    for (const auto& r : recipients) {
      auto s = run("sel_stats", params().text(r));
      if (!s.ok()) return failed(s, "sel_stats");
      queue_stats q;
      q.recipient = r;
      if (s.rows() == 1) {
        q.depth = static_cast<std::uint64_t>(s.i64(0, 0));
        q.oldest_enqueued_ms = s.i64(0, 1);
      }
      out.push_back(q);
    }
    return true;
  });
  return out;
}

}  // namespace niem::store::postgres
