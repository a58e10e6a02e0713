#pragma once
// The pipeline's metrics: records rejected by mapping or validation and dead letters, by code, and
// routing decisions that withheld a document. The transport counts its own dead letters (expired,
// too many attempts) and withdrawals (a queued document's consent ended) in the same families.
#include "base/metrics.h"

namespace niem::pipeline {

struct pipeline_probe {
  base::counter_family rejected{"niem_record_rejected_total",
                                "Records rejected by mapping or validation, by reason code.",
                                {"code"}};
  base::counter_family dead_lettered{
      "niem_dead_lettered_total", "Dead letters, by reason code.", {"code"}};

  base::counter_family withheld{
      "niem_withheld_total",
      "Routing decisions that withheld a document, by recipient and reason.",
      {"recipient", "code"}};

  base::counter_family disagreements{
      "niem_validation_disagreements_total",
      "Documents on which the compiled checker and Xerces disagreed (validation 'both', or the "
      "sampling oracle of 'compiled'), by exchange: each a defect to report.",
      {"exchange"}};
  base::counter_family sampled{
      "niem_validation_sampled_total",
      "Documents judged by compiled checks alone that Xerces checked again off the record's "
      "path (the sampling oracle), by exchange.",
      {"exchange"}};
  base::counter_family sample_dropped{
      "niem_validation_sample_dropped_total",
      "Documents chosen for the sampling oracle that found its queue full, by exchange.",
      {"exchange"}};

  pipeline_probe() {
    base::register_families("pipeline", rejected, dead_lettered, withheld, disagreements, sampled,
                            sample_dropped);
  }
};

inline pipeline_probe& probe() {
  static pipeline_probe p;
  return p;
}

}  // namespace niem::pipeline
