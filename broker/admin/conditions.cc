#include "admin/conditions.h"

#include <fmt/format.h>

#include <set>

namespace niem::admin {

const std::vector<condition>& conditions() {
  // Each per label, with a `for`, so that one cause raises one alert, not one per message.
  static const std::vector<condition> table{
      {"NiemBrokerDown", "page", rule_kind::scrape_failed, "up", "", 0, 0, 120,
       "Prometheus cannot scrape the broker: it is down, hung or unreachable",
       "systemctl status niem-broker; journalctl -u niem-broker"},
      {"NiemBrokerNotReady", "page", rule_kind::equals, "niem_ready", "", 0, 0, 120,
       "the broker is not ready: its store does not answer or its AMQP listener is not bound",
       "GET /readyz says which; docs/RUNBOOK-HA.md"},
      {"NiemStoreRefusingRecords", "page", rule_kind::equals, "niem_store_refusing", "code", 1, 0,
       60, "the store refuses records ({}): publishers are told to retry and nothing is committed",
       "niemctl errors {} says what it means (store.full, store.low_space: free disk space; "
       "niem_store_free_bytes)"},
      {"NiemStoreCommitsFailing", "page", rule_kind::increase_above,
       "niem_store_failed_groups_total", "", 0, 600, 0,
       "groups of operations failed to commit in the last 10 minutes (nothing of them was stored)",
       "the broker's log (component store) gives the database's error"},
      {"NiemQueueStalled", "page", rule_kind::above, "niem_queue_oldest_age_seconds", "queue", 1800,
       0, 300,
       "queue {} has held a document for more than 30 minutes: its subscriber takes nothing",
       "niemctl queues; is the subscriber connected, or paused by an operator?"},
      {"NiemQueueBacklog", "ticket", rule_kind::above, "niem_queue_depth", "queue", 10000, 0, 900,
       "queue {} holds more than 10,000 documents", "niemctl queues; the subscriber's capacity"},
      {"NiemDeadLetters", "ticket", rule_kind::increase_above, "niem_dead_lettered_total", "code",
       0, 900, 0, "records or documents were dead-lettered with {} in the last 15 minutes",
       "niemctl dlq list --code {}; fix the cause, then niemctl dlq replay"},
      {"NiemValidatorsDisagree", "ticket", rule_kind::increase_above,
       "niem_validation_disagreements_total", "exchange", 0, 3600, 0,
       "the compiled checker and Xerces judged a document of {} differently in the last hour "
       "(under 'both' its record is dead-lettered with NIEM-211; under 'compiled' the sampling "
       "oracle found it after the record went its way)",
       "the broker's log (component validation) names the message; report it to the team, set "
       "<validation exchange=\"{}\" mode=\"full\"/>, then niemctl dlq list --code NIEM-211 "
       "and replay what was refused"},
      {"NiemRecordsRejected", "ticket", rule_kind::increase_above, "niem_record_rejected_total",
       "code", 10, 900, 0,
       "more than 10 records were rejected with {} in the last 15 minutes (an adapter or mapping "
       "problem)",
       "niemctl errors {}; niemctl dlq list --code {}"},
      {"NiemWithheldSurge", "ticket", rule_kind::increase_above, "niem_withheld_total", "recipient",
       500, 3600, 0,
       "more than 500 documents were withheld from {} in the last hour (an agreement ended? a "
       "consent missing?)",
       "GET /api/withholdings?recipient={}"},
      {"NiemDeliverySlow", "ticket", rule_kind::quantile_above, "niem_ingest_to_delivery_seconds",
       "", 60, 600, 600,
       "the 99th percentile from receipt to a subscriber's acceptance is over a minute",
       "niemctl queues: which subscriber is slow"},
      {"NiemAuditVerificationFailed", "page", rule_kind::equals, "niem_audit_verified", "", 0, 0, 0,
       "the audit trail's hash chain did not verify: an entry was changed or removed",
       "niemctl audit verify gives the first bad entry; keep the database as it is"},
  };
  return table;
}

namespace {

std::string seconds(std::int64_t s) {
  if (s % 3600 == 0) return fmt::format("{}h", s / 3600);
  if (s % 60 == 0) return fmt::format("{}m", s / 60);
  return fmt::format("{}s", s);
}

// A YAML double-quoted scalar.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

}  // namespace

std::string with_label(std::string_view text, std::string_view label) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.substr(i, 2) == "{}") {
      out += label;
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string promql(const condition& c) {
  switch (c.kind) {
    case rule_kind::above:
      return fmt::format("{} > {}", c.metric, c.threshold);
    case rule_kind::equals:
      return fmt::format("{} == {}", c.metric, c.threshold);
    case rule_kind::increase_above:
      return c.by.empty() ? fmt::format("sum(increase({}[{}])) > {}", c.metric, seconds(c.window_s),
                                        c.threshold)
                          : fmt::format("sum by ({}) (increase({}[{}])) > {}", c.by, c.metric,
                                        seconds(c.window_s), c.threshold);
    case rule_kind::quantile_above:
      return fmt::format("histogram_quantile(0.99, sum by (le) (rate({}_bucket[{}]))) > {}",
                         c.metric, seconds(c.window_s), c.threshold);
    case rule_kind::scrape_failed:
      return "up{job=\"niem-broker\"} == 0";
  }
  return {};
}

std::string alert_rules_yaml() {
  std::string out =
      "# Generated by `niem-broker --alert-rules` from broker/admin/conditions.cc: do not edit.\n"
      "# The broker evaluates the same conditions for its dashboard (/api/conditions).\n"
      "# Scrape the broker as job \"niem-broker\"; tests: promtool test rules alerts_test.yml\n"
      "groups:\n  - name: niem-broker\n    rules:\n";
  for (const auto& c : conditions()) {
    std::string label = c.by.empty() ? "" : fmt::format("{{{{ $labels.{} }}}}", c.by);
    out += fmt::format("      - alert: {}\n        expr: {}\n", c.name, promql(c));
    if (c.for_s) out += fmt::format("        for: {}\n", seconds(c.for_s));
    out += fmt::format("        labels:\n          severity: {}\n", c.severity);
    out += fmt::format("        annotations:\n          summary: {}\n          action: {}\n",
                       quoted(with_label(c.summary, label)), quoted(with_label(c.action, label)));
  }
  return out;
}

namespace {

// The groups for which the condition holds at sample `i` (the ring up to it), with their values.
std::map<std::string, double> holds_at(const condition& c, const std::vector<history::sample>& ring,
                                       std::size_t i) {
  std::map<std::string, double> out;
  const auto& s = ring[i];
  switch (c.kind) {
    case rule_kind::above:
    case rule_kind::equals:
      for (const auto& [key, v] : s.values) {
        if (!key.starts_with(c.metric)) continue;
        auto k = split_series(key);
        if (k.name != c.metric) continue;
        bool hit = c.kind == rule_kind::above ? v > c.threshold : v == c.threshold;
        if (!hit) continue;
        auto l = k.labels.find(std::string(c.by));
        out[l == k.labels.end() ? std::string() : l->second] = v;
      }
      break;
    case rule_kind::increase_above: {
      for (const auto& [group, v] :
           increase(std::span(ring).first(i + 1), c.metric, c.by, c.window_s * 1000))
        if (v > c.threshold) out[group] = v;
      break;
    }
    case rule_kind::quantile_above: {
      std::size_t from = i;
      while (from > 0 && ring[from - 1].at_ms >= s.at_ms - c.window_s * 1000) --from;
      if (from == i) break;
      auto q = quantile_between(ring[from], s, c.metric, 0.99);
      if (q && *q > c.threshold) out[""] = *q;
      break;
    }
    case rule_kind::scrape_failed:
      break;  // the broker answering is the broker up
  }
  return out;
}

}  // namespace

std::vector<condition_state> evaluate(const std::vector<history::sample>& ring) {
  std::vector<condition_state> out;
  if (ring.empty()) return out;
  const auto newest = ring.size() - 1;
  for (const auto& c : conditions()) {
    for (const auto& [group, value] : holds_at(c, ring, newest)) {
      condition_state st{&c, group, value, false, ring[newest].at_ms};
      // How far back it has held without a break (no further than `for` needs).
      for (std::size_t i = newest; i-- > 0;) {
        if (ring[newest].at_ms - st.since_ms >= c.for_s * 1000) break;
        if (!holds_at(c, ring, i).count(group)) break;
        st.since_ms = ring[i].at_ms;
      }
      st.firing = ring[newest].at_ms - st.since_ms >= c.for_s * 1000;
      out.push_back(std::move(st));
    }
  }
  return out;
}

}  // namespace niem::admin
