#include "store/retention.h"

#include <future>

#include "base/log.h"
#include "base/metrics.h"

namespace niem::store {

namespace {

struct retention_probe {
  base::counter_family pruned{
      "niem_store_pruned_total", "Rows removed by retention, by kind.", {"kind"}};
  base::counter_family reclaimed{"niem_store_reclaimed_pages_total",
                                 "Free pages given back to the file system after pruning.",
                                 {}};
  retention_probe() { base::register_families("retention", pruned, reclaimed); }
};

retention_probe& probe() {
  static retention_probe p;
  return p;
}

}  // namespace

retention::retention(maintenance& st, retention_policy p, const base::clock& clk)
    : st_(st), policy_(std::move(p)), clk_(clk) {
  (void)probe();
}

retention::~retention() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void retention::start() {
  thread_ = std::thread([this] { loop(); });
}

bool retention::wait_ms(std::uint32_t ms) {
  std::unique_lock lk(mu_);
  return !cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

template <typename T>
bool retention::wait_for(std::future<T>& f) {
  // The completion runs on the store's executor (the AMQP loop), which drops what comes after it
  // stopped: a pass in flight at shutdown is abandoned rather than waited for.
  while (f.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
  }
  return true;
}

void retention::loop() {
  do {
    // Brokers sharing a store take turns: one of them prunes.
    if (st_.lead("retention")) run_pass();
  } while (wait_ms(policy_.interval_seconds * 1000));
}

std::map<prune_kind, std::uint64_t> retention::run_pass() {
  std::map<prune_kind, std::uint64_t> removed;
  auto now = clk_.now_ms();
  bool any = false;
  for (auto kind : k_prune_kinds) {
    auto it = policy_.keep_seconds.find(kind);
    if (it == policy_.keep_seconds.end() || it->second == 0) continue;
    auto cutoff = now - static_cast<std::int64_t>(it->second) * 1000;
    for (;;) {
      auto p = std::make_shared<std::promise<std::pair<bool, std::uint64_t>>>();
      auto f = p->get_future();
      st_.prune(kind, cutoff, policy_.batch, [p](bool ok, std::uint64_t n) {
        p->set_value({ok, n});
      });
      if (!wait_for(f)) return removed;
      auto [ok, n] = f.get();
      if (!ok) {
        base::log(base::log_level::warn, "store", "retention stopped: the store refused a batch",
                  {{"kind", std::string(prune_kind_name(kind))}});
        return removed;
      }
      removed[kind] += n;
      if (n) probe().pruned.add({prune_kind_name(kind)}, n);
      any = any || n;
      if (n < policy_.batch) break;
      if (!wait_ms(policy_.pause_ms)) return removed;
    }
  }
  if (any) {
    for (;;) {
      auto p = std::make_shared<std::promise<std::uint64_t>>();
      auto f = p->get_future();
      st_.reclaim(policy_.reclaim_pages, [p](std::uint64_t n) { p->set_value(n); });
      if (!wait_for(f)) break;
      auto n = f.get();
      if (n) probe().reclaimed.add({}, n);
      if (n < policy_.reclaim_pages || !wait_ms(policy_.pause_ms)) break;
    }
    auto count = [&](prune_kind k) {
      auto f = removed.find(k);
      return std::to_string(f == removed.end() ? 0 : f->second);
    };
    base::log(base::log_level::info, "store", "retention removed old rows",
              {{"records", count(prune_kind::records)},
               {"messages", count(prune_kind::messages)},
               {"dead_letters", count(prune_kind::dead_letters)},
               {"observations", count(prune_kind::observations)}});
  }
  return removed;
}

}  // namespace niem::store
