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

  // Covered, or else `catch_up` (true: it answered) is called and covers every record that
  // arrived before this call. False when it did not answer.
  bool cover(clock::time_point arrived, const std::function<bool()>& catch_up) {
    if (covered(arrived)) return true;
    auto start = now_().time_since_epoch().count();
    if (!catch_up()) return false;
    auto cur = covered_.load(std::memory_order_relaxed);
    while (cur < start && !covered_.compare_exchange_weak(cur, start, std::memory_order_release,
                                                          std::memory_order_relaxed)) {
    }
    return true;
  }

 private:
  std::function<clock::time_point()> now_;
  // The start of the latest catch-up that answered.
  std::atomic<clock::rep> covered_{std::numeric_limits<clock::rep>::min()};
};

}  // namespace niem::pipeline
