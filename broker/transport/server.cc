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
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/session.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/ssl.hpp>
#include <proton/target.hpp>
#include <proton/target_options.hpp>
#include <proton/timestamp.hpp>
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

#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "pipeline/probe.h"
#include "transport/ingest.h"
#include "transport/probe.h"
#include "transport/proton_c.h"

namespace niem::transport {

namespace {

using base::log_level;

constexpr const char* k_unauthorized = "amqp:unauthorized-access";
constexpr const char* k_not_found = "amqp:not-found";

struct conn_state {
  std::uint64_t id = 0;
  proton::connection conn;
  std::string agency;  // authenticated agency; empty on an anonymous listener
  std::unordered_map<std::uint64_t, proton::delivery> pending;  // ingest awaiting the pipeline
};

struct ingest_link {
  std::uint64_t conn_id = 0;
  std::string agency, record_type;
};

struct queue_state {
  std::string recipient;
  std::vector<proton::sender> consumers;
  std::size_t next_consumer = 0;
  std::deque<store::queue_entry> buffer;                 // loaded, not yet sent
  std::map<std::int64_t, store::queue_entry> redeliver;  // sent before, to send again first
  std::int64_t loaded_upto = 0;  // every entry <= this is in memory, in flight or gone
  bool caught_up = false;        // the store holds nothing beyond loaded_upto
  bool fetching = false;
  // Another broker sharing the store committed entries while a fetch was running: the fetch may
  // not have seen them, so it does not count as caught up.
  bool stale = false;
  // This broker serves the recipient now (its lease in the store): one broker of those sharing
  // a store delivers a recipient's queue at a time.
  bool held = false;
  std::set<std::int64_t> acking;  // accepted, removal not yet committed
  bool sweeping = false;
  // A shared store: before a document that relies on a consent is sent, every fact committed by
  // any broker so far is learned (store::catch_up_facts). `confirming` while that read runs;
  // `confirmed` only during the pump that follows it.
  bool confirming = false;
  bool confirmed = false;
};

struct in_flight {
  store::queue_entry entry;
  std::uint64_t conn_id = 0;
  proton::sender sender;
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

std::string cond_description(pn_delivery_t* d) {
  if (!d) return {};
  auto* disp = pn_delivery_remote(d);
  auto* c = disp ? pn_disposition_condition(disp) : nullptr;
  const char* desc = c ? pn_condition_get_description(c) : nullptr;
  return desc ? std::string(desc).substr(0, 500) : std::string();
}

void post(loop_inbox& inbox, server::impl* im, store::completions&& c);

}  // namespace

struct server::impl : proton::messaging_handler, proton::listen_handler {
  options opt;
  pipeline::pipeline& pl;
  store::store& st;
  const base::clock& clk;
  std::unique_ptr<proton::container> container;
  std::shared_ptr<loop_inbox> inbox = std::make_shared<loop_inbox>();
  std::function<void(base::result<std::uint16_t>)> on_listening;

  std::uint64_t next_conn_id = 1, next_seq = 1;
  std::map<proton::connection, std::uint64_t> conn_ids;
  std::unordered_map<std::uint64_t, conn_state> conns;
  std::map<proton::receiver, ingest_link> ingest_links;
  std::map<proton::sender, std::string> consumer_of;
  std::map<std::string, queue_state> queues;
  std::map<proton::tracker, in_flight> inflight;
  std::uint64_t pending_total = 0;
  std::uint64_t pending_bytes = 0;
  proton::message out_message;  // of the records counted in pending_total
  std::deque<proton::receiver> owed_credit;
  // Sessions on which an oversized transfer was refused, and the session's own incoming
  // capacity: see refuse_oversized.
  struct leaky_session {
    std::size_t capacity = 0;            // the session's own, before any raise
    std::size_t set = 0;                 // what it is set to now
    std::size_t dropped = 0;             // bytes Proton counts and dropped, since the session began
    std::size_t dropped_at_refusal = 0;  // ... when the latest transfer was refused
  };
  std::map<proton::session, leaky_session> leaky_sessions;
  std::atomic<bool> stopping{false};  // set by stop(): no more timers, so the loop can end

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

  impl(options o, pipeline::pipeline& p, store::store& s, const base::clock& c)
      : opt(std::move(o)), pl(p), st(s), clk(c), parties(opt.parties) {
    for (const auto& r : opt.recipients) queues[r].recipient = r;
    for (const auto& a : opt.parties->agencies) queues[a.id].recipient = a.id;
  }

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
  void touch(const proton::connection& c) {
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
    // Documents in flight to this connection go back to their queues as failed attempts.
    std::vector<proton::tracker> gone;
    for (auto& [t, f] : inflight)
      if (f.conn_id == id) gone.push_back(t);
    for (auto& t : gone) fail_attempt(t);
    for (auto lt = ingest_links.begin(); lt != ingest_links.end();)
      lt = lt->second.conn_id == id ? ingest_links.erase(lt) : std::next(lt);
    for (auto ct = consumer_of.begin(); ct != consumer_of.end();) {
      if (ct->first.connection() == c) {
        auto& q = queues[ct->second];
        std::erase(q.consumers, ct->first);
        ct = consumer_of.erase(ct);
      } else {
        ++ct;
      }
    }
    std::erase_if(owed_credit, [&](const proton::receiver& r) { return r.connection() == c; });
    std::erase_if(leaky_sessions, [&](const auto& e) { return e.first.connection() == c; });
    if (auto cs = conns.find(id); cs != conns.end()) {
      std::lock_guard lk(counters_mu);
      auto& n = connected[cs->second.agency.empty() ? "(anonymous)" : cs->second.agency];
      if (n > 0) --n;
    }
    conns.erase(id);  // pending ingest deliveries are dropped: the publisher will resend
    base::log(log_level::info, "transport", "connection closed",
              {{"connection", std::to_string(id)}});
    pump_all();
    flush_dirty();
  }

  void refuse(proton::link& l, std::string_view address, std::string_view agency,
              const std::string& why, const char* condition) {
    base::log(log_level::warn, "transport", "link refused",
              {{"code", std::string(base::code_id(base::errc::auth_unauthorized_address))},
               {"agency", agency.empty() ? "(anonymous)" : agency},
               {"address", address},
               {"reason", why}});
    probe().refused.inc(base::code_id(base::errc::auth_unauthorized_address));
    l.close(proton::error_condition(condition, why));
  }

  // ---- ingest: the peer's sender, our receiver ----

  void on_receiver_open(proton::receiver& r) override {
    auto* cs = conn_of(r.connection());
    std::string address = r.target().address();
    if (!cs) {
      r.close(proton::error_condition(k_unauthorized, "connection not authenticated"));
      return;
    }
    r.open(proton::receiver_options().auto_accept(false).credit_window(0).target(
        proton::target_options().address(address)));
    auto parts = base::split(address, '/');
    if (parts.size() != 3 || parts[0] != "ingest") {
      refuse(r, address, cs->agency, "publish to ingest/<agency>/<record-type>", k_not_found);
      return;
    }
    std::string ag(parts[1]), type(parts[2]);
    const auto* a = parties->agency(ag);
    if (!cs->agency.empty() && cs->agency != ag) {
      refuse(r, address, cs->agency, "an agency publishes only as itself", k_unauthorized);
      return;
    }
    // An address naming nothing the broker knows is not found; a record type that exists but
    // belongs to another agency is not authorized.
    const auto& agencies = parties->agencies;
    auto publishes = [&](const config::agency_config& x) { return parties->publishes(x.id, type); };
    if (!a || std::none_of(agencies.begin(), agencies.end(), publishes)) {
      refuse(r, address, cs->agency, "no such agency or record type", k_not_found);
      return;
    }
    if (!publishes(*a)) {
      refuse(r, address, cs->agency, "the agency does not publish this record type",
             k_unauthorized);
      return;
    }
    pn_link_set_max_message_size(pc::link(r), opt.max_message_bytes);
    ingest_links[r] = {cs->id, ag, type};
    r.add_credit(static_cast<int>(opt.ingest_credit));
    base::log(log_level::info, "transport", "publisher attached",
              {{"connection", std::to_string(cs->id)}, {"address", address}});
  }

  void on_receiver_close(proton::receiver& r) override { ingest_links.erase(r); }

  // A transfer still arriving and already larger than the limit is rejected (NIEM-602) and
  // settled at once, and its link gets its credit back: the publisher goes on with its next
  // record on the same link. Not closing the link matters: Proton 0.37 sends a flow frame with a
  // detached link's handle when the session window is closed, and the peer then ends the whole
  // connection. Proton drops the frames that still arrive for the settled delivery but keeps
  // counting their bytes against the session's window (pn_do_transfer), so the session's
  // capacity is raised by what it counts and does not hold; a peer that sends more than 16
  // limits after its latest rejection loses its connection.
  void refuse_oversized() {
    for (auto& [r, info] : ingest_links) {
      auto* l = pc::link(r);
      auto* d = pn_link_current(l);
      if (!d || !pn_delivery_partial(d) || pn_delivery_pending(d) <= opt.max_message_bytes)
        continue;
      base::log(log_level::warn, "transport", "oversized transfer refused",
                {{"code", std::string(base::code_id(base::errc::link_message_too_large))},
                 {"agency", info.agency},
                 {"record_type", info.record_type}});
      probe().received.inc(info.agency);
      char scratch[16384];
      while (pn_link_recv(l, scratch, sizeof scratch) > 0) {
      }
      auto* cond = pn_disposition_condition(pn_delivery_local(d));
      pn_condition_set_name(
          cond,
          fmt::format("niem:{}", base::info(base::errc::link_message_too_large).name).c_str());
      pn_condition_set_description(
          cond,
          fmt::format("{} a message exceeds {} bytes",
                      base::code_id(base::errc::link_message_too_large), opt.max_message_bytes)
              .c_str());
      pn_delivery_update(d, PN_REJECTED);
      pn_delivery_settle(d);
      auto cap = opt.max_message_bytes + 128 * 1024;
      auto& ls =
          leaky_sessions.try_emplace(r.session(), leaky_session{cap, cap, 0, 0}).first->second;
      ls.dropped_at_refusal = ls.dropped;
      touch(r.connection());
      credit_back(r);
    }
    std::vector<proton::connection> too_much;
    for (auto& [ssn, ls] : leaky_sessions) {
      auto* ps = pc::session(ssn);
      std::size_t held = 0;
      pn_link_t* open_link = nullptr;  // one of the session's links, to announce a new window
      for (auto& [r, info] : ingest_links)
        if (r.session() == ssn) {
          if (auto* d = pn_link_current(pc::link(r))) held += pn_delivery_pending(d);
          if (r.active()) open_link = pc::link(r);
        }
      auto counted = pn_session_incoming_bytes(ps);
      ls.dropped = counted > held ? counted - held : 0;
      if (ls.dropped > ls.dropped_at_refusal + 16 * opt.max_message_bytes) {
        too_much.push_back(ssn.connection());
        continue;
      }
      if (ls.capacity + ls.dropped == ls.set) continue;
      ls.set = ls.capacity + ls.dropped;
      pn_session_set_incoming_capacity(ps, ls.set);
      // Proton announces a window only with a flow frame: a closed window is announced again
      // once one of the session's links is marked modified.
      if (open_link) pn_link_flow(open_link, 0);
      touch(ssn.connection());
    }
    for (auto& c : too_much) {
      base::log(log_level::warn, "transport", "connection closed: oversized transfer not stopped",
                {{"code", std::string(base::code_id(base::errc::link_message_too_large))}});
      std::erase_if(leaky_sessions, [&](const auto& e) { return e.first.connection() == c; });
      touch(c);
      c.close(proton::error_condition(
          "amqp:resource-limit-exceeded",
          "the peer kept sending a transfer that was rejected for its size"));
    }
  }

  void reject(proton::delivery& d, base::errc code, const std::string& description) {
    auto* pd = pc::delivery(d);
    auto* cond = pn_disposition_condition(pn_delivery_local(pd));
    pn_condition_set_name(cond, fmt::format("niem:{}", base::info(code).name).c_str());
    pn_condition_set_description(
        cond, fmt::format("{} {}", base::code_id(code), description.substr(0, 4000)).c_str());
    d.reject();
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    auto r = d.receiver();
    auto lt = ingest_links.find(r);
    auto* cs = conn_of(d.connection());
    if (lt == ingest_links.end() || !cs) {
      d.release();
      return;
    }
    probe().received.inc(lt->second.agency);
    auto t = read_message(m, opt.max_message_bytes);
    if (t.code != base::errc::ok) {
      reject(d, t.code, t.description);
      credit_back(r);
      return;
    }
    pipeline::job j;
    j.message_id = base::new_message_id(clk.now_ms());
    j.agency = lt->second.agency;
    j.record_type = lt->second.record_type;
    j.content_type = std::move(t.content_type);
    j.body = std::move(t.body);
    j.received_ms = clk.now_ms();
    auto seq = next_seq++;
    cs->pending.emplace(seq, d);
    ++pending_total;
    auto bytes = j.body.size();
    pending_bytes += bytes;
    // The completion travels through worker and store threads: it carries plain ids, never a
    // Proton handle (their reference counts belong to the loop thread).
    pl.submit(std::move(j), [this, conn = cs->id, seq, bytes](pipeline::outcome o) {
      on_outcome(conn, seq, bytes, std::move(o));  // on the loop, via the store's executor
    });
  }

  // The pipeline committed (or failed to commit) one record: settle its delivery.
  void on_outcome(std::uint64_t conn_id, std::uint64_t seq, std::uint64_t bytes,
                  pipeline::outcome o) {
    --pending_total;
    pending_bytes -= bytes;
    auto ct = conns.find(conn_id);
    if (ct != conns.end()) {
      auto node = ct->second.pending.extract(seq);
      if (!node.empty()) {
        auto& d = node.mapped();
        auto r = d.receiver();
        switch (o.what) {
          case pipeline::outcome::status::accepted:
            store_down_until = {};
            d.accept();
            break;
          case pipeline::outcome::status::duplicate:
            d.accept();
            break;
          case pipeline::outcome::status::dead_lettered:
            reject(d, o.code, o.detail);
            break;
          case pipeline::outcome::status::failed:
            d.release();  // not stored: the publisher sends it again
            // The store cannot commit (the database unreachable, restarting, full): hold
            // every publisher's credit for a while rather than have them resend at once.
            store_down_until = std::chrono::steady_clock::now() + k_store_backoff;
            break;
        }
        credit_back(r);
        dirty.insert(conn_id);
      }
    }
    if (o.what == pipeline::outcome::status::dead_lettered)
      base::log(log_level::warn, "pipeline", "record dead-lettered",
                {{"message_id", o.message_id},
                 {"agency", o.agency},
                 {"record_type", o.record_type},
                 {"code", base::code_id(o.code)}});
    else if (o.what == pipeline::outcome::status::failed)
      base::log(
          log_level::error, "pipeline", "record not stored; released to the publisher",
          {{"message_id", o.message_id}, {"agency", o.agency}, {"code", base::code_id(o.code)}});
    for (auto& e : o.enqueued) enqueued(std::move(e));
    pay_owed_credit();
  }

  static constexpr std::chrono::milliseconds k_store_backoff{1000};
  std::chrono::steady_clock::time_point store_down_until{};

  bool saturated() const {
    return pending_total >= opt.max_pending || pending_bytes >= opt.max_pending_bytes ||
           std::chrono::steady_clock::now() < store_down_until;
  }

  void credit_back(proton::receiver r) {
    if (!r.active()) return;
    if (!saturated())
      r.add_credit(1);
    else
      owed_credit.push_back(r);
  }

  void pay_owed_credit() {
    while (!owed_credit.empty() && !saturated()) {
      auto r = owed_credit.front();
      owed_credit.pop_front();
      if (!r.active()) continue;
      r.add_credit(1);
      touch(r.connection());  // written out when its connection is woken
    }
  }

  // ---- delivery: the peer's receiver, our sender ----

  void on_sender_open(proton::sender& s) override {
    auto* cs = conn_of(s.connection());
    std::string address = s.source().address();
    if (!cs) {
      s.close(proton::error_condition(k_unauthorized, "connection not authenticated"));
      return;
    }
    s.open(proton::sender_options().auto_settle(false).source(
        proton::source_options().address(address)));
    auto parts = base::split(address, '/');
    if (parts.size() != 2 || parts[0] != "deliver") {
      refuse(s, address, cs->agency, "receive from deliver/<agency>", k_not_found);
      return;
    }
    std::string recipient(parts[1]);
    if (!cs->agency.empty() && cs->agency != recipient) {
      refuse(s, address, cs->agency, "an agency receives only its own deliveries", k_unauthorized);
      return;
    }
    auto qt = queues.find(recipient);
    if (qt == queues.end()) {
      refuse(s, address, cs->agency, "no such recipient", k_not_found);
      return;
    }
    consumer_of[s] = recipient;
    qt->second.consumers.push_back(s);
    base::log(log_level::info, "transport", "subscriber attached",
              {{"connection", std::to_string(cs->id)}, {"address", address}});
    if (!qt->second.held) renew_leases();
    pump(qt->second);
    flush_dirty();
  }

  void detach_consumer(proton::sender& s) {
    auto it = consumer_of.find(s);
    if (it == consumer_of.end()) return;
    auto& q = queues[it->second];
    std::erase(q.consumers, s);
    consumer_of.erase(it);
    std::vector<proton::tracker> gone;
    for (auto& [t, f] : inflight)
      if (f.sender == s) gone.push_back(t);
    for (auto& t : gone) fail_attempt(t);
    if (q.consumers.empty() && q.held) renew_leases();  // gives the lease back
    pump(q);
    flush_dirty();
  }

  void on_sender_close(proton::sender& s) override { detach_consumer(s); }
  void on_sender_detach(proton::sender& s) override { detach_consumer(s); }

  void on_sendable(proton::sender& s) override {
    auto it = consumer_of.find(s);
    if (it != consumer_of.end()) pump(queues[it->second]);
  }

  bool expired(const store::queue_entry& e) const {
    return clk.now_ms() - e.enqueued_ms > static_cast<std::int64_t>(opt.ttl_ms);
  }

  void pump_all() {
    for (auto& [_, q] : queues) pump(q);
  }

  void pump(queue_state& q) {
    if (stopping) return;
    if (!q.held) return;  // another broker serves this recipient (or the lease is not yet ours)
    if (paused_queue(q.recipient)) return;  // an operator holds this subscriber's delivery
    bool progress = true;
    while (progress && !q.consumers.empty()) {
      progress = false;
      for (std::size_t n = 0; n < q.consumers.size(); ++n) {
        auto& s = q.consumers[(q.next_consumer + n) % q.consumers.size()];
        if (s.credit() <= 0 || !s.active()) continue;
        store::queue_entry e;
        bool from_redeliver = !q.redeliver.empty();
        if (from_redeliver) {
          e = std::move(q.redeliver.begin()->second);
          q.redeliver.erase(q.redeliver.begin());
        } else if (!q.buffer.empty()) {
          e = std::move(q.buffer.front());
          q.buffer.pop_front();
        } else {
          break;
        }
        if (expired(e)) {
          dead_letter(e, base::errc::delivery_expired, "{}");
          progress = true;
          continue;
        }
        if (!e.consent.empty() && opt.consent_gate) {
          if (st.shared() && !q.confirmed) {
            // Another broker may have committed the consent's revocation a moment ago: learn
            // every fact committed so far, then decide (consents_confirmed pumps again).
            if (from_redeliver)
              q.redeliver.emplace(e.id, std::move(e));
            else
              q.buffer.push_front(std::move(e));
            confirm_consents(q);
            return;
          }
          auto why = opt.consent_gate(e.consent);
          if (why != base::errc::ok) {
            withdraw(e, why);
            progress = true;
            continue;
          }
        }
        send(s, std::move(e));
        q.next_consumer = (q.next_consumer + n + 1) % q.consumers.size();
        progress = true;
        break;
      }
    }
    if (!q.consumers.empty() && !q.fetching && !q.caught_up && q.buffer.size() <= opt.prefetch / 2)
      fetch(q);
  }

  // Learns the facts every broker sharing the store committed so far (on the store's listener
  // thread), then pumps the queue with its consents confirmed.
  void confirm_consents(queue_state& q) {
    if (q.confirming) return;
    q.confirming = true;
    st.catch_up_facts([inbox = inbox, im = this, name = q.recipient](bool ok) {
      store::completions c;
      c.push_back([im, name, ok] { im->consents_confirmed(name, ok); });
      post(*inbox, im, std::move(c));
    });
  }

  void consents_confirmed(const std::string& name, bool ok) {
    auto it = queues.find(name);
    if (it == queues.end()) return;
    auto& q = it->second;
    q.confirming = false;
    if (!ok) {
      // The database cannot say whether a revocation was committed: nothing that relies on a
      // consent goes out until it can (tried again in a second).
      base::log(log_level::warn, "transport",
                "cannot confirm consents with the store; deliveries relying on one wait",
                {{"recipient", name},
                 {"code", std::string(base::code_id(base::errc::store_unavailable))}});
      if (!stopping)
        container->schedule(proton::duration(1000), [this, name] {
          auto jt = queues.find(name);
          if (jt != queues.end()) pump(jt->second);
          flush_dirty();
        });
      return;
    }
    q.confirmed = true;
    pump(q);
    q.confirmed = false;
  }

  void send(proton::sender& s, store::queue_entry e) {
    auto& m = out_message;  // reused: no message, property map and buffers built per delivery
    m.clear();
    m.id(e.message_id);
    m.content_type("application/xml");
    m.body(proton::binary(e.document->begin(), e.document->end()));
    m.inferred(true);  // a data section, not an AMQP binary value
    m.durable(true);
    m.delivery_count(e.attempts);
    m.first_acquirer(e.attempts == 0);
    m.creation_time(proton::timestamp(e.enqueued_ms));
    auto& p = m.properties();
    p.put("niem-message-id", e.message_id);
    p.put("niem-exchange", e.exchange);
    p.put("niem-source-agency", e.source_agency);
    p.put("niem-record-key", e.record_key);
    p.put("niem-recipient", e.recipient);
    p.put("niem-received-ms", e.received_ms);
    auto t = s.send(m);
    touch(s.connection());
    auto cid = conn_ids.count(s.connection()) ? conn_ids[s.connection()] : 0;
    probe().delivered.inc(e.recipient);
    inflight[t] = {std::move(e), cid, s};
  }

  void fetch(queue_state& q) {
    q.fetching = true;
    auto want = static_cast<std::uint32_t>(opt.prefetch -
                                           std::min<std::size_t>(q.buffer.size(), opt.prefetch));
    if (want == 0) want = 1;
    st.fetch(q.recipient, q.loaded_upto, want,
             [this, name = q.recipient, want](std::vector<store::queue_entry> v) {
               auto& qq = queues[name];
               qq.fetching = false;
               // Entries in flight or waiting for redelivery are never loaded twice (after a
               // lease is taken back the queue is read from its start again).
               auto busy = in_use(qq);
               for (auto& e : v) {
                 if (e.id <= qq.loaded_upto || busy.count(e.id)) continue;
                 qq.loaded_upto = e.id;
                 qq.buffer.push_back(std::move(e));
               }
               qq.caught_up = v.size() < want && !qq.stale;
               qq.stale = false;
               pump(qq);
             });
  }

  // Ids this broker holds for the queue outside its buffer: in flight, to be sent again, or
  // accepted with the removal not yet committed.
  std::set<std::int64_t> in_use(const queue_state& q) const {
    std::set<std::int64_t> ids(q.acking);
    for (const auto& [id, _] : q.redeliver) ids.insert(id);
    for (const auto& [_, f] : inflight)
      if (f.entry.recipient == q.recipient) ids.insert(f.entry.id);
    return ids;
  }

  // Takes, renews and gives back the leases of the recipients this broker has subscribers for;
  // a queue taken over is read from its start (what another broker left unacknowledged comes
  // first), a queue lost stops being delivered here.
  bool renewing = false, renew_again = false;
  void renew_leases() {
    if (stopping) return;
    if (renewing) {
      renew_again = true;
      return;
    }
    renewing = true;
    std::vector<std::string> wanted;
    for (auto& [name, q] : queues)
      if (!q.consumers.empty()) wanted.push_back(name);
    st.renew_leases(std::move(wanted), [this](std::vector<std::string> held) {
      renewing = false;
      std::set<std::string> h(held.begin(), held.end());
      for (auto& [name, q] : queues) {
        bool now = h.count(name) > 0;
        if (now == q.held) continue;
        q.held = now;
        q.buffer.clear();
        q.loaded_upto = 0;
        q.caught_up = false;
        if (q.fetching) q.stale = true;
        if (now) {
          pump(q);
        } else {
          q.redeliver.clear();  // still in the store, for whoever serves the queue
          if (!q.consumers.empty())
            base::log(log_level::warn, "transport",
                      "another broker serves this recipient now; its subscribers here wait",
                      {{"recipient", name}});
        }
      }
      flush_dirty();
      if (renew_again) {
        renew_again = false;
        renew_leases();
      }
    });
  }

  // Another broker sharing the store committed entries for `recipient` (empty: for anyone).
  void changed_elsewhere(const std::string& recipient) {
    for (auto& [name, q] : queues) {
      if (!recipient.empty() && name != recipient) continue;
      if (q.fetching) q.stale = true;
      q.caught_up = false;
      pump(q);
    }
  }

  // A newly committed entry: deliver straight from memory when the queue is caught up.
  void enqueued(store::queue_entry e) {
    probe().enqueued.inc(e.recipient);
    auto& q = queues[e.recipient];
    if (q.recipient.empty()) q.recipient = e.recipient;
    if (q.held && q.caught_up && !q.fetching && !q.consumers.empty() &&
        q.buffer.size() < opt.prefetch && e.id > q.loaded_upto) {
      q.loaded_upto = e.id;
      q.buffer.push_back(std::move(e));
      pump(q);
    } else {
      q.caught_up = false;
      pump(q);
    }
  }

  // The consent this document relied on no longer holds: it leaves the queue undelivered and the
  // withholding is audited.
  void withdraw(const store::queue_entry& e, base::errc why) {
    store::audit_entry a;
    a.message_id = e.message_id;
    a.record_key = e.record_key;
    a.provider = e.source_agency;
    a.exchange = e.exchange;
    a.recipient = e.recipient;
    a.consent = e.consent;
    a.decision = "withhold";
    a.reason = std::string(base::code_id(why));
    pipeline::probe().withheld.add({e.recipient, base::code_id(why)});
    base::log(log_level::info, "transport",
              "queued document withdrawn: its consent no longer holds",
              {{"message_id", e.message_id},
               {"recipient", e.recipient},
               {"code", std::string(base::code_id(why))}});
    st.withdraw(e.id, std::move(a));
  }

  void dead_letter(const store::queue_entry& e, base::errc code, std::string detail) {
    pipeline::probe().dead_lettered.inc(base::code_id(code));
    if (code == base::errc::delivery_expired) probe().expired.inc(e.recipient);
    base::log(log_level::warn, "delivery", "document dead-lettered",
              {{"message_id", e.message_id},
               {"recipient", e.recipient},
               {"code", std::string(base::code_id(code))}});
    st.dead_letter_entry(e.id, code, std::move(detail));
  }

  // A delivery that did not succeed (modified as failed, or its link went away unsettled).
  void fail_attempt(const proton::tracker& t) {
    auto it = inflight.find(t);
    if (it == inflight.end()) return;
    auto e = std::move(it->second.entry);
    inflight.erase(it);
    ++e.attempts;
    probe().redelivered.inc(e.recipient);
    if (e.attempts >= opt.max_attempts) {
      dead_letter(e, base::errc::delivery_max_attempts,
                  fmt::format(R"({{"attempts":{}}})", e.attempts));
      return;
    }
    st.set_attempts(e.id, e.attempts);
    auto& q = queues[e.recipient];
    auto id = e.id;
    q.redeliver.emplace(id, std::move(e));
  }

  void on_tracker_accept(proton::tracker& t) override {
    auto it = inflight.find(t);
    if (it == inflight.end()) {
      t.settle();
      return;
    }
    auto id = it->second.entry.id;
    auto conn_id = it->second.conn_id;
    auto it_recipient = it->second.entry.recipient;
    probe().accepted.inc(it->second.entry.recipient);
    probe().latency.observe(static_cast<double>(clk.now_ms() - it->second.entry.received_ms) /
                            1000.0);
    inflight.erase(it);
    // Settle only once the removal is durable: a subscriber that waits for our settlement
    // (receiver-settle-mode second) never sees a document again after that.
    auto ticket = next_seq++;
    settle_after_ack.emplace(ticket, std::make_pair(conn_id, t));
    queues[it_recipient].acking.insert(id);
    commit_ack(it_recipient, id, ticket);
  }

  // The removal is committed before the settlement; a removal the store could not commit (the
  // database unreachable) is tried again until it is, and only then settled.
  void commit_ack(const std::string& recipient, std::int64_t id, std::uint64_t ticket) {
    st.ack(id, [this, recipient, id, ticket](bool ok) {
      if (!ok) {
        if (stopping) return;
        container->schedule(proton::duration(500), [this, recipient, id, ticket] {
          if (!stopping) commit_ack(recipient, id, ticket);
        });
        return;
      }
      queues[recipient].acking.erase(id);
      auto node = settle_after_ack.extract(ticket);
      if (node.empty()) return;
      auto ct = conns.find(node.mapped().first);
      if (ct == conns.end()) return;
      node.mapped().second.settle();
      dirty.insert(ct->first);
    });
  }
  std::unordered_map<std::uint64_t, std::pair<std::uint64_t, proton::tracker>> settle_after_ack;

  void on_tracker_reject(proton::tracker& t) override {
    auto it = inflight.find(t);
    if (it != inflight.end()) {
      auto desc = cond_description(pc::delivery(t));
      auto e = std::move(it->second.entry);
      inflight.erase(it);
      dead_letter(e, base::errc::delivery_rejected,
                  fmt::format(R"({{"description":"{}"}})", base::json_escape(desc)));
    }
    t.settle();
  }

  void on_tracker_release(proton::tracker& t) override {
    // Proton reports released and modified here. Modified with delivery-failed counts as an
    // attempt; released means "not processed" and goes back without counting.
    auto* pd = pc::delivery(t);
    auto* disp = pd ? pn_delivery_remote(pd) : nullptr;
    bool failed =
        disp && pn_delivery_remote_state(pd) == PN_MODIFIED && pn_disposition_is_failed(disp);
    auto it = inflight.find(t);
    if (it != inflight.end()) {
      auto& q = queues[it->second.entry.recipient];
      if (failed) {
        fail_attempt(t);
      } else {
        auto e = std::move(it->second.entry);
        inflight.erase(it);
        auto id = e.id;
        probe().redelivered.inc(e.recipient);
        q.redeliver.emplace(id, std::move(e));
      }
      t.settle();
      pump(q);
      flush_dirty();
      return;
    }
    t.settle();
  }

  // ---- housekeeping: expiry ----

  static constexpr std::uint32_t k_tick_ms = 50;
  std::uint64_t ticks = 0;

  void schedule_housekeeping() {
    if (stopping) return;
    container->schedule(proton::duration(k_tick_ms), [this] {
      drain();
      pay_owed_credit();  // held back while the store could not commit
      refuse_oversized();
      if (ticks % (1000 / k_tick_ms) == 0) renew_leases();  // well within the lease's time
      if (++ticks % std::max<std::uint32_t>(1, opt.housekeeping_ms / k_tick_ms) == 0)
        housekeeping();
      flush_dirty();
      schedule_housekeeping();
    });
  }

  void housekeeping() {
    auto now = clk.now_ms();
    auto cutoff = now - static_cast<std::int64_t>(opt.ttl_ms);
    for (auto& [name, q] : queues) {
      // In memory: expired documents not in flight.
      for (auto it = q.redeliver.begin(); it != q.redeliver.end();) {
        if (expired(it->second)) {
          dead_letter(it->second, base::errc::delivery_expired, "{}");
          it = q.redeliver.erase(it);
        } else {
          ++it;
        }
      }
      while (!q.buffer.empty() && expired(q.buffer.front())) {
        dead_letter(q.buffer.front(), base::errc::delivery_expired, "{}");
        q.buffer.pop_front();
      }
      // On disk: beyond what is loaded; never while a fetch could be loading the same entries.
      if (!q.fetching && !q.sweeping) {
        q.sweeping = true;
        st.expire(name, q.loaded_upto, cutoff, [this, n = name](std::uint64_t k) {
          auto& qq = queues[n];
          qq.sweeping = false;
          if (k) {
            probe().expired.add({n}, k);
            pipeline::probe().dead_lettered.add({base::code_id(base::errc::delivery_expired)}, k);
            base::log(log_level::warn, "delivery", "documents expired",
                      {{"recipient", n},
                       {"count", std::to_string(k)},
                       {"code", std::string(base::code_id(base::errc::delivery_expired))}});
          }
        });
      }
    }
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
  c.push_back([im, recipient] {
    auto it = im->queues.find(recipient);
    if (it != im->queues.end()) im->pump(it->second);
  });
  post(*im->inbox, im, std::move(c));
}

}  // namespace

server::server(options opt, pipeline::pipeline& pl, store::store& st, const base::clock& clk)
    : impl_(std::make_unique<impl>(std::move(opt), pl, st, clk)) {
  impl_->container = std::make_unique<proton::container>(*impl_, "niem-broker");
  (void)probe();  // its families are rendered from the start, at zero
  gauges_ = base::registry().add("transport", [this](std::string& out) {
    std::vector<base::gauge_sample> open;
    for (const auto& [agency, n] : connections())
      open.push_back({{{"agency", agency}}, static_cast<double>(n)});
    base::render_gauge(out, "niem_agency_connections", "Open AMQP connections per agency.", open);
  });
  // Subscribers an operator paused before the restart stay paused.
  for (auto& [key, value] : st.settings(k_paused_setting)) {
    std::string recipient = key.substr(k_paused_setting.size());
    if (impl_->queues.count(recipient)) {
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
    c.push_back([im, recipient] { im->changed_elsewhere(recipient); });
    post(*inbox, im, std::move(c));
  });
  // A pause or resume by an operator at another broker sharing the store (listener thread).
  st.watch_settings(
      k_paused_setting, [im, &st](const std::string& key, const std::optional<std::string>& value) {
        if (key.empty()) {
          std::set<std::string> now;
          for (auto& [k, _] : st.settings(k_paused_setting))
            now.insert(k.substr(k_paused_setting.size()));
          for (const auto& name : im->opt.recipients)
            set_paused(im, name, now.count(name) > 0, true);
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
    for (auto& e : entries) im->enqueued(std::move(e));
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
  impl_->st.watch_settings(k_paused_setting, {});
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
  impl_->stopping = true;
}

void server::stop() {
  impl_->stopping = true;
  impl_->container->stop();
}

bool server::pause(const std::string& recipient, bool on) {
  if (!impl_->st.put_setting(k_paused_setting + recipient,
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
