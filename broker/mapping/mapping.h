#pragma once
// The mapping core: mapping files compiled once against the exchange schemas, then applied to
// native records. Documents are written as a stream straight into a string (no DOM), in schema
// order, and validated from their bytes by the caller's per-thread validator.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/result.h"
#include "mapping/oracle.h"
#include "validation/validation.h"

namespace niem::mapping {

struct record_limits {
  std::size_t max_record_bytes = 1 << 20;
  int max_json_depth = 32;
};

struct conversion {
  std::string key;       // the record's unique key
  std::string exchange;  // exchange type, e.g. "placement-notification"
  std::string document;  // the NIEM XML document
  // For each output line (1-based index), the source field it came from (null if none); lets a
  // validation error name the native field. The labels belong to the compiled mapping, so they
  // are valid while its mapping_library lives.
  std::vector<const std::string*> line_sources;
  // With compiled checks asked for and complete for the mapping: what they found wrong in the
  // document (empty: valid). `checked` is false when they did not run.
  bool checked = false;
  std::vector<base::diagnostic> check_errors;
};

// How a converter validates a document: `compiled` by the checks its mapping's writer makes as it
// writes (Xerces still parses the documents of a mapping whose checks are incomplete), `full` by
// Xerces' parse of the bytes, `both` by the two, a disagreement refused (NIEM-211).
enum class validation_mode { compiled, full, both };

std::optional<validation_mode> parse_validation_mode(std::string_view s);
std::string_view to_string(validation_mode m);

// The mode for all exchanges and, overriding it, for some (the broker's <validation> settings),
// and which of the documents judged by compiled checks alone Xerces checks again, off the record's
// path (oracle.h): every one of each mapping's first `sample_first_ms` after the rules were loaded,
// then one in `sample_one_in` (0: none after the first).
struct validation_policy {
  validation_policy(validation_mode all = validation_mode::compiled) : fallback(all) {}
  validation_mode fallback;
  std::map<std::string, validation_mode, std::less<>> by_exchange;
  std::uint32_t sample_one_in = 1000;
  std::int64_t sample_first_ms = 60'000;
  validation_mode of(std::string_view exchange) const {
    auto it = by_exchange.find(exchange);
    return it == by_exchange.end() ? fallback : it->second;
  }
};

class compiled_mapping;

// Which code-table entries a set of records exercised (table name, native code). `niem-map check`
// fills it from a mapping's examples and golden tests to name the entries none of them reaches;
// the broker never passes one, so its path pays nothing.
struct code_coverage {
  std::set<std::pair<std::string, std::string>> used;
};

// One entry of a mapping's code tables, where the mapping file defines it.
struct code_entry {
  std::string table, from, to;
  std::uint32_t line = 0, column = 0;
};

using validation::exchange_root;

// An exchange whose documents the broker writes itself rather than maps (the medication check's
// notices): its schema file and root element.
struct written_exchange {
  std::string exchange, schema;
  validation::qname root;
};

// Every mapping of a directory, compiled against one shared grammar pool.
class mapping_library {
 public:
  // `mapping_schema` is the mapping language XSD (schemas/mapping/mapping.xsd). All problems in all
  // files are reported together, each with file, line, column and path. The `written` exchanges'
  // schemas join the same set, so that agreements and validators know them like the others; a
  // schema that does not declare its root is an error.
  static base::result<std::shared_ptr<mapping_library>> load(
      const std::vector<std::string>& files, const std::string& mapping_schema,
      const std::vector<written_exchange>& written = {});

  const compiled_mapping* find(std::string_view agency, std::string_view record_type) const;
  const std::vector<std::shared_ptr<compiled_mapping>>& mappings() const { return mappings_; }
  // The shared schema set: that of the mappings naming one `schema` file and of the written
  // exchanges (if there are none, the first mapping's own set).
  std::shared_ptr<const validation::schema_set> schemas() const { return schemas_; }
  // The schema set that validates an exchange's documents: its mapping's (an IEPD's own set),
  // else the shared one.
  std::shared_ptr<const validation::schema_set> schemas_for(std::string_view exchange) const;
  // Every schema set the mappings were compiled against, the shared one included.
  const std::vector<std::shared_ptr<const validation::schema_set>>& schema_sets() const {
    return sets_;
  }
  // Every exchange the library knows and its root: the mappings' and the written ones (the one
  // list agreement loaders check terms against).
  std::vector<exchange_root> exchanges() const;
  // Lint findings that do not stop the mapping from working (e.g. unused code tables).
  const std::vector<base::diagnostic>& warnings() const { return warnings_; }

 private:
  std::vector<std::shared_ptr<compiled_mapping>> mappings_;
  std::shared_ptr<const validation::schema_set> schemas_;
  std::vector<std::shared_ptr<const validation::schema_set>> sets_;
  std::vector<written_exchange> written_;
  std::vector<base::diagnostic> warnings_;
};

enum class record_format { json, delimited };

class compiled_mapping {
 public:
  const std::string& agency() const { return agency_; }
  const std::string& record_type() const { return record_type_; }
  const std::string& exchange() const { return exchange_; }
  // The exchange document's root element.
  const validation::qname& root() const { return root_; }
  const std::string& file() const { return file_; }
  // The mapping file's content hash (base::content_version), named by the audit trail.
  const std::string& version() const { return version_; }
  record_format format() const { return format_; }
  char delimiter() const { return delimiter_; }
  // The schema set this mapping was compiled against, which validates its documents.
  const std::shared_ptr<const validation::schema_set>& schemas() const { return schemas_; }

  // Checks a delimited extract's header line against the mapping's columns.
  std::vector<base::diagnostic> check_header(std::string_view header, std::string_view where) const;
  // Maps one record (a JSON object, or one delimited row). With `check`, the compiled checks
  // judge the document as it is written (conversion::check_errors); without, it is not validated.
  base::result<conversion> map(std::string_view record, std::string_view where,
                               const record_limits& lim = {}, code_coverage* coverage = nullptr,
                               bool check = false) const;
  // Whether every element and attribute the mapping writes has compiled checks (if not, the
  // first that has none and why: its documents are validated by Xerces in every mode).
  bool checks_complete() const;
  const std::string& unchecked_because() const;
  // Every entry of every code table, in file order.
  std::vector<code_entry> code_entries() const;

  struct impl;
  explicit compiled_mapping(std::unique_ptr<impl> im);
  ~compiled_mapping();

 private:
  friend class mapping_library;
  std::string agency_, record_type_, exchange_, file_, version_;
  validation::qname root_;
  std::shared_ptr<const validation::schema_set> schemas_;
  record_format format_ = record_format::json;
  char delimiter_ = '|';
  std::unique_ptr<impl> impl_;
};

// Maps and validates; keep one per thread (it owns a validator per schema set). With an oracle,
// documents judged by compiled checks alone are sampled for it as the policy says.
class converter {
 public:
  explicit converter(std::shared_ptr<const mapping_library> lib, record_limits rl = {},
                     validation::limits vl = {}, validation_policy policy = {},
                     oracle_hook hook = {}, const base::clock& clk = base::default_clock());
  // `tag` names the record in the oracle's log (the broker's message id).
  base::result<conversion> convert(const compiled_mapping& m, std::string_view record,
                                   std::string_view where, std::string_view tag = {});
  const validation_policy& policy() const { return policy_; }

 private:
  base::result<conversion> validate_full(conversion c, const compiled_mapping& m,
                                         std::string_view where);
  bool wants_sample(const compiled_mapping& m);
  void offer_sample(const compiled_mapping& m, conversion& c, std::string_view tag);

  std::shared_ptr<const mapping_library> lib_;
  record_limits rl_;
  validation_policy policy_;
  oracle_hook hook_;
  const base::clock& clock_;
  bool first_minute_ = true;  // until the clock is past the rules' first minute
  std::unordered_map<const compiled_mapping*, std::uint64_t> judged_;  // by compiled checks alone
  std::vector<std::pair<const validation::schema_set*, std::unique_ptr<validation::validator>>>
      validators_;
};

}  // namespace niem::mapping
