#pragma once
// The group-commit engine both implementations share: one thread takes every operation queued
// while the previous group was committing and hands them to the backend as one group; the
// completions then go to the owner's executor in commit order, batched per group.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"

namespace niem::store {

struct op {
  std::function<bool()> apply;     // inside the group's transaction; false rolls this op back
  std::function<void(bool)> done;  // after the commit, on the executor
  std::promise<void>* barrier = nullptr;
  // What a backend may apply differently from `apply` (PostgreSQL pipelines records and acks:
  // kind 1 and 2); `apply` stays the way to apply the op alone.
  int kind = 0;
  std::shared_ptr<void> data = {};
};

class engine {
 public:
  // How a backend applies a group. `ok[i]` is set for each op that took effect; the return value
  // says whether the group committed. An op that fails must leave no trace of itself.
  struct committer {
    virtual bool apply_group(std::vector<op>& batch, std::vector<char>& ok) = 0;
    // Between two groups, on the engine's thread (checkpoints, reconnects).
    virtual void idle() {}

   protected:
    ~committer() = default;
  };

  engine(committer& b, std::uint32_t group_max)
      : backend_(b), group_max_(group_max ? group_max : 1) {}
  ~engine() { stop(); }
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  void start();
  // Applies what is queued, then stops the thread.
  void stop();

  void push(op o);
  void set_executor(std::function<void(completions&&)> exec);

  // Runs `f` on the engine's thread (in the next group) and waits for it: the synchronous
  // queries of tools and the admin API. `f` returns false to roll its own work back.
  template <class F>
  void run_sync(F&& f) {
    std::promise<void> p;
    push({[&f] { return f(); }, {}, &p});
    p.get_future().wait();
  }
  // Waits for its own completion too (which may run on the executor).
  template <class F>
  void run_sync_completed(F&& f) {
    std::promise<void> p;
    push({[&f] { return f(); }, [&p](bool) { p.set_value(); }});
    p.get_future().wait();
  }
  void flush();

  store::counters counters() const;

 private:
  void loop();

  committer& backend_;
  std::uint32_t group_max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<op> ops_queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::function<void(completions&&)> exec_;
  std::atomic<std::uint64_t> commits_{0}, ops_{0}, failed_{0};
  std::atomic<std::int64_t> last_group_us_{0};
};

}  // namespace niem::store
