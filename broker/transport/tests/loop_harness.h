#pragma once
// Drives the transport's units without a socket: an AMQP connection between two Proton
// connection drivers in memory (the broker's side and a client's), an event loop whose timers
// run when the test says so, and a store's queues in memory whose completions wait until the
// test runs them (as the store's thread would, later).
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/io/connection_driver.hpp>
#include <proton/messaging_handler.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/store.h"
#include "transport/loop.h"

namespace niem::transport::testing {

// One end of the in-memory connection: reads what the other end wrote.
class memory_end : public proton::io::connection_driver {
 public:
  memory_end(std::deque<char>& in, std::deque<char>& out, const std::string& id)
      : proton::io::connection_driver(id), in_(in), out_(out) {}

  // Handles what arrived and writes what is owed; false once nothing is left to do.
  bool step() {
    bool moved = false;
    dispatch();
    auto rb = read_buffer();
    auto n = std::min(in_.size(), rb.size);
    if (n) {
      std::copy(in_.begin(), in_.begin() + static_cast<long>(n), rb.data);
      read_done(n);
      in_.erase(in_.begin(), in_.begin() + static_cast<long>(n));
      moved = true;
    }
    dispatch();
    for (auto wb = write_buffer(); wb.size; wb = write_buffer()) {
      out_.insert(out_.end(), wb.data, wb.data + wb.size);
      write_done(wb.size);
      moved = true;
    }
    return moved || has_events();
  }

 private:
  std::deque<char>& in_;
  std::deque<char>& out_;
};

// A client connected to a broker-side handler, in memory.
class memory_link {
 public:
  memory_link(proton::messaging_handler& broker, proton::messaging_handler& client)
      : broker_(to_broker_, to_client_, "broker"), client_(to_client_, to_broker_, "client") {
    broker_.accept(proton::connection_options().handler(broker));
    client_.connect(proton::connection_options().handler(client));
  }
  // Until neither end has anything left to say (bounded: a test that loops is a failure).
  void settle_down() {
    for (int i = 0; i < 10000; ++i) {
      bool a = broker_.step();
      bool b = client_.step();
      if (!a && !b && to_broker_.empty() && to_client_.empty()) return;
    }
    throw std::runtime_error("the in-memory connection never went quiet");
  }
  proton::connection client() const { return client_.connection(); }
  proton::connection broker() const { return broker_.connection(); }

 private:
  std::deque<char> to_broker_, to_client_;
  memory_end broker_, client_;
};

// The loop: every connection is id 1 while `open`; timers wait for run_timers().
class fake_loop final : public event_loop {
 public:
  bool open = true;
  void touch(const proton::connection&) override {}
  void touch(std::uint64_t) override {}
  void flush() override {}
  std::uint64_t conn_id(const proton::connection&) const override { return open ? 1 : 0; }
  bool live(std::uint64_t id) const override { return open && id == 1; }
  void schedule(std::uint32_t, std::function<void()> fn) override {
    timers_.push_back(std::move(fn));
  }
  bool stopping() const override { return false; }
  std::size_t run_timers() {
    auto due = std::move(timers_);
    timers_.clear();
    for (auto& fn : due) fn();
    return due.size();
  }

 private:
  std::vector<std::function<void()>> timers_;
};

// The subscribers' queues in memory. What the broker asks of them is done at once and
// remembered; the answers wait in `pending` until run(), as they would for the store's thread.
class memory_queues final : public store::delivery_path {
 public:
  std::map<std::int64_t, store::queue_entry> entries;
  std::vector<std::int64_t> acked;
  std::map<std::int64_t, std::uint32_t> attempts;
  struct dead {
    std::int64_t id;
    base::errc code;
    std::string detail;
  };
  std::vector<dead> dead_letters;
  std::vector<store::audit_entry> withdrawn;
  bool ack_fails = false;  // the database cannot commit a removal
  std::deque<std::function<void()>> pending;

  std::int64_t add(const std::string& recipient, std::string document, std::int64_t enqueued_ms,
                   std::string consent = {}) {
    store::queue_entry e;
    e.id = next_id_++;
    e.recipient = recipient;
    e.message_id = "m" + std::to_string(e.id);
    e.source_agency = "court";
    e.record_key = "k" + std::to_string(e.id);
    e.exchange = "placement-notification";
    e.document = std::make_shared<const std::string>(std::move(document));
    e.enqueued_ms = e.received_ms = enqueued_ms;
    e.consent = std::move(consent);
    entries[e.id] = e;
    return e.id;
  }
  // Runs the answers owed, and those they cause, until none is left.
  std::size_t run() {
    std::size_t n = 0;
    while (!pending.empty()) {
      auto fn = std::move(pending.front());
      pending.pop_front();
      fn();
      ++n;
    }
    return n;
  }

  void set_executor(std::function<void(store::completions&&)>) override {}
  void fetch(std::string recipient, std::int64_t after_id, std::uint32_t limit,
             std::function<void(std::vector<store::queue_entry>)> done) override {
    std::vector<store::queue_entry> v;
    for (auto it = entries.upper_bound(after_id); it != entries.end() && v.size() < limit; ++it)
      if (it->second.recipient == recipient) v.push_back(it->second);
    pending.push_back([done = std::move(done), v = std::move(v)]() mutable { done(std::move(v)); });
  }
  void withdraw(std::int64_t id, store::audit_entry why, std::function<void(bool)> done) override {
    entries.erase(id);
    withdrawn.push_back(std::move(why));
    if (done) pending.push_back([done] { done(true); });
  }
  void ack(std::int64_t id, std::function<void(bool)> done) override {
    bool ok = !ack_fails;
    if (ok) {
      entries.erase(id);
      acked.push_back(id);
    }
    if (done) pending.push_back([done, ok] { done(ok); });
  }
  void set_attempts(std::int64_t id, std::uint32_t n) override {
    attempts[id] = n;
    if (auto it = entries.find(id); it != entries.end()) it->second.attempts = n;
  }
  void dead_letter_entry(std::int64_t id, base::errc code, std::string detail,
                         std::function<void(bool)> done) override {
    entries.erase(id);
    dead_letters.push_back({id, code, std::move(detail)});
    if (done) pending.push_back([done] { done(true); });
  }
  void expire(std::string recipient, std::int64_t above_id, std::int64_t cutoff_ms,
              std::function<void(std::uint64_t)> done) override {
    std::uint64_t n = 0;
    for (auto it = entries.upper_bound(above_id); it != entries.end();) {
      if (it->second.recipient == recipient && it->second.enqueued_ms < cutoff_ms) {
        dead_letters.push_back({it->first, base::errc::delivery_expired, "{}"});
        it = entries.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    pending.push_back([done = std::move(done), n] { done(n); });
  }
  store::backend kind() const override { return store::backend::sqlite; }

 private:
  std::int64_t next_id_ = 1;
};

}  // namespace niem::transport::testing
