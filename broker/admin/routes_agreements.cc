// The admin API: agreements, consents, the accounting of disclosures, withholdings and the audit
// trail's verification (routes added to the one table, routes.cc).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "admin/handlers.h"
#include "routing/policy.h"

namespace niem::admin {

namespace {

struct agreement_handlers : handlers {
  using handlers::handlers;
  response agreements_summary(const call&);
  response consents(const call& k);
  response disclosures(const call& c);
  response withholdings(const call& c);
  response audit_verify(const call&);
};

}  // namespace

response agreement_handlers::agreements_summary(const call&) {
  auto today = routing::utc_date(clk.now_ms());
  json::array arr;
  for (const auto& a : agreements()) {
    std::string status(routing::status_name(a->status_on(today)));
    json::array providers, purposes, exchanges;
    for (const auto& p : a->providers) providers.push_back(json::string(p));
    for (const auto& p : a->purposes) purposes.push_back(json::string(p));
    for (const auto& e : a->exchanges) exchanges.push_back(json::string(e.exchange));
    arr.push_back(json::object{{"id", a->id},
                               {"version", a->version},
                               {"title", a->title},
                               {"level", routing::level_name(a->level)},
                               {"providers", std::move(providers)},
                               {"recipient", a->recipient},
                               {"purposes", std::move(purposes)},
                               {"exchanges", std::move(exchanges)},
                               {"effective_from", a->effective_from},
                               {"effective_to", a->effective_to},
                               {"status", status}});
  }
  return json_response(200, json::object{{"agreements", std::move(arr)}});
}

response agreement_handlers::consents(const call& k) {
  const auto& t = k.t;
  auto person = t.get("person");
  if (!plain(person)) return error(400, "bad_request", "person is a client number or Medicaid id");
  json::array arr;
  if (auto policy = this->policy()) {
    auto today = routing::utc_date(clk.now_ms());
    for (const auto& c : policy->consents().all()) {
      if (!person.empty() && c.client_id != person && c.medicaid_id != person) continue;
      json::array purposes, categories;
      for (const auto& p : c.purposes) purposes.push_back(json::string(p));
      for (const auto& p : c.categories) categories.push_back(json::string(p));
      auto holds = policy->consents().holds(c.consent_id, today);
      arr.push_back(json::object{
          {"consent_id", c.consent_id},
          {"client_id", c.client_id},
          {"medicaid_id", c.medicaid_id},
          {"recipient", c.recipient},
          {"purposes", std::move(purposes)},
          {"categories", std::move(categories)},
          {"effective_date", c.effective_date},
          {"expiration_date", c.expiration_date},
          {"status", c.status},
          {"acknowledged", c.acknowledged},
          {"holds_today", holds == base::errc::ok},
          {"reason", holds == base::errc::ok ? "" : std::string(base::code_id(holds))}});
    }
  }
  return json_response(200, json::object{{"consents", std::move(arr)}});
}

response agreement_handlers::disclosures(const call& c) {
  const auto& t = c.t;
  auto person = t.get("person");
  if (person.empty() || !plain(person))
    return error(400, "bad_request", "person (client number or Medicaid id) is required");
  // The accounting covers six years (45 CFR 164.528).
  auto since = clk.now_ms() - 6LL * 366 * 24 * 3600 * 1000;
  auto r = st.disclosures(person, since);
  if (!r) return error(500, "NIEM-303", "the store cannot be read");
  json::array arr;
  for (const auto& a : *r) {
    auto o = audit_json(a);
    o["message_id"] = a.message_id;
    o["record_key"] = a.record_key;
    o["exchange"] = a.exchange;
    arr.push_back(std::move(o));
  }
  return json_response(200, json::object{{"person", person}, {"disclosures", std::move(arr)}});
}

// Why recipients were withheld records lately (the audit trail's withholdings by recipient, code
// and agreement), with what the agreement's dates say: "why did school receive nothing?".
response agreement_handlers::withholdings(const call& c) {
  const auto& t = c.t;
  auto recipient = t.get("recipient");
  if (!plain(recipient)) return error(400, "bad_request", "recipient is an agency id");
  std::int64_t hours = 24;
  if (auto v = t.get("hours"); !v.empty()) {
    auto n = to_id(v);
    if (!n || *n > 6 * 366 * 24)
      return error(400, "bad_request", "hours is 1 to 52704 (six years)");
    hours = static_cast<std::int64_t>(*n);
  }
  // A bound on the scan however long the trail is; the answer says when it was reached.
  constexpr std::int64_t k_entries = 100'000;
  auto since = clk.now_ms() - hours * 3600 * 1000;
  auto r = st.withholdings(since, k_entries);
  if (!r) return error(500, "NIEM-303", "the store cannot be read");
  auto today = routing::utc_date(clk.now_ms());
  auto all_agreements = agreements();
  json::array arr;
  for (const auto& w : *r) {
    if (!recipient.empty() && w.recipient != recipient) continue;
    auto code = base::parse_code(w.code);
    json::object o{{"recipient", w.recipient},      {"code", w.code},
                   {"name", base::info(code).name}, {"summary", base::info(code).summary},
                   {"agreement", w.agreement},      {"count", w.count},
                   {"last", iso(w.last_ms)}};
    // One phrase for people (niemctl and the demo print it): the agreement's dates when they
    // are the reason, the code's summary otherwise.
    std::string why = w.agreement.empty()
                          ? std::string(base::info(code).summary)
                          : fmt::format("agreement {}: {}", w.agreement, base::info(code).summary);
    for (const auto& a : all_agreements)
      if (a->label() == w.agreement) {
        auto status = a->status_on(today);
        o["agreement_status"] = routing::status_name(status);
        o["effective_from"] = a->effective_from;
        o["effective_to"] = a->effective_to;
        if (code == base::errc::route_agreement_expired &&
            status == routing::agreement_status::expired)
          why = fmt::format("agreement {} expired {}", w.agreement, a->effective_to);
        else if (code == base::errc::route_agreement_not_effective &&
                 status == routing::agreement_status::not_yet_effective)
          why = fmt::format("agreement {} in effect from {}", w.agreement, a->effective_from);
      }
    o["why"] = why;
    arr.push_back(std::move(o));
  }
  return json_response(200, json::object{{"hours", hours},
                                         {"entries_scanned_at_most", k_entries},
                                         {"withholdings", std::move(arr)}});
}

response agreement_handlers::audit_verify(const call&) {
  auto c = st.verify_audit(opt.audit_key);
  audit_verified = c.ok ? 1 : 0;
  audit_verified_ms = clk.now_ms();
  return json_response(200, json::object{{"ok", c.ok},
                                         {"entries", c.entries},
                                         {"first_bad_seq", c.first_bad_seq},
                                         {"problem", c.problem}});
}

void add_agreement_routes(std::vector<route>& table) {
  using h = agreement_handlers;
  table.insert(
      table.end(),
      {
          {"GET", "/api/agreements", access::viewer, &bind<h, &h::agreements_summary>,
           "the agreements, their status and recipients"},
          {"GET", "/api/consents", access::viewer, &bind<h, &h::consents>, "consents: ?person="},
          {"GET", "/api/disclosures", access::viewer, &bind<h, &h::disclosures>,
           "the accounting of disclosures: ?person="},
          {"GET", "/api/withholdings", access::viewer, &bind<h, &h::withholdings>,
           "why records were withheld lately: ?recipient=&hours="},
          {"GET", "/api/audit/verify", access::viewer, &bind<h, &h::audit_verify>,
           "verify the audit trail's hash chain"},
      });
}

}  // namespace niem::admin
