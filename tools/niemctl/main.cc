// niemctl: the ops staff's command line for a running niem-broker, over its admin HTTP API.
// Human-readable tables by default, --json for scripts; exit codes scripts can rely on.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "base/error.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
namespace base = niem::base;

namespace {

const char* k_usage = R"(usage: niemctl [--url URL] [--token TOKEN] [--json] COMMAND

Commands:
  queues                                    every subscriber queue: depth, oldest age, counters
  dlq list [--code C] [--recipient R] [--agency A] [--limit N]
                                            dead letters, newest first, with their reason
  dlq show ID                               one dead letter with its diagnostics
  dlq replay ID | --code C [--recipient R] [--agency A]
                                            decide again under today's mappings and policy
  dlq purge ID | --code C [--recipient R] [--agency A]
                                            remove for good (audited)
  replay MESSAGE-ID --recipient R           take a withheld decision again
  pause QUEUE | resume QUEUE                hold or resume delivery to one subscriber (audited)
  reload                                    re-read the configuration's mappings, agreements,
                                            subscriptions and admin tokens: all or nothing
                                            (audited; the same as SIGHUP)
  trace MESSAGE-ID                          received, mapped, each recipient's decision, delivered
  messages [--record-key K] [--person ID] [--exchange E] [--agency A] [--recipient R]
           [--status S] [--from T] [--to T] [--limit N] [--before MESSAGE-ID]
                                            find messages, newest first, with what became of
                                            each (T: 2026-12-03T10:00:00Z or a date)
  disclosures --person ID                   the accounting of disclosures for one child
  audit verify                              verify the audit trail's hash chain
  agreements                                the agreements and whether each is in effect
  config                                    the rules in force: each mapping and agreement file
                                            with its version (the audit trail names it)
  withheld [--recipient R] [--hours H]      why records were withheld from each recipient in the
                                            last H hours (default 24), by code and agreement
  consents --person ID                      a child's consents and whether each holds today
  alerts [--county FIPS] [--outcome O]      the medication check's open alerts, oldest first
  conditions                                the alert conditions (deploy/prometheus/alerts.yml)
                                            that hold now, as the broker evaluates them
  errors [CODE]                             the error catalogue, or one code's entry (offline)
  errors markdown                           the catalogue as docs/ERRORS.md's table

The broker's admin address and token come from --url and --token, or NIEMCTL_URL and
NIEMCTL_TOKEN (default URL http://127.0.0.1:8081). For https:// URLs: --ca FILE (the CA that
issued the broker's certificate; default the system's), and when the broker asks for a client
certificate, --cert FILE --key FILE (or NIEMCTL_CA, NIEMCTL_CERT, NIEMCTL_KEY).
Exit codes: 0 done; 1 done, but the answer is bad news (a replay that failed again, a broken audit
chain, nothing found); 2 usage; 3 not authorized (no or wrong token, a viewer's token for an
operator's command, or locked out after too many wrong tokens); 4 the broker could not be reached or failed.
)";

int usage(const std::string& why) {
  std::fprintf(stderr, "niemctl: %s\n\n%s", why.c_str(), k_usage);
  return 2;
}

struct reply {
  unsigned status = 0;
  json::value body;
  std::string error;  // transport error
};

struct client {
  std::string host = "127.0.0.1", port = "8081", token;
  bool https = false;
  std::string ca, cert, key;  // HTTPS: the CA to trust; a client certificate if the broker asks

  bool set_url(const std::string& url) {
    std::string rest = url;
    https = rest.starts_with("https://");
    if (rest.starts_with("http://"))
      rest = rest.substr(7);
    else if (https)
      rest = rest.substr(8);
    else if (rest.find("://") != std::string::npos)
      return false;
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) {
      host = rest;
      port = https ? "443" : "80";
    } else {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    return !host.empty() && !port.empty();
  }

  reply call(http::verb verb, const std::string& target) {
    reply r;
    try {
      asio::io_context ioc;
      asio::ip::tcp::resolver resolver(ioc);
      if (!https) {
        beast::tcp_stream stream(ioc);
        stream.expires_after(std::chrono::seconds(60));
        stream.connect(resolver.resolve(host, port));
        exchange(stream, verb, target, r);
        beast::error_code ignored;
        stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        return r;
      }
      // HTTPS: the broker's certificate is verified (the CA given, else the system's) against
      // the host name.
      ssl::context ctx(ssl::context::tls_client);
      if (!ca.empty())
        ctx.load_verify_file(ca);
      else
        ctx.set_default_verify_paths();
      if (!cert.empty()) {
        ctx.use_certificate_chain_file(cert);
        ctx.use_private_key_file(key.empty() ? cert : key, ssl::context::pem);
      }
      ctx.set_verify_mode(ssl::verify_peer);
      ssl::stream<beast::tcp_stream> stream(ioc, ctx);
      if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()))
        throw std::runtime_error("cannot set the TLS server name");
      stream.set_verify_callback(ssl::host_name_verification(host));
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(60));
      beast::get_lowest_layer(stream).connect(resolver.resolve(host, port));
      stream.handshake(ssl::stream_base::client);
      exchange(stream, verb, target, r);
      beast::error_code ignored;
      stream.shutdown(ignored);  // the peer may just close; that is fine here
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }

  template <class Stream>
  void exchange(Stream& stream, http::verb verb, const std::string& target, reply& r) {
    {
      http::request<http::string_body> req(verb, target, 11);
      req.set(http::field::host, host);
      req.set(http::field::user_agent, "niemctl");
      if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
      req.prepare_payload();
      http::write(stream, req);
      beast::flat_buffer buf;
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      http::read(stream, buf, parser);
      auto res = parser.release();
      r.status = res.result_int();
      boost::system::error_code ec;
      r.body = json::parse(res.body(), ec);
      if (ec) r.body = json::object{{"text", res.body()}};
    }
  }
};

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  if (v.is_bool()) return v.as_bool() ? "yes" : "no";
  if (v.is_double()) return fmt::format("{:.1f}", v.as_double());
  return json::serialize(v);
}

const json::value& at(const json::value& v, std::string_view k) {
  static const json::value none;
  if (!v.is_object()) return none;
  auto* p = v.as_object().if_contains(k);
  return p ? *p : none;
}

void table(const std::vector<std::string>& head,
           const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i)
      s += fmt::format("{:<{}}{}", r[i], w[i], i + 1 < r.size() ? "  " : "");
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::puts(s.c_str());
  };
  line(head);
  for (const auto& r : rows) line(r);
}

// Maps an answer to an exit code, printing the error if there is one.
int failed(const reply& r) {
  if (!r.error.empty()) {
    std::fprintf(stderr, "niemctl: cannot reach the broker: %s\n", r.error.c_str());
    return 4;
  }
  if (r.status >= 200 && r.status < 300) return 0;
  auto code = str(at(at(r.body, "error"), "code"));
  auto msg = str(at(at(r.body, "error"), "message"));
  std::fprintf(stderr, "niemctl: %u %s: %s\n", r.status, code.c_str(), msg.c_str());
  // 429: this address presented too many wrong tokens and is locked out for a while.
  if (r.status == 401 || r.status == 403 || r.status == 429) return 3;
  if (r.status == 404 || r.status == 400) return 1;
  return 4;
}

std::string query(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string q;
  for (const auto& [k, v] : kv) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=";
    for (unsigned char c : v) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '@' || c == ':')
        q += static_cast<char>(c);
      else
        q += fmt::format("%{:02X}", c);
    }
  }
  return q;
}

std::string escape_path(const std::string& s) {
  return query({{"x", s}}).substr(3);
}

// Appends `item` to a list written as text, after `sep` unless it is the first. (Written out
// rather than as `(list.empty() ? "" : sep) + item`, which GCC 12 at -O3 warns about falsely.)
void append_item(std::string& list, std::string_view sep, const std::string& item) {
  if (!list.empty()) list += sep;
  list += item;
}

void print_replay(const json::value& b) {
  std::string withheld;
  if (at(b, "withheld").is_array())
    for (const auto& w : at(b, "withheld").as_array())
      withheld += fmt::format("{}{} ({})", withheld.empty() ? "" : ", ", str(at(w, "recipient")),
                              str(at(w, "code")));
  std::string queued;
  if (at(b, "queued").is_array())
    for (const auto& q : at(b, "queued").as_array()) append_item(queued, ", ", str(q));
  std::printf("%s: %s%s%s%s\n", str(at(b, "message_id")).c_str(), str(at(b, "outcome")).c_str(),
              queued.empty() ? "" : ("; queued for " + queued).c_str(),
              withheld.empty() ? "" : ("; withheld from " + withheld).c_str(),
              at(b, "code").is_null()
                  ? ""
                  : (" [" + str(at(b, "code")) + " " + str(at(b, "detail")) + "]").c_str());
}

// The command line: the client, the options and arguments, and one function per command.
struct command_line {
  client c;
  bool as_json = false;
  std::vector<std::string> args;
  std::map<std::string, std::string> opts;
  std::string cmd;

  std::string opt(const std::string& k) const {
    auto it = opts.find(k);
    return it == opts.end() ? std::string() : it->second;
  }
  std::string arg(std::size_t i) const { return i < args.size() ? args[i] : std::string(); }
  void emit_json(const reply& r) const { std::puts(json::serialize(r.body).c_str()); }

  int cmd_errors();
  int cmd_queues();
  int cmd_dlq();
  int cmd_replay();
  int cmd_pause();
  int cmd_reload();
  int cmd_trace();
  int cmd_messages();
  int cmd_disclosures();
  int cmd_audit();
  int cmd_config();
  int cmd_agreements();
  int cmd_withheld();
  int cmd_consents();
  int cmd_alerts();
  int cmd_conditions();
};

// offline: the catalogue this niemctl was built with
int command_line::cmd_errors() {
  if (arg(1) == "markdown") return std::fputs(base::catalogue_markdown().c_str(), stdout), 0;
  json::array out;
  for (const auto& e : base::catalogue()) {
    if (e.code == base::errc::ok || (!arg(1).empty() && arg(1) != e.id && arg(1) != e.name))
      continue;
    out.push_back(json::object{{"code", e.id}, {"name", e.name}, {"meaning", e.meaning}});
    if (!as_json)
      std::printf("%s  %-32s %s\n", std::string(e.id).c_str(), std::string(e.name).c_str(),
                  std::string(e.meaning).c_str());
  }
  if (as_json) std::puts(json::serialize(out).c_str());
  if (out.empty()) return std::fprintf(stderr, "niemctl: no code %s\n", arg(1).c_str()), 1;
  return 0;
}

int command_line::cmd_queues() {
  auto r = c.call(http::verb::get, "/api/queues");
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& q : at(r.body, "queues").as_array())
    rows.push_back({str(at(q, "recipient")) +
                        (at(q, "paused").is_bool() && at(q, "paused").as_bool() ? " (paused)" : ""),
                    str(at(q, "depth")),
                    fmt::format("{:.1f}s", at(q, "oldest_age_seconds").to_number<double>()),
                    str(at(q, "enqueued")), str(at(q, "delivered")), str(at(q, "accepted")),
                    str(at(q, "redelivered")), str(at(q, "expired"))});
  table({"QUEUE", "DEPTH", "OLDEST", "ENQUEUED", "DELIVERED", "ACCEPTED", "REDELIVERED", "EXPIRED"},
        rows);
  std::printf("\ndead letters: %s\n", str(at(r.body, "dead_letters")).c_str());
  return 0;
}

int command_line::cmd_dlq() {
  auto sub = arg(1);
  auto filter = query({{"code", opt("code")},
                       {"recipient", opt("recipient")},
                       {"agency", opt("agency")},
                       {"limit", opt("limit")}});
  if (sub == "list") {
    auto r = c.call(http::verb::get, "/api/dlq" + filter);
    if (int rc = failed(r)) return rc;
    if (as_json) return emit_json(r), 0;
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : at(r.body, "dead_letters").as_array())
      rows.push_back({str(at(d, "id")), str(at(d, "dead_at")), str(at(d, "code")),
                      str(at(d, "agency")), str(at(d, "recipient")), str(at(d, "record_key")),
                      str(at(d, "message_id")), str(at(d, "reason"))});
    table({"ID", "DEAD AT", "CODE", "AGENCY", "RECIPIENT", "RECORD KEY", "MESSAGE", "REASON"},
          rows);
    return 0;
  }
  if (sub == "show") {
    if (arg(2).empty()) return usage("dlq show ID");
    auto r = c.call(http::verb::get, "/api/dlq/" + escape_path(arg(2)));
    if (int rc = failed(r)) return rc;
    if (as_json) return emit_json(r), 0;
    for (auto k : {"id", "message_id", "agency", "record_type", "recipient", "exchange",
                   "record_key", "code", "reason", "dead_at", "attempts"})
      std::printf("%-12s %s\n", k, str(at(r.body, k)).c_str());
    std::puts("diagnostics:");
    for (const auto& d : at(r.body, "diagnostics").as_array())
      std::printf("  %s %s %s %s\n", str(at(d, "code")).c_str(), str(at(d, "where")).c_str(),
                  str(at(d, "field")).c_str(), str(at(d, "message")).c_str());
    return 0;
  }
  if (sub == "replay" || sub == "purge") {
    std::vector<std::string> ids;
    if (!arg(2).empty()) {
      ids.push_back(arg(2));
    } else if (!opt("code").empty() || !opt("recipient").empty() || !opt("agency").empty()) {
      // The broker applies the filter (each dead letter audited on its own).
      auto r = sub == "replay" ? c.call(http::verb::post, "/api/dlq/replay" + filter)
                               : c.call(http::verb::delete_, "/api/dlq" + filter);
      if (int rc = failed(r)) return rc;
      if (as_json) return emit_json(r), 0;
      if (sub == "purge") {
        std::printf("%s dead letter(s) purged\n", str(at(r.body, "purged")).c_str());
        return 0;
      }
      for (const auto& x : at(r.body, "results").as_array()) print_replay(x);
      if (at(r.body, "results").as_array().empty()) std::puts("no dead letter matches");
      return at(r.body, "accepted") == at(r.body, "replayed") ? 0 : 1;
    } else {
      return usage("dlq " + sub + " needs an ID or a filter (--code, --recipient, --agency)");
    }
    int worst = 0;
    json::array results;
    for (const auto& id : ids) {
      auto r = sub == "replay" ? c.call(http::verb::post, "/api/dlq/" + escape_path(id) + "/replay")
                               : c.call(http::verb::delete_, "/api/dlq/" + escape_path(id));
      if (int rc = failed(r)) {
        worst = std::max(worst, rc);
        if (rc >= 3) return rc;
        continue;
      }
      if (as_json) {
        results.push_back(r.body);
      } else if (sub == "replay") {
        print_replay(r.body);
      } else {
        std::printf("dead letter %s purged\n", id.c_str());
      }
      if (sub == "replay" && str(at(r.body, "outcome")) != "accepted") worst = std::max(worst, 1);
    }
    if (as_json) std::puts(json::serialize(results).c_str());
    if (ids.empty() && !as_json) std::puts("no dead letter matches");
    return worst;
  }
  return usage("dlq list|show|replay|purge");
}

int command_line::cmd_replay() {
  if (arg(1).empty() || opt("recipient").empty()) return usage("replay MESSAGE-ID --recipient R");
  auto r = c.call(http::verb::post, "/api/messages/" + escape_path(arg(1)) + "/replay" +
                                        query({{"recipient", opt("recipient")}}));
  if (int rc = failed(r)) return rc;
  if (as_json)
    emit_json(r);
  else
    print_replay(r.body);
  return str(at(r.body, "outcome")) == "accepted" ? 0 : 1;
}

int command_line::cmd_pause() {
  if (arg(1).empty()) return usage(cmd + " QUEUE");
  auto r = c.call(http::verb::post, "/api/queues/" + escape_path(arg(1)) + "/" + cmd);
  if (int rc = failed(r)) return rc;
  if (as_json)
    emit_json(r);
  else
    std::printf("%s: delivery %s\n", arg(1).c_str(), cmd == "pause" ? "paused" : "resumed");
  return 0;
}

int command_line::cmd_reload() {
  auto r = c.call(http::verb::post, "/api/reload");
  // 422: the new rules were refused; every problem is printed, as the broker's log has them.
  if (r.error.empty() && r.status == 422 && !as_json) {
    auto errors = at(r.body, "errors");
    if (errors.is_array())
      for (const auto& e : errors.as_array())
        std::fprintf(stderr, "%s\n", str(at(e, "text")).c_str());
    std::fprintf(stderr, "niemctl: reload refused: %s\n",
                 str(at(at(r.body, "error"), "message")).c_str());
    return 1;
  }
  if (r.error.empty() && r.status == 422) {
    emit_json(r);
    return 1;
  }
  if (int rc = failed(r)) return rc;
  if (as_json) {
    emit_json(r);
    return 0;
  }
  auto list = [&](const char* key) {
    std::string out;
    auto v = at(r.body, key);
    if (v.is_array())
      for (const auto& x : v.as_array()) append_item(out, ", ", str(x));
    return out;
  };
  auto changed = list("changed");
  if (changed.empty())
    std::printf("nothing changed (rules generation %s)\n", str(at(r.body, "generation")).c_str());
  else
    std::printf("reloaded: %s (rules generation %s)\n", changed.c_str(),
                str(at(r.body, "generation")).c_str());
  if (auto restart = list("restart_required"); !restart.empty())
    std::printf("changed, but only a restart applies them: %s\n", restart.c_str());
  return 0;
}

int command_line::cmd_trace() {
  if (arg(1).empty()) return usage("trace MESSAGE-ID");
  auto r = c.call(http::verb::get, "/api/messages/" + escape_path(arg(1)) + "/trace");
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  const auto& b = r.body;
  std::printf("message %s: %s/%s, record %s, received %s\n", str(at(b, "message_id")).c_str(),
              str(at(b, "agency")).c_str(), str(at(b, "record_type")).c_str(),
              str(at(b, "record_key")).c_str(), str(at(b, "received_at")).c_str());
  std::printf("status %s%s%s, exchange %s\n\n", str(at(b, "status")).c_str(),
              str(at(b, "code")).empty() ? "" : " ", str(at(b, "code")).c_str(),
              str(at(b, "exchange")).c_str());
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : at(b, "decisions").as_array())
    rows.push_back({str(at(d, "at")), str(at(d, "recipient")), str(at(d, "decision")),
                    str(at(d, "reason")), str(at(d, "agreement")), str(at(d, "purpose")),
                    str(at(d, "consent")), str(at(d, "provider"))});
  table({"AT", "RECIPIENT", "DECISION", "REASON", "AGREEMENT", "PURPOSE", "CONSENT", "BY"}, rows);
  std::puts("");
  for (const auto& [k, v] : at(b, "recipients").as_object()) {
    std::string when;
    if (str(v) == "accepted" && at(b, "accepted").is_array())
      for (const auto& a : at(b, "accepted").as_array())
        if (str(at(a, "recipient")) == std::string(k))
          when = " at " + str(at(a, "accepted_at")) +
                 ", failed attempts before: " + str(at(a, "attempts"));
    std::printf("%-12s %s%s\n", std::string(k).c_str(), str(v).c_str(), when.c_str());
  }
  if (const auto* m = b.as_object().if_contains("medication_check"); m && m->is_object()) {
    std::printf("\nmedication check: %s", str(at(*m, "outcome")).c_str());
    std::string pending;
    for (const auto& p : at(*m, "pending_on").as_array()) append_item(pending, ", ", str(p));
    if (!pending.empty()) std::printf(" (pending on %s)", pending.c_str());
    std::puts("");
    for (const auto& a : at(*m, "alerts").as_array())
      std::printf("  %s raised %s%s\n", str(at(a, "alert")).c_str(), str(at(a, "raised")).c_str(),
                  at(a, "resolved").as_bool() ? ", resolved" : "");
  }
  return 0;
}

int command_line::cmd_messages() {
  // --key names the client certificate's key file; the record's key is --record-key.
  std::vector<std::pair<std::string, std::string>> kv{{"key", opt("record-key")}};
  for (const char* k :
       {"person", "exchange", "agency", "recipient", "status", "from", "to", "limit", "before"})
    kv.emplace_back(k, opt(k));
  auto r = c.call(http::verb::get, "/api/messages" + query(kv));
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : at(r.body, "messages").as_array()) {
    std::string fate;
    for (const auto& d : at(m, "recipients").as_array()) {
      auto what = str(at(d, "decision"));
      if (what == "delivered" && !at(d, "accepted_at").is_null()) what = "accepted";
      if (!str(at(d, "code")).empty()) what += " " + str(at(d, "code"));
      append_item(fate, ", ", str(at(d, "recipient")) + ": " + what);
    }
    auto status = str(at(m, "status"));
    if (!str(at(m, "code")).empty()) status += " " + str(at(m, "code"));
    rows.push_back({str(at(m, "received_at")), str(at(m, "message_id")),
                    str(at(m, "agency")) + "/" + str(at(m, "record_type")),
                    str(at(m, "record_key")), str(at(m, "exchange")), status, fate});
  }
  table({"RECEIVED", "MESSAGE", "FROM", "RECORD KEY", "EXCHANGE", "STATUS", "RECIPIENTS"}, rows);
  if (!at(r.body, "next_before").is_null())
    std::printf("\nmore: add --before %s\n", str(at(r.body, "next_before")).c_str());
  return rows.empty() ? 1 : 0;
}

int command_line::cmd_disclosures() {
  if (opt("person").empty()) return usage("disclosures --person ID");
  auto r = c.call(http::verb::get, "/api/disclosures" + query({{"person", opt("person")}}));
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : at(r.body, "disclosures").as_array())
    rows.push_back({str(at(d, "at")), str(at(d, "recipient")), str(at(d, "purpose")),
                    str(at(d, "agreement")), str(at(d, "exchange")), str(at(d, "record_key")),
                    str(at(d, "paths"))});
  table({"DATE", "RECIPIENT", "PURPOSE", "AGREEMENT", "EXCHANGE", "RECORD", "WHAT"}, rows);
  return rows.empty() ? 1 : 0;
}

int command_line::cmd_audit() {
  if (arg(1) != "verify") return usage("unknown command '" + cmd + "'");
  auto r = c.call(http::verb::get, "/api/audit/verify");
  if (int rc = failed(r)) return rc;
  bool ok = at(r.body, "ok").is_bool() && at(r.body, "ok").as_bool();
  if (as_json)
    emit_json(r);
  else if (ok)
    std::printf("audit trail intact: %s entries\n", str(at(r.body, "entries")).c_str());
  else
    std::printf("audit trail BROKEN at entry %s: %s\n", str(at(r.body, "first_bad_seq")).c_str(),
                str(at(r.body, "problem")).c_str());
  return ok ? 0 : 1;
}

int command_line::cmd_config() {
  auto r = c.call(http::verb::get, "/api/config");
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  std::printf("rules generation %s, loaded %s\n", str(at(r.body, "generation")).c_str(),
              str(at(r.body, "loaded_at")).c_str());
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : at(r.body, "files").as_array()) {
    auto what = str(at(f, "kind")) == "mapping"
                    ? str(at(f, "agency")) + "/" + str(at(f, "record_type")) + " -> " +
                          str(at(f, "exchange"))
                    : str(at(f, "agreement"));
    rows.push_back({str(at(f, "kind")), what, str(at(f, "version")), str(at(f, "file"))});
  }
  table({"KIND", "WHAT", "VERSION", "FILE"}, rows);
  return 0;
}

int command_line::cmd_agreements() {
  auto r = c.call(http::verb::get, "/api/agreements");
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : at(r.body, "agreements").as_array()) {
    std::string providers, purposes;
    for (const auto& p : at(a, "providers").as_array()) append_item(providers, "+", str(p));
    for (const auto& p : at(a, "purposes").as_array()) append_item(purposes, ",", str(p));
    rows.push_back({str(at(a, "id")) + "@" + str(at(a, "version")), providers,
                    str(at(a, "recipient")), str(at(a, "level")), purposes,
                    str(at(a, "effective_from")),
                    str(at(a, "effective_to")).empty() ? "-" : str(at(a, "effective_to")),
                    str(at(a, "status"))});
  }
  table({"AGREEMENT", "FROM", "TO", "LEVEL", "PURPOSES", "EFFECTIVE", "EXPIRES", "STATUS"}, rows);
  return 0;
}

int command_line::cmd_withheld() {
  std::vector<std::pair<std::string, std::string>> q;
  if (!opt("recipient").empty()) q.emplace_back("recipient", opt("recipient"));
  if (!opt("hours").empty()) q.emplace_back("hours", opt("hours"));
  auto r = c.call(http::verb::get, "/api/withholdings" + query(q));
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& w : at(r.body, "withholdings").as_array())
    rows.push_back({str(at(w, "recipient")), str(at(w, "count")), str(at(w, "code")),
                    str(at(w, "last")), str(at(w, "why"))});
  table({"RECIPIENT", "WITHHELD", "CODE", "LAST", "WHY"}, rows);
  return rows.empty() ? 1 : 0;
}

int command_line::cmd_consents() {
  if (opt("person").empty()) return usage("consents --person ID");
  auto r = c.call(http::verb::get, "/api/consents" + query({{"person", opt("person")}}));
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : at(r.body, "consents").as_array()) {
    std::string purposes, cats;
    for (const auto& p : at(k, "purposes").as_array()) append_item(purposes, ",", str(p));
    for (const auto& p : at(k, "categories").as_array()) append_item(cats, ",", str(p));
    rows.push_back({str(at(k, "consent_id")), str(at(k, "recipient")), purposes, cats,
                    str(at(k, "effective_date")), str(at(k, "expiration_date")),
                    str(at(k, "status")),
                    at(k, "holds_today").as_bool() ? "holds" : "no: " + str(at(k, "reason"))});
  }
  table({"CONSENT", "RECIPIENT", "PURPOSES", "CATEGORIES", "FROM", "TO", "STATUS", "TODAY"}, rows);
  return rows.empty() ? 1 : 0;
}

int command_line::cmd_alerts() {
  auto r = c.call(http::verb::get,
                  "/api/alerts" + query({{"county", opt("county")}, {"outcome", opt("outcome")}}));
  if (int rc = failed(r)) return rc;
  if (as_json) return emit_json(r), 0;
  if (!at(r.body, "configured").as_bool()) {
    std::puts("the medication check is not configured");
    return 1;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : at(r.body, "alerts").as_array())
    rows.push_back({str(at(a, "raised")), str(at(a, "alert")), str(at(a, "outcome")),
                    at(a, "county").is_null() ? "unknown" : str(at(a, "county")),
                    str(at(a, "fill_date"))});
  table({"RAISED", "ALERT", "OUTCOME", "COUNTY", "FILLED"}, rows);
  return rows.empty() ? 1 : 0;
}

int command_line::cmd_conditions() {
  auto r = c.call(http::verb::get, "/api/conditions");
  if (int rc = failed(r)) return rc;
  bool firing = false;
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : at(r.body, "holding").as_array()) {
    firing |= str(at(h, "state")) == "firing";
    auto group = str(at(h, "group"));
    rows.push_back(
        {str(at(h, "name")) + (group.empty() ? "" : " " + str(at(h, "label")) + "=" + group),
         str(at(h, "severity")), str(at(h, "state")), str(at(h, "since")), str(at(h, "summary"))});
  }
  if (as_json)
    emit_json(r);
  else if (rows.empty())
    std::printf("none of the %zu conditions holds (%s samples)\n",
                at(r.body, "conditions").as_array().size(), str(at(r.body, "samples")).c_str());
  else
    table({"CONDITION", "SEVERITY", "STATE", "SINCE", "WHAT HOLDS"}, rows);
  // Bad news for a script: something is firing.
  return firing ? 1 : 0;
}

using command = int (command_line::*)();
const std::pair<std::string_view, command> k_commands[] = {
    {"errors", &command_line::cmd_errors},
    {"queues", &command_line::cmd_queues},
    {"dlq", &command_line::cmd_dlq},
    {"replay", &command_line::cmd_replay},
    {"pause", &command_line::cmd_pause},
    {"resume", &command_line::cmd_pause},
    {"reload", &command_line::cmd_reload},
    {"trace", &command_line::cmd_trace},
    {"messages", &command_line::cmd_messages},
    {"disclosures", &command_line::cmd_disclosures},
    {"audit", &command_line::cmd_audit},
    {"config", &command_line::cmd_config},
    {"agreements", &command_line::cmd_agreements},
    {"withheld", &command_line::cmd_withheld},
    {"consents", &command_line::cmd_consents},
    {"alerts", &command_line::cmd_alerts},
    {"conditions", &command_line::cmd_conditions}};

}  // namespace

int main(int argc, char** argv) {
  command_line cl;
  auto& c = cl.c;
  if (const char* u = std::getenv("NIEMCTL_URL")) c.set_url(u);
  if (const char* t = std::getenv("NIEMCTL_TOKEN")) c.token = t;
  auto& args = cl.args;
  auto& opts = cl.opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      cl.as_json = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(k_usage, stdout);
      return 0;
    } else if (a.starts_with("--")) {
      if (i + 1 >= argc) return usage(a + " needs a value");
      opts[a.substr(2)] = argv[++i];
    } else {
      args.push_back(a);
    }
  }
  if (opts.count("url") && !c.set_url(opts["url"]))
    return usage("--url is http://HOST:PORT or https://HOST:PORT");
  if (opts.count("token")) c.token = opts["token"];
  // HTTPS: --ca, --cert, --key, or NIEMCTL_CA, NIEMCTL_CERT, NIEMCTL_KEY.
  for (auto [opt_name, env, field] : {std::tuple{"ca", "NIEMCTL_CA", &c.ca},
                                      {"cert", "NIEMCTL_CERT", &c.cert},
                                      {"key", "NIEMCTL_KEY", &c.key}}) {
    if (const char* v = std::getenv(env)) *field = v;
    if (opts.count(opt_name)) *field = opts[opt_name];
  }
  if (args.empty()) return usage("a command is needed");
  cl.cmd = args[0];
  for (const auto& [name, fn] : k_commands)
    if (cl.cmd == name) return (cl.*fn)();
  return usage("unknown command '" + cl.cmd + "'");
}
