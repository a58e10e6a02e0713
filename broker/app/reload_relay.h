#pragma once
// Reloads across the brokers sharing one PostgreSQL store: a broker that reloaded announces it
// (the store setting `reload:announce`), and each of the others reloads from its own files and
// reports what it now runs (`reload:result:REPLICA`: the rules' content hash, generation and
// outcome), so an operator sees at any broker whether all run the same rules (GET /api/config).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "admin/admin.h"
#include "store/store.h"

namespace niem::app {

using admin::k_reload_announce;
using admin::k_reload_result;

class reload_relay {
 public:
  using reload_fn = std::function<admin::reload_report(const std::string& by)>;
  // Watches the announcements of the others; `reload` runs on the relay's own thread.
  reload_relay(store::operations& st, reload_fn reload);
  ~reload_relay();
  reload_relay(const reload_relay&) = delete;
  reload_relay& operator=(const reload_relay&) = delete;

  // After a reload of this broker's own (SIGHUP, operator): the others follow, and this broker's
  // own result is recorded beside theirs.
  void announce(const admin::reload_report& rep);

 private:
  void run();
  void record(const admin::reload_report& rep, const std::string& origin,
              const std::string& origin_hash);

  store::operations& st_;
  reload_fn reload_;
  std::string self_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> announced_;  // values of reload:announce from the others
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace niem::app
