#include "admin/admin.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "admin/conditions.h"
#include "admin/history.h"
#include "admin/probe.h"
#include "base/dates.h"
#include "base/digest.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "store/probe.h"

namespace niem::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

response json_response(unsigned status, const json::value& v) {
  return {status, "application/json", json::serialize(v) + "\n"};
}

// Errors have a stable code (NIEM-7xx for the admin's own, HTTP-level ones by name).
response error(unsigned status, std::string_view code, std::string_view message) {
  return json_response(status,
                       json::object{{"error", json::object{{"code", code}, {"message", message}}}});
}

std::string iso(std::int64_t ms) {
  return ms > 0 ? base::format_time_ms(ms) : std::string();
}

std::string url_decode(std::string_view s) {
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

// Who may call a route: anyone (the dashboard's page and files), anyone unless health endpoints
// are protected, a viewer's or an operator's token.
enum class access { page, health, viewer, operator_ };

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

struct target {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
  std::string get(const std::string& k) const {
    auto it = query.find(k);
    return it == query.end() ? std::string() : it->second;
  }
};

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

// Names the API may echo: ids, agencies, codes (anything else is refused before a query).
bool plain(std::string_view s, std::size_t max = 128) {
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

// The limits of every request read (headers, body) and what the handlers see of it.
void limit(http::request_parser<http::string_body>& p) {
  p.body_limit(64 * 1024);
  p.header_limit(16 * 1024);
}
request to_request(http::request<http::string_body>& req) {
  request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.authorization = std::string(req[http::field::authorization]);
  r.body = std::move(req.body());
  return r;
}

}  // namespace

std::optional<request> parse_request(std::string_view raw) {
  http::request_parser<http::string_body> p;
  limit(p);
  p.eager(true);
  beast::error_code ec;
  std::size_t used = 0;
  while (!ec && !p.is_done() && used < raw.size())
    used += p.put(asio::buffer(raw.data() + used, raw.size() - used), ec);
  if (!ec && !p.is_done()) p.put_eof(ec);
  if (ec || !p.is_done()) return std::nullopt;
  auto req = p.release();
  return to_request(req);
}

struct server::impl {
  options opt;
  store::store& st;
  pipeline::pipeline& pl;
  hooks h;
  const base::clock& clk;

  asio::io_context ioc{1};  // the sockets: one thread that never waits on a request's work
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  // The requests' work (store queries, replays that wait for the pipeline): a replay or a bulk
  // purge never holds /healthz, /metrics or another operator's request.
  asio::thread_pool workers{4};
  // The last hour of the metrics, sampled on a worker (the socket thread only sets the timer).
  history hist;
  asio::steady_timer sampler{ioc};
  // The last audit verification: -1 none yet, 0 failed, 1 verified; and when (ms).
  std::atomic<int> audit_verified{-1};
  std::atomic<std::int64_t> audit_verified_ms{0};

  // The tokens, replaced whole by a reload; a request keeps the set it was authorized with.
  mutable std::mutex tokens_mu;
  std::shared_ptr<const std::vector<token>> tokens;

  impl(options o, store::store& s, pipeline::pipeline& p, hooks hk, const base::clock& c)
      : opt(std::move(o)),
        st(s),
        pl(p),
        h(std::move(hk)),
        clk(c),
        tokens(std::make_shared<const std::vector<token>>(opt.tokens)) {}

  // The agreements and the consent registry of the rules records are decided under now.
  std::vector<std::shared_ptr<const routing::agreement>> agreements() const {
    return pl.current()->agreements;
  }
  std::shared_ptr<const routing::policy_router> policy() const {
    return std::dynamic_pointer_cast<const routing::policy_router>(pl.current()->router);
  }
  std::shared_ptr<const std::vector<token>> tokens_now() const {
    std::lock_guard lk(tokens_mu);
    return tokens;
  }

  // ---- authorization ----

  // Wrong tokens, by client address. Tokens are long random secrets, so this is not what keeps
  // them safe; it makes a scanner or a misconfigured client stop after a few tries instead of
  // filling the log, and makes it visible in the metrics. Every client behind one address (e.g.
  // all of a host's loopback clients) shares its lockout.
  static constexpr int k_max_failures = 10;            // within one window...
  static constexpr std::int64_t k_window_ms = 60'000;  // ...locks the address out this long
  static constexpr std::size_t k_max_tracked = 4096;
  struct failure_state {
    std::int64_t window_start_ms = 0;
    int count = 0;
    std::int64_t locked_until_ms = 0;
  };
  std::unordered_map<std::string, failure_state> failures;
  mutable std::mutex failures_mu;  // the admin workers share `failures`

  std::int64_t locked_for_ms(const std::string& remote, std::int64_t now) const {
    std::lock_guard lk(failures_mu);
    auto it = failures.find(remote);
    return it == failures.end() || it->second.locked_until_ms <= now
               ? 0
               : it->second.locked_until_ms - now;
  }

  void note_failure(const std::string& remote, std::int64_t now) {
    std::lock_guard lk(failures_mu);
    if (failures.size() >= k_max_tracked && !failures.count(remote))
      std::erase_if(failures, [&](const auto& kv) {
        return kv.second.locked_until_ms <= now && now - kv.second.window_start_ms >= k_window_ms;
      });
    if (failures.size() >= k_max_tracked && !failures.count(remote)) return;  // under a flood
    auto& f = failures[remote];
    if (now - f.window_start_ms >= k_window_ms) f = {now, 0, f.locked_until_ms};
    probe().auth_failures.inc("wrong_token");
    if (++f.count < k_max_failures) return;
    f.locked_until_ms = now + k_window_ms;
    f.count = 0;
    f.window_start_ms = now;
    base::log(base::log_level::warn, "admin",
              "too many wrong tokens: the client address is refused for a minute",
              {{"remote", remote}, {"code", "too_many_requests"}});
  }

  static const token* who(const std::vector<token>& all, const std::string& authorization) {
    constexpr std::string_view bearer = "Bearer ";
    if (!authorization.starts_with(bearer)) return nullptr;
    auto presented = std::string_view(authorization).substr(bearer.size());
    const token* found = nullptr;
    // Every token compared in constant time (no early exit on a match either).
    for (const auto& t : all)
      if (base::constant_time_equal(presented, t.secret)) found = &t;
    return found;
  }

  // ---- endpoints ----

  // Every module's metrics (each registered its own), rendered in one place.
  response metrics() {
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

  response queues() {
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

  response dlq_list(const target& t) {
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

  // Appends the operator's action to the audit trail and waits for its commit; false (and an
  // error in the log) when the store did not commit it in time. The completion may come after
  // the wait gave up, so the promise is shared with it.
  bool audit_action(const token& who, std::string_view action, std::string message_id,
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
    st.audit(std::move(a), [done](bool ok) { done->set_value(ok); });
    bool ok = fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready && fut.get();
    if (!ok)
      base::log(base::log_level::error, "admin", "an operator action is not in the audit trail",
                {{"action", std::string(action)},
                 {"token", who.name},
                 {"code", base::code_id(base::errc::io_error)}});
    return ok;
  }

  // Decides the record again (pipeline) and answers with what happened.
  response replay(const token& who, store::replay_source src, std::string what) {
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
      withheld.push_back(json::object{{"recipient", w.recipient},
                                      {"code", base::code_id(w.reason)},
                                      {"agreement", w.agreement}});
    audit_action(who, "replay", message_id, dl ? fmt::format("dead-letter:{}", dl) : what,
                 recipient, o.code == base::errc::ok ? "" : std::string(base::code_id(o.code)));
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

  response trace(const std::string& id) {
    auto t = st.trace(id);
    if (!t.found) return error(404, "not_found", "no message with this id");
    json::array decisions, queued, dead;
    for (const auto& a : t.decisions) decisions.push_back(audit_json(a));
    for (const auto& q : t.queued)
      queued.push_back(json::object{{"recipient", q.recipient},
                                    {"enqueued_at", iso(q.enqueued_ms)},
                                    {"attempts", q.attempts}});
    for (const auto& d : t.dead_letters) dead.push_back(dead_letter_json(d, true));
    json::array accepted;
    for (const auto& r : t.receipts)
      accepted.push_back(json::object{{"recipient", r.recipient},
                                      {"accepted_at", iso(r.accepted_ms)},
                                      {"attempts", r.attempts}});
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

  response agreements_summary() {
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

  // The medication check's unresolved alerts, oldest first; filtered by county and outcome. No
  // name, Medicaid id or drug: a viewer may list them; the trace of the claim leads further.
  response alerts(const target& t) {
    auto county = t.get("county"), outcome = t.get("outcome");
    if (!plain(county) || !plain(outcome))
      return error(400, "bad_request", "county is a FIPS code, outcome an alert's outcome");
    json::array arr;
    if (h.medication) {
      auto open = h.medication->open_alerts();
      std::stable_sort(open.begin(), open.end(), [](const auto& a, const auto& b) {
        return std::tie(a.raised, a.id) < std::tie(b.raised, b.id);
      });
      for (const auto& a : open) {
        auto name = routing::medication::outcome_name(a.result);
        if (!county.empty() && a.county != county) continue;
        if (!outcome.empty() && name != outcome) continue;
        arr.push_back(json::object{
            {"alert", a.id},
            {"claim", a.claim_id},
            {"outcome", name},
            {"county", a.county.empty() ? json::value(nullptr) : json::value(a.county)},
            {"fill_date", a.fill_date},
            {"raised", a.raised}});
      }
    }
    return json_response(
        200, json::object{{"configured", h.medication != nullptr}, {"alerts", std::move(arr)}});
  }

  // What the medication check decided about a claim (for a claim's trace).
  json::value medication_status(const std::string& claim_id) {
    auto s = h.medication ? h.medication->status(claim_id) : std::nullopt;
    if (!s) return nullptr;
    json::array raised;
    for (const auto& a : s->alerts)
      raised.push_back(
          json::object{{"alert", a.resolved ? routing::medication::resolution_id(claim_id, a.result)
                                            : routing::medication::alert_id(claim_id, a.result)},
                       {"outcome", routing::medication::outcome_name(a.result)},
                       {"raised", a.day},
                       {"resolved", a.resolved}});
    json::array pending;
    for (const auto& p : s->pending_on) pending.push_back(json::string(p));
    return json::object{{"outcome", routing::medication::outcome_name(s->last)},
                        {"pending_on", std::move(pending)},
                        {"alerts", std::move(raised)}};
  }

  response consents(const target& t) {
    auto person = t.get("person");
    if (!plain(person))
      return error(400, "bad_request", "person is a client number or Medicaid id");
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

  response disclosures(const target& t) {
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
  response withholdings(const target& t) {
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
      std::string why = w.agreement.empty() ? std::string(base::info(code).summary)
                                            : fmt::format("agreement {}: {}", w.agreement,
                                                          base::info(code).summary);
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

  response audit_verify() {
    auto c = st.verify_audit(opt.audit_key);
    audit_verified = c.ok ? 1 : 0;
    audit_verified_ms = clk.now_ms();
    return json_response(200, json::object{{"ok", c.ok},
                                           {"entries", c.entries},
                                           {"first_bad_seq", c.first_bad_seq},
                                           {"problem", c.problem}});
  }

  response static_file(const std::string& name) {
    // Only plain file names from the dashboard folder.
    if (name.empty() || name.size() > 64 || name.find("..") != std::string::npos || !plain(name) ||
        opt.static_dir.empty())
      return error(404, "not_found", "no such file");
    // A regular file, not a directory (".": libstdc++ throws reading one) nor a link.
    auto p = std::filesystem::path(opt.static_dir) / name;
    std::error_code ec;
    if (name.front() == '.' ||
        !std::filesystem::is_regular_file(std::filesystem::symlink_status(p, ec)))
      return error(404, "not_found", "no such file");
    std::ifstream in(p, std::ios::binary);
    if (!in) return error(404, "not_found", "no such file");
    std::string body{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    return {200, content_type_of(name), std::move(body)};
  }

  // ---- routes ----

  // What a handler gets: the request, its target, the path's {parameters} in order, and the
  // token (null on an open route).
  struct call {
    const request& req;
    const target& t;
    std::vector<std::string> params;
    const token* tok;
  };
  using handler = response (impl::*)(const call&);
  struct route {
    std::string_view method, path;
    access need;
    handler fn;
    std::string_view summary;
  };
  // Every path the server answers (docs/ADMIN-API.md is generated from it; a test checks).
  static const std::vector<route>& routes();

  response healthz(const call&) { return json_response(200, json::object{{"status", "ok"}}); }
  bool ready() const { return h.listener_bound && h.listener_bound() && st.check().reachable; }
  response readyz(const call&) {
    bool bound = h.listener_bound && h.listener_bound();
    // The store's database answers, the schemas are loaded (the pipeline exists), the listener
    // is bound.
    auto db = st.check();
    if (!bound || !db.reachable) {
      json::object o{{"status", "not_ready"}, {"listener", bound}, {"store", db.reachable}};
      if (!db.reachable) {
        o["problem"] = db.problem;
        o["code"] =
            base::code_id(db.code == base::errc::ok ? base::errc::store_unavailable : db.code);
      }
      return json_response(503, std::move(o));
    }
    return json_response(
        200,
        json::object{{"status", "ready"}, {"store", true}, {"schemas", true}, {"listener", true}});
  }
  response metrics_route(const call&) { return metrics(); }
  response dashboard(const call&) { return static_file("index.html"); }
  response static_route(const call& c) { return static_file(c.params[0]); }
  response queues_route(const call&) { return queues(); }

  response pause_route(const call& c) { return pause(c, true); }
  response resume_route(const call& c) { return pause(c, false); }
  response pause(const call& c, bool on) {
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

  response reload_route(const call& c) {
    if (!h.reload) return error(503, "unavailable", "this broker cannot reload");
    auto r = h.reload("admin:" + c.tok->name);
    json::array changed, restart, files, errors;
    for (const auto& s : r.changed) changed.push_back(json::string(s));
    for (const auto& s : r.restart_required) restart.push_back(json::string(s));
    for (const auto& f : r.files)
      files.push_back(json::object{{"kind", f.kind}, {"file", f.file}, {"version", f.version}});
    for (const auto& d : r.errors)
      errors.push_back(json::object{{"code", base::code_id(d.code)},
                                    {"file", d.where},
                                    {"line", d.line},
                                    {"column", d.column},
                                    {"message", d.message},
                                    {"text", base::format(d)}});
    json::object o{{"status", r.ok ? "reloaded" : "refused"},
                   {"generation", r.generation},
                   {"changed", std::move(changed)},
                   {"restart_required", std::move(restart)},
                   {"files", std::move(files)},
                   {"errors", std::move(errors)}};
    if (!r.ok) {
      auto code = r.errors.empty() ? base::errc::config_invalid : r.errors.front().code;
      o["error"] =
          json::object{{"code", base::code_id(code)},
                       {"message", fmt::format("{} problem{}; nothing changed", r.errors.size(),
                                               r.errors.size() == 1 ? "" : "s")}};
    }
    // 422: the files were refused; 503: the store could not record the reload, so nothing
    // changed and a later try may succeed.
    bool store_down =
        !r.ok && !r.errors.empty() && r.errors.front().code == base::errc::store_unavailable;
    return json_response(r.ok ? 200 : store_down ? 503 : 422, o);
  }

  response dlq_list_route(const call& c) { return dlq_list(c.t); }
  response dlq_purge_matching(const call& c) { return dlq_matching(c, false); }
  response dlq_replay_matching(const call& c) { return dlq_matching(c, true); }
  // By filter: every dead letter that matches (at least one filter, at most 1000 at a time).
  response dlq_matching(const call& c, bool replaying) {
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
        audit_action(*c.tok, "purge", d.message_id, fmt::format("dead-letter:{}", d.id),
                     d.recipient, d.code);
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

  response dlq_show(const call& c) {
    auto id = to_id(c.params[0]);
    if (!id) return error(404, "not_found", "a dead letter id is a number");
    auto d = st.dead_letter_by_id(*id);
    if (!d) return error(404, base::code_id(base::errc::replay_not_found), "no such dead letter");
    return json_response(200, dead_letter_json(*d, true));
  }
  response dlq_purge(const call& c) {
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
  response dlq_replay(const call& c) {
    auto id = to_id(c.params[0]);
    if (!id) return error(404, "not_found", "a dead letter id is a number");
    auto src = st.replay_dead_letter(*id);
    if (!src) return error(404, base::code_id(src.errors()[0].code), src.errors()[0].message);
    return replay(*c.tok, std::move(*src), {});
  }

  response trace_route(const call& c) {
    if (!base::valid_message_id(c.params[0])) return error(404, "not_found", "not a message id");
    return trace(c.params[0]);
  }
  // A search over the message log: each filter given must hold; newest first, a page at a time.
  // Results say what became of each message, never what it held.
  response messages_route(const call& c) {
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
        recipients.push_back(json::object{
            {"recipient", r.name},
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
  response replay_withheld(const call& c) {
    const auto& id = c.params[0];
    if (!base::valid_message_id(id)) return error(404, "not_found", "not a message id");
    auto recipient = c.t.get("recipient");
    if (recipient.empty() || !plain(recipient))
      return error(400, "bad_request", "recipient is required: whose decision to take again");
    auto src = st.replay_withheld(id, recipient);
    if (!src) return error(404, base::code_id(src.errors()[0].code), src.errors()[0].message);
    return replay(*c.tok, std::move(*src), "withheld");
  }

  response agreements_route(const call&) { return agreements_summary(); }
  response consents_route(const call& c) { return consents(c.t); }
  response alerts_route(const call& c) { return alerts(c.t); }
  response disclosures_route(const call& c) { return disclosures(c.t); }
  response withholdings_route(const call& c) { return withholdings(c.t); }
  response audit_verify_route(const call&) { return audit_verify(); }
  // The rules records are decided under now: each mapping and agreement file with its version
  // (the content hash the audit trail names), their generation and when they were loaded.
  response config_route(const call&) {
    auto r = pl.current();
    json::array files;
    for (const auto& m : r->lib->mappings())
      files.push_back(json::object{{"kind", "mapping"},
                                   {"file", m->file()},
                                   {"version", m->version()},
                                   {"agency", m->agency()},
                                   {"record_type", m->record_type()},
                                   {"exchange", m->exchange()}});
    for (const auto& a : r->agreements)
      files.push_back(json::object{{"kind", "agreement"},
                                   {"file", a->file},
                                   {"version", a->content_version},
                                   {"agreement", a->label()}});
    // With other brokers sharing the store: what each reported after the last reload.
    json::array replicas;
    for (const auto& [key, value] : st.settings(std::string(k_reload_result))) {
      auto w = base::split(value, ' ');
      if (w.size() < 6) continue;
      replicas.push_back(json::object{{"replica", key.substr(k_reload_result.size())},
                                      {"content_hash", w[0]},
                                      {"generation", w[1]},
                                      {"outcome", w[2]},
                                      {"after_reload_of", w[3]},
                                      {"same_as_announced", w[0] == w[4]},
                                      {"at", iso(to_id(w[5]).value_or(0))}});
    }
    return json_response(200, json::object{{"generation", r->generation},
                                           {"loaded_at", iso(r->loaded_ms)},
                                           {"content_hash", pipeline::content_hash(*r)},
                                           {"replica", st.replica_id()},
                                           {"replicas", std::move(replicas)},
                                           {"files", std::move(files)}});
  }
  response whoami(const call& c) {
    return json_response(200, json::object{{"name", c.tok->name}, {"role", role_name(c.tok->r)}});
  }

  // ---- history and conditions ----

  void schedule_sample() {
    sampler.expires_after(std::chrono::milliseconds(opt.history_interval_ms));
    sampler.async_wait([this](beast::error_code ec) {
      if (ec) return;
      asio::post(workers, [this] { sample(); });
      schedule_sample();
    });
  }
  void sample() { hist.add(clk.now_ms(), metrics().body); }

  response conditions_route(const call&) {
    auto ring = hist.samples();
    json::array holding;
    std::set<std::string_view> firing;
    for (const auto& c : evaluate(ring)) {
      if (c.firing) firing.insert(c.c->name);
      holding.push_back(json::object{{"name", c.c->name},
                                     {"severity", c.c->severity},
                                     {"state", c.firing ? "firing" : "pending"},
                                     {"label", c.c->by},
                                     {"group", c.group},
                                     {"value", c.value},
                                     {"since", iso(c.since_ms)},
                                     {"summary", with_label(c.c->summary, c.group)},
                                     {"action", with_label(c.c->action, c.group)}});
    }
    json::array all;
    for (const auto& c : conditions())
      all.push_back(json::object{{"name", c.name},
                                 {"severity", c.severity},
                                 {"expr", promql(c)},
                                 {"firing", firing.count(c.name) > 0}});
    return json_response(
        200, json::object{{"samples", ring.size()},
                          {"evaluated_at",
                           ring.empty() ? json::value() : json::value(iso(ring.back().at_ms))},
                          {"holding", std::move(holding)},
                          {"conditions", std::move(all)}});
  }

  // The last hour as columns (one value per sample after the first), the shape uPlot draws:
  // rates per second, per-interval counts, depth, and latency quantiles.
  response history_route(const call&) {
    auto ring = hist.samples();
    json::array t, ingest, delivery, p50, p99;
    std::map<std::string, json::array> depth, dead, withheld;
    std::set<std::string> queues, dead_codes, withheld_codes;
    for (const auto& s : ring) {
      for (const auto& [q, v] : sum_by(s, "niem_queue_depth", "queue")) queues.insert(q);
      for (const auto& [c, v] : sum_by(s, "niem_dead_lettered_total", "code")) dead_codes.insert(c);
      for (const auto& [c, v] : sum_by(s, "niem_withheld_total", "code")) withheld_codes.insert(c);
    }
    auto total = [](const history::sample& s, std::string_view name) {
      auto m = sum_by(s, name, "");
      return m.empty() ? 0.0 : m.begin()->second;
    };
    auto delta = [](double now, double was) { return now >= was ? now - was : now; };
    for (std::size_t i = 1; i < ring.size(); ++i) {
      const auto &a = ring[i - 1], &b = ring[i];
      double dt = static_cast<double>(b.at_ms - a.at_ms) / 1000.0;
      if (dt <= 0) continue;
      t.push_back(static_cast<double>(b.at_ms) / 1000.0);
      ingest.push_back(
          delta(total(b, "niem_records_received_total"), total(a, "niem_records_received_total")) /
          dt);
      delivery.push_back(
          delta(total(b, "niem_queue_accepted_total"), total(a, "niem_queue_accepted_total")) / dt);
      auto d = sum_by(b, "niem_queue_depth", "queue");
      for (const auto& q : queues) depth[q].push_back(d.count(q) ? d[q] : 0.0);
      auto per_interval = [&](std::string_view name, const std::set<std::string>& codes,
                              std::map<std::string, json::array>& into) {
        auto now = sum_by(b, name, "code"), was = sum_by(a, name, "code");
        for (const auto& c : codes) into[c].push_back(delta(now[c], was[c]));
      };
      per_interval("niem_dead_lettered_total", dead_codes, dead);
      per_interval("niem_withheld_total", withheld_codes, withheld);
      auto quantile = [&](double q) {
        auto v = quantile_between(a, b, "niem_ingest_to_delivery_seconds", q);
        return v ? json::value(*v) : json::value(nullptr);
      };
      p50.push_back(quantile(0.5));
      p99.push_back(quantile(0.99));
    }
    auto object_of = [](std::map<std::string, json::array>& m) {
      json::object o;
      for (auto& [k, v] : m) o[k] = std::move(v);
      return o;
    };
    return json_response(200, json::object{{"interval_seconds", opt.history_interval_ms / 1000.0},
                                           {"t", std::move(t)},
                                           {"ingest_per_second", std::move(ingest)},
                                           {"delivery_per_second", std::move(delivery)},
                                           {"depth", object_of(depth)},
                                           {"dead_letters", object_of(dead)},
                                           {"withheld", object_of(withheld)},
                                           {"latency_p50_seconds", std::move(p50)},
                                           {"latency_p99_seconds", std::move(p99)}});
  }

  // The route for a path, with its parameters; `path_known` says whether another method would
  // have matched (405 rather than 404).
  static const route* find_route(std::string_view method, const std::vector<std::string>& segs,
                                 std::vector<std::string>& params, bool& path_known) {
    path_known = false;
    for (const auto& r : routes()) {
      auto pat = base::split(r.path.substr(1), '/');
      if (r.path == "/") pat.clear();
      if (pat.size() != segs.size()) continue;
      std::vector<std::string> got;
      bool match = true;
      for (std::size_t i = 0; i < pat.size() && match; ++i) {
        if (pat[i].starts_with('{'))
          got.push_back(segs[i]);
        else
          match = pat[i] == segs[i];
      }
      if (!match) continue;
      path_known = true;
      if (r.method != method) continue;
      params = std::move(got);
      return &r;
    }
    return nullptr;
  }

  response handle(const request& req) {
    auto t = parse_target(req.target);
    std::vector<std::string> params;
    bool path_known = false;
    const route* r = find_route(req.method, t.segments, params, path_known);
    // The dashboard (the page itself holds no data; its API calls carry the token).
    if (r && r->need == access::page) return (this->*(r->fn))({req, t, std::move(params), nullptr});

    const auto now = clk.now_ms();
    if (auto wait = locked_for_ms(req.remote, now)) {
      probe().auth_failures.inc("locked_out");
      auto e = error(429, "too_many_requests",
                     "too many wrong tokens from this address; try again later");
      e.retry_after_seconds = static_cast<unsigned>((wait + 999) / 1000);
      return e;
    }
    auto toks = tokens_now();  // held until the request is answered
    const token* tok = who(*toks, req.authorization);
    if (!tok && !req.authorization.empty()) note_failure(req.remote, now);
    if (r && r->need == access::health && (!opt.protect_health || tok))
      return (this->*(r->fn))({req, t, std::move(params), tok});
    const bool api = !t.segments.empty() && t.segments[0] == "api";
    if (!r && !path_known && !api) return error(404, "not_found", "no such path");
    if (!tok) return error(401, "unauthorized", "a bearer token is required");
    if (!r && path_known) return error(405, "method_not_allowed", allowed(t.segments));
    if (!r) return error(404, "not_found", "no such path");
    if (r->need == access::operator_ && tok->r != role::operator_)
      return error(403, "forbidden", "this action needs an operator token");
    return (this->*(r->fn))({req, t, std::move(params), tok});
  }

  // "use GET, POST": the methods a known path takes.
  static std::string allowed(const std::vector<std::string>& segs) {
    std::string out;
    for (const auto* m : {"GET", "POST", "DELETE"}) {
      std::vector<std::string> p;
      bool known = false;
      if (find_route(m, segs, p, known)) out += fmt::format("{}{}", out.empty() ? "use " : ", ", m);
    }
    return out;
  }

  // ---- HTTP ----

  // One connection: plain HTTP, or HTTPS (a TLS handshake first).
  template <class Stream>
  class session : public std::enable_shared_from_this<session<Stream>> {
   public:
    template <class... A>
    session(impl& ad, A&&... a) : stream_(std::forward<A>(a)...), ad_(ad) {}
    void start() {
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        read();
      } else {
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
        stream_.async_handshake(ssl::stream_base::server,
                                [self = this->shared_from_this()](beast::error_code ec) {
                                  if (!ec) self->read();  // a failed handshake just closes
                                });
      }
    }

   private:
    void read() {
      parser_.emplace();
      limit(*parser_);
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
      http::async_read(stream_, buffer_, *parser_,
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         self->on_read(ec);
                       });
    }

    void on_read(beast::error_code ec) {
      if (ec) return close();
      auto req = parser_->release();
      request r = to_request(req);
      beast::error_code ep_ec;
      auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ep_ec);
      r.remote = ep_ec ? "unknown" : ep.address().to_string();
      // The work on a worker; the answer back on the socket's thread. The session stays alive
      // through both (each holds a reference), and reads nothing more until it has answered.
      asio::post(ad_.workers, [self = this->shared_from_this(), r = std::move(r),
                               keep = req.keep_alive(), version = req.version()]() mutable {
        response out;
        try {
          out = self->ad_.handle(r);
        } catch (const std::exception&) {
          // Never expected; the request gets an error and the server goes on.
          base::log(base::log_level::error, "admin", "request failed",
                    {{"code", base::code_id(base::errc::internal)}});
          out = error(500, base::code_id(base::errc::internal), "internal error");
        }
        asio::post(self->stream_.get_executor(),
                   [self, out = std::move(out), keep, version]() mutable {
                     self->respond(std::move(out), keep, version);
                   });
      });
    }

    void respond(response r, bool keep, unsigned version) {
      auto res = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(r.status), version ? version : 11);
      res->set(http::field::server, "niem-broker");
      res->set(http::field::content_type, r.content_type);
      res->set(http::field::cache_control, "no-store");
      res->set("X-Content-Type-Options", "nosniff");
      res->set("Content-Security-Policy",
               "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'");
      if constexpr (!std::is_same_v<Stream, beast::tcp_stream>)
        res->set(http::field::strict_transport_security, "max-age=31536000");
      if (r.status == 401) res->set(http::field::www_authenticate, "Bearer");
      if (r.retry_after_seconds)
        res->set(http::field::retry_after, std::to_string(r.retry_after_seconds));
      res->keep_alive(keep);
      res->body() = std::move(r.body);
      res->prepare_payload();
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
      http::async_write(
          stream_, *res,
          [self = this->shared_from_this(), res, keep](beast::error_code ec, std::size_t) {
            if (!ec && keep) return self->read();
            self->close();
          });
    }

    void close() {
      beast::error_code ec;
      beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    impl& ad_;
  };

  std::optional<ssl::context> tls;

  void accept() {
    acceptor.async_accept(ioc, [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (tls)
          std::make_shared<session<ssl::stream<beast::tcp_stream>>>(*this, std::move(s), *tls)
              ->start();
        else
          std::make_shared<session<beast::tcp_stream>>(*this, std::move(s))->start();
      }
      accept();
    });
  }
};

const std::vector<server::impl::route>& server::impl::routes() {
  // Literal paths before parameters: /api/dlq/replay before /api/dlq/{id}.
  static const std::vector<route> table{
      {"GET", "/", access::page, &impl::dashboard, "the dashboard"},
      {"GET", "/index.html", access::page, &impl::dashboard, "the dashboard"},
      {"GET", "/static/{file}", access::page, &impl::static_route, "the dashboard's files"},
      {"GET", "/healthz", access::health, &impl::healthz, "the process answers"},
      {"GET", "/readyz", access::health, &impl::readyz,
       "ready: store reachable, schemas loaded, listener bound (503 and why otherwise)"},
      {"GET", "/metrics", access::health, &impl::metrics_route, "Prometheus text"},
      {"GET", "/api/queues", access::viewer, &impl::queues_route,
       "each subscriber's queue: depth, oldest age, counts, paused"},
      {"POST", "/api/queues/{recipient}/pause", access::operator_, &impl::pause_route,
       "hold delivery to a subscriber (kept across restarts; audited)"},
      {"POST", "/api/queues/{recipient}/resume", access::operator_, &impl::resume_route,
       "resume delivery to a subscriber (audited)"},
      {"GET", "/api/dlq", access::viewer, &impl::dlq_list_route,
       "dead letters: ?code=&recipient=&agency=&limit=&before="},
      {"DELETE", "/api/dlq", access::operator_, &impl::dlq_purge_matching,
       "purge the dead letters a filter matches (?code=&recipient=&agency=; audited)"},
      {"POST", "/api/dlq/replay", access::operator_, &impl::dlq_replay_matching,
       "replay the dead letters a filter matches (audited)"},
      {"GET", "/api/dlq/{id}", access::viewer, &impl::dlq_show, "one dead letter, diagnostics"},
      {"DELETE", "/api/dlq/{id}", access::operator_, &impl::dlq_purge,
       "purge one dead letter (audited)"},
      {"POST", "/api/dlq/{id}/replay", access::operator_, &impl::dlq_replay,
       "replay one dead letter (audited)"},
      {"GET", "/api/messages", access::viewer, &impl::messages_route,
       "find messages: ?key=&person=&exchange=&agency=&recipient=&status=&from=&to=&limit=&"
       "before= (newest first; each with its status and trace)"},
      {"GET", "/api/messages/{id}/trace", access::viewer, &impl::trace_route,
       "a message's path: receipt, each recipient's decision, delivery"},
      {"POST", "/api/messages/{id}/replay", access::operator_, &impl::replay_withheld,
       "take a withheld decision again: ?recipient= (audited)"},
      {"GET", "/api/agreements", access::viewer, &impl::agreements_route,
       "the agreements, their status and recipients"},
      {"GET", "/api/consents", access::viewer, &impl::consents_route, "consents: ?person="},
      {"GET", "/api/alerts", access::viewer, &impl::alerts_route,
       "open medication alerts: ?county=&outcome="},
      {"GET", "/api/disclosures", access::viewer, &impl::disclosures_route,
       "the accounting of disclosures: ?person="},
      {"GET", "/api/withholdings", access::viewer, &impl::withholdings_route,
       "why records were withheld lately: ?recipient=&hours="},
      {"GET", "/api/audit/verify", access::viewer, &impl::audit_verify_route,
       "verify the audit trail's hash chain"},
      {"GET", "/api/conditions", access::viewer, &impl::conditions_route,
       "the alert conditions (deploy/prometheus/alerts.yml) that hold now, over the last hour"},
      {"GET", "/api/history", access::viewer, &impl::history_route,
       "the last hour: ingest and delivery rates, depth per queue, dead letters and withheld "
       "decisions by code, latency p50 and p99"},
      {"GET", "/api/whoami", access::viewer, &impl::whoami, "the token's name and role"},
      {"GET", "/api/config", access::viewer, &impl::config_route,
       "the rules in force: each mapping and agreement file with its version (content hash), "
       "their generation and when they were loaded"},
      {"POST", "/api/reload", access::operator_, &impl::reload_route,
       "re-read mappings, agreements, subscriptions and tokens; all or nothing (audited)"},
  };
  return table;
}

std::string api_reference() {
  std::string out = "| Method | Path | Who | What |\n|---|---|---|---|\n";
  for (const auto& r : server::impl::routes())
    out +=
        fmt::format("| {} | `{}` | {} | {} |\n", r.method, r.path, access_name(r.need), r.summary);
  return out;
}

server::server(options opt, store::store& st, pipeline::pipeline& pl, hooks h,
               const base::clock& clk)
    : impl_(std::make_unique<impl>(std::move(opt), st, pl, std::move(h), clk)) {
  // The store's gauges are read when /metrics is scraped, for the queues the broker keeps.
  store_gauges_ = store::register_probe(st, impl_->h.recipients, clk);
  (void)probe();
}

void server::set_tokens(std::vector<token> tokens) {
  auto next = std::make_shared<const std::vector<token>>(std::move(tokens));
  std::lock_guard lk(impl_->tokens_mu);
  impl_->tokens = std::move(next);
}

server::~server() {
  stop();
}

std::uint16_t server::start(std::string& err) {
  beast::error_code ec;
  if (impl_->opt.tls) {
    // TLS 1.2 or later; with a CA, a client certificate is required and checked.
    try {
      auto& t = *impl_->opt.tls;
      impl_->tls.emplace(ssl::context::tls_server);
      auto& c = *impl_->tls;
      c.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      c.use_certificate_chain_file(t.certificate);
      c.use_private_key_file(t.key, ssl::context::pem);
      if (!t.ca.empty()) {
        c.load_verify_file(t.ca);
        c.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      }
    } catch (const std::exception& e) {
      err = std::string("TLS: ") + e.what();
      return 0;
    }
  }
  auto addr = asio::ip::make_address(impl_->opt.host, ec);
  if (ec) {
    err = "not an IP address: " + impl_->opt.host;
    return 0;
  }
  tcp::endpoint ep(addr, impl_->opt.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    err = ec.message();
    return 0;
  }
  auto port = a.local_endpoint().port();
  impl_->accept();
  asio::post(impl_->workers, [this] { impl_->sample(); });
  impl_->schedule_sample();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
  return port;
}

void server::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    impl_->ioc.stop();
  });
  impl_->thread.join();
  // Work still running (a replay waits for the pipeline at most 30 s) finishes; its answer is
  // posted to a stopped loop and dropped with the connection.
  impl_->workers.join();
}

response server::handle(const request& req) {
  return impl_->handle(req);
}

void server::sample_history() {
  impl_->sample();
}

}  // namespace niem::admin
