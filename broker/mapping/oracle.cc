#include "mapping/oracle.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace niem::mapping {

struct validation_oracle::impl {
  options opt;
  listener l;
  std::mutex mu;
  std::condition_variable cv, idle;
  std::deque<oracle_sample> queue;
  std::size_t queued_bytes = 0;
  bool busy = false;  // a sample taken off the queue is being checked
  bool stopping = false;
  std::thread thread;

  impl(options o, listener li) : opt(o), l(std::move(li)) {}

  void run() {
    // Linux gives each thread its own niceness; the oracle's work may wait, the records' not.
    if (opt.nice > 0)
      (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), opt.nice);
    // One validator per schema set, dropped when the oracle is the set's last holder (the rules
    // that used it were replaced by a reload).
    std::vector<std::pair<std::shared_ptr<const validation::schema_set>,
                          std::unique_ptr<validation::validator>>>
        validators;
    for (;;) {
      oracle_sample s;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return stopping || !queue.empty(); });
        if (stopping) return;
        s = std::move(queue.front());
        queue.pop_front();
        queued_bytes -= s.document.size();
        busy = true;
      }
      std::erase_if(validators, [](const auto& v) { return v.first.use_count() == 1; });
      auto v = std::find_if(validators.begin(), validators.end(),
                            [&](const auto& x) { return x.first == s.schemas; });
      if (v == validators.end()) {
        validators.emplace_back(s.schemas,
                                std::make_unique<validation::validator>(s.schemas, opt.limits));
        v = std::prev(validators.end());
      }
      auto report = v->second->validate(s.document, "document");
      if (l.checked) l.checked(s, report);
      {
        std::lock_guard lk(mu);
        busy = false;
      }
      idle.notify_all();
    }
  }
};

validation_oracle::validation_oracle(options opt, listener l)
    : impl_(std::make_unique<impl>(opt, std::move(l))) {
  impl_->thread = std::thread([this] { impl_->run(); });
}

validation_oracle::~validation_oracle() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

bool validation_oracle::offer(oracle_sample s) {
  {
    std::lock_guard lk(impl_->mu);
    const bool full = impl_->queue.size() >= impl_->opt.max_queue ||
                      impl_->queued_bytes + s.document.size() > impl_->opt.max_queue_bytes;
    if (!full && !impl_->stopping) {
      impl_->queued_bytes += s.document.size();
      impl_->queue.push_back(std::move(s));
      impl_->cv.notify_one();
      return true;
    }
  }
  if (impl_->l.dropped) impl_->l.dropped(s);
  return false;
}

void validation_oracle::drain() {
  std::unique_lock lk(impl_->mu);
  impl_->idle.wait(lk, [&] { return impl_->stopping || (impl_->queue.empty() && !impl_->busy); });
}

}  // namespace niem::mapping
