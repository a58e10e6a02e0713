#pragma once
// The transport's metrics: records received and documents queued, sent, accepted, sent again and
// expired per subscriber, links refused, and the time from receipt to acceptance.
#include "base/metrics.h"

namespace niem::transport {

struct transport_probe {
  base::counter_family received{
      "niem_records_received_total", "Records received, by agency.", {"agency"}};
  base::counter_family enqueued{
      "niem_queue_enqueued_total", "Documents queued for a subscriber.", {"queue"}};
  base::counter_family delivered{
      "niem_queue_delivered_total", "Documents sent to a subscriber (each attempt).", {"queue"}};
  base::counter_family accepted{
      "niem_queue_accepted_total", "Documents a subscriber accepted (settled).", {"queue"}};
  base::counter_family redelivered{
      "niem_queue_redelivered_total", "Documents sent again after a failed attempt.", {"queue"}};
  base::counter_family expired{"niem_queue_expired_total",
                               "Documents dead-lettered because their time-to-live passed.",
                               {"queue"}};
  base::counter_family refused{
      "niem_links_refused_total", "AMQP links and connections refused, by reason code.", {"code"}};
  base::histogram latency{
      "niem_ingest_to_delivery_seconds",
      "Time from a record's receipt to its subscriber's acceptance.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600}};

  transport_probe() {
    base::register_families("transport", received, enqueued, delivered, accepted, redelivered,
                            expired, refused, latency);
  }
};

inline transport_probe& probe() {
  static transport_probe p;
  return p;
}

}  // namespace niem::transport
