#pragma once
// The per-record pipeline, on worker threads off the AMQP event loop: map the native record,
// validate the document, route it per recipient, and commit the outcome to the store in one
// transaction. Only then is the publisher told: accepted (queued for its recipients, or a
// duplicate of a record already accepted) or rejected (dead-lettered with its reason).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "mapping/mapping.h"
#include "oversight/oversight.h"
#include "routing/agreement.h"
#include "routing/routing.h"
#include "store/store.h"

namespace niem::pipeline {

struct options {
  std::uint32_t workers = 2;
  mapping::record_limits record_limits;
  validation::limits validation_limits;
  // The medication authorization check, when configured (oversight.h): it reads every new
  // document of its input exchanges; its facts go into the record's transaction, and each notice
  // it raises is then a record of its own (validated, not mapped, so a replay decides it again
  // like any record), committed under the notice's id so that it is sent once.
  std::shared_ptr<oversight::medication_oversight> oversight;
  // Where the queue entries of records no publisher waits for go (the check's notices).
  std::function<void(std::vector<store::queue_entry>)> offer;
  // The sampling oracle's queue and priority (validation "compiled": mapping/oracle.h).
  mapping::validation_oracle::options oracle;
};

// What decides a record: the mappings and the router (its subscriptions and agreements). A
// reload swaps the whole set between records; a record is decided, committed and learned from
// entirely under the set it started with.
struct rules {
  std::uint64_t generation = 1;
  std::int64_t loaded_ms = 0;  // when it was built from the files (GET /api/config)
  std::shared_ptr<const mapping::mapping_library> lib;
  std::shared_ptr<const routing::router> router;
  std::vector<std::shared_ptr<const routing::agreement>> agreements;  // the router's
  mapping::validation_policy validation;  // compiled, full or both, by exchange
};
// What the rules say, whatever the folders their files are in: a hash (base::content_version) of
// each mapping's agency, record type and version and each agreement's id and version. Brokers
// sharing a store compare it after a reload.
std::string content_hash(const rules& r);
// Rules of one library and router (the agreements of a policy router).
std::shared_ptr<const rules> make_rules(std::shared_ptr<const mapping::mapping_library> lib,
                                        std::shared_ptr<const routing::router> router,
                                        mapping::validation_policy validation = {});

struct job {
  std::string message_id;  // assigned by the broker on receipt
  std::string agency, record_type, content_type;
  std::string body;
  std::int64_t received_ms = 0;
  // Replays: decided again for this recipient only (empty: all); a dead letter to take out of
  // the dead-letter queue; an already accepted record (its key and body are kept).
  std::string only_recipient;
  std::int64_t replaces_dead_letter = 0;
  bool redecision = false;
};

// A replay as a job: the record as received, decided again under today's policy.
job replay_job(store::replay_source src);

struct outcome {
  enum class status { accepted, duplicate, dead_lettered, failed } what = status::failed;
  std::string message_id;
  std::string agency, record_type;   // whose record (for logs)
  base::errc code = base::errc::ok;  // for dead_lettered / failed
  // For the publisher (its own record, on its own link): the diagnostics, formatted.
  std::string detail;
  std::vector<store::queue_entry> enqueued;  // new queue entries, for the delivery side
  std::vector<routing::decision> withheld;   // recipients that were decided against
};

// Where the transport's intake hands a record (the pipeline; a fake in the intake's tests).
class submitter {
 public:
  virtual ~submitter() = default;
  // Thread-safe. `done` runs where the store runs completions, after the outcome is durable.
  // The caller bounds how many jobs are outstanding (AMQP credit).
  virtual void submit(job j, std::function<void(outcome)> done) = 0;
};

class pipeline final : public submitter {
 public:
  // The record path is all of the store it uses.
  pipeline(std::shared_ptr<const rules> r, store::record_path& st, options opt);
  pipeline(std::shared_ptr<const mapping::mapping_library> lib,
           std::shared_ptr<const routing::router> router, store::record_path& st, options opt);
  ~pipeline();
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  void submit(job j, std::function<void(outcome)> done) override;
  // Thread-safe: the medication check's notices, decided and committed like records (options).
  // (k_fact_notice facts: the notice's id and document).
  void submit_notices(std::vector<oversight::medication::check_fact> notices);
  // Thread-safe: the rules records start under now; the next record of each worker starts
  // under `next` (records in flight finish under theirs).
  std::shared_ptr<const rules> current() const;
  void swap(std::shared_ptr<const rules> next);
  // Waits until the sampling oracle has checked every document offered to it so far.
  void settle_samples();
  // Stops accepting work, finishes what is queued and joins the workers.
  void stop();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// Diagnostics as a JSON array (for the dead-letter queue).
std::string diagnostics_json(const std::vector<base::diagnostic>& ds);
// The media type a record type's format must arrive with (parameters such as charset ignored).
bool content_type_matches(mapping::record_format f, std::string_view content_type);

}  // namespace niem::pipeline
