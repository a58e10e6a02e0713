#include "client/client.h"

#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/source.hpp>
#include <proton/ssl.hpp>
#include <proton/target.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>

#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/link.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

// The C++ binding of Proton 0.37 does not expose the condition a peer attaches to a rejection.
// It grants `internal::factory<T>` access to the C object; this definition matches the library's
// private one (the broker's transport uses the same accessor for the same reason).
namespace proton::internal {
template <class T>
class factory {
 public:
  static auto unwrap(const T& t) { return t.pn_object(); }
};
}  // namespace proton::internal

namespace niem::client {

namespace {

using steady = std::chrono::steady_clock;
const proton::duration k_tick(10);

// The brokers `url` lists, comma-separated, in order (at least one).
std::vector<std::string> split_urls(const std::string& url) {
  std::vector<std::string> out;
  std::stringstream in(url);
  for (std::string u; std::getline(in, u, ',');)
    if (!u.empty()) out.push_back(u);
  if (out.empty()) out.push_back(url);
  return out;
}

std::string random_id(const char* prefix) {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> dist;
  std::ostringstream s;
  s << prefix << '-' << std::hex << dist(rd);
  return s.str();
}

proton::connection_options connection_options(const options& o) {
  proton::connection_options co;
  if (o.tls) {
    proton::ssl_certificate cert(o.tls->certificate, o.tls->key);
    co.ssl_client_options(
        proton::ssl_client_options(cert, o.tls->ca, proton::ssl::VERIFY_PEER_NAME));
    co.sasl_enabled(true);
    co.sasl_allowed_mechs("EXTERNAL");
  }
  co.idle_timeout(proton::duration(60000));
  return co;
}

std::string describe(const proton::error_condition& e) {
  if (e.empty()) return {};
  return e.description().empty() ? e.name() : e.name() + ": " + e.description();
}

// The condition a peer attached to its disposition of `t` (rejected with a reason).
constexpr const char* k_too_large = "amqp:link:message-size-exceeded";

// The largest message the peer's attach said it accepts; 0 when it named no limit.
std::uint64_t max_message_size(const proton::sender& s) {
  return pn_link_remote_max_message_size(proton::internal::factory<proton::sender>::unwrap(s));
}

void remote_condition(const proton::tracker& t, std::string& name, std::string& description) {
  auto* d = proton::internal::factory<proton::tracker>::unwrap(t);
  auto* disp = d ? pn_delivery_remote(d) : nullptr;
  auto* c = disp ? pn_disposition_condition(disp) : nullptr;
  if (!c) return;
  if (const char* n = pn_condition_get_name(c)) name = n;
  if (const char* s = pn_condition_get_description(c)) description = s;
}

std::string scalar_text(const proton::scalar& v) {
  try {
    switch (v.type()) {
      case proton::STRING:
        return proton::get<std::string>(v);
      case proton::SYMBOL:
        return proton::get<proton::symbol>(v);
      case proton::BINARY: {
        auto b = proton::get<proton::binary>(v);
        return std::string(b.begin(), b.end());
      }
      case proton::BOOLEAN:
        return proton::get<bool>(v) ? "true" : "false";
      case proton::LONG:
      case proton::INT:
      case proton::SHORT:
      case proton::BYTE:
        return std::to_string(proton::coerce<std::int64_t>(v));
      case proton::ULONG:
      case proton::UINT:
      case proton::USHORT:
      case proton::UBYTE:
        return std::to_string(proton::coerce<std::uint64_t>(v));
      default: {
        std::ostringstream s;
        s << v;
        return s.str();
      }
    }
  } catch (const std::exception&) {
    return {};
  }
}

// Work handed to the loop from other threads. Proton 0.37's container-level work queue can lose
// its wake-up to a concurrent timer reset, so work waits here; the loop is woken through the live
// connection's work queue (reliable) and otherwise finds it on its next tick.
class inbox {
 public:
  template <class F>
  void post(F&& f) {
    std::lock_guard lk(mu_);
    if (closed_) return;
    items_.push_back(std::forward<F>(f));
    if (waker_ && !wake_pending_) {
      wake_pending_ = true;
      waker_->add([this] { run(); });
    }
  }
  void run() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lk(mu_);
      batch.swap(items_);
      wake_pending_ = false;
    }
    for (auto& f : batch) f();
  }
  void set_waker(proton::work_queue* w) {
    std::lock_guard lk(mu_);
    waker_ = w;
    wake_pending_ = false;
  }
  void close() {
    std::lock_guard lk(mu_);
    closed_ = true;
    waker_ = nullptr;
  }
  std::deque<std::function<void()>> take() {
    std::lock_guard lk(mu_);
    return std::move(items_);
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> items_;
  proton::work_queue* waker_ = nullptr;
  bool wake_pending_ = false;
  bool closed_ = false;
};

}  // namespace

const char* to_string(status s) {
  switch (s) {
    case status::accepted:
      return "accepted";
    case status::rejected:
      return "rejected";
    case status::released:
      return "released";
    case status::refused:
      return "refused";
    case status::unreachable:
      return "unreachable";
    case status::timed_out:
      return "timed_out";
  }
  return "unknown";
}

std::string publish_result::code() const {
  if (description.size() >= 8 && description.compare(0, 5, "NIEM-") == 0) {
    auto end = description.find(' ');
    return description.substr(0, end);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// publisher

struct publisher::impl : proton::messaging_handler {
  struct request {
    outgoing msg;
    std::function<void(publish_result)> done;
    steady::time_point deadline;
  };

  options opt;
  proton::container container;
  inbox in;
  std::thread thread;
  std::atomic<bool> stopping{false};

  // Loop thread only.
  enum class link_state { down, connecting, up } state = link_state::down;
  std::vector<std::string> urls = split_urls(opt.url);
  std::size_t url_at = 0;
  proton::connection conn;
  std::string down_reason;
  std::deque<request> until_open;
  std::map<std::string, proton::sender> senders;
  std::map<proton::sender, std::string> address_of;
  std::map<std::string, std::deque<request>> waiting;  // per address, for credit
  std::map<proton::tracker, request> unsettled;
  int ticks = 0;

  explicit impl(options o)
      : opt(std::move(o)),
        container(*this, opt.container_id.empty() ? random_id("niem-client") : opt.container_id) {}

  void start() {
    container.auto_stop(false);
    thread = std::thread([this] {
      try {
        container.run();
      } catch (const std::exception&) {
        // Nothing to report to: every request still open is failed by the destructor.
      }
    });
  }

  void on_container_start(proton::container&) override { tick(); }

  void tick() {
    if (stopping) return;
    in.run();
    if (++ticks % 10 == 0) expire();
    container.schedule(k_tick, [this] { tick(); });
  }

  static void finish(request& r, publish_result res) {
    if (r.done) {
      auto f = std::move(r.done);
      r.done = nullptr;
      f(std::move(res));
    }
  }
  static publish_result failure(status s, std::string cond, std::string desc = {}) {
    publish_result r;
    r.what = s;
    r.condition = std::move(cond);
    r.description = std::move(desc);
    return r;
  }

  void submit(request r) {
    if (stopping) return finish(r, failure(status::unreachable, "closed", "the client was closed"));
    if (state == link_state::up) return route(std::move(r));
    until_open.push_back(std::move(r));
    if (state == link_state::down) connect();
  }

  void connect() {
    try {
      conn = container.connect(urls[url_at % urls.size()], connection_options(opt));
      state = link_state::connecting;
    } catch (const std::exception& e) {
      ++url_at;  // the next broker next time
      fail_all(failure(status::unreachable, "connect", e.what()));
    }
  }

  void route(request r) {
    const std::string addr = r.msg.address;  // a copy: `r` moves into the queue below
    if (!senders.count(addr)) {
      try {
        auto s = conn.open_sender(
            addr, proton::sender_options().delivery_mode(proton::delivery_mode::AT_LEAST_ONCE));
        senders[addr] = s;
        address_of[s] = addr;
      } catch (const std::exception& e) {
        return finish(r, failure(status::refused, "open-sender", e.what()));
      }
    }
    waiting[addr].push_back(std::move(r));
    pump(addr);
  }

  void pump(const std::string& addr) {
    auto st = senders.find(addr);
    auto wt = waiting.find(addr);
    if (st == senders.end() || wt == waiting.end()) return;
    auto& s = st->second;
    while (!wt->second.empty() && s.active() && s.credit() > 0) {
      auto r = std::move(wt->second.front());
      wt->second.pop_front();
      // The broker's attach says how large a message it takes: a larger one is refused here
      // instead of being streamed only to close the link under the records behind it.
      if (auto limit = max_message_size(s); limit && r.msg.body.size() > limit) {
        std::ostringstream why;
        why << "a record of " << r.msg.body.size() << " bytes exceeds the broker's limit of "
            << limit << " bytes (the link's max-message-size)";
        finish(r, failure(status::refused, k_too_large, why.str()));
        continue;
      }
      proton::message m;
      m.body(proton::binary(r.msg.body));
      m.inferred(true);  // a data section, not an AMQP-encoded binary value
      m.content_type(r.msg.content_type);
      for (auto& [k, v] : r.msg.properties) m.properties().put(k, v);
      try {
        unsettled.emplace(s.send(m), std::move(r));
      } catch (const std::exception& e) {
        finish(r, failure(status::unreachable, "send", e.what()));
      }
    }
  }

  void on_connection_open(proton::connection& c) override {
    state = link_state::up;
    in.set_waker(&c.work_queue());
    auto q = std::move(until_open);
    until_open.clear();
    for (auto& r : q) route(std::move(r));
  }

  void on_sendable(proton::sender& s) override {
    auto it = address_of.find(s);
    if (it != address_of.end()) pump(it->second);
  }

  void settled(proton::tracker& t, publish_result res) {
    auto node = unsettled.extract(t);
    if (!node.empty()) finish(node.mapped(), std::move(res));
  }
  void on_tracker_accept(proton::tracker& t) override { settled(t, {status::accepted, {}, {}}); }
  void on_tracker_reject(proton::tracker& t) override {
    publish_result r;
    r.what = status::rejected;
    remote_condition(t, r.condition, r.description);
    settled(t, std::move(r));
  }
  void on_tracker_release(proton::tracker& t) override { settled(t, {status::released, {}, {}}); }

  // A link closed by the broker: the records on it and waiting for it are refused with its
  // condition (unknown address, not authorized, a message too large).
  void link_closed(proton::sender& s) {
    // Proton reports a closed link twice (on_sender_error, then on_sender_close), and the first
    // call may already have sent the released records again on a new link: the second must not
    // take them for the old link's (it once refused a small record as the one too large).
    // Every sender is registered when opened, so one no longer registered was handled.
    auto known = address_of.find(s);
    if (known == address_of.end()) return;
    std::string addr = known->second;
    address_of.erase(known);
    auto why = s.error();
    auto res = failure(status::refused, why.empty() ? "amqp:link:detach-forced" : why.name(),
                       why.description());
    // Closed for a message too large: that message is refused; the others on the link, and those
    // waiting for it, are released, to be sent again on a new link.
    // Without a limit in the peer's attach, the largest message on the link is the one.
    const bool too_large = res.condition == k_too_large;
    const auto limit = max_message_size(s);
    const request* largest = nullptr;
    for (auto& [t, r] : unsettled)
      if (t.sender() == s && (!largest || r.msg.body.size() > largest->msg.body.size()))
        largest = &r;
    auto outcome = [&](const request& r) {
      if (!too_large || (limit ? r.msg.body.size() > limit : &r == largest)) return res;
      return failure(status::released, res.condition, res.description);
    };
    for (auto it = unsettled.begin(); it != unsettled.end();) {
      if (it->first.sender() == s) {
        finish(it->second, outcome(it->second));
        it = unsettled.erase(it);
      } else {
        ++it;
      }
    }
    if (!addr.empty()) {
      senders.erase(addr);
      auto node = waiting.extract(addr);
      if (!node.empty())
        for (auto& r : node.mapped()) finish(r, too_large ? outcome(r) : res);
    }
  }
  void on_sender_error(proton::sender& s) override { link_closed(s); }
  void on_sender_close(proton::sender& s) override { link_closed(s); }

  void connection_down(const proton::error_condition& why) {
    in.set_waker(nullptr);
    // Fail over: the next connection goes to the next broker listed (once per lost connection,
    // however many events report it).
    if (state != link_state::down) ++url_at;
    state = link_state::down;
    senders.clear();
    address_of.clear();
    conn = proton::connection();
    fail_all(failure(status::unreachable, why.empty() ? "amqp:connection:forced" : why.name(),
                     why.description()));
  }
  void on_transport_error(proton::transport& t) override { connection_down(t.error()); }
  void on_transport_close(proton::transport& t) override { connection_down(t.error()); }
  void on_connection_error(proton::connection& c) override { connection_down(c.error()); }
  void on_connection_close(proton::connection& c) override { connection_down(c.error()); }
  void on_error(const proton::error_condition&) override {}

  void fail_all(const publish_result& res) {
    auto a = std::move(until_open);
    until_open.clear();
    for (auto& r : a) finish(r, res);
    auto w = std::move(waiting);
    waiting.clear();
    for (auto& [addr, q] : w)
      for (auto& r : q) finish(r, res);
    auto u = std::move(unsettled);
    unsettled.clear();
    for (auto& [t, r] : u) finish(r, res);
  }

  void expire() {
    auto now = steady::now();
    auto res = failure(status::timed_out, "timeout", "no outcome from the broker in time");
    auto sweep = [&](std::deque<request>& q) {
      while (!q.empty() && q.front().deadline <= now) {
        finish(q.front(), res);
        q.pop_front();
      }
    };
    sweep(until_open);
    for (auto& [a, q] : waiting) sweep(q);
    for (auto it = unsettled.begin(); it != unsettled.end();) {
      if (it->second.deadline <= now) {
        finish(it->second, res);
        it = unsettled.erase(it);
      } else {
        ++it;
      }
    }
  }
};

publisher::publisher(options opt) : impl_(std::make_shared<impl>(std::move(opt))) {
  impl_->start();
}

publisher::~publisher() {
  impl_->stopping = true;
  impl_->in.close();
  impl_->container.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Requests never started reach submit(), which fails them now that the client is stopping.
  for (auto& f : impl_->in.take()) f();
  impl_->fail_all(impl::failure(status::unreachable, "closed", "the client was closed"));
}

void publisher::publish_async(outgoing m, std::function<void(publish_result)> done) {
  auto* im = impl_.get();
  auto req = std::make_shared<impl::request>();
  req->msg = std::move(m);
  req->done = std::move(done);
  req->deadline = steady::now() + im->opt.timeout;
  if (im->stopping) {
    return impl::finish(*req, impl::failure(status::unreachable, "closed", "client closed"));
  }
  im->in.post([im, req] { im->submit(std::move(*req)); });
}

publish_result publisher::publish(outgoing m) {
  auto p = std::make_shared<std::promise<publish_result>>();
  auto f = p->get_future();
  publish_async(std::move(m), [p](publish_result r) { p->set_value(std::move(r)); });
  // The loop times the request out itself; the margin covers a loop that stopped.
  if (f.wait_for(impl_->opt.timeout + std::chrono::seconds(2)) != std::future_status::ready)
    return impl::failure(status::timed_out, "timeout", "no outcome from the broker in time");
  return f.get();
}

// ---------------------------------------------------------------------------------------------
// subscriber

struct subscriber::impl : proton::messaging_handler {
  options opt;
  std::string address;
  std::function<disposition(const incoming&)> handler;
  int credit;
  std::chrono::milliseconds retry;
  proton::container container;
  std::thread thread;
  std::atomic<bool> stopping{false};

  mutable std::mutex mu;
  std::condition_variable cv;
  bool attached = false;
  std::string error;

  // Loop thread only.
  bool connected = false;
  std::vector<std::string> urls = split_urls(opt.url);
  std::size_t url_at = 0;
  proton::connection conn;
  steady::time_point next_attempt{};

  impl(options o, std::string a, std::function<disposition(const incoming&)> h, int c,
       std::chrono::milliseconds r)
      : opt(std::move(o)),
        address(std::move(a)),
        handler(std::move(h)),
        credit(c),
        retry(r),
        container(*this,
                  opt.container_id.empty() ? random_id("niem-subscriber") : opt.container_id) {}

  void on_container_start(proton::container&) override { tick(); }

  void tick() {
    if (stopping) return;
    if (!connected && steady::now() >= next_attempt) {
      next_attempt = steady::now() + retry;
      try {
        conn = container.connect(urls[url_at % urls.size()], connection_options(opt));
        connected = true;
      } catch (const std::exception& e) {
        ++url_at;
        set_error(std::string("connect: ") + e.what());
      }
    }
    container.schedule(k_tick, [this] { tick(); });
  }

  void set_error(std::string e) {
    std::lock_guard lk(mu);
    error = std::move(e);
    attached = false;
  }

  void on_connection_open(proton::connection& c) override {
    c.open_receiver(address, proton::receiver_options().credit_window(credit).auto_accept(false));
  }
  void on_receiver_open(proton::receiver&) override {
    std::lock_guard lk(mu);
    attached = true;
    error.clear();
    cv.notify_all();
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    incoming in;
    in.content_type = m.content_type();
    in.address = address;
    try {
      auto b = m.body();
      if (b.type() == proton::BINARY) {
        auto bin = proton::get<proton::binary>(b);
        in.body.assign(bin.begin(), bin.end());
      } else if (b.type() == proton::STRING) {
        in.body = proton::get<std::string>(b);
      }
      std::map<std::string, proton::scalar> props;
      if (!m.properties().empty()) proton::get(m.properties().value(), props);
      for (auto& [k, v] : props) in.properties[k] = scalar_text(v);
    } catch (const std::exception&) {
      d.reject();
      return;
    }
    switch (handler(in)) {
      case disposition::accept:
        d.accept();
        break;
      case disposition::reject:
        d.reject();
        break;
      case disposition::release:
        d.release();
        break;
    }
  }

  void down(const proton::error_condition& why, const char* what) {
    auto d = describe(why);
    set_error(d.empty() ? what : d);
    if (connected && conn.active()) conn.close();
    if (connected) ++url_at;  // fail over to the next broker listed, once per lost connection
    connected = false;
    conn = proton::connection();
  }
  void on_receiver_error(proton::receiver& r) override { down(r.error(), "link closed"); }
  void on_receiver_close(proton::receiver& r) override { down(r.error(), "link closed"); }
  void on_transport_error(proton::transport& t) override { down(t.error(), "transport error"); }
  void on_transport_close(proton::transport& t) override {
    if (connected) down(t.error(), "connection closed");
  }
  void on_connection_error(proton::connection& c) override { down(c.error(), "connection error"); }
  void on_connection_close(proton::connection& c) override {
    if (connected) down(c.error(), "connection closed");
  }
  void on_error(const proton::error_condition&) override {}
};

subscriber::subscriber(options opt, std::string address,
                       std::function<disposition(const incoming&)> handler, int credit,
                       std::chrono::milliseconds retry_interval)
    : impl_(std::make_shared<impl>(std::move(opt), std::move(address), std::move(handler), credit,
                                   retry_interval)) {
  impl_->container.auto_stop(false);
  auto* im = impl_.get();
  impl_->thread = std::thread([im] {
    try {
      im->container.run();
    } catch (const std::exception& e) {
      im->set_error(std::string("client loop stopped: ") + e.what());
    }
  });
}

subscriber::~subscriber() {
  impl_->stopping = true;
  impl_->container.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool subscriber::wait_attached(std::chrono::milliseconds timeout) {
  std::unique_lock lk(impl_->mu);
  return impl_->cv.wait_for(lk, timeout, [&] { return impl_->attached; });
}

std::string subscriber::last_error() const {
  std::lock_guard lk(impl_->mu);
  return impl_->error;
}

}  // namespace niem::client
