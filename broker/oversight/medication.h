#pragma once
// The medication authorization check's rules (../shared/agencies/medication-oversight.md), as
// pure functions over what is known of one child: which applications and court orders cover a
// psychotropic pharmacy claim, its daily dose against the authorized maximum in exact decimal
// arithmetic, and the outcome. No state and no I/O here: the stateful check keeps the facts in the
// store and calls evaluate() when a claim arrives and again when an application, an order or a
// placement for the child does.
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/decimal.h"
#include "oversight/placements.h"
#include "validation/validation.h"
#include "validation/vocabulary.h"

namespace niem::oversight::medication {

enum class unit { mcg, mg, g, ml };
std::string_view unit_name(unit u);  // "mcg", "mg", "g", "mL"

// A dose as the court writes a maximum: a decimal number, a space and a unit ("4 mg", "0.5 mg",
// "10 mL"). Nothing else parses.
struct amount {
  base::decimal value;
  unit u = unit::mg;
};
std::optional<amount> parse_amount(std::string_view text);
std::string to_string(const amount& a);  // "4 mg"

// What the check reads of a claim (the MMIS extract's columns, as the pharmacy-claim document
// carries them).
struct claim {
  std::string claim_id;
  std::string medicaid_id;
  std::string given_name, surname, birth_date;  // the member as enrolled
  std::string prescriber_given_name, prescriber_surname, prescriber_npi;
  std::string therapeutic_class;
  bool sud = false;       // SUD_TREATMENT = Y: 42 CFR Part 2
  std::string fill_date;  // YYYY-MM-DD
  std::string ndc;        // 5-4-2
  std::string drug_name;
  std::string strength;   // "1 MG", "5 MG/5 ML", "8 MG-2 MG"
  std::string dose_form;  // "TABLET", "SOLUTION", ...
  std::string quantity;   // decimal: units, or mL for a solution
  std::string days_supply;
};

// The claim's daily dose in the maximum's unit, and whether it is over it (strictly greater).
// Not computable for another strength, unit or dose form, or a maximum in a unit the strength
// cannot be converted to: the claim is then judged on its authorization alone.
struct dose {
  bool computable = false;
  bool over = false;
  std::string daily;  // e.g. "4 mg", "3.333 mg" (rounded for people; `over` is exact)
};
dose daily_dose(const claim& c, const amount& maximum);

// The medication matching rule: with an NDC on the order's (or application's) side, labeler and
// product (the first two segments) are equal; otherwise the first word of the drug names, without
// case and accents ("Guanfacine ER" matches "GUANFACINE ER").
bool same_medication(std::string_view ndc, std::string_view drug_name, const claim& c);
// The first word of a drug name, lower case, Latin accents removed ("Éscitalopram" ->
// "escitalopram").
std::string ingredient_key(std::string_view drug_name);

// YYYY-MM-DD plus days (negative too); empty for a date that is not one.
std::string add_days(std::string_view date, int days);

// ---- What is known of one child ----

struct application_medication {
  std::string drug_name, ndc;
};
struct application {
  std::string application_id;
  std::string submitted_date;  // YYYY-MM-DD, the date of submitted_at as the portal wrote it
  bool emergency = false;
  std::vector<application_medication> medications;
};
struct ruling {
  std::string drug_name, ndc;
  std::string ruling;  // AUTHORIZED, AUTHORIZED_AS_MODIFIED, DENIED
  std::optional<amount> max_daily_dose;
  std::string authorized_from, authorized_through;  // YYYY-MM-DD
  bool authorizes() const { return ruling == "AUTHORIZED" || ruling == "AUTHORIZED_AS_MODIFIED"; }
};
struct order {
  std::string order_id, application_id, supersedes_order_id;
  std::string ordered_date;  // YYYY-MM-DD, the date of ordered_at as the court wrote it
  std::string decision;      // GRANTED, GRANTED_IN_PART, DENIED, HEARING_SET
  std::vector<ruling> rulings;
};
struct child_view {
  bool linked = false;  // the claim's Medicaid id is linked to a client number
  std::vector<application> applications;
  std::vector<order> orders;
};

enum class outcome {
  authorized,
  pending_application,
  over_maximum_dose,
  denied,
  authorization_expired,
  no_authorization,
  unlinked_child,
};
std::string_view outcome_name(outcome o);  // "AUTHORIZED", ... as the specification spells them
// The outcomes that raise an alert.
bool alerts(outcome o);

struct verdict {
  outcome result = outcome::no_authorization;
  std::string order_id;        // the covering, denying or expired order
  std::string application_id;  // the pending application, or the order's application
  std::string daily_dose;      // OVER_MAXIMUM_DOSE (and AUTHORIZED when computable)
  std::string maximum;         // the authorized maximum it was compared with
};

// The outcome of a claim given what is known of its child. `pending_on` names the applications
// on which the claim was found PENDING_APPLICATION before: an order on one of them that authorizes
// the medication covers the claim even when its fill date precedes authorized_from.
verdict evaluate(const claim& c, const child_view& child,
                 const std::vector<std::string>& pending_on = {});

// Why each order and application known for the child did or did not cover a claim (niem-dsa
// explain): one line per order ruling and per application, in the order evaluate() reads them.
struct consideration {
  std::string kind;  // "order" or "application"
  std::string id;    // the order's or application's id
  std::string medication;
  bool covers = false;  // the order covers the claim, or the application leaves it pending
  std::string why;
};
std::vector<consideration> explain(const claim& c, const child_view& child,
                                   const std::vector<std::string>& pending_on = {});

// ---- Reading the broker's own documents (validated: a document that does not read is nullopt)
// ----

struct child_ids {
  std::string client_id, medicaid_id;
};
struct order_document {
  order o;
  child_ids child;
};
struct application_document {
  application a;
  child_ids child;
};
struct claim_document {
  claim c;
  std::string status;  // PAID, DENIED, REVERSED
  bool psychotropic = false;
};
std::optional<order_document> read_order(std::string_view pmap_order_doc);
std::optional<application_document> read_application(std::string_view pmap_application_doc);
std::optional<claim_document> read_claim(std::string_view pharmacy_claim_doc);
// A placement notification's event: the child's numbers, county, placement and its dates; and
// the event's own id (its ext:SourceRecordIdentification).
struct placement_document {
  std::string event_id;
  placement_event e;
};
std::optional<placement_document> read_placement(std::string_view placement_doc);

// ---- What the check knows, across records ----

// The applications, orders and identity links learned so far, by child. Arrival order does not
// matter: an order may come before its application, a link after both; view() reads whatever is
// known when it is called. Thread-safe (the pipeline's workers learn and read concurrently).
class registry {
 public:
  void add(application_document a);
  void add(order_document o);
  // A placement names both numbers of one child (the only link between them the specification
  // counts; an application's or order's own Medicaid id names the child of that record only).
  void link(const std::string& client_id, const std::string& medicaid_id);
  // What is known of the child a claim names by `medicaid_id`: the applications and orders that
  // name the same Medicaid id, or a client number linked to it.
  child_view view(const std::string& medicaid_id) const;
  // The Medicaid ids whose view a new fact about `ids` can change (the claims to check again).
  std::vector<std::string> affected(const child_ids& ids) const;
  // The client numbers placements linked to a Medicaid id.
  std::vector<std::string> clients(const std::string& medicaid_id) const;

 private:
  bool names_child(const child_ids& ids, const std::string& medicaid_id,
                   const std::set<std::string>& clients) const;

  mutable std::shared_mutex mu_;
  std::map<std::string, application_document> applications_;  // by application id
  std::map<std::string, order_document> orders_;              // by order id
  std::map<std::string, std::set<std::string>> clients_of_;   // Medicaid id -> client numbers
  std::map<std::string, std::set<std::string>> medicaid_of_;  // client number -> Medicaid ids
};

// ---- The medication authorization exception document ----

struct exception_notice {
  std::string id;  // the notice's own key: the same claim and outcome always give the same id
  outcome result = outcome::no_authorization;  // an alerting outcome
  std::string resolves;                        // a resolution: the alert it resolves
  std::string covering_order;                  // a resolution: the order that covered the claim
  std::string county_fips;  // the placement's county at the fill date; "": unknown
  std::string client_id;    // "" when no placement links one
  std::string day;          // YYYY-MM-DD (UTC) the exchange raised the alert or resolved it
  claim c;
  verdict v;
};
// The root element of the documents write_exception writes (the exchange's schema declares it).
inline constexpr std::string_view k_exception_namespace = vocabulary::k_mae;
inline constexpr std::string_view k_exception_root = "MedicationAuthorizationException";
inline validation::qname exception_root() {
  return {std::string(k_exception_namespace), std::string(k_exception_root)};
}

// The exchange whose schema declares the notices' root (k_exception_namespace): the file name,
// without ".xsd", of the schema in `schema_dir` (the project's schemas/exchange) whose target
// namespace it is; nullopt if none or more than one does. For tools that check agreements without
// a broker configuration (the broker's configuration names the exchange).
std::optional<std::string> exception_exchange_in(const std::string& schema_dir);

// The notice's own id (its ext:SourceRecordIdentification), from a document write_exception wrote.
std::optional<std::string> read_exception_id(std::string_view doc);

// The document (exchange medication-authorization-exception), written from the notice's values
// with every value escaped, through the checked writer: with `schemas`, each element is checked
// against them as it is written and what is wrong goes to `problems` (the document is written
// the same either way); the caller validates it with Xerces like any document it sends.
std::string write_exception(const exception_notice& n,
                            const validation::schema_set* schemas = nullptr,
                            std::vector<base::diagnostic>* problems = nullptr);

}  // namespace niem::oversight::medication
