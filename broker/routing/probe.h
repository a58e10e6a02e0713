#pragma once
// Routing's metrics: decisions that withheld a document (when routed, and when a queued document's
// consent no longer holds at sending), and the medication authorization check's outcomes.
#include "base/metrics.h"

namespace niem::routing {

struct routing_probe {
  base::counter_family withheld{
      "niem_withheld_total",
      "Routing decisions that withheld a document, by recipient and reason.",
      {"recipient", "code"}};
  base::counter_family medication_checks{
      "niem_medication_checks_total",
      "Psychotropic claims checked against the court's orders (on arrival and again when an "
      "application, order or placement for the child arrives), by outcome.",
      {"outcome"}};
  base::counter_family medication_notices{
      "niem_medication_notices_total",
      "Medication authorization alerts and resolutions raised, by kind and outcome.",
      {"kind", "outcome"}};

  routing_probe() {
    base::register_families("routing", withheld, medication_checks, medication_notices);
  }
};

inline routing_probe& probe() {
  static routing_probe p;
  return p;
}

}  // namespace niem::routing
