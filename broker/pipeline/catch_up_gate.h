#pragma once
// Catch-ups shared by the records they cover. On replicas a decision rests on every fact
// committed before its record arrived (store::catch_up_facts reads what was committed before it
// was called). A catch-up that began after a record arrived and has answered covers that record
// too, so under load one read serves every record that waited in the queue meanwhile, instead of
// one database round trip per record.
#include <atomic>
#include <chrono>
#include <functional>
#include <limits>

namespace niem::pipeline {

class catch_up_gate {
 public:
  using clock = std::chrono::steady_clock;
  explicit catch_up_gate(std::function<clock::time_point()> now = clock::now)
      : now_(std::move(now)) {}

  // Whether a catch-up that began after `arrived` has answered (what was committed before the
  // record arrived is learned already).
  bool covered(clock::time_point arrived) const {
    return arrived.time_since_epoch().count() < covered_.load(std::memory_order_acquire);
  }

  // A catch-up is called now: pass what this returns to answered() once it answers true.
  clock::time_point start() const { return now_(); }
  // The catch-up begun at `start` answered: it covers every record that arrived before then.
  void answered(clock::time_point start) {
    auto t = start.time_since_epoch().count();
    auto cur = covered_.load(std::memory_order_relaxed);
    while (cur < t && !covered_.compare_exchange_weak(cur, t, std::memory_order_release,
                                                      std::memory_order_relaxed)) {
    }
  }

 private:
  std::function<clock::time_point()> now_;
  // The start of the latest catch-up that answered.
  std::atomic<clock::rep> covered_{std::numeric_limits<clock::rep>::min()};
};

}  // namespace niem::pipeline
