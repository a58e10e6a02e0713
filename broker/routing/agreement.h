#pragma once
// Data-sharing agreements as the broker enforces them: who (provider -> recipient), what
// (exchange types and, per exchange, the NIEM paths that may flow; everything else is removed),
// why (purposes), when (effective dates), under which conditions (record predicates and consent
// requirements). Files follow schemas/agreement/agreement.xsd and are checked against the
// exchange schemas when loaded: a filter that would drop an element the schema requires is
// refused, so every filtered document stays valid.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "validation/validation.h"

namespace niem::routing {

enum class sharing_level { identifiable, deidentified, aggregate };
std::string_view level_name(sharing_level l);

using path = std::vector<validation::qname>;  // element names below the exchange's root

// A record predicate: some element at `at` has exactly this text.
struct path_condition {
  path at;
  std::string label;  // the path as written in the agreement
  std::string equals;
  std::uint32_t line = 0;
};

// The agreement needs a consent of the child (found by `subject`, an identifier path of kind
// `subject_kind`: "client" or "medicaid") covering the recipient, `purpose` and `categories`;
// when `when` is set, only for records that meet it (e.g. substance use disorder claims).
struct consent_rule {
  std::optional<path_condition> when;
  path subject;
  std::string subject_kind;
  std::string purpose;
  std::vector<std::string> categories;
  std::uint32_t line = 0;
};

// The include paths as a tree: a node with `include` keeps its whole subtree; other nodes are
// containers, written only when something below them is kept, or (`always`) whenever they occur,
// because the schema requires them where they stand; then their own required children are kept
// too, so that an otherwise empty container is still valid.
// De-identification (Safe Harbor) of one element's value: the year of a date, the first three
// digits of a ZIP code, or a keyed pseudonym (HMAC-SHA-256 with the agreement's own secret:
// stable within the agreement, unlinkable across agreements).
enum class transform_action { none, year, zip3, pseudonym };

struct filter_node {
  validation::qname name;
  bool include = false;
  bool always = false;
  transform_action transform = transform_action::none;
  std::string label;  // for an include: its path as written in the agreement
  std::vector<filter_node> children;
  const filter_node* child(std::string_view ns, std::string_view local) const;
};

// Aggregate agreements: a value read from each counted record, by its role in the report
// (person, client, date, class, county, placement, begin, end).
struct count_field {
  std::string role;
  path at;
  std::string label;
  std::uint32_t line = 0;
};

// The report an aggregate agreement's recipient receives instead of records.
struct report_spec {
  std::string kind;    // "psychotropic-by-county"
  std::string period;  // "quarter"
  std::uint32_t minimum_count = 11;
  std::uint32_t after_days = 0;  // produced this many days after the period ends
};

struct exchange_terms {
  std::string exchange;
  validation::qname root;
  std::vector<path_condition> conditions;
  std::vector<consent_rule> consents;
  std::vector<path> includes;
  std::vector<count_field> counts;  // aggregate level
  filter_node filter;               // root node: the exchange's root element
  bool deidentified = false;        // a full date that is not generalized stops the filter
  std::string pseudonym_key;        // the agreement's secret (from the configuration)
};

// Where a day lies against an agreement's effective dates.
enum class agreement_status { not_yet_effective, in_effect, expired };
// "not_yet_effective", "in_effect", "expired" (the admin API's spelling).
std::string_view status_name(agreement_status s);

struct agreement {
  std::string id, version, title, file;
  std::string content_version;  // the file's content hash (base::content_version), audited
  std::vector<std::string> providers;
  std::string recipient;
  std::vector<std::string> purposes;
  sharing_level level = sharing_level::identifiable;
  std::string effective_from, effective_to;  // YYYY-MM-DD, inclusive; empty: open-ended
  std::vector<exchange_terms> exchanges;
  std::optional<report_spec> report;  // aggregate level

  const exchange_terms* terms(std::string_view exchange) const;
  bool provided_by(std::string_view agency) const;
  // The one reading of the effective dates: `day` (YYYY-MM-DD) against [from, to], both
  // inclusive, either open when empty.
  agreement_status status_on(std::string_view day) const;
  // In effect on at least one day of [from, to].
  bool in_effect_during(std::string_view from, std::string_view to) const {
    return status_on(to) != agreement_status::not_yet_effective &&
           status_on(from) != agreement_status::expired;
  }
  std::string label() const { return id + "@" + version; }
};

using validation::exchange_root;

// Loads and checks every file; all problems are reported together (file:line, NIEM-304).
// `exchange_schemas` hold every exchange's schema (the mapping library's set).
// `pseudonym_keys`: agreement file -> secret, for agreements that pseudonymize.
base::result<std::vector<std::shared_ptr<const agreement>>> load_agreements(
    const std::vector<std::string>& files, const std::string& agreement_xsd,
    const validation::schema_set& exchange_schemas, const std::vector<exchange_root>& exchanges,
    const std::map<std::string, std::string>& pseudonym_keys = {});

// ---- Streaming over documents (no DOM) ----

// The text of every element at each of `paths` (relative to the root), in document order.
// Returns false if the document cannot be read.
bool values_at(std::string_view doc, const std::vector<const path*>& paths,
               std::vector<std::vector<std::string>>& out);

struct removed_element {
  std::string path;  // as written in the document, e.g. nc:Person/nc:PersonSSNIdentification
  std::uint32_t line = 0;
};

struct filter_result {
  bool ok = false;
  std::string document;
  std::vector<std::string> disclosed;    // the include paths that matched something
  std::vector<removed_element> removed;  // with `explain`: each removed subtree's top element
  std::string error;
  base::errc code = base::errc::internal;  // why, when not ok
};

// What the recipient receives: the root, the included subtrees, and the containers on the way
// to them that hold something. Byte ranges are copied as written.
filter_result apply_filter(const exchange_terms& terms, std::string_view doc, bool explain = false);
// Several recipients' filters in one pass over the document (one result per terms, in order).
std::vector<filter_result> apply_filters(const std::vector<const exchange_terms*>& terms,
                                         std::string_view doc, bool explain = false);

}  // namespace niem::routing
