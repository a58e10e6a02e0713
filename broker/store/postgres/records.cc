// The commit of records' outcomes: key, documents with their queue entries (one statement per
// distinct document), the record kept for replay, facts, observations, the message log and the
// audit entries. A group's records (and acknowledgements) go in two pipelined round trips (the
// keys, then the rest), the first asked with the transaction's begin (schema.cc): three round
// trips in all with the commit. A record applied alone (after a failed group) goes statement by
// statement.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "base/log.h"
#include "store/postgres/pg_store.h"
#include "store/search.h"

namespace niem::store::postgres {

namespace {

// The deliveries that share one document, in the order the document first appears.
struct doc_group {
  const std::shared_ptr<const std::string>* doc = nullptr;
  std::vector<std::string_view> recipients, consents;
};

std::vector<doc_group> group_by_document(const record_outcome& r) {
  std::vector<doc_group> out;
  for (const auto& d : r.deliveries) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const doc_group& g) { return g.doc->get() == d.document.get(); });
    if (it == out.end()) it = out.insert(out.end(), doc_group{&d.document, {}, {}});
    it->recipients.push_back(d.recipient);
    it->consents.push_back(d.consent);
  }
  return out;
}

params doc_queue_params(const record_outcome& r, const doc_group& g, std::int64_t now) {
  params p;
  p.binary(**g.doc).array(g.recipients).text(r.message_id).text(r.agency).text(r.key);
  p.text(r.exchange).num(now).num(r.received_ms).array(g.consents);
  return p;
}

// The queue entry `id` a statement created for `recipient`, to the record's result for the
// transport; false when the record has no delivery to that recipient.
bool take_entry(const record_outcome& r, std::string recipient, std::int64_t id, std::int64_t now,
                commit_result& out) {
  auto d =
      std::find_if(r.deliveries.begin(), r.deliveries.end(),
                   [&](const record_outcome::delivery& x) { return x.recipient == recipient; });
  if (d == r.deliveries.end()) return false;
  queue_entry e;
  e.id = id;
  e.recipient = std::move(recipient);
  e.message_id = r.message_id;
  e.source_agency = r.agency;
  e.record_key = r.key;
  e.exchange = r.exchange;
  e.document = d->document;
  e.enqueued_ms = now;
  e.received_ms = r.received_ms;
  e.consent = d->consent;
  out.enqueued.push_back(std::move(e));
  return true;
}

// The entries a doc_queue statement created.
bool take_entries(const result& res, const record_outcome& r, const doc_group& g, std::int64_t now,
                  commit_result& out) {
  if (res.rows() != static_cast<int>(g.recipients.size())) return false;
  for (int i = 0; i < res.rows(); ++i)
    if (!take_entry(r, res.text(i, 1), res.i64(i, 0), now, out)) return false;
  return true;
}

// A group's documents and queue entries, written by one ins_docs_queue statement.
struct staged_docs {
  std::vector<std::string_view> bodies;
  std::vector<std::int64_t> doc_n, received;  // per entry: its document (1-based), the record's
  std::vector<std::string_view> recipient, message, agency, key, exchange, consent;
  std::unordered_map<std::string_view, record_job*> jobs;  // by message id
  bool ambiguous = false;  // one message id twice (a replay sent twice): each goes alone

  void add(record_job& job) {
    const auto& r = job.rec;
    ambiguous |= !jobs.emplace(r.message_id, &job).second;
    for (const auto& g : group_by_document(r)) {
      bodies.push_back(**g.doc);
      for (std::size_t i = 0; i < g.recipients.size(); ++i) {
        doc_n.push_back(static_cast<std::int64_t>(bodies.size()));
        recipient.push_back(g.recipients[i]);
        consent.push_back(g.consents[i]);
        message.push_back(r.message_id);
        agency.push_back(r.agency);
        key.push_back(r.key);
        exchange.push_back(r.exchange);
        received.push_back(r.received_ms);
      }
    }
  }

  void add_to(pipeline_batch& rest, std::int64_t now) {
    if (recipient.empty()) return;
    rest.add("ins_docs_queue",
             params()
                 .bytea_array(bodies)
                 .array(doc_n)
                 .array(recipient)
                 .array(message)
                 .array(agency)
                 .array(key)
                 .array(exchange)
                 .array(received)
                 .num(now)
                 .array(consent),
             [this, now](const result& res) { return take(res, now); });
  }

  // The entries created, each to its record's result for the transport.
  bool take(const result& res, std::int64_t now) {
    if (ambiguous || res.rows() != static_cast<int>(recipient.size())) return false;
    for (int i = 0; i < res.rows(); ++i) {
      auto it = jobs.find(res.text(i, 2));
      if (it == jobs.end()) return false;
      auto& job = *it->second;
      if (!take_entry(job.rec, res.text(i, 1), res.i64(i, 0), now, job.res)) return false;
    }
    return true;
  }
};

// The recipients to notify at the commit.
void note(std::set<std::string, std::less<>>& notify, const commit_result& out) {
  for (const auto& e : out.enqueued) notify.insert(e.recipient);
}

params message_params(const record_outcome& r, std::string_view status, std::string_view code) {
  params p;
  p.text(r.message_id).text(r.agency).text(r.record_type).opt(r.key).opt(r.exchange);
  p.num(r.received_ms).text(status).opt(code);
  return p;
}

params dead_params(const record_outcome& r, std::int64_t now) {
  params p;
  p.text(r.message_id).opt("").text(r.agency).text(r.record_type).opt(r.exchange).opt(r.key);
  p.text(base::code_id(r.code)).text(r.diagnostics_json).text(r.content_type).binary(r.body);
  p.num(now).num(0);
  return p;
}

params record_params(const record_outcome& r) {
  params p;
  p.text(r.message_id).text(r.agency).text(r.record_type).text(r.content_type);
  p.binary(r.body).num(r.received_ms);
  return p;
}

void sort_entries(commit_result& out) {
  std::sort(out.enqueued.begin(), out.enqueued.end(),
            [](const queue_entry& a, const queue_entry& b) { return a.id < b.id; });
}

}  // namespace

bool pipeline_batch::run(connection& c) {
  constexpr std::size_t k_chunk = 128;
  if (items_.empty()) return true;
  if (!c.enter_pipeline()) return false;
  bool good = true;
  for (std::size_t from = 0; good && from < items_.size(); from += k_chunk) {
    auto to = std::min(items_.size(), from + k_chunk);
    std::size_t sent = 0;
    for (auto i = from; i < to && good; ++i, ++sent)
      good = c.send(items_[i].name, items_[i].p, items_[i].binary, items_[i].sql);
    auto results = c.collect(sent);
    for (std::size_t k = 0; k < results.size(); ++k) {
      const auto& it = items_[from + k];
      if (!results[k].ok()) {
        if (good) {
          log_failure(it.name, results[k]);
          failure_ = classify(results[k]);
        }
        good = false;
        continue;
      }
      if (good && it.on && !it.on(results[k])) good = false;
    }
  }
  c.exit_pipeline();
  return good;
}

namespace {

record_job& job_of(std::vector<op>& batch, std::size_t i) {
  return *static_cast<record_job*>(batch[i].data.get());
}

// The rows of one kind from every record of a group, each kind written by one statement.
struct staged_rows {
  struct {
    std::vector<std::string_view> id, agency, type, key, exchange, status, code;
    std::vector<std::int64_t> received;
    void add(const record_outcome& r, std::string_view st, std::string_view c) {
      id.push_back(r.message_id);
      agency.push_back(r.agency);
      type.push_back(r.record_type);
      key.push_back(r.key);
      exchange.push_back(r.exchange);
      received.push_back(r.received_ms);
      status.push_back(st);
      code.push_back(c);
    }
  } messages;
  std::vector<std::string_view> fact_kind, fact_key, fact_value;
  std::vector<std::string_view> obs_agreement, obs_exchange, obs_key, obs_day, obs_fields;
  std::vector<audit_entry> audit;
  std::vector<std::string> term_text;
  std::vector<std::int64_t> term_received;
  std::vector<std::string_view> term_message;
  std::vector<std::int64_t> acks;

  // A routed record's facts, observations, message row, search terms and audit entries.
  void add_routed(const record_outcome& r) {
    for (const auto& f : r.facts) {
      fact_kind.push_back(f.kind);
      fact_key.push_back(f.key);
      fact_value.push_back(f.value);
    }
    for (const auto& o : r.observations) {
      obs_agreement.push_back(o.agreement);
      obs_exchange.push_back(o.exchange);
      obs_key.push_back(r.key);
      obs_day.push_back(o.day);
      obs_fields.push_back(o.fields);
    }
    messages.add(r, routed_status(r), "");
    for (auto& t : search::terms(r)) {
      term_text.push_back(std::move(t));
      term_received.push_back(r.received_ms);
      term_message.push_back(r.message_id);
    }
    audit.insert(audit.end(), r.audit.begin(), r.audit.end());
  }

  // `audit`: the audit entries' parameters (the store numbers and chains them).
  template <class Audit>
  void add_to(pipeline_batch& rest, std::int64_t now, Audit&& audit_rows) {
    if (!messages.id.empty())
      rest.add("ins_messages", params()
                                   .array(messages.id)
                                   .array(messages.agency)
                                   .array(messages.type)
                                   .array_opt(messages.key)
                                   .array_opt(messages.exchange)
                                   .array(messages.received)
                                   .array(messages.status)
                                   .array_opt(messages.code));
    if (!fact_kind.empty())
      rest.add("ins_facts", params().array(fact_kind).array(fact_key).array(fact_value));
    if (!obs_key.empty())
      rest.add("ins_observations", params()
                                       .array(obs_agreement)
                                       .array(obs_exchange)
                                       .array(obs_key)
                                       .array(obs_day)
                                       .array(obs_fields));
    if (!audit.empty()) rest.add("ins_audit", audit_rows(audit));
    if (!term_text.empty()) {
      std::vector<std::string_view> terms(term_text.begin(), term_text.end());
      rest.add("ins_terms", params().array(terms).array(term_received).array(term_message));
    }
    if (!acks.empty()) rest.add("acks", params().array(acks).num(now));
  }
};

}  // namespace

// Which keys are new (here or at another replica), all in one statement, added to `b` (the
// transaction's begin, or a round trip of its own).
void pg_store::add_keys(pipeline_batch& b, std::vector<op>& batch, std::size_t from, std::size_t to,
                        std::set<std::string, std::less<>>& fresh) {
  std::vector<std::string_view> agencies, types, keys, ids;
  for (auto i = from; i < to; ++i) {
    if (batch[i].kind != k_staged_record) continue;
    auto& job = job_of(batch, i);
    job.res = {};
    const auto& r = job.rec;
    if (!r.mapped || r.redecision) continue;
    agencies.push_back(r.agency);
    types.push_back(r.record_type);
    keys.push_back(r.key);
    ids.push_back(r.message_id);
  }
  if (ids.empty()) return;
  b.add("ins_keys", params().array(agencies).array(types).array(keys).array(ids),
        [&fresh](const result& res) {
          for (int k = 0; k < res.rows(); ++k) fresh.insert(res.text(k, 0));
          return true;
        });
}

bool pg_store::run_staged(std::vector<op>& batch, std::size_t from, std::size_t to,
                          std::vector<char>& ok, std::set<std::string, std::less<>>& fresh,
                          bool keys_known) {
  auto now = clk_.now_ms();
  if (!keys_known) {
    pipeline_batch first;
    add_keys(first, batch, from, to, fresh);
    if (!first.run(conn_)) return refused(first.failure(), "a record's statements failed");
  }
  // Round trip 2: everything else. Rows of one kind go in one statement, in op order; what
  // needs a record's own result (its documents' entries, a duplicate's first message) goes alone.
  pipeline_batch rest;
  staged_rows rows;
  staged_docs docs;
  for (auto i = from; i < to; ++i) {
    if (batch[i].kind == k_staged_ack) {
      rows.acks.push_back(*static_cast<std::int64_t*>(batch[i].data.get()));
      continue;
    }
    auto& job = job_of(batch, i);
    const auto& r = job.rec;
    auto& out = job.res;
    if (r.replaces_dead_letter) rest.add("del_dead", params().num(r.replaces_dead_letter));
    if (!r.mapped) {
      rest.add("ins_dead", dead_params(r, now));
      rows.messages.add(r, message_status::dead_lettered, base::code_id(r.code));
      out.what = commit_result::status::dead_lettered;
      continue;
    }
    if (!r.redecision && !fresh.count(r.message_id)) {
      rest.add("sel_key", params().text(r.agency).text(r.record_type).text(r.key),
               [&out](const result& res) {
                 if (res.rows() == 1) out.duplicate_of = res.text(0, 0);
                 return true;
               });
      rows.messages.add(r, message_status::duplicate,
                        base::code_id(base::errc::record_duplicate_key));
      out.what = commit_result::status::duplicate;
      continue;
    }
    docs.add(job);
    if (!r.redecision && !r.body.empty()) rest.add("ins_record", record_params(r));
    if (!r.facts.empty()) facts_changed_ = true;
    rows.add_routed(r);
    out.what = commit_result::status::routed;
  }
  docs.add_to(rest, now);
  rows.add_to(rest, now, [&](std::vector<audit_entry>& a) { return audit_params(a, now); });
  if (!rest.run(conn_)) return refused(rest.failure(), "a record's statements failed");
  for (auto i = from; i < to; ++i) {
    if (batch[i].kind == k_staged_record) {
      auto& res = job_of(batch, i).res;
      sort_entries(res);
      note(notify_, res);
    }
    ok[i] = 1;
  }
  return true;
}

bool pg_store::apply_record(const record_outcome& r, commit_result& out) {
  auto now = clk_.now_ms();
  auto step = [&](const char* name, const params& p) {
    auto res = run(name, p);
    return res.ok() || failed(res, name);
  };
  if (r.replaces_dead_letter && !step("del_dead", params().num(r.replaces_dead_letter)))
    return false;
  if (!r.mapped) {
    if (!step("ins_dead", dead_params(r, now)) ||
        !step("ins_message",
              message_params(r, message_status::dead_lettered, base::code_id(r.code))))
      return false;
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
      if (!step("ins_message", message_params(r, message_status::duplicate,
                                              base::code_id(base::errc::record_duplicate_key))))
        return false;
      out.what = commit_result::status::duplicate;
      return true;
    }
  }
  for (auto& g : group_by_document(r)) {
    auto res = run("ins_doc_queue", doc_queue_params(r, g, now));
    if (!res.ok()) return failed(res, "ins_doc_queue");
    if (!take_entries(res, r, g, now, out)) return false;
  }
  sort_entries(out);
  note(notify_, out);
  if (!r.redecision && !r.body.empty() && !step("ins_record", record_params(r))) return false;
  for (const auto& f : r.facts)
    if (!step("ins_fact", params().text(f.kind).text(f.key).text(f.value))) return false;
  if (!r.facts.empty()) facts_changed_ = true;
  for (const auto& o : r.observations)
    if (!step("ins_obs",
              params().text(o.agreement).text(o.exchange).text(r.key).text(o.day).text(o.fields)))
      return false;
  if (!step("ins_message", message_params(r, routed_status(r), ""))) return false;
  if (!append_audit(r.audit, now)) return false;
  auto term_text = search::terms(r);
  if (!term_text.empty()) {
    std::vector<std::string_view> terms(term_text.begin(), term_text.end());
    std::vector<std::int64_t> received(terms.size(), r.received_ms);
    std::vector<std::string_view> ids(terms.size(), r.message_id);
    if (!step("ins_terms", params().array(terms).array(received).array(ids))) return false;
  }
  out.what = commit_result::status::routed;
  return true;
}

void pg_store::commit_record(record_outcome rec, std::function<void(commit_result)> done) {
  auto job = std::make_shared<record_job>();
  job->rec = std::move(rec);
  op o{[this, job] {
         job->res = {};
         return apply_record(job->rec, job->res);
       },
       [this, job, done = std::move(done)](bool ok) {
         if (!ok) {
           job->res.what = commit_result::status::failed;
           job->res.enqueued.clear();
           job->res.error = "store write failed";
           job->res.code = writes_.failure_code();
         } else {
           writes_.committed();
         }
         done(std::move(job->res));
       }};
  o.kind = k_staged_record;
  o.data = job;
  eng_.push(std::move(o));
}

std::vector<fact_row> pg_store::facts() {
  std::vector<fact_row> out;
  if (opt_.read_only) {
    // A tool (niem-dsa explain --claim): the engine's write transaction takes the audit head
    // FOR UPDATE, which a read-only session may not; one SELECT on a reader is a snapshot.
    connection c;
    std::string err;
    if (!open_reader(c, err)) {
      base::log(base::log_level::error, "store", "facts cannot be read", {{"error", err}});
      return out;
    }
    auto r = c.exec("SELECT kind, key, value FROM facts ORDER BY seq");
    if (!r.ok()) {
      failed(r, "facts");
      return out;
    }
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2)});
    return out;
  }
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
