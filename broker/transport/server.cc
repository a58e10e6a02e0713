#include "transport/server.h"

#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/listen_handler.hpp>
#include <proton/listener.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/sender.hpp>
#include <proton/session.hpp>
#include <proton/source.hpp>
#include <proton/ssl.hpp>
#include <proton/target.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "base/log.h"
#include "base/metrics.h"
#include "transport/delivery.h"
#include "transport/intake.h"
#include "transport/loop.h"
#include "transport/probe.h"
#include "transport/proton_c.h"

// The event loop and its connections: one thread runs Proton's container; each connection is
// authenticated (a certificate subject names an agency, or anonymous on loopback), its links
// handed to intake (publishers) or delivery (subscribers), and a tick drains the store's
// completions and runs housekeeping.
namespace niem::transport {

namespace {

using base::log_level;

struct conn_state {
  std::uint64_t id = 0;
  proton::connection conn;
  std::string agency;  // authenticated agency; empty on an anonymous listener
};

// Store completions on their way to the loop. Proton 0.37's container work queue can lose its
// wake-up to a concurrent timer reset, so completions wait in this FIFO and the loop is woken
// through a live connection's work queue (pn_connection_wake, reliable); a periodic tick drains
// anything whose wake-up was lost with a closing connection. FIFO order matters: a fetch result
// and the notification of an entry committed after it must be seen in commit order.
struct loop_inbox {
  std::mutex mu;
  std::deque<store::completions> items;
  std::map<std::uint64_t, proton::work_queue*> wakers;  // live connections' work queues
  bool closed = false;
  bool wake_pending = false;
};

void post(loop_inbox& inbox, server::impl* im, store::completions&& c);

}  // namespace

void refuse_link(proton::link& l, std::string_view address, std::string_view agency,
                 const std::string& why, const char* condition) {
  base::log(log_level::warn, "transport", "link refused",
            {{"code", std::string(base::code_id(base::errc::auth_unauthorized_address))},
             {"agency", agency.empty() ? "(anonymous)" : agency},
             {"address", address},
             {"reason", why}});
  probe().refused.inc(base::code_id(base::errc::auth_unauthorized_address));
  l.close(proton::error_condition(condition, why));
}

struct server::impl : proton::messaging_handler, proton::listen_handler, event_loop {
  options opt;
  pipeline::pipeline& pl;
  store::delivery_path& st;  // the queues
  store::operations& ops;    // paused subscribers, a setting operators change
  const base::clock& clk;
  std::unique_ptr<proton::container> container;
  std::shared_ptr<loop_inbox> inbox = std::make_shared<loop_inbox>();
  std::function<void(base::result<std::uint16_t>)> on_listening;

  std::uint64_t next_conn_id = 1;
  std::map<proton::connection, std::uint64_t> conn_ids;
  std::unordered_map<std::uint64_t, conn_state> conns;
  std::atomic<bool> stopping_{false};  // set by stop(): no more timers, so the loop can end

  mutable std::mutex counters_mu;                  // guards connected and paused
  std::map<std::string, std::uint32_t> connected;  // open connections per agency
  std::set<std::string> paused;                    // subscribers an operator paused
  bool paused_queue(const std::string& recipient) {
    std::lock_guard lk(counters_mu);
    return paused.count(recipient) > 0;
  }

  // Who may connect and publish what, on the loop only: replaced by a reload (set_parties).
  // opt.parties keeps the agencies' ids, which a reload does not change, for other threads.
  std::shared_ptr<const config::broker_config> parties;

  delivery out;
  intake in;

  impl(options o, pipeline::pipeline& p, store::delivery_path& s, store::operations& op,
       const base::clock& c)
      : opt(std::move(o)),
        pl(p),
        st(s),
        ops(op),
        clk(c),
        parties(opt.parties),
        out(
            opt, st, clk, *this,
            [inbox = inbox, im = this](store::completions cs) { post(*inbox, im, std::move(cs)); },
            [this](const std::string& r) { return paused_queue(r); }),
        in(opt, pl, clk, *this, out, parties) {}

  // ---- event_loop ----

  void touch(std::uint64_t conn_id) override { dirty.insert(conn_id); }
  void flush() override { flush_dirty(); }
  std::uint64_t conn_id(const proton::connection& c) const override {
    auto it = conn_ids.find(c);
    return it == conn_ids.end() ? 0 : it->second;
  }
  bool live(std::uint64_t id) const override { return conns.count(id) > 0; }
  void schedule(std::uint32_t ms, std::function<void()> fn) override {
    if (!stopping_) container->schedule(proton::duration(ms), std::move(fn));
  }
  bool stopping() const override { return stopping_; }

  // ---- listener ----

  void on_open(proton::listener& l) override {
    base::log(log_level::info, "transport", "listening",
              {{"host", opt.host},
               {"port", std::to_string(l.port())},
               {"tls", opt.tls ? "mutual" : "off (anonymous, loopback)"}});
    if (on_listening) on_listening(static_cast<std::uint16_t>(l.port()));
    schedule_housekeeping();
  }

  void on_error(proton::listener&, const std::string& what) override {
    base::diagnostic d;
    d.code = base::errc::io_error;
    d.where = fmt::format("{}:{}", opt.host, opt.port);
    d.message = "cannot listen: " + what;
    base::log(log_level::error, "transport", "cannot listen", {{"error", what}});
    if (on_listening) on_listening(d);
    container->stop();
  }

  proton::connection_options on_accept(proton::listener&) override {
    proton::connection_options co;
    co.handler(*this);
    co.max_frame_size(64 * 1024);  // bounds the session window: see on_session_open
    if (opt.idle_timeout_seconds)
      co.idle_timeout(proton::duration(opt.idle_timeout_seconds * 1000));
    if (opt.tls) {
      proton::ssl_certificate cert(opt.tls->certificate, opt.tls->key);
      co.ssl_server_options(
          proton::ssl_server_options(cert, opt.tls->ca, std::string(), proton::ssl::VERIFY_PEER));
      co.sasl_enabled(true);
      co.sasl_allowed_mechs("EXTERNAL");
    } else {
      co.sasl_enabled(true);
      co.sasl_allowed_mechs("ANONYMOUS");
    }
    return co;
  }

  // ---- connections ----

  void on_connection_open(proton::connection& c) override {
    auto id = next_conn_id++;
    conn_state cs;
    cs.id = id;
    cs.conn = c;
    if (opt.tls) {
      std::string subject;
      try {
        subject = c.transport().ssl().remote_subject();
      } catch (const std::exception&) {
      }
      const auto* a = parties->agency_for_subject(subject);
      if (!a) {
        base::log(log_level::warn, "transport", "connection refused: unknown identity",
                  {{"code", std::string(base::code_id(base::errc::auth_unknown_identity))},
                   {"subject", subject}});
        probe().refused.inc(base::code_id(base::errc::auth_unknown_identity));
        c.open();
        c.close(proton::error_condition(k_unauthorized, "unknown client identity"));
        return;
      }
      cs.agency = a->id;
    }
    base::log(log_level::info, "transport", "connection open",
              {{"connection", std::to_string(id)},
               {"agency", cs.agency.empty() ? "(anonymous)" : cs.agency}});
    conn_ids[c] = id;
    {
      std::lock_guard lk(counters_mu);
      ++connected[cs.agency.empty() ? "(anonymous)" : cs.agency];
    }
    conns.emplace(id, std::move(cs));
    {
      std::lock_guard lk(inbox->mu);
      inbox->wakers[id] = &c.work_queue();
    }
    c.open();
  }

  // Proton writes a connection's output only while it handles that connection's events. State
  // changed on connection B while handling A (or a store completion, or a timer) is flushed by
  // waking B through its work queue.
  std::unordered_set<std::uint64_t> dirty;
  void touch(const proton::connection& c) override {
    auto it = conn_ids.find(c);
    if (it != conn_ids.end()) dirty.insert(it->second);
  }
  void flush_dirty() {
    for (auto id : dirty) {
      auto it = conns.find(id);
      if (it != conns.end()) it->second.conn.work_queue().add([] {});
    }
    dirty.clear();
  }

  // Runs every completion that has arrived, in commit order (loop thread).
  void drain() {
    std::deque<store::completions> items;
    {
      std::lock_guard lk(inbox->mu);
      inbox->wake_pending = false;
      items.swap(inbox->items);
    }
    for (auto& batch : items)
      for (auto& f : batch) f();
    flush_dirty();
  }

  conn_state* conn_of(const proton::connection& c) {
    auto it = conn_ids.find(c);
    if (it == conn_ids.end()) return nullptr;
    auto jt = conns.find(it->second);
    return jt == conns.end() ? nullptr : &jt->second;
  }

  void on_session_open(proton::session& s) override {
    // Incoming bytes the engine may buffer for this session before the sender must wait: one
    // maximal message and a little more. An oversized transfer stalls here instead of filling
    // memory, and housekeeping closes its link.
    pn_session_set_incoming_capacity(pc::session(s), opt.max_message_bytes + 128 * 1024);
    s.open();
  }

  void on_transport_close(proton::transport& t) override { drop_connection(t.connection()); }
  void on_connection_close(proton::connection& c) override { drop_connection(c); }

  void on_transport_error(proton::transport& t) override {
    auto cond = t.error();
    base::log(log_level::info, "transport", "transport error",
              {{"condition", cond.name()}, {"description", cond.description()}});
  }
  // A peer's error (a connection, session or link closed with a condition, or a protocol error
  // its frames caused) ends that endpoint only. Proton's default handler throws, which would stop
  // the event loop, and with it every other agency's connection.
  void on_error(const proton::error_condition& cond) override {
    base::log(log_level::info, "transport", "peer error",
              {{"condition", cond.name()}, {"description", cond.description().substr(0, 500)}});
  }

  void drop_connection(const proton::connection& c) {
    auto it = conn_ids.find(c);
    if (it == conn_ids.end()) return;
    auto id = it->second;
    conn_ids.erase(it);
    {
      // Before the connection handle (which keeps its work queue alive) is released.
      std::lock_guard lk(inbox->mu);
      inbox->wakers.erase(id);
    }
    out.connection_dropped(c, id);
    in.connection_dropped(c, id);
    if (auto cs = conns.find(id); cs != conns.end()) {
      std::lock_guard lk(counters_mu);
      auto& n = connected[cs->second.agency.empty() ? "(anonymous)" : cs->second.agency];
      if (n > 0) --n;
    }
    conns.erase(id);  // pending ingest deliveries are dropped: the publisher will resend
    base::log(log_level::info, "transport", "connection closed",
              {{"connection", std::to_string(id)}});
    out.pump_all();
    flush_dirty();
  }

  // ---- links: publishers to intake, subscribers to delivery ----

  void on_receiver_open(proton::receiver& r) override {
    auto* cs = conn_of(r.connection());
    if (!cs) {
      r.close(proton::error_condition(k_unauthorized, "connection not authenticated"));
      return;
    }
    in.open_receiver(r, cs->agency, cs->id);
  }
  void on_receiver_close(proton::receiver& r) override { in.close_receiver(r); }
  void on_message(proton::delivery& d, proton::message& m) override {
    auto* cs = conn_of(d.connection());
    in.message(d, m, cs ? cs->id : 0);
  }

  void on_sender_open(proton::sender& s) override {
    auto* cs = conn_of(s.connection());
    if (!cs) {
      s.close(proton::error_condition(k_unauthorized, "connection not authenticated"));
      return;
    }
    out.open_sender(s, cs->agency, cs->id);
  }
  void on_sender_close(proton::sender& s) override { out.detach_consumer(s); }
  void on_sender_detach(proton::sender& s) override { out.detach_consumer(s); }
  void on_sendable(proton::sender& s) override { out.sendable(s); }
  void on_tracker_accept(proton::tracker& t) override { out.accept(t); }
  void on_tracker_reject(proton::tracker& t) override { out.reject(t); }
  void on_tracker_release(proton::tracker& t) override { out.release(t); }

  // ---- housekeeping ----

  static constexpr std::uint32_t k_tick_ms = 50;
  std::uint64_t ticks = 0;

  void schedule_housekeeping() {
    if (stopping_) return;
    container->schedule(proton::duration(k_tick_ms), [this] {
      drain();
      in.pay_owed_credit();  // held back while the store could not commit
      in.refuse_oversized();
      if (ticks % (1000 / k_tick_ms) == 0) out.renew_leases();  // well within the lease's time
      if (++ticks % std::max<std::uint32_t>(1, opt.housekeeping_ms / k_tick_ms) == 0) out.expire();
      flush_dirty();
      schedule_housekeeping();
    });
  }
};

namespace {

// Hands completions to the loop (from the store's thread, or any other).
void post(loop_inbox& inbox, server::impl* im, store::completions&& c) {
  std::lock_guard lk(inbox.mu);
  if (inbox.closed) return;
  inbox.items.push_back(std::move(c));
  if (inbox.wake_pending) return;
  inbox.wake_pending = true;
  for (auto& [id, wq] : inbox.wakers)
    if (wq->add([im] { im->drain(); })) return;
  // No live connection to wake through: the loop's tick drains the inbox.
}

}  // namespace

// The store setting that keeps a subscriber paused across restarts (and tells the other brokers
// sharing the store): `paused:RECIPIENT`.
const std::string k_paused_setting = "paused:";

namespace {

// Pauses or resumes a subscriber's delivery here (any thread); a resumed queue is pumped on the
// loop. `elsewhere`: an operator did it at another broker sharing the store.
// Whether `name` is one of the queues this broker keeps (from its options, which never change:
// the queue map itself belongs to the loop).
bool keeps_queue(const server::impl* im, const std::string& name) {
  const auto& o = im->opt;
  return std::find(o.recipients.begin(), o.recipients.end(), name) != o.recipients.end() ||
         o.parties->agency(name) != nullptr;
}

void set_paused(server::impl* im, const std::string& recipient, bool on, bool elsewhere) {
  if (!keeps_queue(im, recipient)) return;
  {
    std::lock_guard lk(im->counters_mu);
    bool was = im->paused.count(recipient) > 0;
    if (was == on) return;
    if (on)
      im->paused.insert(recipient);
    else
      im->paused.erase(recipient);
  }
  if (elsewhere)
    base::log(base::log_level::info, "transport",
              on ? "delivery paused by an operator at another broker"
                 : "delivery resumed by an operator at another broker",
              {{"recipient", recipient}});
  if (on) return;
  store::completions c;
  c.push_back([im, recipient] { im->out.pump(recipient); });
  post(*im->inbox, im, std::move(c));
}

}  // namespace

server::server(options opt, pipeline::pipeline& pl, store::delivery_path& st,
               store::operations& ops, const base::clock& clk)
    : impl_(std::make_unique<impl>(std::move(opt), pl, st, ops, clk)) {
  impl_->container = std::make_unique<proton::container>(*impl_, "niem-broker");
  (void)probe();  // its families are rendered from the start, at zero
  gauges_ = base::registry().add("transport", [this](std::string& out) {
    std::vector<base::gauge_sample> open;
    for (const auto& [agency, n] : connections())
      open.push_back({{{"agency", agency}}, static_cast<double>(n)});
    base::render_gauge(out, "niem_agency_connections", "Open AMQP connections per agency.", open);
  });
  // Subscribers an operator paused before the restart stay paused.
  for (auto& [key, value] : ops.settings(k_paused_setting)) {
    std::string recipient = key.substr(k_paused_setting.size());
    if (impl_->out.keeps(recipient)) {
      impl_->paused.insert(recipient);
      base::log(base::log_level::warn, "transport",
                "delivery paused by an operator (kept from before the restart)",
                {{"recipient", recipient}});
    }
  }
  auto* im = impl_.get();
  st.set_executor([inbox = impl_->inbox, im](store::completions&& c) {
    // Store thread. Everything under the inbox lock, so a server being destroyed (which closes
    // the inbox under the same lock) is never touched.
    post(*inbox, im, std::move(c));
  });
  st.watch([inbox = impl_->inbox, im](const std::string& recipient) {
    store::completions c;
    c.push_back([im, recipient] { im->out.changed_elsewhere(recipient); });
    post(*inbox, im, std::move(c));
  });
  // A pause or resume by an operator at another broker sharing the store (listener thread).
  ops.watch_settings(k_paused_setting, [im, &ops](const std::string& key,
                                                  const std::optional<std::string>& value) {
    if (key.empty()) {
      std::set<std::string> now;
      for (auto& [k, _] : ops.settings(k_paused_setting))
        now.insert(k.substr(k_paused_setting.size()));
      for (const auto& name : im->opt.recipients) set_paused(im, name, now.count(name) > 0, true);
      for (const auto& a : im->opt.parties->agencies)
        set_paused(im, a.id, now.count(a.id) > 0, true);
    } else if (key.starts_with(k_paused_setting)) {
      set_paused(im, key.substr(k_paused_setting.size()), value.has_value(), true);
    }
  });
}

void server::offer(std::vector<store::queue_entry> entries) {
  auto* im = impl_.get();
  store::completions c;
  c.push_back([im, entries = std::move(entries)]() mutable {
    for (auto& e : entries) im->out.enqueued(std::move(e));
  });
  post(*impl_->inbox, im, std::move(c));
}

void server::set_parties(std::shared_ptr<const config::broker_config> next) {
  auto* im = impl_.get();
  store::completions c;
  c.push_back([im, next = std::move(next)]() mutable { im->parties = std::move(next); });
  post(*impl_->inbox, im, std::move(c));
}

server::~server() {
  {
    std::lock_guard lk(impl_->inbox->mu);
    impl_->inbox->closed = true;
    impl_->inbox->wakers.clear();
  }
  impl_->st.set_executor([](store::completions&&) {});
  impl_->st.watch({});
  impl_->ops.watch_settings(k_paused_setting, {});
}

void server::run(std::function<void(base::result<std::uint16_t>)> on_listening) {
  impl_->on_listening = std::move(on_listening);
  auto addr = fmt::format("{}:{}", impl_->opt.host, impl_->opt.port);
  try {
    impl_->container->listen(addr, static_cast<proton::listen_handler&>(*impl_));
    impl_->container->run();
  } catch (const std::exception& e) {
    base::log(base::log_level::error, "transport", "event loop stopped", {{"error", e.what()}});
    base::diagnostic d;
    d.code = base::errc::internal;
    d.message = e.what();
    if (impl_->on_listening) impl_->on_listening(d);
  }
  impl_->stopping_ = true;
}

void server::stop() {
  impl_->stopping_ = true;
  impl_->container->stop();
}

bool server::pause(const std::string& recipient, bool on) {
  if (!impl_->ops.put_setting(k_paused_setting + recipient,
                              on ? std::optional<std::string>("1") : std::nullopt))
    return false;
  set_paused(impl_.get(), recipient, on, false);
  return true;
}

std::vector<std::string> server::paused() const {
  std::lock_guard lk(impl_->counters_mu);
  return {impl_->paused.begin(), impl_->paused.end()};
}

std::map<std::string, std::uint32_t> server::connections() const {
  std::lock_guard lk(impl_->counters_mu);
  auto out = impl_->connected;
  for (const auto& a : impl_->opt.parties->agencies) out.emplace(a.id, 0);
  return out;
}

}  // namespace niem::transport
