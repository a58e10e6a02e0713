#pragma once
// Routing's metrics: the medication authorization check's outcomes and notices.
#include "base/metrics.h"

namespace niem::routing {

struct routing_probe {
  base::counter_family medication_checks{
      "niem_medication_checks_total",
      "Psychotropic claims checked against the court's orders (on arrival and again when an "
      "application, order or placement for the child arrives), by outcome.",
      {"outcome"}};
  base::counter_family medication_notices{
      "niem_medication_notices_total",
      "Medication authorization alerts and resolutions raised, by kind and outcome.",
      {"kind", "outcome"}};

  routing_probe() { base::register_families("routing", medication_checks, medication_notices); }
};

inline routing_probe& probe() {
  static routing_probe p;
  return p;
}

}  // namespace niem::routing
