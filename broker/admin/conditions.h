#pragma once
// The conditions ops are alerted on, defined once: deploy/prometheus/alerts.yml is generated from
// this table (`niem-broker --alert-rules`; a test fails while the file differs), and the broker
// evaluates the same table over its own last hour (history.h) for the dashboard and
// /api/conditions. Thresholds are here, not in two places.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "admin/history.h"

namespace niem::admin {

enum class rule_kind {
  above,           // the gauge `metric` > threshold, per series
  equals,          // the gauge `metric` == threshold, per series
  increase_above,  // sum by (`by`) of the counter's increase over `window_s` > threshold
  quantile_above,  // the 0.99 quantile of histogram `metric` over `window_s` > threshold (s)
  scrape_failed,   // Prometheus could not scrape the broker (only Prometheus can see this)
};

struct condition {
  std::string_view name;      // the alert's name
  std::string_view severity;  // "page": someone acts now; "ticket": within the working day
  rule_kind kind;
  std::string_view metric;
  std::string_view by;  // the label the alert is per ("" for one alert)
  double threshold = 0;
  std::int64_t window_s = 0;
  std::int64_t for_s = 0;  // how long it must hold before it fires (no flapping, no flood)
  // What holds and what to do; "{}" stands for the label's value.
  std::string_view summary;
  std::string_view action;
};

const std::vector<condition>& conditions();

// A summary or action with its "{}" filled in (the label's value, or Prometheus' template).
std::string with_label(std::string_view text, std::string_view label);

// The PromQL of a condition, as alerts.yml has it.
std::string promql(const condition& c);
// deploy/prometheus/alerts.yml.
std::string alert_rules_yaml();

struct condition_state {
  const condition* c = nullptr;
  std::string group;  // the `by` label's value ("" when the condition is not per label)
  double value = 0;
  bool firing = false;        // held for `for_s` (else pending: holds, not long enough yet)
  std::int64_t since_ms = 0;  // held since (as far back as the history goes)
};

// The conditions that hold at the newest sample of `ring`, pending or firing.
std::vector<condition_state> evaluate(const std::vector<history::sample>& ring);

}  // namespace niem::admin
