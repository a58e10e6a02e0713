#pragma once
// Schema-validated XML without exposing Xerces: a schema_set pre-parses schemas once into a locked
// grammar pool; a validator (one per thread) checks documents from their bytes, streaming, with
// hard limits and no access to files or the network caused by the document.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/result.h"

namespace niem::validation {

struct limits {
  std::size_t max_bytes = 4 * 1024 * 1024;
  std::uint32_t max_depth = 64;
  std::uint32_t max_elements = 100'000;
  std::uint32_t max_attributes = 64;   // per element
  std::size_t max_text = 1024 * 1024;  // one text node or attribute value
  std::uint32_t max_errors = 20;       // diagnostics collected before giving up
};

struct qname {
  std::string ns;
  std::string local;
  bool operator==(const qname&) const = default;
};

class schema_model;
class compiled_checks;

// An exchange (as mappings, agreements and subscriptions name it), its documents' root and the
// model of the schemas that define it (null: the caller's shared set).
struct exchange_root {
  std::string exchange;
  qname root;
  const schema_model* model = nullptr;
};

// ---- The schema model: what a mapping compiler needs to know about elements and types. ----

constexpr std::uint32_t k_unbounded = UINT32_MAX;

struct particle {
  int element = -1;  // index into schema_model::elements()
  std::uint32_t min = 1;
  std::uint32_t max = 1;
  int order = 0;  // position in the effective content model (base type's particles first)
};

// An attribute a type declares (or a global attribute declaration).
struct attribute_info {
  qname name;
  bool required = false;
  std::string xsd_type;                  // its nearest built-in type: "ID", "IDREF", "anyURI"...
  std::vector<std::string> enumeration;  // of its type, if restricted to a list
  std::string fixed;                     // a fixed value, if the declaration or its use has one
};

// The attributes a type admits beyond those it declares (NIEM's `anyAttribute`).
struct attribute_wildcard {
  enum class kind { none, any, not_in, in } k = kind::none;
  std::vector<std::string> namespaces;  // `in`: allowed; `not_in`: excluded ("" for no namespace)
  bool strict = false;                  // processContents="strict": a declaration must exist
  bool admits(const std::string& ns) const;
};

struct type_info {
  qname name;  // empty local for anonymous types
  std::optional<qname> base;
  bool complex = false;
  bool simple_content = false;     // text value (simple type or complex type with simple content)
  bool element_only = false;       // complex type with child elements only
  std::vector<particle> children;  // in schema order
  std::vector<std::string> enumeration;    // of the value's simple type, if restricted to a list
  std::string builtin;                     // primitive XSD type of the value, e.g. "date"
  std::vector<attribute_info> attributes;  // declared, the base types' included
  attribute_wildcard any_attribute;
  const attribute_info* attribute(const qname& name) const;
};

struct element_info {
  qname name;
  int type = -1;  // index into types(); -1 for abstract elements without a type
  bool abstract = false;
  bool nillable = false;
  bool value_constraint = false;  // a fixed or default value (NIEM's rules allow neither)
  std::optional<qname> substitution_head;
  std::vector<int> substitutes;  // concrete elements that may stand for this one (transitive)
};

struct child_slot {
  int element = -1;               // the concrete element
  const particle* via = nullptr;  // the particle that admits it (may name its substitution head)
};

class schema_model {
 public:
  const std::vector<element_info>& elements() const { return elements_; }
  const std::vector<type_info>& types() const { return types_; }
  std::optional<int> element(const qname& name) const;
  std::optional<int> type(const qname& name) const;
  // A global attribute declaration (what a strict attribute wildcard admits).
  const attribute_info* attribute(const qname& name) const;
  // The namespaces that declare NIEM's structures: global attributes `id` (an xs:ID) and `ref`
  // (an xs:IDREF) side by side. One per NIEM release the set holds (3.0 ... 6.0).
  const std::vector<std::string>& structures_namespaces() const { return structures_; }
  // The particle under which `child` may appear inside an element of type `parent_type`.
  std::optional<child_slot> child(int parent_type, const qname& child) const;

 private:
  friend class schema_set;
  std::vector<element_info> elements_;
  std::vector<type_info> types_;
  std::unordered_map<std::string, int> element_index_;
  std::unordered_map<std::string, int> type_index_;
  std::unordered_map<std::string, attribute_info> attribute_index_;
  std::vector<std::string> structures_;
};

// ---- Schema sets ----

struct schema_source {
  std::vector<std::string> files;        // schemas to pre-parse (exchange schemas; imports follow)
  std::string catalog;                   // optional OASIS XML catalog: namespace -> file
  std::vector<std::string> search_dirs;  // import resolved by namespace from *.xsd found here
};

class schema_set {
 public:
  ~schema_set();
  schema_set(const schema_set&) = delete;
  schema_set& operator=(const schema_set&) = delete;

  // Loads and locks. Every problem in every schema is reported, with file, line and column.
  static base::result<std::shared_ptr<schema_set>> load(const schema_source& src);

  const schema_model& model() const { return model_; }
  // Namespaces that have a grammar (the targets of the loaded schemas and their imports).
  const std::vector<std::string>& namespaces() const { return namespaces_; }
  // The pattern facets' regular expressions prepared at load for validators on many threads
  // (docs/ARCHITECTURE.md, "What threads share"), the built-in types' included.
  std::size_t prepared_regexes() const { return prepared_regexes_; }
  // What loaded, but not as written: a schemaLocation read with slashes for its backslashes,
  // an import nothing resolved whose components nothing uses. Each at its import's line.
  const std::vector<base::diagnostic>& warnings() const { return warnings_; }
  // The tables the mapping writer checks documents with as it writes them (compiled_checks.h).
  const compiled_checks& checks() const { return *checks_; }

  struct impl;
  impl& internals() const { return *impl_; }

 private:
  schema_set();
  std::unique_ptr<impl> impl_;
  schema_model model_;
  std::vector<std::string> namespaces_;
  std::size_t prepared_regexes_ = 0;
  std::vector<base::diagnostic> warnings_;
  std::unique_ptr<compiled_checks> checks_;  // reads model_ and impl_'s pool: declared after them
};

struct validation_report {
  bool valid = false;
  std::vector<base::diagnostic> diagnostics;  // each with line, column and element path
  std::uint32_t elements = 0;
};

// Validates documents from bytes against one schema set. Not thread-safe: keep one per thread
// (the grammar pool it reads is shared, locked, and prepared at load so that nothing in it is
// built on first use).
class validator {
 public:
  explicit validator(std::shared_ptr<const schema_set> schemas, limits lim = {});
  ~validator();
  validator(const validator&) = delete;
  validator& operator=(const validator&) = delete;

  validation_report validate(std::string_view bytes, std::string_view doc_name = "document");

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// ---- Safe reading of configuration documents (mapping files, agreements) ----

struct xml_attribute {
  qname name;
  std::string value;
};

struct xml_event_handler {
  virtual ~xml_event_handler() = default;
  virtual void start_prefix(const std::string& prefix, const std::string& uri) = 0;
  virtual void end_prefix(const std::string& prefix) = 0;
  virtual void start_element(const qname& name, const std::vector<xml_attribute>& attrs,
                             std::uint32_t line, std::uint32_t column) = 0;
  virtual void end_element(const qname& name) = 0;
  virtual void text(std::string_view chars) = 0;
};

// Parses `bytes` with the same hardening as the validator, optionally validating against
// `schemas`, and forwards events to `handler`. Returns every problem found. For configuration
// files (trusted input: the broker's, mappings, agreements, catalogs), a document declared
// US-ASCII or ISO-8859-1 is read as the same text in UTF-8; records are validated UTF-8 only.
std::vector<base::diagnostic> read_xml(std::string_view bytes, const std::string& doc_name,
                                       xml_event_handler& handler,
                                       const schema_set* schemas = nullptr, limits lim = {});

// Reads a file into memory, refusing anything larger than `max_bytes`.
base::result<std::string> read_file(const std::string& path, std::size_t max_bytes = 64 << 20);

}  // namespace niem::validation
