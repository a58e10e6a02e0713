#pragma once
// Delivery, the peer's receiver and our sender: one queue per subscriber, pulled from the store
// by the subscribers' credit (prefetch ahead), sent round-robin to a recipient's consumers,
// removed from the store on acceptance and settled only once the removal is committed; released
// and failed deliveries sent again (a failed one counted, dead-lettered after max attempts),
// rejected and expired ones dead-lettered. With a shared store: one broker serves a recipient
// at a time (its lease, renewed every second), and a document that relies on a consent goes out
// only after the facts every broker committed so far are learned and the consent still holds
// (withdrawn and audited otherwise). Loop thread only.
#include <proton/message.hpp>
#include <proton/sender.hpp>
#include <proton/tracker.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "store/store.h"
#include "transport/loop.h"
#include "transport/server.h"

namespace niem::transport {

class delivery {
 public:
  // `paused`: whether an operator holds a subscriber's delivery (any thread may change it).
  delivery(const options& opt, store::delivery_path& st, const base::clock& clk, event_loop& loop,
           poster post, std::function<bool(const std::string&)> paused);

  // Whether the broker keeps a queue for `recipient`.
  bool keeps(const std::string& recipient) const { return queues.count(recipient) > 0; }

  // A subscriber's link from `conn_id` (its agency; empty on an anonymous listener): authorized
  // to its own queue and attached, or refused.
  void open_sender(proton::sender& s, const std::string& agency, std::uint64_t conn_id);
  void detach_consumer(proton::sender& s);
  void sendable(proton::sender& s);
  // The connection went away: its documents in flight go back to their queues as failed
  // attempts, its consumers are detached.
  void connection_dropped(const proton::connection& c, std::uint64_t conn_id);

  // The subscriber's outcome of a document sent.
  void accept(proton::tracker& t);
  void reject(proton::tracker& t);
  void release(proton::tracker& t);

  void pump_all();
  void pump(const std::string& recipient);
  void renew_leases();
  // Another broker sharing the store committed entries for `recipient` (empty: for anyone).
  void changed_elsewhere(const std::string& recipient);
  // A newly committed entry: deliver straight from memory when the queue is caught up.
  void enqueued(store::queue_entry e);
  // Expired documents, in memory and in the store, dead-lettered (housekeeping).
  void expire();

 private:
  struct queue_state {
    std::string recipient;
    std::vector<proton::sender> consumers;
    std::size_t next_consumer = 0;
    std::deque<store::queue_entry> buffer;                 // loaded, not yet sent
    std::map<std::int64_t, store::queue_entry> redeliver;  // sent before, to send again first
    std::int64_t loaded_upto = 0;  // every entry <= this is in memory, in flight or gone
    bool caught_up = false;        // the store holds nothing beyond loaded_upto
    bool fetching = false;
    // Another broker sharing the store committed entries while a fetch was running: the fetch
    // may not have seen them, so it does not count as caught up.
    bool stale = false;
    // This broker serves the recipient now (its lease in the store): one broker of those
    // sharing a store delivers a recipient's queue at a time.
    bool held = false;
    std::set<std::int64_t> acking;  // accepted, removal not yet committed
    bool sweeping = false;
    // A shared store: before a document that relies on a consent is sent, every fact committed
    // by any broker so far is learned (store::catch_up_facts). `confirming` while that read
    // runs; `confirmed` only during the pump that follows it.
    bool confirming = false;
    bool confirmed = false;
  };
  struct in_flight {
    store::queue_entry entry;
    std::uint64_t conn_id = 0;
    proton::sender sender;
  };

  bool expired(const store::queue_entry& e) const;
  void pump(queue_state& q);
  void confirm_consents(queue_state& q);
  void consents_confirmed(const std::string& name, bool ok);
  void send(proton::sender& s, store::queue_entry e);
  void fetch(queue_state& q);
  std::set<std::int64_t> in_use(const queue_state& q) const;
  void withdraw(const store::queue_entry& e, base::errc why);
  void dead_letter(const store::queue_entry& e, base::errc code, std::string detail);
  void fail_attempt(const proton::tracker& t);
  void commit_ack(const std::string& recipient, std::int64_t id, std::uint64_t ticket);

  const options& opt;
  store::delivery_path& st;
  const base::clock& clk;
  event_loop& loop_;
  poster post_;
  std::function<bool(const std::string&)> paused_;

  std::map<proton::sender, std::string> consumer_of;
  std::map<std::string, queue_state> queues;
  std::map<proton::tracker, in_flight> inflight;
  proton::message out_message;  // reused: no message, property map and buffers per delivery
  bool renewing = false, renew_again = false;
  std::uint64_t next_ticket = 1;
  std::unordered_map<std::uint64_t, std::pair<std::uint64_t, proton::tracker>> settle_after_ack;
};

}  // namespace niem::transport
