// The admin API: messages: search, traces, and a withheld decision taken again (routes added to the
// one table, routes.cc).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "admin/handlers.h"
#include "base/dates.h"
#include "base/ids.h"
#include "base/text.h"

namespace niem::admin {

namespace {

struct message_handlers : handlers {
  using handlers::handlers;
  response messages_route(const call& c);
  response trace(const std::string& id);
  response trace_route(const call& c);
  response replay_withheld(const call& c);
};

}  // namespace

// A search over the message log: each filter given must hold; newest first, a page at a time.
// Results say what became of each message, never what it held.
response message_handlers::messages_route(const call& c) {
  const auto& t = c.t;
  store::store::message_query q;
  struct {
    std::string_view name;
    std::string* to;
  } text[] = {{"key", &q.key},       {"person", &q.person},       {"exchange", &q.exchange},
              {"agency", &q.agency}, {"recipient", &q.recipient}, {"status", &q.status},
              {"before", &q.before}};
  // A misspelt filter would widen the search without a word: refused.
  for (const auto& [name, value] : t.query) {
    bool known = name == "from" || name == "to" || name == "limit";
    for (const auto& f : text) known = known || name == f.name;
    if (!known)
      return error(400, "bad_request",
                   "filters are key, person, exchange, agency, recipient, status, from, to, "
                   "limit and before");
  }
  for (const auto& f : text) {
    *f.to = t.get(std::string(f.name));
    // A record's key is the sender's text (bound, never interpreted); the rest are ids.
    bool ok = f.name == "key"
                  ? f.to->size() <= 256 &&
                        std::none_of(f.to->begin(), f.to->end(),
                                     [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; })
                  : plain(*f.to);
    if (!ok) return error(400, "bad_request", fmt::format("{} is not a valid value", f.name));
  }
  if (!q.before.empty() && !base::valid_message_id(q.before))
    return error(400, "bad_request", "before is the last message id of the previous page");
  if (!q.status.empty() &&
      std::find(std::begin(store::message_status::all), std::end(store::message_status::all),
                q.status) == std::end(store::message_status::all)) {
    std::string all;
    for (auto st_name : store::message_status::all)
      all += (all.empty() ? "" : ", ") + std::string(st_name);
    return error(400, "bad_request", "status is one of " + all);
  }
  for (auto [name, to] : {std::pair{"from", &q.from_ms}, {"to", &q.to_ms}}) {
    auto v = t.get(name);
    if (v.empty()) continue;
    auto ms = base::parse_time_ms(v);
    if (!ms)
      return error(
          400, "bad_request",
          fmt::format("{} is a time with its zone (2026-12-03T10:00:00Z) or a date", name));
    // A date as `to` includes its whole day.
    *to = *ms + (std::string_view(name) == "to" && v.size() == 10 ? 86'400'000 : 0);
  }
  if (q.from_ms && q.to_ms && q.from_ms >= q.to_ms)
    return error(400, "bad_request", "from is before to");
  if (auto l = t.get("limit"); !l.empty()) {
    auto n = to_id(l);
    if (!n || *n > 1000) return error(400, "bad_request", "limit is 1 to 1000");
    q.limit = static_cast<std::uint32_t>(*n);
  }
  auto found = st.find_messages(q);
  if (!found) return error(503, "store_unavailable", found.errors()[0].message);
  json::array arr;
  for (const auto& m : *found) {
    json::array recipients;
    for (const auto& r : m.recipients)
      recipients.push_back(
          json::object{{"recipient", r.name},
                       {"decision", r.decision == "deliver" ? "delivered" : "withheld"},
                       {"code", r.reason},
                       {"accepted_at", r.accepted_ms ? json::value(iso(r.accepted_ms)) : nullptr}});
    arr.push_back(json::object{{"message_id", m.message_id},
                               {"received_at", iso(m.received_ms)},
                               {"agency", m.agency},
                               {"record_type", m.record_type},
                               {"record_key", m.record_key},
                               {"exchange", m.exchange},
                               {"status", m.status},
                               {"code", m.code},
                               {"recipients", std::move(recipients)},
                               {"trace", "/api/messages/" + m.message_id + "/trace"}});
  }
  // A full page may have more after it.
  json::value next = nullptr;
  if (found->size() == q.limit && !found->empty()) next = json::string(found->back().message_id);
  return json_response(200, json::object{{"messages", std::move(arr)}, {"next_before", next}});
}

response message_handlers::trace(const std::string& id) {
  auto t = st.trace(id);
  if (!t.found) return error(404, "not_found", "no message with this id");
  json::array decisions, queued, dead;
  for (const auto& a : t.decisions) decisions.push_back(audit_json(a));
  for (const auto& q : t.queued)
    queued.push_back(json::object{
        {"recipient", q.recipient}, {"enqueued_at", iso(q.enqueued_ms)}, {"attempts", q.attempts}});
  for (const auto& d : t.dead_letters) dead.push_back(dead_letter_json(d, true));
  json::array accepted;
  for (const auto& r : t.receipts)
    accepted.push_back(json::object{
        {"recipient", r.recipient}, {"accepted_at", iso(r.accepted_ms)}, {"attempts", r.attempts}});
  // Each recipient's latest state: withheld; queued; accepted (the subscriber's acceptance is
  // recorded with the removal from its queue); dead-lettered. A delivery decision with none of
  // these left the queue before the store kept receipts.
  json::object recipients;
  for (const auto& a : t.decisions) {
    if (a.recipient.empty() || a.provider.starts_with("admin:")) continue;
    recipients[a.recipient] = a.decision == "deliver" ? "left_queue" : "withheld";
  }
  for (const auto& r : t.receipts)
    if (recipients.contains(r.recipient) && recipients[r.recipient] == "left_queue")
      recipients[r.recipient] = "accepted";
  for (const auto& q : t.queued) recipients[q.recipient] = "queued";
  for (const auto& d : t.dead_letters)
    if (!d.recipient.empty()) recipients[d.recipient] = "dead_lettered";
  return json_response(
      200, json::object{{"message_id", t.message_id},
                        {"agency", t.agency},
                        {"record_type", t.record_type},
                        {"record_key", t.record_key},
                        {"exchange", t.exchange},
                        {"received_at", iso(t.received_ms)},
                        {"status", t.status},
                        {"code", t.code},
                        {"recipients", std::move(recipients)},
                        {"decisions", std::move(decisions)},
                        {"queued", std::move(queued)},
                        {"accepted", std::move(accepted)},
                        {"dead_letters", std::move(dead)},
                        {"medication_check", h.medication && t.exchange == h.medication_claims
                                                 ? medication_status(t.record_key)
                                                 : json::value(nullptr)}});
}

response message_handlers::trace_route(const call& c) {
  if (!base::valid_message_id(c.params[0])) return error(404, "not_found", "not a message id");
  return trace(c.params[0]);
}

response message_handlers::replay_withheld(const call& c) {
  const auto& id = c.params[0];
  if (!base::valid_message_id(id)) return error(404, "not_found", "not a message id");
  auto recipient = c.t.get("recipient");
  if (recipient.empty() || !plain(recipient))
    return error(400, "bad_request", "recipient is required: whose decision to take again");
  auto src = st.replay_withheld(id, recipient);
  if (!src) return error(404, base::code_id(src.errors()[0].code), src.errors()[0].message);
  return replay(*c.tok, std::move(*src), "withheld");
}

void add_message_routes(std::vector<route>& table) {
  using h = message_handlers;
  table.insert(
      table.end(),
      {
          {"GET", "/api/messages", access::viewer, &bind<h, &h::messages_route>,
           "find messages: ?key=&person=&exchange=&agency=&recipient=&status=&from=&to=&limit=&"
           "before= (newest first; each with its status and trace)"},
          {"GET", "/api/messages/{id}/trace", access::viewer, &bind<h, &h::trace_route>,
           "a message's path: receipt, each recipient's decision, delivery"},
          {"POST", "/api/messages/{id}/replay", access::operator_, &bind<h, &h::replay_withheld>,
           "take a withheld decision again: ?recipient= (audited)"},
      });
}

}  // namespace niem::admin
