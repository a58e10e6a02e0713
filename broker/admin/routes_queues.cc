// The admin API: subscribers' queues (depth, pause, resume) and dead letters (list, show, purge,
// replay) (routes added to the one table, routes.cc).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "admin/handlers.h"
#include "base/log.h"

namespace niem::admin {

namespace {

struct queue_handlers : handlers {
  using handlers::handlers;
  response queues(const call&);
  response pause(const call& c, bool on);
  response dlq_list(const call& c);
  response dlq_matching(const call& c, bool replaying);
  response dlq_show(const call& c);
  response dlq_purge(const call& c);
  response dlq_replay(const call& c);
  response pause_route(const call& c) { return pause(c, true); }
  response resume_route(const call& c) { return pause(c, false); }
  response dlq_purge_matching(const call& c) { return dlq_matching(c, false); }
  response dlq_replay_matching(const call& c) { return dlq_matching(c, true); }
};

}  // namespace

response queue_handlers::queues(const call&) {
  auto recipients = h.recipients ? h.recipients() : std::vector<std::string>{};
  auto stats = st.stats(recipients);
  auto now = clk.now_ms();
  auto held = h.paused ? h.paused() : std::vector<std::string>{};
  json::array arr;
  for (const auto& q : stats) {
    auto c = h.counts_of ? h.counts_of(q.recipient) : queue_counts{};
    arr.push_back(json::object{
        {"recipient", q.recipient},
        {"paused", std::find(held.begin(), held.end(), q.recipient) != held.end()},
        {"depth", q.depth},
        {"oldest_age_seconds",
         q.oldest_enqueued_ms ? static_cast<double>(now - q.oldest_enqueued_ms) / 1000.0 : 0.0},
        {"enqueued", c.enqueued},
        {"delivered", c.delivered},
        {"accepted", c.accepted},
        {"redelivered", c.redelivered},
        {"expired", c.expired}});
  }
  return json_response(
      200, json::object{{"queues", std::move(arr)}, {"dead_letters", st.dead_letter_count()}});
}

response queue_handlers::pause(const call& c, bool on) {
  const auto& q = c.params[0];
  auto recipients = h.recipients ? h.recipients() : std::vector<std::string>{};
  if (std::find(recipients.begin(), recipients.end(), q) == recipients.end())
    return error(404, "not_found", "no such queue");
  if (!h.pause) return error(503, "unavailable", "delivery cannot be paused here");
  if (!h.pause(q, on))
    return error(503, "unavailable", "the store could not record the change; nothing changed");
  audit_action(*c.tok, on ? "pause" : "resume", "", "", q, "");
  base::log(base::log_level::info, "admin", on ? "delivery paused" : "delivery resumed",
            {{"recipient", q}, {"token", c.tok->name}});
  return json_response(200, json::object{{"recipient", q}, {"paused", on}});
}

response queue_handlers::dlq_list(const call& c) {
  const auto& t = c.t;
  store::store::dead_letter_filter f;
  f.code = t.get("code");
  f.recipient = t.get("recipient");
  f.agency = t.get("agency");
  for (const auto* v : {&f.code, &f.recipient, &f.agency})
    if (!plain(*v)) return error(400, "bad_request", "filters are codes, agencies or ids");
  if (auto l = t.get("limit"); !l.empty()) {
    auto n = to_id(l);
    if (!n || *n > 1000) return error(400, "bad_request", "limit is 1 to 1000");
    f.limit = static_cast<std::uint32_t>(*n);
  }
  if (auto b = t.get("before"); !b.empty()) {
    auto n = to_id(b);
    if (!n) return error(400, "bad_request", "before is a dead letter id");
    f.before_id = *n;
  }
  json::array arr;
  for (const auto& d : st.dead_letters(f)) arr.push_back(dead_letter_json(d, false));
  json::object counts;
  for (const auto& [code, n] : st.dead_letter_counts()) counts[code] = n;
  return json_response(200, json::object{{"dead_letters", std::move(arr)},
                                         {"by_code", std::move(counts)},
                                         {"total", st.dead_letter_count()}});
}

// By filter: every dead letter that matches (at least one filter, at most 1000 at a time).
response queue_handlers::dlq_matching(const call& c, bool replaying) {
  store::store::dead_letter_filter f;
  f.code = c.t.get("code");
  f.recipient = c.t.get("recipient");
  f.agency = c.t.get("agency");
  f.limit = 1000;
  for (const auto* v : {&f.code, &f.recipient, &f.agency})
    if (!plain(*v)) return error(400, "bad_request", "filters are codes, agencies or ids");
  if (f.code.empty() && f.recipient.empty() && f.agency.empty())
    return error(400, "bad_request", "give code, recipient or agency: which dead letters");
  json::array results;
  std::uint64_t accepted = 0;
  for (const auto& d : st.dead_letters(f)) {
    if (!replaying) {
      if (!st.purge_dead_letter(d.id)) continue;
      audit_action(*c.tok, "purge", d.message_id, fmt::format("dead-letter:{}", d.id), d.recipient,
                   d.code);
      results.push_back(json::value(d.id));
      continue;
    }
    auto src = st.replay_dead_letter(d.id);
    if (!src) {
      results.push_back(json::object{{"id", d.id},
                                     {"outcome", "not_replayed"},
                                     {"code", base::code_id(src.errors()[0].code)}});
      continue;
    }
    auto r = replay(*c.tok, std::move(*src), {});
    auto v = json::parse(r.body);
    accepted += v.as_object().if_contains("outcome") && v.at("outcome").as_string() == "accepted";
    v.as_object()["id"] = d.id;
    results.push_back(std::move(v));
  }
  if (!replaying)
    return json_response(200, json::object{{"purged", results.size()}, {"ids", results}});
  return json_response(
      200,
      json::object{{"replayed", results.size()}, {"accepted", accepted}, {"results", results}});
}

response queue_handlers::dlq_show(const call& c) {
  auto id = to_id(c.params[0]);
  if (!id) return error(404, "not_found", "a dead letter id is a number");
  auto d = st.dead_letter_by_id(*id);
  if (!d) return error(404, base::code_id(base::errc::replay_not_found), "no such dead letter");
  return json_response(200, dead_letter_json(*d, true));
}

response queue_handlers::dlq_purge(const call& c) {
  auto id = to_id(c.params[0]);
  if (!id) return error(404, "not_found", "a dead letter id is a number");
  auto d = st.dead_letter_by_id(*id);
  if (!d || !st.purge_dead_letter(*id))
    return error(404, base::code_id(base::errc::replay_not_found), "no such dead letter");
  audit_action(*c.tok, "purge", d->message_id, fmt::format("dead-letter:{}", *id), d->recipient,
               d->code);
  base::log(base::log_level::info, "admin", "dead letter purged",
            {{"message_id", d->message_id}, {"token", c.tok->name}, {"code", d->code}});
  return json_response(200, json::object{{"purged", 1}});
}

response queue_handlers::dlq_replay(const call& c) {
  auto id = to_id(c.params[0]);
  if (!id) return error(404, "not_found", "a dead letter id is a number");
  auto src = st.replay_dead_letter(*id);
  if (!src) return error(404, base::code_id(src.errors()[0].code), src.errors()[0].message);
  return replay(*c.tok, std::move(*src), {});
}

void add_queue_routes(std::vector<route>& table) {
  using h = queue_handlers;
  table.insert(
      table.end(),
      {
          {"GET", "/api/queues", access::viewer, &bind<h, &h::queues>,
           "each subscriber's queue: depth, oldest age, counts, paused"},
          {"POST", "/api/queues/{recipient}/pause", access::operator_, &bind<h, &h::pause_route>,
           "hold delivery to a subscriber (kept across restarts; audited)"},
          {"POST", "/api/queues/{recipient}/resume", access::operator_, &bind<h, &h::resume_route>,
           "resume delivery to a subscriber (audited)"},
          {"GET", "/api/dlq", access::viewer, &bind<h, &h::dlq_list>,
           "dead letters: ?code=&recipient=&agency=&limit=&before="},
          {"DELETE", "/api/dlq", access::operator_, &bind<h, &h::dlq_purge_matching>,
           "purge the dead letters a filter matches (?code=&recipient=&agency=; audited)"},
          {"POST", "/api/dlq/replay", access::operator_, &bind<h, &h::dlq_replay_matching>,
           "replay the dead letters a filter matches (audited)"},
          {"GET", "/api/dlq/{id}", access::viewer, &bind<h, &h::dlq_show>,
           "one dead letter, diagnostics"},
          {"DELETE", "/api/dlq/{id}", access::operator_, &bind<h, &h::dlq_purge>,
           "purge one dead letter (audited)"},
          {"POST", "/api/dlq/{id}/replay", access::operator_, &bind<h, &h::dlq_replay>,
           "replay one dead letter (audited)"},
      });
}

}  // namespace niem::admin
