// The commit of one record's outcome: its key, documents, queue entries, the record kept for
// replay, facts, observations and audit entries, in the group's transaction.
#include <sys/statvfs.h>

#include <limits>
#include <map>

#include <fmt/format.h>

#include "store/search.h"
#include "store/sqlite/sqlite_store.h"

namespace niem::store::sqlite {

bool sqlite_store::log_message(const record_outcome& r, std::string_view status,
                               std::string_view code) {
  auto& s = ins_message_.reset();
  s.bind(1, r.message_id).bind(2, r.agency).bind(3, r.record_type);
  s.bind_opt(4, r.key);
  s.bind_opt(5, r.exchange);
  s.bind(6, r.received_ms).bind(7, status);
  s.bind_opt(8, code);
  return s.run();
}

bool sqlite_store::below_floor() {
  // Read for every record (one statvfs, about a microsecond): a disk that fills fast is caught
  // by the next record, before SQLite runs out of room.
  {
    std::uint64_t free = 0;
    if (opt_.free_bytes) {
      free = opt_.free_bytes();
    } else {
      struct statvfs v {};
      free = ::statvfs(opt_.locator.c_str(), &v) == 0
                 ? static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize
                 : std::numeric_limits<std::uint64_t>::max();  // unknown: no refusal
    }
    free_bytes_.store(free, std::memory_order_relaxed);
    low_space_ = opt_.min_free_bytes && free < opt_.min_free_bytes;
  }
  if (low_space_)
    writes_.refused(base::errc::store_low_space,
                    fmt::format("the store's file system has {} MB free, below its floor of {} MB",
                                free_bytes_.load() >> 20, opt_.min_free_bytes >> 20));
  return low_space_;
}

bool sqlite_store::apply_record(const record_outcome& r, commit_result& out) {
  // A new record is refused while space is short; what frees space (acknowledgements, retention,
  // expiry) goes on.
  if (below_floor()) return false;
  auto now = clk_.now_ms();
  // A replayed dead letter leaves the dead-letter queue (if it fails again, it comes back in
  // with today's diagnostics).
  if (r.replaces_dead_letter && !del_dead_.reset().bind(1, r.replaces_dead_letter).run())
    return false;
  if (!r.mapped) {
    auto code = base::code_id(r.code);
    auto& s = ins_dead_.reset();
    s.bind(1, r.message_id).bind_null(2).bind(3, r.agency).bind(4, r.record_type);
    s.bind_opt(5, r.exchange);
    s.bind_opt(6, r.key);
    s.bind(7, code).bind(8, r.diagnostics_json).bind(9, r.content_type).bind_blob(10, r.body);
    s.bind(11, now).bind(12, std::int64_t{0});
    if (!s.run() || !log_message(r, message_status::dead_lettered, code)) return false;
    out.what = commit_result::status::dead_lettered;
    return true;
  }
  if (!r.redecision) {
    auto& k = ins_key_.reset();
    k.bind(1, r.agency).bind(2, r.record_type).bind(3, r.key).bind(4, r.message_id);
    if (!k.run()) return false;
  }
  if (!r.redecision && sqlite3_changes(db_) == 0) {
    auto& q = sel_key_.reset();
    q.bind(1, r.agency).bind(2, r.record_type).bind(3, r.key);
    if (q.step() == SQLITE_ROW) out.duplicate_of = q.text(0);
    q.reset();  // an unfinished statement holds a read transaction open (checkpoints wait on it)
    if (!log_message(r, message_status::duplicate, base::code_id(base::errc::record_duplicate_key)))
      return false;
    out.what = commit_result::status::duplicate;
    return true;
  }
  // Store each distinct document once, referenced by every entry that delivers it.
  std::map<const std::string*, std::int64_t> doc_ids;
  std::map<const std::string*, std::int64_t> refs;
  for (const auto& d : r.deliveries) ++refs[d.document.get()];
  for (const auto& [doc, n] : refs) {
    if (!ins_doc_.reset().bind_blob(1, *doc).run()) return false;
    auto id = sqlite3_last_insert_rowid(db_);
    if (!ins_ref_.reset().bind(1, id).bind(2, n).run()) return false;
    doc_ids[doc] = id;
  }
  for (const auto& d : r.deliveries) {
    auto& s = ins_queue_.reset();
    s.bind(1, d.recipient).bind(2, r.message_id).bind(3, r.agency).bind(4, r.key);
    s.bind(5, r.exchange).bind(6, doc_ids[d.document.get()]).bind(7, now).bind(8, r.received_ms);
    s.bind(9, d.consent);
    if (!s.run()) return false;
    queue_entry e;
    e.id = sqlite3_last_insert_rowid(db_);
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
  if (!r.redecision && !r.body.empty()) {
    auto& q = ins_record_.reset();
    q.bind(1, r.message_id).bind(2, r.agency).bind(3, r.record_type).bind(4, r.content_type);
    q.bind_blob(5, r.body).bind(6, r.received_ms);
    if (!q.run()) return false;
  }
  for (const auto& f : r.facts)
    if (!ins_fact_.reset().bind(1, f.kind).bind(2, f.key).bind(3, f.value).run()) return false;
  for (const auto& o : r.observations) {
    auto& q = ins_obs_.reset();
    q.bind(1, o.agreement).bind(2, o.exchange).bind(3, r.key).bind(4, o.day).bind(5, o.fields);
    if (!q.run()) return false;
  }
  if (!log_message(r, routed_status(r), "")) return false;
  for (const auto& a : r.audit)
    if (!append_audit(a, now)) return false;
  for (const auto& t : search::terms(r))
    if (!ins_term_.reset().bind(1, t).bind(2, r.received_ms).bind(3, r.message_id).run())
      return false;
  out.what = commit_result::status::routed;
  return true;
}

void sqlite_store::commit_record(record_outcome rec, std::function<void(commit_result)> done) {
  auto res = std::make_shared<commit_result>();
  auto r = std::make_shared<record_outcome>(std::move(rec));
  eng_.push({[this, r, res] {
               *res = {};
               return apply_record(*r, *res);
             },
             [this, res, done = std::move(done)](bool ok) {
               if (!ok) {
                 res->what = commit_result::status::failed;
                 res->enqueued.clear();
                 res->error = "store write failed";
                 res->code = writes_.failure_code();
               } else {
                 writes_.committed();
               }
               done(std::move(*res));
             }});
}

std::vector<fact_row> sqlite_store::facts() {
  std::vector<fact_row> out;
  // The completion may run on the executor; at start-up there is none yet.
  eng_.run_sync_completed([&] {
    stmt s(db_, "SELECT kind, key, value FROM facts ORDER BY seq");
    while (s && s.step() == SQLITE_ROW) out.push_back({s.text(0), s.text(1), s.text(2)});
    return true;
  });
  return out;
}

}  // namespace niem::store::sqlite
