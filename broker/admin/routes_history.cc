// The admin API: the last hour of the metrics and the alert conditions that hold over it (routes
// added to the one table, routes.cc).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include <map>
#include "admin/handlers.h"

#include "admin/conditions.h"

namespace niem::admin {

namespace {

struct history_handlers : handlers {
  using handlers::handlers;
  response conditions_route(const call&);
  response history_route(const call&);
};

}  // namespace

response history_handlers::conditions_route(const call&) {
  auto ring = hist.samples();
  json::array holding;
  std::set<std::string_view> firing;
  for (const auto& c : evaluate(ring)) {
    if (c.firing) firing.insert(c.c->name);
    holding.push_back(json::object{{"name", c.c->name},
                                   {"severity", c.c->severity},
                                   {"state", c.firing ? "firing" : "pending"},
                                   {"label", c.c->by},
                                   {"group", c.group},
                                   {"value", c.value},
                                   {"since", iso(c.since_ms)},
                                   {"summary", with_label(c.c->summary, c.group)},
                                   {"action", with_label(c.c->action, c.group)}});
  }
  json::array all;
  for (const auto& c : conditions())
    all.push_back(json::object{{"name", c.name},
                               {"severity", c.severity},
                               {"expr", promql(c)},
                               {"firing", firing.count(c.name) > 0}});
  return json_response(
      200, json::object{
               {"samples", ring.size()},
               {"evaluated_at", ring.empty() ? json::value() : json::value(iso(ring.back().at_ms))},
               {"holding", std::move(holding)},
               {"conditions", std::move(all)}});
}

// The last hour as columns (one value per sample after the first), the shape uPlot draws:
// rates per second, per-interval counts, depth, latency quantiles, the validators' counts.
response history_handlers::history_route(const call&) {
  auto ring = hist.samples();
  json::array t, ingest, delivery, p50, p99, sampled, disagreements;
  std::map<std::string, json::array> depth, dead, withheld;
  std::set<std::string> queues, dead_codes, withheld_codes;
  for (const auto& s : ring) {
    for (const auto& [q, v] : sum_by(s, "niem_queue_depth", "queue")) queues.insert(q);
    for (const auto& [c, v] : sum_by(s, "niem_dead_lettered_total", "code")) dead_codes.insert(c);
    for (const auto& [c, v] : sum_by(s, "niem_withheld_total", "code")) withheld_codes.insert(c);
  }
  auto total = [](const history::sample& s, std::string_view name) {
    auto m = sum_by(s, name, "");
    return m.empty() ? 0.0 : m.begin()->second;
  };
  auto delta = [](double now, double was) { return now >= was ? now - was : now; };
  for (std::size_t i = 1; i < ring.size(); ++i) {
    const auto &a = ring[i - 1], &b = ring[i];
    double dt = static_cast<double>(b.at_ms - a.at_ms) / 1000.0;
    if (dt <= 0) continue;
    t.push_back(static_cast<double>(b.at_ms) / 1000.0);
    ingest.push_back(
        delta(total(b, "niem_records_received_total"), total(a, "niem_records_received_total")) /
        dt);
    delivery.push_back(
        delta(total(b, "niem_queue_accepted_total"), total(a, "niem_queue_accepted_total")) / dt);
    // The two validators: documents the sampling oracle checked, and disagreements (both modes).
    sampled.push_back(delta(total(b, "niem_validation_sampled_total"),
                            total(a, "niem_validation_sampled_total")));
    disagreements.push_back(delta(total(b, "niem_validation_disagreements_total"),
                                  total(a, "niem_validation_disagreements_total")));
    auto d = sum_by(b, "niem_queue_depth", "queue");
    for (const auto& q : queues) depth[q].push_back(d.count(q) ? d[q] : 0.0);
    auto per_interval = [&](std::string_view name, const std::set<std::string>& codes,
                            std::map<std::string, json::array>& into) {
      auto now = sum_by(b, name, "code"), was = sum_by(a, name, "code");
      for (const auto& c : codes) into[c].push_back(delta(now[c], was[c]));
    };
    per_interval("niem_dead_lettered_total", dead_codes, dead);
    per_interval("niem_withheld_total", withheld_codes, withheld);
    auto quantile = [&](double q) {
      auto v = quantile_between(a, b, "niem_ingest_to_delivery_seconds", q);
      return v ? json::value(*v) : json::value(nullptr);
    };
    p50.push_back(quantile(0.5));
    p99.push_back(quantile(0.99));
  }
  auto object_of = [](std::map<std::string, json::array>& m) {
    json::object o;
    for (auto& [k, v] : m) o[k] = std::move(v);
    return o;
  };
  return json_response(200, json::object{{"interval_seconds", opt.history_interval_ms / 1000.0},
                                         {"t", std::move(t)},
                                         {"ingest_per_second", std::move(ingest)},
                                         {"delivery_per_second", std::move(delivery)},
                                         {"depth", object_of(depth)},
                                         {"dead_letters", object_of(dead)},
                                         {"withheld", object_of(withheld)},
                                         {"latency_p50_seconds", std::move(p50)},
                                         {"latency_p99_seconds", std::move(p99)},
                                         {"validation_sampled", std::move(sampled)},
                                         {"validation_disagreements", std::move(disagreements)}});
}

void add_history_routes(std::vector<route>& table) {
  using h = history_handlers;
  table.insert(
      table.end(),
      {
          {"GET", "/api/conditions", access::viewer, &bind<h, &h::conditions_route>,
           "the alert conditions (deploy/prometheus/alerts.yml) that hold now, over the last hour"},
          {"GET", "/api/history", access::viewer, &bind<h, &h::history_route>,
           "the last hour: ingest and delivery rates, depth per queue, dead letters and withheld "
           "decisions by code, latency p50 and p99"},
      });
}

}  // namespace niem::admin
