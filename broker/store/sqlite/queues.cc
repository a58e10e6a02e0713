// Delivery: reading a subscriber's queue, acknowledgements (with their receipts), withdrawals,
// failed attempts, dead-lettering and expiry of entries, queue statistics.
#include <unordered_map>

#include "store/sqlite/sqlite_store.h"

namespace niem::store::sqlite {

bool sqlite_store::release_doc(std::int64_t doc_id) {
  auto& d = dec_doc_.reset().bind(1, doc_id);
  int rc = d.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return false;
  bool last = rc == SQLITE_DONE || d.i64(0) <= 0;  // no count (ever): nothing else refers to it
  d.reset();
  return !last ||
         (del_doc_.reset().bind(1, doc_id).run() && del_ref_.reset().bind(1, doc_id).run());
}

bool sqlite_store::apply_ack(std::int64_t id) {
  auto& d = del_queue_.reset().bind(1, id);
  int rc = d.step();
  if (rc == SQLITE_DONE) return true;  // already gone (acked or expired): nothing to do
  if (rc != SQLITE_ROW) return false;
  auto recipient = d.text(0), message_id = d.text(1);
  auto doc = d.i64(5), attempts = d.i64(6);
  d.reset();
  auto& r = ins_receipt_.reset();
  r.bind(1, message_id).bind(2, recipient).bind(3, clk_.now_ms()).bind(4, attempts);
  return r.run() && release_doc(doc);
}

bool sqlite_store::apply_dead_letter(std::int64_t id, base::errc code, std::string_view detail) {
  auto& d = del_queue_.reset().bind(1, id);
  int rc = d.step();
  if (rc == SQLITE_DONE) return true;
  if (rc != SQLITE_ROW) return false;
  auto recipient = d.text(0), message_id = d.text(1), agency = d.text(2), key = d.text(3),
       exchange = d.text(4);
  auto doc = d.i64(5), attempts = d.i64(6);
  d.reset();
  std::string body;
  {
    auto& s = sel_doc_.reset().bind(1, doc);
    if (s.step() == SQLITE_ROW) body = s.blob(0);
    s.reset();
  }
  auto& s = ins_dead_.reset();
  s.bind(1, message_id).bind(2, recipient).bind(3, agency).bind_null(4).bind(5, exchange);
  s.bind(6, key).bind(7, base::code_id(code)).bind(8, detail).bind(9, "application/xml");
  s.bind_blob(10, body).bind(11, clk_.now_ms()).bind(12, attempts);
  if (!s.run()) return false;
  return release_doc(doc);
}

void sqlite_store::fetch(std::string recipient, std::int64_t after_id, std::uint32_t limit,
                         std::function<void(std::vector<queue_entry>)> done) {
  auto out = std::make_shared<std::vector<queue_entry>>();
  eng_.push({[this, out, recipient = std::move(recipient), after_id, limit] {
               out->clear();
               auto& s = sel_fetch_.reset();
               s.bind(1, recipient).bind(2, after_id).bind(3, static_cast<std::int64_t>(limit));
               std::unordered_map<std::int64_t, std::shared_ptr<const std::string>> docs;
               while (s.step() == SQLITE_ROW) {
                 queue_entry e;
                 e.id = s.i64(0);
                 e.recipient = recipient;
                 e.message_id = s.text(1);
                 e.source_agency = s.text(2);
                 e.record_key = s.text(3);
                 e.exchange = s.text(4);
                 auto& doc = docs[s.i64(5)];
                 if (!doc) doc = std::make_shared<const std::string>(s.blob(9));
                 e.document = doc;
                 e.enqueued_ms = s.i64(6);
                 e.received_ms = s.i64(7);
                 e.attempts = static_cast<std::uint32_t>(s.i64(8));
                 e.consent = s.text(10);
                 out->push_back(std::move(e));
               }
               s.reset();
               return true;
             },
             [out, done = std::move(done)](bool) { done(std::move(*out)); }});
}

void sqlite_store::withdraw(std::int64_t id, audit_entry why, std::function<void(bool)> done) {
  eng_.push({[this, id, why = std::move(why)]() mutable {
               auto& d = del_queue_.reset().bind(1, id);
               int rc = d.step();
               if (rc == SQLITE_DONE) return true;  // already gone: nothing withdrawn
               if (rc != SQLITE_ROW) return false;
               auto doc = d.i64(5);
               d.reset();
               if (why.agreement.empty()) {
                 // Withheld under the agreement and purpose it was queued under.
                 stmt a(db_,
                        "SELECT agreement, purpose FROM audit WHERE message_id=? AND "
                        "recipient=? AND decision='deliver' ORDER BY seq DESC LIMIT 1");
                 a.bind(1, why.message_id).bind(2, why.recipient);
                 if (a.step() == SQLITE_ROW) {
                   why.agreement = a.text(0);
                   why.purpose = a.text(1);
                 }
               }
               return release_doc(doc) && append_audit(why, clk_.now_ms());
             },
             std::move(done)});
}

void sqlite_store::ack(std::int64_t id, std::function<void(bool)> done) {
  eng_.push({[this, id] { return apply_ack(id); }, std::move(done)});
}

void sqlite_store::set_attempts(std::int64_t id, std::uint32_t attempts) {
  eng_.push({[this, id, attempts] {
               return upd_attempts_.reset()
                   .bind(1, static_cast<std::int64_t>(attempts))
                   .bind(2, id)
                   .run();
             },
             {}});
}

void sqlite_store::dead_letter_entry(std::int64_t id, base::errc code, std::string detail_json,
                                     std::function<void(bool)> done) {
  eng_.push({[this, id, code, detail = std::move(detail_json)] {
               return apply_dead_letter(id, code, detail);
             },
             std::move(done)});
}

void sqlite_store::expire(std::string recipient, std::int64_t above_id, std::int64_t cutoff_ms,
                          std::function<void(std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  eng_.push({[this, n, recipient = std::move(recipient), above_id, cutoff_ms] {
               std::vector<std::int64_t> ids;
               auto& s = sel_expire_.reset().bind(1, recipient).bind(2, above_id);
               // Ids grow with time, so the scan stops at the first entry young enough.
               while (s.step() == SQLITE_ROW) {
                 if (s.i64(1) >= cutoff_ms) break;
                 ids.push_back(s.i64(0));
               }
               s.reset();
               for (auto id : ids) {
                 if (!apply_dead_letter(id, base::errc::delivery_expired, "{}")) return false;
               }
               *n = ids.size();
               return true;
             },
             [n, done = std::move(done)](bool ok) { done(ok ? *n : 0); }});
}

std::vector<queue_stats> sqlite_store::stats(const std::vector<std::string>& recipients) {
  std::vector<queue_stats> out;
  eng_.run_sync([&] {
    out.clear();
    for (const auto& r : recipients) {
      auto& s = sel_stats_.reset().bind(1, r);
      queue_stats q;
      q.recipient = r;
      if (s.step() == SQLITE_ROW) {
        q.depth = static_cast<std::uint64_t>(s.i64(0));
        q.oldest_enqueued_ms = s.i64(1);
      }
      s.reset();
      out.push_back(q);
    }
    return true;
  });
  return out;
}

}  // namespace niem::store::sqlite
