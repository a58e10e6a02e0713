#include "store/probe.h"

#include "base/error.h"

namespace niem::store {

namespace {

void collect(queries& st, const std::vector<std::string>& recipients, std::int64_t now,
             std::string& out) {
  auto stats = st.stats(recipients);
  std::vector<base::gauge_sample> depth, age, dead;
  for (const auto& q : stats) {
    depth.push_back({{{"queue", q.recipient}}, static_cast<double>(q.depth)});
    age.push_back(
        {{{"queue", q.recipient}},
         q.oldest_enqueued_ms ? static_cast<double>(now - q.oldest_enqueued_ms) / 1000.0 : 0.0});
  }
  for (const auto& [code, n] : st.dead_letter_counts())
    dead.push_back({{{"code", code}}, static_cast<double>(n)});
  base::render_gauge(out, "niem_queue_depth", "Documents waiting in a subscriber's queue.", depth);
  base::render_gauge(out, "niem_queue_oldest_age_seconds",
                     "Age of the oldest waiting document (0: empty).", age);
  base::render_gauge(out, "niem_dead_letter_depth", "Dead letters waiting, by reason code.", dead);
  base::render_gauge(out, "niem_store_bytes", "Size of the store (database and WAL).",
                     {{{}, static_cast<double>(st.size_bytes())}});
  auto sc = st.stats_counters();
  auto db = st.check();
  base::render_gauge(out, "niem_store_up", "The store's database answers (1) or not (0).",
                     {{{{"backend", st.kind() == backend::postgres ? "postgres" : "sqlite"}},
                       db.reachable ? 1.0 : 0.0}});
  base::render_gauge(out, "niem_store_connections",
                     "Connections the store holds open to its database.",
                     {{{}, static_cast<double>(db.connections)}});
  base::render_gauge(out, "niem_store_group_seconds",
                     "How long the store's last group of operations took, commit included.",
                     {{{}, sc.last_group_seconds}});
  base::render_gauge(out, "niem_store_queued_operations",
                     "Operations waiting for the store's next group.",
                     {{{}, static_cast<double>(sc.queued)}});
  base::render_counter(out, "niem_store_commits_total", "Groups committed.", sc.commits);
  base::render_counter(out, "niem_store_failed_groups_total",
                       "Groups that could not commit (nothing of them stored).", sc.failed_groups);
  if (db.free_bytes) {
    base::render_gauge(out, "niem_store_free_bytes",
                       "Free space of the store's file system (SQLite).",
                       {{{}, static_cast<double>(db.free_bytes)}});
    base::render_gauge(out, "niem_store_free_floor_bytes",
                       "The free space below which new records are refused (store.low_space).",
                       {{{}, static_cast<double>(db.min_free_bytes)}});
  }
  // Why the store takes no records now (1 for the code that holds, none while it writes).
  std::vector<base::gauge_sample> refusing;
  if (!db.reachable)
    refusing.push_back(
        {{{"code", std::string(base::code_id(
                       db.code == base::errc::ok ? base::errc::store_unavailable : db.code))}},
         1.0});
  base::render_gauge(out, "niem_store_refusing",
                     "Why the store commits no records now (the code), 1 while it holds.",
                     refusing);
}

}  // namespace

base::metrics_registry::registration register_probe(
    queries& st, std::function<std::vector<std::string>()> recipients, const base::clock& clk) {
  return base::registry().add(
      "store", [&st, recipients = std::move(recipients), &clk](std::string& out) {
        collect(st, recipients ? recipients() : std::vector<std::string>{}, clk.now_ms(), out);
      });
}

}  // namespace niem::store
