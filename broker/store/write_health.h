#pragma once
// Why the store refuses writes although its database may answer: its disk is full, or it is
// read-only (a PostgreSQL standby, default_transaction_read_only, a read-only file system).
// Shared by both implementations: set by the statement that failed, cleared by the next record
// committed; /readyz, the log and the released record's outcome all give the same code.
#include <atomic>
#include <mutex>
#include <string>

#include "base/error.h"
#include "base/log.h"

namespace niem::store {

class write_health {
 public:
  void refused(base::errc code, const std::string& why) {
    std::lock_guard lk(mu_);
    if (code_.exchange(code) != code)
      base::log(base::log_level::error, "store", "the store refuses writes; records are released",
                {{"code", std::string(base::code_id(code))}, {"error", why}});
    problem_ = why;
  }
  void committed() {
    if (code_.load(std::memory_order_relaxed) == base::errc::ok) return;
    std::lock_guard lk(mu_);
    auto was = code_.exchange(base::errc::ok);
    if (was != base::errc::ok)
      base::log(base::log_level::info, "store", "the store accepts writes again",
                {{"was", std::string(base::code_id(was))}});
    problem_.clear();
  }
  base::errc code() const { return code_.load(); }
  std::string problem() const {
    std::lock_guard lk(mu_);
    return problem_;
  }
  // What a write that failed reports: the refusal's code, else store.unavailable.
  base::errc failure_code() const {
    auto c = code();
    return c == base::errc::ok ? base::errc::store_unavailable : c;
  }

 private:
  std::atomic<base::errc> code_{base::errc::ok};
  mutable std::mutex mu_;
  std::string problem_;
};

}  // namespace niem::store
