#include "store/engine.h"

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
    bool committed = backend_.apply_group(batch, ok);
    if (committed) {
      commits_.fetch_add(1, std::memory_order_relaxed);
      ops_.fetch_add(batch.size(), std::memory_order_relaxed);
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
