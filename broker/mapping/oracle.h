#pragma once
// The sampling oracle of validation "compiled": Xerces parses a sample of the documents the
// compiled checks judged, on a thread of its own at a lower CPU priority, and reports each
// verdict. It never holds up a record: the record's fate was decided by the compiled verdict
// already, and a sample that finds the queue full is dropped (and reported).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "validation/validation.h"

namespace niem::mapping {

// One document the compiled checks judged, as the oracle checks it again.
struct oracle_sample {
  std::shared_ptr<const validation::schema_set> schemas;  // kept alive across a reload
  std::string exchange, mapping_file, mapping_version;
  std::string tag;  // who asked (the broker's message id), for the log
  std::string document;
  bool compiled_valid = true;
  base::diagnostic compiled_reason;  // the compiled checks' first error, when invalid
};

class validation_oracle {
 public:
  struct options {
    std::size_t max_queue = 256;             // samples waiting
    std::size_t max_queue_bytes = 16 << 20;  // their documents' bytes
    int nice = 10;  // added to the thread's niceness, so that workers come first
    validation::limits limits;
  };
  // Both run on the oracle's thread (`dropped` on the offering one).
  struct listener {
    std::function<void(const oracle_sample&, const validation::validation_report&)> checked;
    std::function<void(const oracle_sample&)> dropped;
  };

  validation_oracle(options opt, listener l);
  // Stops the thread; samples still waiting are not checked.
  ~validation_oracle();
  validation_oracle(const validation_oracle&) = delete;
  validation_oracle& operator=(const validation_oracle&) = delete;

  // Thread-safe, never blocks on the check: false when the sample was dropped.
  bool offer(oracle_sample s);
  // Waits until every sample offered so far has been checked (tests, shutdown reports).
  void drain();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// How a converter picks the documents it offers: every one of a mapping's first `first_ms`
// after the rules were loaded, then one in `one_in` of each mapping's (0: none).
struct oracle_hook {
  std::shared_ptr<validation_oracle> oracle;  // none: nothing is sampled
  std::int64_t loaded_ms = 0;                 // when the rules were loaded
};

}  // namespace niem::mapping
