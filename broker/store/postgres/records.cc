// The commit of one record's outcome, in the group's transaction: its key, documents, queue
// entries (one statement for all recipients), the record kept for replay, facts, observations,
// and its audit entries (one statement).
#include <map>

#include "store/postgres/pg_store.h"

namespace niem::store::postgres {

bool pg_store::log_message(const record_outcome& r, std::string_view status,
                           std::string_view code) {
  params p;
  p.text(r.message_id).text(r.agency).text(r.record_type).opt(r.key).opt(r.exchange);
  p.num(r.received_ms).text(status).opt(code);
  auto res = run("ins_message", p);
  return res.ok() || failed(res, "ins_message");
}

bool pg_store::apply_record(const record_outcome& r, commit_result& out) {
  auto now = clk_.now_ms();
  if (r.replaces_dead_letter) {
    auto d = run("del_dead", params().num(r.replaces_dead_letter));
    if (!d.ok()) return failed(d, "del_dead");
  }
  if (!r.mapped) {
    auto code = base::code_id(r.code);
    params p;
    p.text(r.message_id).opt("").text(r.agency).text(r.record_type).opt(r.exchange).opt(r.key);
    p.text(code).text(r.diagnostics_json).text(r.content_type).binary(r.body).num(now).num(0);
    auto d = run("ins_dead", p);
    if (!d.ok()) return failed(d, "ins_dead");
    if (!log_message(r, "dead_lettered", code)) return false;
    out.what = commit_result::status::dead_lettered;
    return true;
  }
  if (!r.redecision) {
    auto k =
        run("ins_key", params().text(r.agency).text(r.record_type).text(r.key).text(r.message_id));
    if (!k.ok()) return failed(k, "ins_key");
    if (k.affected() == 0) {
      // Accepted before, here or at another replica.
      auto q = run("sel_key", params().text(r.agency).text(r.record_type).text(r.key));
      if (q.ok() && q.rows() == 1) out.duplicate_of = q.text(0, 0);
      if (!log_message(r, "duplicate", base::code_id(base::errc::record_duplicate_key)))
        return false;
      out.what = commit_result::status::duplicate;
      return true;
    }
  }
  // Each distinct document once, referenced by every entry that delivers it.
  std::map<const std::string*, std::int64_t> refs, doc_ids;
  for (const auto& d : r.deliveries) ++refs[d.document.get()];
  for (const auto& [doc, n] : refs) {
    auto res = run("ins_doc", params().binary(*doc).num(n));
    if (!res.ok() || res.rows() != 1) return failed(res, "ins_doc");
    doc_ids[doc] = res.i64(0, 0);
  }
  if (!r.deliveries.empty()) {
    std::vector<std::string_view> recipients, consents;
    std::vector<std::int64_t> docs;
    for (const auto& d : r.deliveries) {
      recipients.push_back(d.recipient);
      consents.push_back(d.consent);
      docs.push_back(doc_ids[d.document.get()]);
    }
    params p;
    p.array(recipients).text(r.message_id).text(r.agency).text(r.key).text(r.exchange);
    p.num(now).num(r.received_ms).array(docs).array(consents);
    auto res = run("ins_queue", p);
    if (!res.ok() || res.rows() != static_cast<int>(r.deliveries.size()))
      return failed(res, "ins_queue");
    std::map<std::string, std::int64_t, std::less<>> ids;
    for (int i = 0; i < res.rows(); ++i) ids[res.text(i, 1)] = res.i64(i, 0);
    for (const auto& d : r.deliveries) {
      queue_entry e;
      e.id = ids[d.recipient];
      e.recipient = d.recipient;
      e.message_id = r.message_id;
      e.source_agency = r.agency;
      e.record_key = r.key;
      e.exchange = r.exchange;
      e.document = d.document;
      e.enqueued_ms = now;
      e.received_ms = r.received_ms;
      e.consent = d.consent;
      out.enqueued.push_back(std::move(e));
    }
    std::sort(out.enqueued.begin(), out.enqueued.end(),
              [](const queue_entry& a, const queue_entry& b) { return a.id < b.id; });
  }
  if (!r.redecision && !r.body.empty()) {
    params p;
    p.text(r.message_id).text(r.agency).text(r.record_type).text(r.content_type);
    p.binary(r.body).num(r.received_ms);
    auto res = run("ins_record", p);
    if (!res.ok()) return failed(res, "ins_record");
  }
  for (const auto& f : r.facts) {
    auto res = run("ins_fact", params().text(f.kind).text(f.key).text(f.value));
    if (!res.ok()) return failed(res, "ins_fact");
  }
  for (const auto& o : r.observations) {
    auto res =
        run("ins_obs",
            params().text(o.agreement).text(o.exchange).text(r.key).text(o.day).text(o.fields));
    if (!res.ok()) return failed(res, "ins_obs");
  }
  if (!log_message(r,
                   r.redecision           ? "replayed"
                   : r.deliveries.empty() ? "routed_to_none"
                                          : "routed",
                   ""))
    return false;
  if (!append_audit(r.audit, now)) return false;
  out.what = commit_result::status::routed;
  return true;
}

void pg_store::commit_record(record_outcome rec, std::function<void(commit_result)> done) {
  auto res = std::make_shared<commit_result>();
  auto r = std::make_shared<record_outcome>(std::move(rec));
  eng_.push({[this, r, res] {
               *res = {};
               return apply_record(*r, *res);
             },
             [res, done = std::move(done)](bool ok) {
               if (!ok) {
                 res->what = commit_result::status::failed;
                 res->enqueued.clear();
                 res->error = "store write failed";
               }
               done(std::move(*res));
             }});
}

std::vector<fact_row> pg_store::facts() {
  std::vector<fact_row> out;
  eng_.run_sync_completed([&] {
    out.clear();
    auto r = conn_.exec("SELECT kind, key, value FROM facts ORDER BY seq");
    if (!r.ok()) return failed(r, "facts");
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2)});
    return true;
  });
  return out;
}

}  // namespace niem::store::postgres
