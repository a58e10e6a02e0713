#include "transport/intake.h"

#include <proton/error_condition.hpp>
#include <proton/receiver_options.hpp>
#include <proton/target.hpp>
#include <proton/target_options.hpp>

#include <algorithm>

#include <fmt/format.h>

#include "base/ids.h"
#include "base/log.h"
#include "base/text.h"
#include "transport/ingest.h"
#include "transport/probe.h"
#include "transport/proton_c.h"

namespace niem::transport {

using base::log_level;

intake::intake(const options& o, pipeline::submitter& p, const base::clock& c, event_loop& loop,
               delivery& out, const std::shared_ptr<const config::broker_config>& parties_now)
    : opt(o), pl(p), clk(c), loop_(loop), out_(out), parties(parties_now) {}

void intake::connection_dropped(const proton::connection& c, std::uint64_t conn_id) {
  for (auto lt = ingest_links.begin(); lt != ingest_links.end();)
    lt = lt->second.conn_id == conn_id ? ingest_links.erase(lt) : std::next(lt);
  std::erase_if(owed_credit, [&](const proton::receiver& r) { return r.connection() == c; });
  std::erase_if(leaky_sessions, [&](const auto& e) { return e.first.connection() == c; });
  pending.erase(conn_id);  // not settled: the publisher will resend
}

void intake::open_receiver(proton::receiver& r, const std::string& agency, std::uint64_t conn_id) {
  std::string address = r.target().address();
  r.open(proton::receiver_options().auto_accept(false).credit_window(0).target(
      proton::target_options().address(address)));
  auto parts = base::split(address, '/');
  if (parts.size() != 3 || parts[0] != "ingest") {
    refuse_link(r, address, agency, "publish to ingest/<agency>/<record-type>", k_not_found);
    return;
  }
  std::string ag(parts[1]), type(parts[2]);
  const auto* a = parties->agency(ag);
  if (!agency.empty() && agency != ag) {
    refuse_link(r, address, agency, "an agency publishes only as itself", k_unauthorized);
    return;
  }
  // An address naming nothing the broker knows is not found; a record type that exists but
  // belongs to another agency is not authorized.
  const auto& agencies = parties->agencies;
  auto publishes = [&](const config::agency_config& x) { return parties->publishes(x.id, type); };
  if (!a || std::none_of(agencies.begin(), agencies.end(), publishes)) {
    refuse_link(r, address, agency, "no such agency or record type", k_not_found);
    return;
  }
  if (!publishes(*a)) {
    refuse_link(r, address, agency, "the agency does not publish this record type", k_unauthorized);
    return;
  }
  pn_link_set_max_message_size(pc::link(r), opt.max_message_bytes);
  ingest_links[r] = {conn_id, ag, type};
  r.add_credit(static_cast<int>(opt.ingest_credit));
  base::log(log_level::info, "transport", "publisher attached",
            {{"connection", std::to_string(conn_id)}, {"address", address}});
}

// A transfer still arriving and already larger than the limit is rejected (NIEM-602) and
// settled at once, and its link gets its credit back: the publisher goes on with its next
// record on the same link. Not closing the link matters: Proton 0.37 sends a flow frame with a
// detached link's handle when the session window is closed, and the peer then ends the whole
// connection. Proton drops the frames that still arrive for the settled delivery but keeps
// counting their bytes against the session's window (pn_do_transfer), so the session's
// capacity is raised by what it counts and does not hold; a peer that sends more than 16
// limits after its latest rejection loses its connection.
void intake::refuse_oversized() {
  for (auto& [r, info] : ingest_links) {
    auto* l = pc::link(r);
    auto* d = pn_link_current(l);
    if (!d || !pn_delivery_partial(d) || pn_delivery_pending(d) <= opt.max_message_bytes) continue;
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
        cond, fmt::format("niem:{}", base::info(base::errc::link_message_too_large).name).c_str());
    pn_condition_set_description(
        cond, fmt::format("{} a message exceeds {} bytes",
                          base::code_id(base::errc::link_message_too_large), opt.max_message_bytes)
                  .c_str());
    pn_delivery_update(d, PN_REJECTED);
    pn_delivery_settle(d);
    auto cap = opt.max_message_bytes + 128 * 1024;
    auto& ls = leaky_sessions.try_emplace(r.session(), leaky_session{cap, cap, 0, 0}).first->second;
    ls.dropped_at_refusal = ls.dropped;
    loop_.touch(r.connection());
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
    loop_.touch(ssn.connection());
  }
  for (auto& c : too_much) {
    base::log(log_level::warn, "transport", "connection closed: oversized transfer not stopped",
              {{"code", std::string(base::code_id(base::errc::link_message_too_large))}});
    std::erase_if(leaky_sessions, [&](const auto& e) { return e.first.connection() == c; });
    loop_.touch(c);
    c.close(
        proton::error_condition("amqp:resource-limit-exceeded",
                                "the peer kept sending a transfer that was rejected for its size"));
  }
}

void intake::reject(proton::delivery& d, base::errc code, const std::string& description) {
  auto* pd = pc::delivery(d);
  auto* cond = pn_disposition_condition(pn_delivery_local(pd));
  pn_condition_set_name(cond, fmt::format("niem:{}", base::info(code).name).c_str());
  pn_condition_set_description(
      cond, fmt::format("{} {}", base::code_id(code), description.substr(0, 4000)).c_str());
  d.reject();
}

void intake::message(proton::delivery& d, proton::message& m, std::uint64_t conn_id) {
  auto r = d.receiver();
  auto lt = ingest_links.find(r);
  if (lt == ingest_links.end() || conn_id == 0) {
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
  pending[conn_id].emplace(seq, d);
  ++pending_total;
  auto bytes = j.body.size();
  pending_bytes += bytes;
  // The completion travels through worker and store threads: it carries plain ids, never a
  // Proton handle (their reference counts belong to the loop thread).
  pl.submit(std::move(j), [this, conn = conn_id, seq, bytes](pipeline::outcome o) {
    on_outcome(conn, seq, bytes, std::move(o));  // on the loop, via the store's executor
  });
}

// The pipeline committed (or failed to commit) one record: settle its delivery.
void intake::on_outcome(std::uint64_t conn_id, std::uint64_t seq, std::uint64_t bytes,
                        pipeline::outcome o) {
  --pending_total;
  pending_bytes -= bytes;
  auto ct = pending.find(conn_id);
  if (ct != pending.end()) {
    auto node = ct->second.extract(seq);
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
      loop_.touch(conn_id);
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
  for (auto& e : o.enqueued) out_.enqueued(std::move(e));
  pay_owed_credit();
}

bool intake::saturated() const {
  return pending_total >= opt.max_pending || pending_bytes >= opt.max_pending_bytes ||
         std::chrono::steady_clock::now() < store_down_until;
}

void intake::credit_back(proton::receiver r) {
  if (!r.active()) return;
  if (!saturated())
    r.add_credit(1);
  else
    owed_credit.push_back(r);
}

void intake::pay_owed_credit() {
  while (!owed_credit.empty() && !saturated()) {
    auto r = owed_credit.front();
    owed_credit.pop_front();
    if (!r.active()) continue;
    r.add_credit(1);
    loop_.touch(r.connection());  // written out when its connection is woken
  }
}

}  // namespace niem::transport
