#include "oversight/medication_check.h"

#include "base/log.h"
#include "oversight/probe.h"
#include "routing/policy.h"  // utc_date

#include <algorithm>
#include <set>

namespace niem::oversight::medication {

namespace {

// Field and list separators of a kept claim: control characters XML 1.0 text cannot hold, so no
// value of a validated document contains them.
constexpr char k_field = '\x1f';
constexpr char k_item = '\x1e';

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  while (true) {
    auto at = s.find(sep, from);
    out.push_back(
        s.substr(from, at == std::string_view::npos ? std::string_view::npos : at - from));
    if (at == std::string_view::npos) break;
    from = at + 1;
  }
  return out;
}

std::optional<outcome> outcome_named(std::string_view name) {
  for (auto o : {outcome::authorized, outcome::pending_application, outcome::over_maximum_dose,
                 outcome::denied, outcome::authorization_expired, outcome::no_authorization,
                 outcome::unlinked_child})
    if (outcome_name(o) == name) return o;
  return std::nullopt;
}

// A placement event as one fact value, and back.
std::string encode_placement(const placement_event& e) {
  std::string out;
  for (const auto* f : {&e.client, &e.person, &e.county, &e.placement, &e.begin, &e.end}) {
    if (f != &e.client) out += k_field;
    out += *f;
  }
  return out;
}

std::optional<placement_event> decode_placement(std::string_view text) {
  auto f = split(text, k_field);
  if (f.size() != 6) return std::nullopt;
  return placement_event{std::string(f[0]), std::string(f[1]), std::string(f[2]),
                         std::string(f[3]), std::string(f[4]), std::string(f[5])};
}

// A claim stays while something may still change for it: pending on an application, or an alert
// that a later order or link may resolve.
bool keep(const claim_state& s) {
  return s.last == outcome::pending_application ||
         std::any_of(s.alerts.begin(), s.alerts.end(),
                     [](const claim_state::alert& a) { return !a.resolved; });
}

}  // namespace

std::string alert_id(const std::string& claim_id, outcome o) {
  return "MAE-" + claim_id + "-" + std::string(outcome_name(o));
}

std::string resolution_id(const std::string& claim_id, outcome o) {
  return alert_id(claim_id, o) + "-RESOLVED";
}

std::string encode_claim_state(const claim_state& s) {
  const auto& c = s.c;
  std::string out;
  for (const auto* f : {&c.claim_id, &c.medicaid_id, &c.given_name, &c.surname, &c.birth_date,
                        &c.prescriber_given_name, &c.prescriber_surname, &c.prescriber_npi,
                        &c.therapeutic_class, &c.fill_date, &c.ndc, &c.drug_name, &c.strength,
                        &c.dose_form, &c.quantity, &c.days_supply}) {
    out += *f;
    out += k_field;
  }
  out += c.sud ? "1" : "0";
  out += k_field;
  out += outcome_name(s.last);
  out += k_field;
  for (std::size_t i = 0; i < s.pending_on.size(); ++i) {
    if (i) out += k_item;
    out += s.pending_on[i];
  }
  out += k_field;
  for (std::size_t i = 0; i < s.alerts.size(); ++i) {
    if (i) out += k_item;
    out += outcome_name(s.alerts[i].result);
    out += '@';
    out += s.alerts[i].day;
    out += s.alerts[i].resolved ? "+" : "";
  }
  out += k_field;
  out += std::to_string(s.revision);
  return out;
}

std::optional<claim_state> decode_claim_state(std::string_view text) {
  auto f = split(text, k_field);
  if (f.size() != 21) return std::nullopt;
  claim_state s;
  auto& c = s.c;
  std::size_t i = 0;
  for (auto* v :
       {&c.claim_id, &c.medicaid_id, &c.given_name, &c.surname, &c.birth_date,
        &c.prescriber_given_name, &c.prescriber_surname, &c.prescriber_npi, &c.therapeutic_class,
        &c.fill_date, &c.ndc, &c.drug_name, &c.strength, &c.dose_form, &c.quantity, &c.days_supply})
    *v = std::string(f[i++]);
  if (f[16] != "0" && f[16] != "1") return std::nullopt;
  c.sud = f[16] == "1";
  auto last = outcome_named(f[17]);
  if (!last || c.claim_id.empty()) return std::nullopt;
  s.last = *last;
  if (!f[18].empty())
    for (auto p : split(f[18], k_item)) s.pending_on.emplace_back(p);
  if (!f[19].empty())
    for (auto a : split(f[19], k_item)) {
      bool resolved = a.ends_with("+");
      if (resolved) a.remove_suffix(1);
      auto at = a.find('@');
      if (at == std::string_view::npos) return std::nullopt;
      auto o = outcome_named(a.substr(0, at));
      if (!o || !alerts(*o)) return std::nullopt;
      s.alerts.push_back({*o, resolved, std::string(a.substr(at + 1))});
    }
  if (f[20].empty() || f[20].size() > 9 ||
      f[20].find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  s.revision = static_cast<std::uint32_t>(std::stoul(std::string(f[20])));
  return s;
}

check::check(check_inputs inputs, const base::clock& clk) : inputs_(std::move(inputs)), clk_(clk) {}

void check::restore(const std::vector<check_fact>& facts) {
  std::lock_guard lk(mu_);
  for (const auto& f : facts) {
    if (f.kind == k_fact_application) {
      if (auto a = read_application(f.value)) known_.add(std::move(*a));
    } else if (f.kind == k_fact_order) {
      if (auto o = read_order(f.value)) known_.add(std::move(*o));
    } else if (f.kind == "identity") {
      auto sp = f.key.find(' ');
      if (sp != std::string::npos) known_.link(f.key.substr(0, sp), f.key.substr(sp + 1));
    } else if (f.kind == k_fact_placement) {
      if (auto e = decode_placement(f.value)) placements_.add(std::move(*e));
    } else if (f.kind == k_fact_claim) {
      auto s = decode_claim_state(f.value);
      if (!s) continue;
      // Replicas may deliver revisions late: an older one never replaces a newer.
      if (auto it = claims_.find(s->c.claim_id);
          it != claims_.end() && it->second.revision > s->revision)
        continue;
      if (auto it = settled_.find(s->c.claim_id);
          it != settled_.end() && it->second.revision > s->revision)
        continue;
      auto id = s->c.claim_id;
      if (keep(*s)) {
        settled_.erase(id);
        claims_.insert_or_assign(id, std::move(*s));
      } else {
        claims_.erase(id);
        settled_.insert_or_assign(id, std::move(*s));
      }
    } else if (f.kind == k_fact_notice) {
      owed_.emplace(f.key, f.value);
    } else if (f.kind == k_fact_sent) {
      owed_.erase(f.key);
    }
  }
}

std::string check::written(const exception_notice& n) const {
  std::vector<base::diagnostic> problems;
  auto doc = write_exception(n, schemas_.get(), &problems);
  // A defect of the writer, never the data's: said loudly; Xerces' validation of the notice in
  // the pipeline then keeps it from anyone (a dead letter, replayable once fixed).
  for (const auto& d : problems)
    base::log(base::log_level::error, "medication", "a notice breaks its exchange schema",
              {{"code", std::string(base::code_id(d.code))},
               {"notice", n.id},
               {"element", d.field},
               {"reason", d.message}});
  return doc;
}

exception_notice check::notice(const claim_state& s, outcome o, const verdict& v) const {
  exception_notice n;
  n.id = alert_id(s.c.claim_id, o);
  n.result = o;
  n.c = s.c;
  n.v = v;
  // The client number a placement links to the Medicaid id, when exactly one does (two would
  // be a data problem the alert must not guess at).
  auto clients = known_.clients(s.c.medicaid_id);
  if (clients.size() == 1) n.client_id = clients.front();
  // The county of the child's placement known at the fill date.
  n.county_fips = placements_.county_on(n.client_id, s.c.medicaid_id, s.c.fill_date);
  n.day = routing::utc_date(clk_.now_ms());
  return n;
}

void check::decide(claim_state& s, bool fresh, result& out) {
  auto v = evaluate(s.c, known_.view(s.c.medicaid_id), s.pending_on);
  probe().medication_checks.inc(outcome_name(v.result));
  bool changed = fresh || v.result != s.last;
  s.last = v.result;
  if (v.result == outcome::pending_application &&
      std::find(s.pending_on.begin(), s.pending_on.end(), v.application_id) == s.pending_on.end()) {
    s.pending_on.push_back(v.application_id);
    changed = true;
  }
  if (v.result == outcome::authorized) {
    // Covered on its fill date after all: every alert it raised is resolved, naming the order.
    for (auto& a : s.alerts) {
      if (a.resolved) continue;
      a.resolved = true;
      changed = true;
      auto n = notice(s, a.result, v);
      n.id = resolution_id(s.c.claim_id, a.result);
      n.resolves = alert_id(s.c.claim_id, a.result);
      n.covering_order = v.order_id;
      out.facts.push_back({std::string(k_fact_notice), n.id, written(n)});
      out.notices.push_back(std::move(n));
      probe().medication_notices.add({"resolution", outcome_name(a.result)});
    }
  } else if (alerts(v.result)) {
    bool raised = std::any_of(s.alerts.begin(), s.alerts.end(),
                              [&](const claim_state::alert& a) { return a.result == v.result; });
    if (!raised) {
      s.alerts.push_back({v.result, false, routing::utc_date(clk_.now_ms())});
      changed = true;
      auto n = notice(s, v.result, v);
      out.facts.push_back({std::string(k_fact_notice), n.id, written(n)});
      out.notices.push_back(std::move(n));
      probe().medication_notices.add({"alert", outcome_name(v.result)});
    }
  }
  if (changed) keep_state(s, out);
}

void check::keep_state(claim_state& s, result& out) {
  ++s.revision;
  out.facts.push_back({std::string(k_fact_claim), s.c.claim_id + "#" + std::to_string(s.revision),
                       encode_claim_state(s)});
}

void check::recheck(const std::vector<std::string>& medicaid_ids, result& out) {
  std::set<std::string> ids(medicaid_ids.begin(), medicaid_ids.end());
  for (auto it = claims_.begin(); it != claims_.end();) {
    if (!ids.count(it->second.c.medicaid_id)) {
      ++it;
      continue;
    }
    auto before = it->second;
    decide(it->second, false, out);
    if (it->second.revision != before.revision)
      out.changed.push_back({it->first, std::move(before), it->second.revision});
    if (keep(it->second)) {
      ++it;
    } else {
      settled_.insert_or_assign(it->first, std::move(it->second));
      it = claims_.erase(it);
    }
  }
}

check::result check::observe(std::string_view exchange, std::string_view document) {
  result out;
  if (exchange.empty()) return out;
  if (exchange == inputs_.claims) {
    auto d = read_claim(document);
    if (!d || d->status != "PAID" || !d->psychotropic) return out;
    std::lock_guard lk(mu_);
    // The same claim again (resent, replayed): already decided.
    if (claims_.count(d->c.claim_id) || settled_.count(d->c.claim_id)) return out;
    claim_state s;
    s.c = std::move(d->c);
    decide(s, true, out);
    out.changed.push_back({s.c.claim_id, std::nullopt, s.revision});
    auto id = s.c.claim_id;
    (keep(s) ? claims_ : settled_).emplace(std::move(id), std::move(s));
  } else if (exchange == inputs_.applications) {
    auto d = read_application(document);
    if (!d) return out;
    out.facts.push_back(
        {std::string(k_fact_application), d->a.application_id, std::string(document)});
    std::lock_guard lk(mu_);
    auto child = d->child;
    known_.add(std::move(*d));
    recheck(known_.affected(child), out);
  } else if (exchange == inputs_.placements) {
    auto d = read_placement(document);
    if (!d) return out;
    out.facts.push_back({std::string(k_fact_placement), d->event_id, encode_placement(d->e)});
    std::lock_guard lk(mu_);
    child_ids child{d->e.client, d->e.person};
    placements_.add(std::move(d->e));
    // A placement for the child: its kept claims are checked again (and the county is known).
    recheck(known_.affected(child), out);
  } else if (exchange == inputs_.orders) {
    auto d = read_order(document);
    if (!d) return out;
    out.facts.push_back({std::string(k_fact_order), d->o.order_id, std::string(document)});
    std::lock_guard lk(mu_);
    auto child = d->child;
    known_.add(std::move(*d));
    recheck(known_.affected(child), out);
  }
  return out;
}

void check::rollback(const result& r) {
  std::lock_guard lk(mu_);
  // Latest change first, so that a claim changed twice ends as it was before both.
  for (auto c = r.changed.rbegin(); c != r.changed.rend(); ++c) {
    auto* now = claims_.count(c->claim_id)    ? &claims_
                : settled_.count(c->claim_id) ? &settled_
                                              : nullptr;
    if (!now || now->at(c->claim_id).revision != c->revision) continue;  // changed since
    now->erase(c->claim_id);
    if (c->before)
      (keep(*c->before) ? claims_ : settled_).insert_or_assign(c->claim_id, *c->before);
  }
}

bool check::wants(std::string_view exchange, std::string_view document) const {
  if (exchange.empty()) return false;
  if (exchange == inputs_.claims) {
    auto d = read_claim(document);
    return d && d->status == "PAID" && d->psychotropic;
  }
  return exchange == inputs_.applications || exchange == inputs_.orders ||
         exchange == inputs_.placements;
}

check::result check::link(const std::string& client_id, const std::string& medicaid_id) {
  result out;
  std::lock_guard lk(mu_);
  known_.link(client_id, medicaid_id);
  recheck(known_.affected({client_id, medicaid_id}), out);
  return out;
}

std::vector<check_fact> check::outstanding() const {
  std::lock_guard lk(mu_);
  std::vector<check_fact> out;
  for (const auto& [id, doc] : owed_) out.push_back({std::string(k_fact_notice), id, doc});
  return out;
}

std::optional<claim_state> check::status(const std::string& claim_id) const {
  std::lock_guard lk(mu_);
  if (auto it = claims_.find(claim_id); it != claims_.end()) return it->second;
  if (auto it = settled_.find(claim_id); it != settled_.end()) return it->second;
  return std::nullopt;
}

std::vector<check::open_alert> check::open_alerts() const {
  std::lock_guard lk(mu_);
  std::vector<open_alert> out;
  for (const auto& [id, s] : claims_)
    for (const auto& a : s.alerts) {
      if (a.resolved) continue;
      auto clients = known_.clients(s.c.medicaid_id);
      auto county = placements_.county_on(clients.size() == 1 ? clients.front() : "",
                                          s.c.medicaid_id, s.c.fill_date);
      out.push_back({alert_id(id, a.result), id, county, s.c.fill_date, a.day, a.result});
    }
  return out;
}

std::vector<consideration> check::explain(const std::string& claim_id) const {
  std::lock_guard lk(mu_);
  const claim_state* s = nullptr;
  if (auto it = claims_.find(claim_id); it != claims_.end()) s = &it->second;
  if (auto it = settled_.find(claim_id); !s && it != settled_.end()) s = &it->second;
  if (!s) return {};
  return medication::explain(s->c, known_.view(s->c.medicaid_id), s->pending_on);
}

std::vector<claim_state> check::kept() const {
  std::lock_guard lk(mu_);
  std::vector<claim_state> out;
  for (const auto& [id, s] : claims_) out.push_back(s);
  return out;
}

}  // namespace niem::oversight::medication
