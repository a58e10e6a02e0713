#include "pipeline/pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/digest.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "oversight/probe.h"
#include "pipeline/catch_up_gate.h"
#include "pipeline/probe.h"
#include "routing/policy.h"

namespace niem::pipeline {

namespace {

std::string_view media_type(std::string_view ct) {
  auto semi = ct.find(';');
  return base::trim(semi == std::string_view::npos ? ct : ct.substr(0, semi));
}

base::diagnostic diag(base::errc code, std::string msg, std::string where = {}) {
  base::diagnostic d;
  d.code = code;
  d.message = std::move(msg);
  d.where = std::move(where);
  return d;
}

// Whether a decision rests on what the consent registry knows: a delivery under a consent, or
// a withholding for want of one.
bool rests_on_consent(const std::vector<routing::decision>& ds) {
  for (const auto& d : ds) {
    if (!d.consent.empty()) return true;
    switch (d.reason) {
      case base::errc::route_no_consent:
      case base::errc::route_consent_revoked:
      case base::errc::route_consent_expired:
      case base::errc::route_category_not_consented:
        return true;
      default:
        break;
    }
  }
  return false;
}

// What the sampling oracle heard: each document counted; a verdict that differs from the compiled
// one logged (without the document's values) and counted like a disagreement of "both". The
// record went its way already: delivered, or dead-lettered where a replay can take it again.
mapping::validation_oracle::listener oracle_listener() {
  mapping::validation_oracle::listener l;
  l.checked = [](const mapping::oracle_sample& s, const validation::validation_report& r) {
    probe().sampled.inc(s.exchange);
    if (r.valid == s.compiled_valid) return;
    probe().disagreements.inc(s.exchange);
    const auto code = std::string(base::code_id(base::errc::xml_validators_disagree));
    if (s.compiled_valid) {
      const auto& d = r.diagnostics.empty() ? base::diagnostic{} : r.diagnostics.front();
      base::log(base::log_level::error, "validation",
                "the sampling oracle (Xerces) found invalid a document the compiled checks "
                "passed; it was delivered",
                {{"code", code},
                 {"exchange", s.exchange},
                 {"mapping", s.mapping_file},
                 {"mapping_version", s.mapping_version},
                 {"message_id", s.tag},
                 {"element", d.field},
                 {"line", std::to_string(d.line)}});
    } else {
      base::log(base::log_level::error, "validation",
                "the sampling oracle (Xerces) found valid a document the compiled checks "
                "refused; the record is in the dead-letter queue for a replay",
                {{"code", code},
                 {"exchange", s.exchange},
                 {"mapping", s.mapping_file},
                 {"mapping_version", s.mapping_version},
                 {"message_id", s.tag},
                 {"field", s.compiled_reason.field},
                 {"reason", s.compiled_reason.message}});
    }
  };
  l.dropped = [](const mapping::oracle_sample& s) { probe().sample_dropped.inc(s.exchange); };
  return l;
}

}  // namespace

bool content_type_matches(mapping::record_format f, std::string_view content_type) {
  auto mt = base::to_lower_ascii(media_type(content_type));
  if (f == mapping::record_format::json) return mt == "application/json";
  return mt == "text/csv" || mt == "text/plain";
}

std::string diagnostics_json(const std::vector<base::diagnostic>& ds) {
  std::string out = "[";
  for (const auto& d : ds) {
    if (out.size() > 1) out += ',';
    out += fmt::format(
        R"({{"code":"{}","name":"{}","message":"{}","where":"{}","field":"{}","line":{},"column":{}}})",
        base::code_id(d.code), base::info(d.code).name, base::json_escape(d.message),
        base::json_escape(d.where), base::json_escape(d.field), d.line, d.column);
  }
  return out + "]";
}

job replay_job(store::replay_source src) {
  job j;
  j.message_id = std::move(src.message_id);
  j.agency = std::move(src.agency);
  j.record_type = std::move(src.record_type);
  j.content_type = std::move(src.content_type);
  j.body = std::move(src.body);
  j.received_ms = src.received_ms;
  j.only_recipient = std::move(src.recipient);
  j.replaces_dead_letter = src.dead_letter_id;
  j.redecision = src.redecision;
  return j;
}

struct pipeline::impl {
  mutable std::mutex rules_mu;  // held only to copy or swap the pointer
  std::shared_ptr<const rules> now;
  store::record_path& st;
  options opt;
  std::mutex mu;
  std::condition_variable cv;
  // A job waiting for a worker, with when it arrived (which catch-ups cover it).
  struct queued {
    job j;
    std::function<void(outcome)> done;
    catch_up_gate::clock::time_point arrived;
    std::function<void()> resume;  // set: a parked record's rest (decide)
  };
  std::deque<queued> queue;
  std::size_t parked = 0;  // records waiting for a catch-up; the workers stop after them
  bool stopping = false;
  std::vector<std::thread> threads;
  std::shared_ptr<mapping::validation_oracle> oracle;
  catch_up_gate caught_up;  // replicas: the catch-ups shared by the records they cover

  impl(std::shared_ptr<const rules> r, store::record_path& s, options o)
      : now(std::move(r)),
        st(s),
        opt(std::move(o)),
        oracle(std::make_shared<mapping::validation_oracle>(opt.oracle, oracle_listener())) {}

  std::shared_ptr<const rules> current() const {
    std::lock_guard lk(rules_mu);
    return now;
  }

  // A worker's converter and validator belong to one set of rules; a swap rebuilds them before
  // the worker's next record.
  struct worker_state {
    std::shared_ptr<const rules> r;
    std::optional<mapping::converter> conv;
    std::optional<validation::validator> own;  // for notices
  };

  void run() {
    worker_state ws;
    for (;;) {
      queued item;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return (stopping && parked == 0) || !queue.empty(); });
        if (queue.empty()) return;
        item = std::move(queue.front());
        queue.pop_front();
      }
      if (item.resume) {
        item.resume();
        continue;
      }
      // The record is decided entirely under the rules current as it starts.
      if (auto r = current(); r != ws.r) {
        ws.conv.emplace(r->lib, opt.record_limits, opt.validation_limits, r->validation,
                        mapping::oracle_hook{oracle, r->loaded_ms});
        ws.own.emplace(r->lib->schemas(), opt.validation_limits);
        ws.r = std::move(r);
      }
      process(ws.r, *ws.conv, *ws.own, std::move(item.j), item.arrived, std::move(item.done));
    }
  }

  // Maps and validates; the record's bytes stay untouched for the dead-letter queue.
  std::vector<base::diagnostic> convert(const rules& r, mapping::converter& conv, const job& j,
                                        mapping::conversion& out, std::string& version) {
    const auto* m = r.lib->find(j.agency, j.record_type);
    if (!m)
      return {diag(base::errc::record_no_mapping,
                   fmt::format("no mapping for {}/{}", j.agency, j.record_type))};
    if (!content_type_matches(m->format(), j.content_type))
      return {
          diag(base::errc::record_bad_content_type,
               fmt::format("content type '{}' does not fit a {} record",
                           base::json_escape(j.content_type),
                           m->format() == mapping::record_format::json ? "JSON" : "delimited"))};
    std::string_view body = j.body;
    if (base::trim(body).empty()) return {diag(base::errc::record_empty, "the message is empty")};
    std::string_view record = body;
    if (m->format() == mapping::record_format::delimited) {
      // The header line, then exactly one record line.
      auto nl = body.find('\n');
      if (nl == std::string_view::npos)
        return {diag(base::errc::record_bad_header,
                     "a delimited record needs the header line, then the record line")};
      auto header = body.substr(0, nl);
      if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
      auto errs = m->check_header(header, "header");
      if (!errs.empty()) return errs;
      record = body.substr(nl + 1);
      while (!record.empty() && (record.back() == '\n' || record.back() == '\r'))
        record.remove_suffix(1);
      if (record.find('\n') != std::string_view::npos)
        return {diag(base::errc::record_bad_value,
                     "one message carries one record: more than one line follows the header")};
    }
    version = m->version();
    auto c = conv.convert(*m, record, "record", j.message_id);
    if (!c) {
      if (c.errors().front().code == base::errc::xml_validators_disagree) {
        // A defect of one of the two validators: counted and logged (without the record's
        // values) beside the dead letter that keeps the record for a replay.
        probe().disagreements.inc(m->exchange());
        base::log(base::log_level::error, "validation",
                  "the compiled checker and Xerces disagree on a document",
                  {{"code", std::string(base::code_id(base::errc::xml_validators_disagree))},
                   {"exchange", m->exchange()},
                   {"mapping", m->file()},
                   {"mapping_version", m->version()},
                   {"message_id", j.message_id}});
      }
      return c.errors();
    }
    out = std::move(c.value());
    return {};
  }

  // A notice of the medication check: a document the broker wrote, checked like any other
  // before it goes anywhere; its key is the notice's id.
  std::vector<base::diagnostic> accept_notice(validation::validator& own, const job& j,
                                              mapping::conversion& c) {
    auto errs = opt.oversight->accept_notice(own, j.body, c.key);
    if (!errs.empty()) return errs;
    c.exchange = opt.oversight->exchange();
    c.document = j.body;
    return {};
  }

  void enqueue(job j, std::function<void(outcome)> done) {
    {
      std::lock_guard lk(mu);
      queue.push_back({std::move(j), std::move(done), catch_up_gate::clock::now(), {}});
    }
    cv.notify_one();
  }

  // The check's notices (k_fact_notice facts: id and document) as jobs of their own: each
  // committed under its key, its queue entries offered for delivery.
  void notices(std::vector<oversight::medication::check_fact> ns) {
    for (auto& n : ns) {
      job j;
      j.message_id = base::new_message_id(base::default_clock().now_ms());
      j.agency = opt.oversight->sender();
      j.record_type = opt.oversight->exchange();
      j.content_type = "application/xml";
      j.received_ms = base::default_clock().now_ms();
      j.body = std::move(n.value);
      enqueue(std::move(j), [offer = opt.offer, id = std::move(n.key)](outcome o) {
        if (o.what == outcome::status::accepted) {
          base::log(base::log_level::info, "medication", "notice committed",
                    {{"notice", id}, {"deliveries", std::to_string(o.enqueued.size())}});
          if (offer && !o.enqueued.empty()) offer(std::move(o.enqueued));
        } else if (o.what != outcome::status::duplicate) {
          // Owed still: sent again at the next start (check::outstanding).
          base::log(base::log_level::error, "medication", "notice not stored",
                    {{"notice", id}, {"code", std::string(base::code_id(o.code))}});
        }
      });
    }
  }

  // What one record becomes on its way to the store, and what its commit's answer needs.
  struct record_work {
    store::record_outcome rec;
    std::string mapping_version;
    std::string detail;  // for the publisher, when refused
    std::vector<routing::decision> withheld;
    std::vector<routing::fact> learned;
    std::vector<routing::observation> counted;
    oversight::record_part checked;  // the medication check's part
    catch_up_gate::clock::time_point arrived;
  };

  static store::record_outcome start_outcome(const job& j) {
    store::record_outcome rec;
    rec.message_id = j.message_id;
    rec.agency = j.agency;
    rec.record_type = j.record_type;
    rec.content_type = j.content_type;
    rec.received_ms = j.received_ms;
    rec.replaces_dead_letter = j.replaces_dead_letter;
    rec.redecision = j.redecision;
    return rec;
  }

  // An accepted record that no longer maps (its mapping changed since): nothing changes; the
  // operator is told why.
  static void fail_redecision(const job& j, const std::vector<base::diagnostic>& errs,
                              const std::function<void(outcome)>& done) {
    outcome o;
    o.what = outcome::status::failed;
    o.message_id = j.message_id;
    o.code = errs.front().code;
    o.detail = base::format(errs.front());
    done(std::move(o));
  }

  // A record that does not map or validate: dead-lettered with its diagnostics, its bytes kept
  // for a replay after a mapping fix.
  static void refuse(record_work& w, const std::vector<base::diagnostic>& errs, std::string body,
                     std::string key) {
    w.rec.mapped = false;
    w.rec.code = errs.front().code;
    w.rec.diagnostics_json = diagnostics_json(errs);
    w.rec.key = std::move(key);
    for (const auto& d : errs) {
      if (w.detail.size() > 2000) break;
      if (!w.detail.empty()) w.detail += "; ";
      w.detail += base::format(d);
    }
    w.rec.body = std::move(body);
  }

  // A record decided once, waiting on replicas for a catch-up before the rest of its steps.
  struct routed_work {
    std::shared_ptr<const rules> rs;
    record_work w;
    job j;
    std::shared_ptr<const std::string> doc;  // the new document
    std::vector<routing::decision> decisions;
    bool notice = false;
    std::function<void(outcome)> done;
  };

  // The router's decisions, then the rest. Replicas: a consent, a revocation, an identity link,
  // an order or an application another broker committed before this record arrived may not have
  // reached this one yet. When a decision rests on the consent registry, or the medication check
  // reads the document, everything committed so far is learned first (store::catch_up_facts): a
  // consent committed before the record is never missed, and the check decides as one broker
  // would (docs/ARCHITECTURE.md). The worker does not wait for the database: the record is parked
  // and a worker takes it up again once the catch-up answers, so the records that arrive
  // meanwhile share the next read. A catch-up that began after the record arrived and has
  // answered covers it already (catch_up_gate).
  void decide(routed_work r) {
    auto& w = r.w;
    // Asked before routing: a catch-up that answers while the router decides covers the record
    // but came too late for this decision.
    const bool covered = caught_up.covered(w.arrived);
    r.decisions = route(r);
    const bool consent = rests_on_consent(r.decisions);
    const bool check = opt.oversight && !r.j.redecision && !r.notice &&
                       opt.oversight->wants(w.rec.exchange, *r.doc);
    if (!st.shared() || covered || !(consent || check)) return finish(std::move(r), true);
    auto start = caught_up.start();
    auto parked_work = std::make_shared<routed_work>(std::move(r));
    {
      std::lock_guard lk(mu);
      ++parked;
    }
    st.catch_up_facts([this, parked_work, start, consent](bool ok) {
      if (ok) caught_up.answered(start);
      resume([this, parked_work, ok, consent] {
        auto& p = *parked_work;
        if (ok && consent) {
          p.w.learned.clear();
          p.w.counted.clear();
          p.decisions = route(p);
        }
        finish(std::move(p), ok);
      });
    });
  }

  std::vector<routing::decision> route(routed_work& r) {
    auto* learned = r.j.redecision ? nullptr : &r.w.learned;
    auto* counted = r.j.redecision ? nullptr : &r.w.counted;
    // The views into the record's fields are taken here: a parked record moves.
    const auto& rec = r.w.rec;
    routing::routed_document rd{rec.message_id, rec.agency,   rec.record_type,
                                rec.key,        rec.exchange, r.doc};
    return r.rs->router->route(rd, learned, counted);
  }

  // A parked record's rest, on the next free worker.
  void resume(std::function<void()> rest) {
    bool stopping_now = false;
    {
      std::lock_guard lk(mu);
      --parked;
      queue.push_front({{}, {}, {}, std::move(rest)});
      stopping_now = stopping;
    }
    // Stopping, the workers that found nothing to do wait for this one: with it taken, they stop.
    if (stopping_now)
      cv.notify_all();
    else
      cv.notify_one();
  }

  // The medication check's part of a new document; `learned_all`: false when the other replicas'
  // facts could not be read first.
  void oversee(record_work& w, const std::string& doc, bool learned_all) {
    auto& ov = *opt.oversight;
    if (!learned_all)
      base::log(base::log_level::warn, "medication",
                "decided without the other replicas' latest facts (the store could not read them)",
                {{"message_id", w.rec.message_id}});
    w.checked = ov.observe(w.rec.exchange, doc, w.learned);
    for (auto& f : w.checked.facts)
      w.rec.facts.push_back({std::move(f.kind), std::move(f.key), std::move(f.value)});
    w.checked.facts.clear();
  }

  // A replay for one recipient: only its decision is taken again (and audited).
  static void keep_only(std::vector<routing::decision>& decisions, const std::string& recipient) {
    std::erase_if(decisions, [&](const routing::decision& d) { return d.recipient != recipient; });
    if (decisions.empty()) {
      routing::decision d;
      d.recipient = recipient;
      d.reason = base::errc::route_no_subscriber;
      decisions.push_back(std::move(d));
    }
  }

  // Every decision goes to the audit trail with the queue entries, in one transaction.
  static void audit(record_work& w, const std::vector<routing::decision>& decisions) {
    auto& rec = w.rec;
    std::unordered_map<const std::string*, std::string> digests;
    for (const auto& d : decisions) {
      store::audit_entry a;
      a.message_id = rec.message_id;
      a.record_key = rec.key;
      a.provider = rec.agency;
      a.exchange = rec.exchange;
      a.recipient = d.recipient;
      a.agreement = d.agreement;
      a.mapping_version = w.mapping_version;
      a.agreement_version = d.agreement_version;
      a.purpose = d.purpose;
      a.consent = d.consent;
      a.decision = d.deliver ? "deliver" : "withhold";
      if (!d.deliver) a.reason = std::string(base::code_id(d.reason));
      for (const auto& p : d.disclosed) a.paths += (a.paths.empty() ? "" : " ") + p;
      if (d.deliver && d.document) {
        auto& dg = digests[d.document.get()];
        if (dg.empty()) dg = base::sha256_hex(*d.document);
        a.digest = dg;
      }
      a.subjects = d.subjects;
      rec.audit.push_back(std::move(a));
    }
  }

  // Deliveries to queue, decisions against kept for the publisher's outcome, the router's facts
  // and the aggregate reports' observations into the transaction.
  static void collect(record_work& w, std::vector<routing::decision> decisions) {
    for (auto& d : decisions) {
      if (d.deliver)
        w.rec.deliveries.push_back({d.recipient, d.document, d.consent});
      else
        w.withheld.push_back(std::move(d));
    }
    for (const auto& f : w.learned) w.rec.facts.push_back({f.kind, f.key, f.value});
    for (const auto& o : w.counted)
      w.rec.observations.push_back(
          {o.agreement, o.exchange, w.rec.key, o.day, routing::encode_fields(o.fields)});
  }

  // The steps of a record: decode (map and validate, or accept a notice), or refuse; decide per
  // recipient; the medication check's part; audit; commit. The publisher hears after the commit.
  void process(std::shared_ptr<const rules> rs, mapping::converter& conv,
               validation::validator& own, job j, catch_up_gate::clock::time_point arrived,
               std::function<void(outcome)> done) {
    record_work w;
    w.rec = start_outcome(j);
    w.arrived = arrived;
    mapping::conversion c;
    const bool notice = opt.oversight && opt.oversight->is_notice(j.agency, j.record_type);
    auto errs = notice ? accept_notice(own, j, c) : convert(*rs, conv, j, c, w.mapping_version);
    if (!errs.empty() && j.redecision) return fail_redecision(j, errs, done);
    if (!errs.empty()) {
      refuse(w, errs, std::move(j.body), c.key);
    } else {
      w.rec.mapped = true;
      w.rec.key = c.key;
      w.rec.exchange = c.exchange;
      auto doc = std::make_shared<const std::string>(std::move(c.document));
      return decide(
          {std::move(rs), std::move(w), std::move(j), std::move(doc), {}, notice, std::move(done)});
    }
    commit(std::move(rs), std::move(w), std::move(done));
  }

  // A decided record's check, audit and commit; `learned_all`: false when a catch-up it needed
  // could not read the other replicas' facts.
  void finish(routed_work r, bool learned_all) {
    auto& w = r.w;
    auto& j = r.j;
    if (opt.oversight && !j.redecision && !r.notice) oversee(w, *r.doc, learned_all);
    // A notice's own record marks it sent (in the same transaction as its key).
    if (r.notice) {
      auto s = opt.oversight->sent(w.rec.key);
      w.rec.facts.push_back({std::move(s.kind), std::move(s.key), std::move(s.value)});
    }
    if (!j.only_recipient.empty()) keep_only(r.decisions, j.only_recipient);
    audit(w, r.decisions);
    collect(w, std::move(r.decisions));
    // Kept (for the delivery time-to-live) so that a decision can be taken again.
    if (!j.redecision) w.rec.body = std::move(j.body);
    commit(std::move(r.rs), std::move(w), std::move(r.done));
  }

  // What the store's answer needs of a record sent to it.
  struct sent_record {
    std::string message_id, agency, record_type;
    base::errc code = base::errc::ok;  // the refusal's, when dead-lettered
    std::string detail;
    std::vector<routing::decision> withheld;
    std::vector<routing::fact> learned;
    oversight::record_part checked;
  };

  void commit(std::shared_ptr<const rules> rs, record_work w, std::function<void(outcome)> done) {
    sent_record s{w.rec.message_id,     w.rec.agency,        w.rec.record_type,
                  w.rec.code,           std::move(w.detail), std::move(w.withheld),
                  std::move(w.learned), std::move(w.checked)};
    st.commit_record(std::move(w.rec),
                     [this, rs = std::move(rs), done = std::move(done), s = std::move(s)](
                         store::commit_result cr) mutable { done(answer(*rs, cr, std::move(s))); });
  }

  // The store's answer becomes the publisher's outcome. Only a committed record teaches the
  // router and sends the check's notices; one the store did not keep has the check's changes
  // undone, so that the record sent again is checked again (and its notices raised then).
  outcome answer(const rules& rs, store::commit_result& cr, sent_record s) {
    const bool stored = cr.what == store::commit_result::status::routed;
    if (opt.oversight) opt.oversight->settle(s.checked, stored);
    outcome o;
    o.message_id = std::move(s.message_id);
    o.agency = std::move(s.agency);
    o.record_type = std::move(s.record_type);
    o.withheld = std::move(s.withheld);
    switch (cr.what) {
      case store::commit_result::status::routed:
        // Durable now: later decisions may rely on it.
        if (!s.learned.empty()) rs.router->learn(s.learned);
        // The check's state that raised these is committed: the notices follow.
        if (!s.checked.notices.empty()) notices(std::move(s.checked.notices));
        for (const auto& wh : o.withheld)
          if (!wh.recipient.empty()) probe().withheld.add({wh.recipient, base::code_id(wh.reason)});
        o.what = outcome::status::accepted;
        o.enqueued = std::move(cr.enqueued);
        break;
      case store::commit_result::status::duplicate:
        o.what = outcome::status::duplicate;
        o.code = base::errc::record_duplicate_key;
        break;
      case store::commit_result::status::dead_lettered:
        probe().rejected.inc(base::code_id(s.code));
        probe().dead_lettered.inc(base::code_id(s.code));
        o.what = outcome::status::dead_lettered;
        o.code = s.code;
        o.detail = std::move(s.detail);
        break;
      case store::commit_result::status::failed:
        o.what = outcome::status::failed;
        o.code = cr.code == base::errc::ok ? base::errc::store_unavailable : cr.code;
        break;
    }
    return o;
  }
};

std::string content_hash(const rules& r) {
  std::vector<std::string> lines;
  for (const auto& m : r.lib->mappings())
    lines.push_back(fmt::format("mapping {}/{} {}", m->agency(), m->record_type(), m->version()));
  for (const auto& a : r.agreements)
    lines.push_back(fmt::format("agreement {} {}", a->label(), a->content_version));
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  return base::content_version(all);
}

std::shared_ptr<const rules> make_rules(std::shared_ptr<const mapping::mapping_library> lib,
                                        std::shared_ptr<const routing::router> router,
                                        mapping::validation_policy validation) {
  auto r = std::make_shared<rules>();
  r->lib = std::move(lib);
  r->validation = std::move(validation);
  if (auto p = std::dynamic_pointer_cast<const routing::policy_router>(router))
    r->agreements = p->agreements();
  r->router = std::move(router);
  return r;
}

pipeline::pipeline(std::shared_ptr<const mapping::mapping_library> lib,
                   std::shared_ptr<const routing::router> router, store::record_path& st,
                   options opt)
    : pipeline(make_rules(std::move(lib), std::move(router)), st, std::move(opt)) {}

pipeline::pipeline(std::shared_ptr<const rules> r, store::record_path& st, options opt)
    : impl_(std::make_unique<impl>(std::move(r), st, std::move(opt))) {
  // Their families are rendered from the start, at zero.
  (void)probe();
  (void)oversight::probe();
  for (std::uint32_t i = 0; i < std::max(1u, impl_->opt.workers); ++i)
    impl_->threads.emplace_back([this] { impl_->run(); });
}

pipeline::~pipeline() {
  stop();
}

std::shared_ptr<const rules> pipeline::current() const {
  return impl_->current();
}

void pipeline::swap(std::shared_ptr<const rules> next) {
  std::lock_guard lk(impl_->rules_mu);
  impl_->now = std::move(next);
}

void pipeline::submit(job j, std::function<void(outcome)> done) {
  impl_->enqueue(std::move(j), std::move(done));
}

void pipeline::submit_notices(std::vector<oversight::medication::check_fact> notices) {
  impl_->notices(std::move(notices));
}

void pipeline::settle_samples() {
  impl_->oracle->drain();
}

void pipeline::stop() {
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopping && impl_->threads.empty()) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

}  // namespace niem::pipeline
