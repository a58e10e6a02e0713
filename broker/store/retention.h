#pragma once
// Retention: each kind of row the store keeps goes after its own age (records kept for replay
// with the delivery time-to-live, the message log, dead letters, observations), pruned by a
// thread of its own a small batch at a time: each batch is one operation among the records'
// commits, with a pause after it, so that live traffic waits for one small delete at most. After
// a pass the freed pages go back to the file system (SQLite). The audit trail is never pruned
// here: it is kept at least six years (the accounting of disclosures).
#include <condition_variable>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "store/store.h"

namespace niem::store {

struct retention_policy {
  // How long each kind is kept, in seconds; 0 keeps it for ever.
  std::map<prune_kind, std::uint64_t> keep_seconds;
  std::uint32_t batch = 250;             // rows per operation
  std::uint32_t pause_ms = 20;           // between two batches
  std::uint32_t interval_seconds = 600;  // between two passes
  std::uint32_t reclaim_pages = 256;     // pages given back per operation (1 MiB)
};

class retention {
 public:
  retention(maintenance& st, retention_policy p, const base::clock& clk);
  ~retention();
  retention(const retention&) = delete;
  retention& operator=(const retention&) = delete;

  // Starts the thread: a pass at once, then every interval.
  void start();
  // One pass over every kind (the thread's; tests call it directly): rows removed by kind.
  // Stops early when the store refuses an operation or the object is being destroyed.
  std::map<prune_kind, std::uint64_t> run_pass();

 private:
  void loop();
  bool wait_ms(std::uint32_t ms);  // false when stopping
  template <typename T>
  bool wait_for(std::future<T>& f);  // false when stopping before f is ready

  maintenance& st_;
  retention_policy policy_;
  const base::clock& clk_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace niem::store
