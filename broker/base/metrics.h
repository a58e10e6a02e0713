#pragma once
// Counters and histograms for the Prometheus exposition (/metrics): families with label values,
// incremented from any thread. A family is created once (at start-up) and its series on first
// use. An increment takes the family's mutex to find its series (a short map lookup, never held
// across I/O) and then adds atomically; histograms are lock-free.
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace niem::base {

class counter_family {
 public:
  counter_family(std::string name, std::string help, std::vector<std::string> labels);
  // Adds `n` to the series with these label values (in the family's label order). No
  // allocation once the series exists (the per-message path calls these).
  void add(std::initializer_list<std::string_view> values, std::uint64_t n = 1);
  void inc(std::string_view value) { add({value}); }
  std::uint64_t value(std::initializer_list<std::string_view> values) const;
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  mutable std::mutex mu_;
  // Keyed by the label values joined with \x1f.
  std::map<std::string, std::unique_ptr<std::atomic<std::uint64_t>>, std::less<>> series_;
};

// A histogram of durations in seconds with fixed buckets.
class histogram {
 public:
  histogram(std::string name, std::string help, std::vector<double> bounds);
  void observe(double seconds);
  void render(std::string& out) const;
  std::uint64_t count() const { return count_.load(); }

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bound, not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

// The broker's metrics (one process-wide set, like the log).
struct broker_metrics {
  counter_family enqueued{
      "niem_queue_enqueued_total", "Documents queued for a subscriber.", {"queue"}};
  counter_family delivered{
      "niem_queue_delivered_total", "Documents sent to a subscriber (each attempt).", {"queue"}};
  counter_family accepted{
      "niem_queue_accepted_total", "Documents a subscriber accepted (settled).", {"queue"}};
  counter_family redelivered{
      "niem_queue_redelivered_total", "Documents sent again after a failed attempt.", {"queue"}};
  counter_family expired{"niem_queue_expired_total",
                         "Documents dead-lettered because their time-to-live passed.",
                         {"queue"}};
  counter_family dead_lettered{
      "niem_dead_lettered_total", "Dead letters, by reason code.", {"code"}};
  counter_family validation_failures{"niem_record_rejected_total",
                                     "Records rejected by mapping or validation, by reason code.",
                                     {"code"}};
  counter_family withheld{"niem_withheld_total",
                          "Routing decisions that withheld a document, by recipient and reason.",
                          {"recipient", "code"}};
  counter_family received{
      "niem_records_received_total", "Records received, by agency.", {"agency"}};
  counter_family medication_checks{
      "niem_medication_checks_total",
      "Psychotropic claims checked against the court's orders (on arrival and again when an "
      "application, order or placement for the child arrives), by outcome.",
      {"outcome"}};
  counter_family medication_notices{
      "niem_medication_notices_total",
      "Medication authorization alerts and resolutions raised, by kind and outcome.",
      {"kind", "outcome"}};
  counter_family admin_auth_failures{
      "niem_admin_auth_failures_total",
      "Admin requests with a wrong token, and those refused while their address was locked out.",
      {"outcome"}};
  histogram latency{
      "niem_ingest_to_delivery_seconds",
      "Time from a record's receipt to its subscriber's acceptance.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600}};

  // Every counter family above, in the order /metrics renders them (the one list).
  std::vector<const counter_family*> counters() const {
    return {&received,          &enqueued,
            &delivered,         &accepted,
            &redelivered,       &expired,
            &dead_lettered,     &validation_failures,
            &withheld,          &admin_auth_failures,
            &medication_checks, &medication_notices};
  }
};

broker_metrics& metrics();

// Prometheus text format helpers.
std::string prometheus_escape(std::string_view label_value);

}  // namespace niem::base
