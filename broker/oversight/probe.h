#pragma once
// The oversight module's metrics: the medication authorization check's outcomes and notices.
#include "base/metrics.h"

namespace niem::oversight {

struct oversight_probe {
  base::counter_family medication_checks{
      "niem_medication_checks_total",
      "Psychotropic claims checked against the court's orders (on arrival and again when an "
      "application, order or placement for the child arrives), by outcome.",
      {"outcome"}};
  base::counter_family medication_notices{
      "niem_medication_notices_total",
      "Medication authorization alerts and resolutions raised, by kind and outcome.",
      {"kind", "outcome"}};

  oversight_probe() { base::register_families("oversight", medication_checks, medication_notices); }
};

inline oversight_probe& probe() {
  static oversight_probe p;
  return p;
}

}  // namespace niem::oversight
