#include "app/reload_relay.h"

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "base/text.h"

namespace niem::app {

namespace {

// "ORIGIN GENERATION HASH AT_MS"
struct announcement {
  std::string origin, generation, hash;
};

announcement parse(const std::string& value) {
  auto words = base::split(value, ' ');
  announcement a;
  if (words.size() >= 3) {
    a.origin = std::string(words[0]);
    a.generation = std::string(words[1]);
    a.hash = std::string(words[2]);
  }
  return a;
}

}  // namespace

reload_relay::reload_relay(store::operations& st, reload_fn reload)
    : st_(st), reload_(std::move(reload)), self_(st.replica_id()) {
  thread_ = std::thread([this] { run(); });
  // The store's listener thread: only queued here.
  st_.watch_settings(std::string(k_reload_announce),
                     [this](const std::string& key, const std::optional<std::string>& value) {
                       if (key != k_reload_announce || !value) return;
                       auto origin = parse(*value).origin;
                       if (origin.empty() || origin == self_) return;
                       std::lock_guard lk(mu_);
                       announced_.push_back(*value);
                       cv_.notify_one();
                     });
}

reload_relay::~reload_relay() {
  st_.watch_settings(std::string(k_reload_announce), {});
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void reload_relay::announce(const admin::reload_report& rep) {
  auto value = fmt::format("{} {} {} {}", self_, rep.generation, rep.content_hash,
                           base::default_clock().now_ms());
  if (!st_.put_setting(std::string(k_reload_announce), value))
    base::log(base::log_level::error, "reload",
              "the other brokers sharing the store were not told of the reload",
              {{"code", std::string(base::code_id(base::errc::store_unavailable))}});
  record(rep, self_, rep.content_hash);
}

void reload_relay::run() {
  for (;;) {
    std::string value;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !announced_.empty(); });
      if (stopping_) return;
      value = std::move(announced_.front());
      announced_.pop_front();
    }
    auto a = parse(value);
    auto rep = reload_("replica:" + a.origin);
    record(rep, a.origin, a.hash);
    const bool same = rep.content_hash == a.hash;
    base::log(same ? base::log_level::info : base::log_level::warn, "reload",
              same ? "the same rules as the broker that announced the reload"
                   : "rules differ from those of the broker that announced the reload",
              {{"origin", a.origin},
               {"origin_hash", a.hash},
               {"content_hash", rep.content_hash},
               {"outcome", rep.ok ? "reloaded" : "refused"}});
  }
}

void reload_relay::record(const admin::reload_report& rep, const std::string& origin,
                          const std::string& origin_hash) {
  // "HASH GENERATION OUTCOME ORIGIN ORIGIN_HASH AT_MS"
  auto value = fmt::format("{} {} {} {} {} {}", rep.content_hash, rep.generation,
                           rep.ok ? "reloaded" : "refused", origin, origin_hash,
                           base::default_clock().now_ms());
  if (!st_.put_setting(std::string(k_reload_result) + self_, value))
    base::log(base::log_level::error, "reload", "this broker's reload result is not in the store",
              {{"code", std::string(base::code_id(base::errc::store_unavailable))}});
}

}  // namespace niem::app
