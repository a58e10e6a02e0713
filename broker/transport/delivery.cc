#include "transport/delivery.h"

#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/sender_options.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/timestamp.hpp>
#include <proton/types.hpp>

#include <algorithm>

#include <fmt/format.h>

#include "base/log.h"
#include "base/text.h"
#include "pipeline/probe.h"
#include "transport/probe.h"
#include "transport/proton_c.h"

namespace niem::transport {

using base::log_level;

namespace {

std::string cond_description(pn_delivery_t* d) {
  if (!d) return {};
  auto* disp = pn_delivery_remote(d);
  auto* c = disp ? pn_disposition_condition(disp) : nullptr;
  const char* desc = c ? pn_condition_get_description(c) : nullptr;
  return desc ? std::string(desc).substr(0, 500) : std::string();
}

}  // namespace

delivery::delivery(const options& o, store::delivery_path& s, const base::clock& c, event_loop& loop,
                   poster post, std::function<bool(const std::string&)> paused)
    : opt(o), st(s), clk(c), loop_(loop), post_(std::move(post)), paused_(std::move(paused)) {
  for (const auto& r : opt.recipients) queues[r].recipient = r;
  for (const auto& a : opt.parties->agencies) queues[a.id].recipient = a.id;
}

void delivery::connection_dropped(const proton::connection& c, std::uint64_t conn_id) {
  // Documents in flight to this connection go back to their queues as failed attempts.
  std::vector<proton::tracker> gone;
  for (auto& [t, f] : inflight)
    if (f.conn_id == conn_id) gone.push_back(t);
  for (auto& t : gone) fail_attempt(t);
  for (auto ct = consumer_of.begin(); ct != consumer_of.end();) {
    if (ct->first.connection() == c) {
      auto& q = queues[ct->second];
      std::erase(q.consumers, ct->first);
      ct = consumer_of.erase(ct);
    } else {
      ++ct;
    }
  }
}

void delivery::pump(const std::string& recipient) {
  auto it = queues.find(recipient);
  if (it != queues.end()) pump(it->second);
}

void delivery::open_sender(proton::sender& s, const std::string& agency, std::uint64_t conn_id) {
  std::string address = s.source().address();
  s.open(proton::sender_options().auto_settle(false).source(
      proton::source_options().address(address)));
  auto parts = base::split(address, '/');
  if (parts.size() != 2 || parts[0] != "deliver") {
    refuse_link(s, address, agency, "receive from deliver/<agency>", k_not_found);
    return;
  }
  std::string recipient(parts[1]);
  if (!agency.empty() && agency != recipient) {
    refuse_link(s, address, agency, "an agency receives only its own deliveries", k_unauthorized);
    return;
  }
  auto qt = queues.find(recipient);
  if (qt == queues.end()) {
    refuse_link(s, address, agency, "no such recipient", k_not_found);
    return;
  }
  consumer_of[s] = recipient;
  qt->second.consumers.push_back(s);
  base::log(log_level::info, "transport", "subscriber attached",
            {{"connection", std::to_string(conn_id)}, {"address", address}});
  if (!qt->second.held) renew_leases();
  pump(qt->second);
  loop_.flush();
}

void delivery::detach_consumer(proton::sender& s) {
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
  loop_.flush();
}

void delivery::sendable(proton::sender& s) {
  auto it = consumer_of.find(s);
  if (it != consumer_of.end()) pump(queues[it->second]);
}

bool delivery::expired(const store::queue_entry& e) const {
  return clk.now_ms() - e.enqueued_ms > static_cast<std::int64_t>(opt.ttl_ms);
}

void delivery::pump_all() {
  for (auto& [_, q] : queues) pump(q);
}

void delivery::pump(queue_state& q) {
  if (loop_.stopping()) return;
  if (!q.held) return;  // another broker serves this recipient (or the lease is not yet ours)
  if (paused_(q.recipient)) return;  // an operator holds this subscriber's delivery
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
void delivery::confirm_consents(queue_state& q) {
  if (q.confirming) return;
  q.confirming = true;
  st.catch_up_facts([post = post_, self = this, name = q.recipient](bool ok) {
    store::completions c;
    c.push_back([self, name, ok] { self->consents_confirmed(name, ok); });
    post(std::move(c));
  });
}

void delivery::consents_confirmed(const std::string& name, bool ok) {
  auto it = queues.find(name);
  if (it == queues.end()) return;
  auto& q = it->second;
  q.confirming = false;
  if (!ok) {
    // The database cannot say whether a revocation was committed: nothing that relies on a
    // consent goes out until it can (tried again in a second).
    base::log(
        log_level::warn, "transport",
        "cannot confirm consents with the store; deliveries relying on one wait",
        {{"recipient", name}, {"code", std::string(base::code_id(base::errc::store_unavailable))}});
    if (!loop_.stopping())
      loop_.schedule(1000, [this, name] {
        auto jt = queues.find(name);
        if (jt != queues.end()) pump(jt->second);
        loop_.flush();
      });
    return;
  }
  q.confirmed = true;
  pump(q);
  q.confirmed = false;
}

void delivery::send(proton::sender& s, store::queue_entry e) {
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
  loop_.touch(s.connection());
  auto cid = loop_.conn_id(s.connection());
  probe().delivered.inc(e.recipient);
  inflight[t] = {std::move(e), cid, s};
}

void delivery::fetch(queue_state& q) {
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
std::set<std::int64_t> delivery::in_use(const queue_state& q) const {
  std::set<std::int64_t> ids(q.acking);
  for (const auto& [id, _] : q.redeliver) ids.insert(id);
  for (const auto& [_, f] : inflight)
    if (f.entry.recipient == q.recipient) ids.insert(f.entry.id);
  return ids;
}

void delivery::renew_leases() {
  if (loop_.stopping()) return;
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
    loop_.flush();
    if (renew_again) {
      renew_again = false;
      renew_leases();
    }
  });
}

// Another broker sharing the store committed entries for `recipient` (empty: for anyone).
void delivery::changed_elsewhere(const std::string& recipient) {
  for (auto& [name, q] : queues) {
    if (!recipient.empty() && name != recipient) continue;
    if (q.fetching) q.stale = true;
    q.caught_up = false;
    pump(q);
  }
}

// A newly committed entry: deliver straight from memory when the queue is caught up.
void delivery::enqueued(store::queue_entry e) {
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
void delivery::withdraw(const store::queue_entry& e, base::errc why) {
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
  base::log(log_level::info, "transport", "queued document withdrawn: its consent no longer holds",
            {{"message_id", e.message_id},
             {"recipient", e.recipient},
             {"code", std::string(base::code_id(why))}});
  st.withdraw(e.id, std::move(a));
}

void delivery::dead_letter(const store::queue_entry& e, base::errc code, std::string detail) {
  pipeline::probe().dead_lettered.inc(base::code_id(code));
  if (code == base::errc::delivery_expired) probe().expired.inc(e.recipient);
  base::log(log_level::warn, "delivery", "document dead-lettered",
            {{"message_id", e.message_id},
             {"recipient", e.recipient},
             {"code", std::string(base::code_id(code))}});
  st.dead_letter_entry(e.id, code, std::move(detail));
}

// A delivery that did not succeed (modified as failed, or its link went away unsettled).
void delivery::fail_attempt(const proton::tracker& t) {
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

void delivery::accept(proton::tracker& t) {
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
  auto ticket = next_ticket++;
  settle_after_ack.emplace(ticket, std::make_pair(conn_id, t));
  queues[it_recipient].acking.insert(id);
  commit_ack(it_recipient, id, ticket);
}

// The removal is committed before the settlement; a removal the store could not commit (the
// database unreachable) is tried again until it is, and only then settled.
void delivery::commit_ack(const std::string& recipient, std::int64_t id, std::uint64_t ticket) {
  st.ack(id, [this, recipient, id, ticket](bool ok) {
    if (!ok) {
      if (loop_.stopping()) return;
      loop_.schedule(500, [this, recipient, id, ticket] {
        if (!loop_.stopping()) commit_ack(recipient, id, ticket);
      });
      return;
    }
    queues[recipient].acking.erase(id);
    auto node = settle_after_ack.extract(ticket);
    if (node.empty()) return;
    auto conn_id = node.mapped().first;
    if (!loop_.live(conn_id)) return;
    node.mapped().second.settle();
    loop_.touch(conn_id);
  });
}

void delivery::reject(proton::tracker& t) {
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

void delivery::release(proton::tracker& t) {
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
    loop_.flush();
    return;
  }
  t.settle();
}

void delivery::expire() {
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

}  // namespace niem::transport
