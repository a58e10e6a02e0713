#include "http/http_adapter.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <optional>
#include <thread>
#include <vector>

namespace niem::adapters {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

std::string error_body(const char* error, const std::string& detail) {
  return json::serialize(json::object{{"status", "error"}, {"error", error}, {"detail", detail}});
}

bool is_json_content_type(std::string_view ct) {
  auto semi = ct.find(';');
  auto base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  std::string lower(base);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower == "application/json";
}

// A record type is a path segment the broker knows; anything else never reaches an address.
bool valid_record_type(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  for (char ch : t)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-')) return false;
  return true;
}

}  // namespace

http_answer answer_for(const client::publish_result& r) {
  using client::status;
  switch (r.what) {
    case status::accepted:
      return {202, json::serialize(json::object{{"status", "accepted"}})};
    case status::rejected:
      // The broker's reason: its stable code and the diagnostics (no record content).
      return {422, json::serialize(json::object{{"status", "rejected"},
                                                {"code", r.code()},
                                                {"condition", r.condition},
                                                {"description", r.description}})};
    case status::refused:
      if (r.condition == "amqp:not-found")
        return {404, error_body("unknown_record_type", r.description)};
      if (r.condition == "amqp:link:message-size-exceeded")
        return {413, error_body("record_too_large", r.description)};
      // Not authorized: the adapter's own identity is wrong, not the caller's request.
      return {502, error_body("broker_refused", r.condition + " " + r.description)};
    case status::released:
    case status::unreachable:
    case status::timed_out:
      break;
  }
  return {503, json::serialize(json::object{{"status", "unavailable"},
                                            {"error", client::to_string(r.what)},
                                            {"detail", r.condition + " " + r.description}})};
}

struct http_adapter::impl {
  http_options opt;
  client::publisher& pub;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;

  impl(http_options o, client::publisher& p) : opt(std::move(o)), pub(p) {}

  class session : public std::enable_shared_from_this<session> {
   public:
    session(tcp::socket s, impl& ad) : stream_(std::move(s)), ad_(ad) {}
    void start() {
      asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

   private:
    void read() {
      parser_.emplace();
      parser_->body_limit(ad_.opt.max_body_bytes);
      parser_->header_limit(16 * 1024);
      stream_.expires_after(std::chrono::seconds(30));
      http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
      if (ec == http::error::body_limit)
        return respond(413, error_body("record_too_large", "the body exceeds the limit"), false);
      if (ec) return close();  // end of stream, timeout, or a malformed request
      request_ = parser_->release();
      handle();
    }

    void handle() {
      const bool keep = request_.keep_alive();
      auto target = std::string_view(request_.target().data(), request_.target().size());
      if (target == "/healthz" && request_.method() == http::verb::get)
        return respond(200, R"({"status":"ok"})", keep);
      constexpr std::string_view prefix = "/records/";
      if (target.substr(0, prefix.size()) != prefix)
        return respond(404, error_body("not_found", "POST /records/<record-type>"), keep);
      auto type = target.substr(prefix.size());
      if (!valid_record_type(type))
        return respond(404, error_body("unknown_record_type", "not a record type"), keep);
      if (request_.method() != http::verb::post)
        return respond(405, error_body("method_not_allowed", "use POST"), keep, "POST");
      auto ct = request_[http::field::content_type];
      if (!is_json_content_type(std::string_view(ct.data(), ct.size())))
        return respond(
            415, error_body("unsupported_media_type", "Content-Type must be application/json"),
            keep);
      if (request_.body().find_first_not_of(" \t\r\n") == std::string::npos)
        return respond(400, error_body("empty_body", "the body must hold one JSON record"), keep);
      client::outgoing m;
      m.address = "ingest/" + ad_.opt.agency + "/" + std::string(type);
      m.body = std::move(request_.body());
      m.content_type = "application/json";
      // The answer waits for the broker's commit; the callback runs on the client's thread.
      ad_.pub.publish_async(std::move(m),
                            [self = shared_from_this(), keep](client::publish_result r) {
                              auto a = answer_for(r);
                              asio::post(self->stream_.get_executor(),
                                         [self, a = std::move(a), keep, retry = r.retryable()] {
                                           self->respond(a.status, a.body, keep, {}, retry);
                                         });
                            });
    }

    void respond(unsigned status, std::string body, bool keep, std::string allow = {},
                 bool retry_later = false) {
      auto res = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(status), request_.version() ? request_.version() : 11);
      res->set(http::field::server, "niem-http-adapter");
      res->set(http::field::content_type, "application/json");
      res->set(http::field::cache_control, "no-store");
      if (!allow.empty()) res->set(http::field::allow, allow);
      if (retry_later) res->set(http::field::retry_after, "5");
      res->keep_alive(keep);
      res->body() = std::move(body);
      res->prepare_payload();
      http::async_write(stream_, *res,
                        [self = shared_from_this(), res, keep](beast::error_code ec, std::size_t) {
                          if (!ec && keep) return self->read();
                          self->close();
                        });
    }

    void close() {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::request<http::string_body> request_;
    impl& ad_;
  };

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<session>(std::move(s), *this)->start();
      accept();
    });
  }
};

http_adapter::http_adapter(http_options opt, client::publisher& pub)
    : impl_(std::make_unique<impl>(std::move(opt), pub)) {}

http_adapter::~http_adapter() {
  stop();
}

std::uint16_t http_adapter::listen(std::string& error) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(impl_->opt.host, ec);
  if (ec) {
    error = "not an IP address: " + impl_->opt.host;
    return 0;
  }
  tcp::endpoint ep(addr, impl_->opt.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + impl_->opt.host + ":" + std::to_string(impl_->opt.port) + ": " +
            ec.message();
    return 0;
  }
  impl_->accept();
  return a.local_endpoint().port();
}

void http_adapter::run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->opt.threads; ++i) extra.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : extra) t.join();
}

void http_adapter::stop() {
  asio::post(impl_->ioc, [im = impl_.get()] {
    beast::error_code ec;
    im->acceptor.close(ec);
  });
  impl_->ioc.stop();
}

}  // namespace niem::adapters
