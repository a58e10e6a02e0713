// What the admin API's handlers share: the JSON answers, targets, and the handlers' common
// actions (metrics, audited operator actions, replays, a claim's medication status).
#include "admin/handlers.h"

#include <charconv>
#include <chrono>
#include <future>

#include <fmt/format.h>

#include "base/dates.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"

namespace niem::admin {

response json_response(unsigned status, const json::value& v) {
  return {status, "application/json", json::serialize(v) + "\n"};
}

response error(unsigned status, std::string_view code, std::string_view message) {
  return json_response(status,
                       json::object{{"error", json::object{{"code", code}, {"message", message}}}});
}

std::string iso(std::int64_t ms) {
  return ms > 0 ? base::format_time_ms(ms) : std::string();
}

static std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (r.ec == std::errc() && r.ptr == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
      } else {
        out += s[i];
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string_view access_name(access a) {
  switch (a) {
    case access::page:
      return "anyone";
    case access::health:
      return "anyone (a token when `protect-health`)";
    case access::viewer:
      return "viewer";
    case access::operator_:
      return "operator";
  }
  return "?";
}

std::string_view role_name(role r) {
  return r == role::operator_ ? "operator" : "viewer";
}

target parse_target(std::string_view t) {
  target out;
  auto q = t.find('?');
  auto path = t.substr(0, q);
  for (auto seg : base::split(path, '/'))
    if (!seg.empty()) out.segments.push_back(url_decode(seg));
  if (q != std::string_view::npos)
    for (auto kv : base::split(t.substr(q + 1), '&')) {
      auto eq = kv.find('=');
      if (eq == std::string_view::npos)
        out.query[url_decode(kv)] = "";
      else
        out.query[url_decode(kv.substr(0, eq))] = url_decode(kv.substr(eq + 1));
    }
  return out;
}

std::optional<std::int64_t> to_id(std::string_view s) {
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

bool plain(std::string_view s, std::size_t max) {
  if (s.size() > max) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '@' || c == ':'))
      return false;
  return true;
}

json::object audit_json(const store::audit_entry& a) {
  return {{"seq", a.seq},
          {"at", iso(a.at_ms)},
          {"provider", a.provider},
          {"recipient", a.recipient},
          {"agreement", a.agreement},
          {"purpose", a.purpose},
          {"consent", a.consent},
          {"decision", a.decision},
          {"reason", a.reason},
          {"paths", a.paths},
          {"digest", a.digest}};
}

json::object dead_letter_json(const store::dead_letter& d, bool detail) {
  json::object o{{"id", d.id},
                 {"message_id", d.message_id},
                 {"recipient", d.recipient},
                 {"agency", d.agency},
                 {"record_type", d.record_type},
                 {"exchange", d.exchange},
                 {"record_key", d.record_key},
                 {"code", d.code},
                 {"reason", base::info(base::parse_code(d.code)).summary},
                 {"dead_at", iso(d.dead_ms)},
                 {"attempts", d.attempts}};
  if (detail) {
    boost::system::error_code ec;
    auto diags = json::parse(d.diagnostics_json.empty() ? "[]" : d.diagnostics_json, ec);
    o["diagnostics"] = ec ? json::value(json::array{}) : diags;
  }
  return o;
}

std::string content_type_of(const std::string& file) {
  if (file.ends_with(".html")) return "text/html; charset=utf-8";
  if (file.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (file.ends_with(".css")) return "text/css; charset=utf-8";
  if (file.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

std::vector<std::shared_ptr<const routing::agreement>> handlers::agreements() const {
  return pl.current()->agreements;
}

std::shared_ptr<const routing::policy_router> handlers::policy() const {
  return std::dynamic_pointer_cast<const routing::policy_router>(pl.current()->router);
}

bool handlers::ready() const {
  return h.listener_bound && h.listener_bound() && st.check().reachable;
}

// Every module's metrics (each registered its own), rendered in one place.
response handlers::metrics() {
  std::string out;
  out.reserve(16 * 1024);
  base::render_gauge(out, "niem_up", "The broker is running.", {{{}, 1.0}});
  base::render_gauge(out, "niem_ready",
                     "The broker is ready (1): its store answers and its listener is bound.",
                     {{{}, ready() ? 1.0 : 0.0}});
  if (int v = audit_verified; v >= 0) {
    base::render_gauge(out, "niem_audit_verified",
                       "The audit trail's last verification: 1 the chain verified, 0 it did not.",
                       {{{}, static_cast<double>(v)}});
    base::render_gauge(out, "niem_audit_verified_timestamp_seconds",
                       "When the audit trail was last verified (Unix time).",
                       {{{}, static_cast<double>(audit_verified_ms.load()) / 1000.0}});
  }
  base::registry().render(out);
  return {200, "text/plain; version=0.0.4; charset=utf-8", std::move(out)};
}

// Appends the operator's action to the audit trail and waits for its commit; false (and an
// error in the log) when the store did not commit it in time. The completion may come after
// the wait gave up, so the promise is shared with it.
bool handlers::audit_action(const token& who, std::string_view action, std::string message_id,
                            std::string record_key, std::string recipient, std::string reason) {
  store::audit_entry a;
  a.message_id = std::move(message_id);
  a.record_key = std::move(record_key);
  a.provider = "admin:" + who.name;
  a.recipient = std::move(recipient);
  a.decision = std::string(action);
  a.reason = std::move(reason);
  auto done = std::make_shared<std::promise<bool>>();
  auto fut = done->get_future();
  ops.audit(std::move(a), [done](bool ok) { done->set_value(ok); });
  bool ok = fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready && fut.get();
  if (!ok)
    base::log(base::log_level::error, "admin", "an operator action is not in the audit trail",
              {{"action", std::string(action)},
               {"token", who.name},
               {"code", base::code_id(base::errc::io_error)}});
  return ok;
}

// Decides the record again (pipeline) and answers with what happened.
response handlers::replay(const token& who, store::replay_source src, std::string what) {
  auto message_id = src.message_id;
  auto recipient = src.recipient;
  auto dl = src.dead_letter_id;
  auto p = std::make_shared<std::promise<pipeline::outcome>>();
  auto fut = p->get_future();
  pl.submit(pipeline::replay_job(std::move(src)),
            [p](pipeline::outcome o) { p->set_value(std::move(o)); });
  if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    return error(503, "timeout", "the replay did not finish in 30 s; see the trace later");
  auto o = fut.get();
  std::string outcome = o.what == pipeline::outcome::status::accepted        ? "accepted"
                        : o.what == pipeline::outcome::status::duplicate     ? "duplicate"
                        : o.what == pipeline::outcome::status::dead_lettered ? "dead_lettered"
                                                                             : "failed";
  json::array queued, withheld;
  for (const auto& e : o.enqueued) queued.push_back(json::string(e.recipient));
  for (const auto& w : o.withheld)
    withheld.push_back(json::object{
        {"recipient", w.recipient}, {"code", base::code_id(w.reason)}, {"agreement", w.agreement}});
  audit_action(who, "replay", message_id, dl ? fmt::format("dead-letter:{}", dl) : what, recipient,
               o.code == base::errc::ok ? "" : std::string(base::code_id(o.code)));
  base::log(base::log_level::info, "admin", "replayed",
            {{"message_id", message_id}, {"token", who.name}, {"outcome", outcome}});
  if (!o.enqueued.empty() && h.offer) h.offer(std::move(o.enqueued));
  json::object body{{"message_id", message_id},
                    {"outcome", outcome},
                    {"queued", std::move(queued)},
                    {"withheld", std::move(withheld)}};
  if (o.code != base::errc::ok) {
    body["code"] = base::code_id(o.code);
    body["detail"] = o.detail;
  }
  return json_response(200, body);
}

// What the medication check decided about a claim (for a claim's trace).
json::value handlers::medication_status(const std::string& claim_id) {
  auto s = h.medication ? h.medication->status(claim_id) : std::nullopt;
  if (!s) return nullptr;
  json::array raised;
  for (const auto& a : s->alerts)
    raised.push_back(
        json::object{{"alert", a.resolved ? oversight::medication::resolution_id(claim_id, a.result)
                                          : oversight::medication::alert_id(claim_id, a.result)},
                     {"outcome", oversight::medication::outcome_name(a.result)},
                     {"raised", a.day},
                     {"resolved", a.resolved}});
  json::array pending;
  for (const auto& p : s->pending_on) pending.push_back(json::string(p));
  return json::object{{"outcome", oversight::medication::outcome_name(s->last)},
                      {"pending_on", std::move(pending)},
                      {"alerts", std::move(raised)}};
}

}  // namespace niem::admin
