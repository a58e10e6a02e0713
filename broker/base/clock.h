#pragma once
// An injectable clock: the broker asks it for the time so that tests can move time (TTL expiry,
// agreement dates) without sleeping.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace niem::base {

class clock {
 public:
  virtual ~clock() = default;
  // Milliseconds since the Unix epoch.
  virtual std::int64_t now_ms() const = 0;
};

class system_clock final : public clock {
 public:
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to; thread-safe.
class manual_clock final : public clock {
 public:
  explicit manual_clock(std::int64_t start_ms) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void advance_ms(std::int64_t ms) { now_ += ms; }
  void set_ms(std::int64_t ms) { now_ = ms; }

 private:
  std::atomic<std::int64_t> now_;
};

// The process-wide clock used where none is injected.
const clock& default_clock();

}  // namespace niem::base
