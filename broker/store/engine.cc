#include "store/engine.h"

#include <chrono>

namespace niem::store {

void engine::start() {
  thread_ = std::thread([this] { loop(); });
}

void engine::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void engine::push(op o) {
  {
    std::lock_guard lk(mu_);
    ops_queue_.push_back(std::move(o));
  }
  cv_.notify_one();
}

void engine::set_executor(std::function<void(completions&&)> exec) {
  std::lock_guard lk(mu_);
  exec_ = std::move(exec);
}

store::counters engine::counters() const {
  store::counters c;
  c.commits = commits_.load(std::memory_order_relaxed);
  c.ops = ops_.load(std::memory_order_relaxed);
  c.failed_groups = failed_.load(std::memory_order_relaxed);
  c.last_group_seconds = static_cast<double>(last_group_us_.load(std::memory_order_relaxed)) / 1e6;
  {
    std::lock_guard lk(mu_);
    c.queued = ops_queue_.size();
  }
  return c;
}

void engine::flush() {
  std::promise<void> p;
  push({{}, {}, &p});
  p.get_future().wait();
}

void engine::loop() {
  std::vector<op> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !ops_queue_.empty(); });
      if (ops_queue_.empty()) return;  // stopping and drained
      while (!ops_queue_.empty() && batch.size() < group_max_) {
        batch.push_back(std::move(ops_queue_.front()));
        ops_queue_.pop_front();
      }
    }
    std::vector<char> ok(batch.size(), 0);
    auto t0 = std::chrono::steady_clock::now();
    bool committed = backend_.apply_group(batch, ok);
    last_group_us_.store(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count(),
        std::memory_order_relaxed);
    if (committed) {
      commits_.fetch_add(1, std::memory_order_relaxed);
      ops_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
    completions c;
    std::vector<std::promise<void>*> barriers;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done)
        c.push_back([d = std::move(batch[i].done), good = committed && ok[i]] { d(good); });
      if (batch[i].barrier) barriers.push_back(batch[i].barrier);
    }
    if (!c.empty()) {
      std::function<void(completions &&)> run_on;
      {
        std::lock_guard lk(mu_);
        run_on = exec_;
      }
      if (run_on) {
        run_on(std::move(c));
      } else {
        for (auto& f : c) f();
      }
    }
    for (auto* b : barriers) b->set_value();
    backend_.idle();
  }
}

}  // namespace niem::store
