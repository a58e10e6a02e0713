#pragma once
// The medication authorization check's state (medication-oversight.md): what it has learned of
// applications, orders and placement links, and every claim it must check again (pending on an
// application, or alerted and not yet resolved). It decides, from each new document of its
// inputs, which alerts and resolution notices to send, and which facts to keep in the store with
// the document so that it is rebuilt at start-up exactly as it was.
//
// Every notice has a key made of the claim and what it says (MAE-<claim>-<OUTCOME>, and
// -RESOLVED for the resolution of that alert): the store accepts a key once, so a claim sent
// again, replayed or seen again after a restart never sends the same notice twice. A notice is
// kept as a fact (its document) in the transaction of the record that raised it, and marked sent
// in the transaction of its own record: a stop between the two leaves it owed, and outstanding()
// gives it back at the next start.
//
// The store keeps a fact's first value for a kind and key, so every change of a claim's state is
// a fact of its own (key "<claim>#<revision>"); the latest revision wins on restore.
//
// Exchange names come from the configuration; no party, exchange or drug name is written here.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "oversight/medication.h"

namespace niem::oversight::medication {

// The exchanges the check reads (as the mappings name them).
struct check_inputs {
  std::string claims, applications, orders, placements;
};

// A fact the check keeps (the store's facts: kind, key, value).
struct check_fact {
  std::string kind, key, value;
};
inline constexpr std::string_view k_fact_application = "medication.application";
inline constexpr std::string_view k_fact_order = "medication.order";
inline constexpr std::string_view k_fact_claim = "medication.claim";
inline constexpr std::string_view k_fact_placement = "medication.placement";
inline constexpr std::string_view k_fact_notice = "medication.notice";  // key: id; value: document
inline constexpr std::string_view k_fact_sent = "medication.sent";      // key: the notice's id

// What the check knows of one claim it keeps: the claim, its latest outcome, the applications it
// was found pending on, and the alerts it raised (by outcome) and whether each is resolved.
struct claim_state {
  claim c;
  outcome last = outcome::no_authorization;
  std::vector<std::string> pending_on;
  struct alert {
    outcome result = outcome::no_authorization;
    bool resolved = false;
    std::string day;  // raised (YYYY-MM-DD)
  };
  std::vector<alert> alerts;
  std::uint32_t revision = 0;  // changes kept so far (the fact's key)
};
std::string encode_claim_state(const claim_state& s);
std::optional<claim_state> decode_claim_state(std::string_view s);

// The key of the alert for a claim and outcome, and of its resolution.
std::string alert_id(const std::string& claim_id, outcome o);
std::string resolution_id(const std::string& claim_id, outcome o);

class check {
 public:
  // `clk` dates the notices (the day each alert is raised or resolved).
  explicit check(check_inputs inputs, const base::clock& clk = base::default_clock());

  // Rebuilds the state from the facts the store kept, in commit order (also the router's
  // identity links: kind "identity", key "CLIENT MEDICAID"). Also how a replica learns what
  // another committed.
  void restore(const std::vector<check_fact>& facts);

  struct result {
    std::vector<check_fact> facts;          // to keep in the record's transaction
    std::vector<exception_notice> notices;  // alerts and resolutions (also in facts, written)
    // The claims this result changed, as they were before (nullopt: new) and the revision it
    // gave them: what rollback() restores.
    struct change {
      std::string claim_id;
      std::optional<claim_state> before;
      std::uint32_t revision = 0;
    };
    std::vector<change> changed;
  };
  // A validated document of exchange `exchange` (a document of no input exchange: nothing).
  // Thread-safe: workers call it concurrently; a claim and the order that decides it are
  // serialized here, so each sees the other whichever comes first.
  result observe(std::string_view exchange, std::string_view document);
  // The record whose result this is was not committed (the store refused it): its claims go
  // back to their state before, unless a later result changed them since, so that the record
  // sent again is decided again and raises its notices then. (What it taught of applications,
  // orders and placements stays: learning them again changes nothing.)
  void rollback(const result& r);

  // Whether observe() would do anything with this document (an input of the check, and for claims
  // a paid psychotropic one).
  bool wants(std::string_view exchange, std::string_view document) const;
  // A placement's link between a client number and a Medicaid id (the router's identity fact).
  result link(const std::string& client_id, const std::string& medicaid_id);

  // The notices raised and not yet marked sent (k_fact_notice facts without their k_fact_sent),
  // as restored: at start-up, what a stop between a record's commit and its notices' left owed.
  std::vector<check_fact> outstanding() const;

  // The claims kept now (tests, operations).
  std::vector<claim_state> kept() const;
  // What the check decided about a claim (kept, or settled: authorized, or every alert
  // resolved); nullopt for a claim it never checked.
  std::optional<claim_state> status(const std::string& claim_id) const;
  // An unresolved alert, for operations: no name, Medicaid id or drug (viewers see it).
  struct open_alert {
    std::string id, claim_id, county, fill_date, raised;
    outcome result = outcome::no_authorization;
  };
  std::vector<open_alert> open_alerts() const;
  // Why each order and application known for the claim's child did or did not cover it.
  std::vector<consideration> explain(const std::string& claim_id) const;

  // The schema set the notices' exchange belongs to: each notice is checked against it as it is
  // written (problems are logged; the pipeline still validates the notice with Xerces). Set
  // before the check sees its first record; kept alive by the check across reloads.
  void check_notices_against(std::shared_ptr<const validation::schema_set> schemas) {
    schemas_ = std::move(schemas);
  }

 private:
  // Checks (again) every kept claim of the children `medicaid_ids`.
  void recheck(const std::vector<std::string>& medicaid_ids, result& out);
  // Evaluates one claim against what is known and updates its state; notices and its fact go to
  // `out`. `fresh`: the claim has just arrived.
  void decide(claim_state& s, bool fresh, result& out);
  exception_notice notice(const claim_state& s, outcome o, const verdict& v) const;
  // A notice's document, checked against the notices' schema set as it is written.
  std::string written(const exception_notice& n) const;

  // The claim's state changed: its next revision, as a fact.
  void keep_state(claim_state& s, result& out);

  check_inputs inputs_;
  const base::clock& clk_;
  std::shared_ptr<const validation::schema_set> schemas_;
  mutable std::mutex mu_;
  registry known_;
  placement_history placements_;
  std::map<std::string, claim_state> claims_;  // kept claims, by claim id
  // Claims decided and settled (their last state), so that a claim sent again is recognized
  // and its trace can say what was decided.
  std::map<std::string, claim_state> settled_;
  std::map<std::string, std::string> owed_;  // notices restored and not marked sent
};

}  // namespace niem::oversight::medication
