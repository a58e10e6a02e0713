#pragma once
// The medication authorization check as the pipeline sees it (medication-oversight.md). For each
// record the pipeline asks three things, in this order:
//   1. what the record's new document means for the check (`observe`): the facts to commit with
//      the record and the notices (alerts, resolutions) it raises;
//   2. once the store answers, `settle`: a record the store did not keep has its changes undone,
//      so that the record sent again is checked again and raises its notices then;
//   3. what to send after the commit: each notice becomes a record of its own (`notice_job`
//      fields), from the check's sender under the check's exchange, decided, audited and
//      committed under its key like any record, and marked sent in that record's transaction
//      (`accept_notice`, `sent`).
// Exchange names come from the configuration; nothing here names a party or an exchange.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oversight/medication_check.h"
#include "routing/routing.h"
#include "validation/validation.h"

namespace niem::oversight {

// What the check adds to one record.
struct record_part {
  std::vector<medication::check_fact> facts;    // into the record's transaction
  std::vector<medication::check_fact> notices;  // k_fact_notice facts, sent after the commit
  medication::check::result undo;               // the claims it changed (settle)
};

class medication_oversight {
 public:
  // `exchange`: the notices' exchange; `sender`: the agency the notices are sent as.
  medication_oversight(std::shared_ptr<medication::check> c, std::string exchange,
                       std::string sender);

  const std::string& exchange() const { return exchange_; }
  const std::string& sender() const { return sender_; }
  const std::shared_ptr<medication::check>& check() const { return check_; }

  // Whether a record is one of the check's notices coming back as a record of its own.
  bool is_notice(std::string_view agency, std::string_view record_type) const;
  // A notice's record: valid against the notices' exchange and identified; its key (the notice's
  // id) goes to `key`. Diagnostics when it is not.
  std::vector<base::diagnostic> accept_notice(validation::validator& v, std::string_view body,
                                              std::string& key) const;
  // The fact that marks the notice `key` sent, in its own record's transaction.
  medication::check_fact sent(std::string key) const;

  // Whether the check reads this document (on replicas the pipeline first learns what the others
  // committed, so the check decides on it as one broker would).
  bool wants(std::string_view exchange, std::string_view document) const;
  // A new (not re-decided) document, with the facts the router learned from it: its placement
  // links between client numbers and Medicaid ids reach the check too.
  record_part observe(std::string_view exchange, std::string_view document,
                      const std::vector<routing::fact>& learned);
  // The store's answer for the record `p` belongs to.
  void settle(const record_part& p, bool stored);

  // The notices owed at start-up (raised, not marked sent).
  std::vector<medication::check_fact> outstanding() const;

 private:
  std::shared_ptr<medication::check> check_;
  std::string exchange_, sender_;
};

}  // namespace niem::oversight
