// The admin server's sockets: one thread that never waits on a request's work, four workers that
// do it; sessions (HTTP or HTTPS), bearer tokens and lock-outs, and dispatch through the one
// table of routes (routes.cc).
#include "admin/admin.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "admin/handlers.h"
#include "admin/probe.h"
#include "base/digest.h"
#include "base/log.h"
#include "base/text.h"
#include "store/probe.h"

namespace niem::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

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
  context ctx;
  asio::io_context ioc{1};  // the sockets: one thread that never waits on a request's work
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  // The requests' work (store queries, replays that wait for the pipeline): a replay or a bulk
  // purge never holds /healthz, /metrics or another operator's request.
  asio::thread_pool workers{4};
  asio::steady_timer sampler{ioc};  // the history's samples

  // The tokens, replaced whole by a reload; a request keeps the set it was authorized with.
  mutable std::mutex tokens_mu;
  std::shared_ptr<const std::vector<token>> tokens;

  impl(options o, store::queries& q, store::operations& op, pipeline::pipeline& p, hooks hk,
       const base::clock& c)
      : ctx(std::move(o), q, op, p, std::move(hk), c),
        tokens(std::make_shared<const std::vector<token>>(ctx.opt.tokens)) {}

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

  // ---- history ----

  void schedule_sample() {
    sampler.expires_after(std::chrono::milliseconds(ctx.opt.history_interval_ms));
    sampler.async_wait([this](beast::error_code ec) {
      if (ec) return;
      asio::post(workers, [this] { sample(); });
      schedule_sample();
    });
  }
  void sample() { ctx.hist.add(ctx.clk.now_ms(), handlers(ctx).metrics().body); }

  // ---- dispatch ----

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
    if (r && r->need == access::page) return r->fn(ctx, {req, t, std::move(params), nullptr});

    const auto now = ctx.clk.now_ms();
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
    if (r && r->need == access::health && (!ctx.opt.protect_health || tok))
      return r->fn(ctx, {req, t, std::move(params), tok});
    const bool api = !t.segments.empty() && t.segments[0] == "api";
    if (!r && !path_known && !api) return error(404, "not_found", "no such path");
    if (!tok) return error(401, "unauthorized", "a bearer token is required");
    if (!r && path_known) return error(405, "method_not_allowed", allowed(t.segments));
    if (!r) return error(404, "not_found", "no such path");
    if (r->need == access::operator_ && tok->r != role::operator_)
      return error(403, "forbidden", "this action needs an operator token");
    return r->fn(ctx, {req, t, std::move(params), tok});
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

std::string api_reference() {
  std::string out = "| Method | Path | Who | What |\n|---|---|---|---|\n";
  for (const auto& r : routes())
    out +=
        fmt::format("| {} | `{}` | {} | {} |\n", r.method, r.path, access_name(r.need), r.summary);
  return out;
}

server::server(options opt, store::queries& st, store::operations& ops, pipeline::pipeline& pl,
               hooks h, const base::clock& clk)
    : impl_(std::make_unique<impl>(std::move(opt), st, ops, pl, std::move(h), clk)) {
  // The store's gauges are read when /metrics is scraped, for the queues the broker keeps.
  store_gauges_ = store::register_probe(st, impl_->ctx.h.recipients, clk);
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
  if (impl_->ctx.opt.tls) {
    // TLS 1.2 or later; with a CA, a client certificate is required and checked.
    try {
      auto& t = *impl_->ctx.opt.tls;
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
  auto addr = asio::ip::make_address(impl_->ctx.opt.host, ec);
  if (ec) {
    err = "not an IP address: " + impl_->ctx.opt.host;
    return 0;
  }
  tcp::endpoint ep(addr, impl_->ctx.opt.port);
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
