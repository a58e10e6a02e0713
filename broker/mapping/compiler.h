#pragma once
// The mapping compiler's state while it compiles one mapping file: the rules are read in
// compiler.cc, the checks against the schema (attributes, ids and references, required and
// repeated elements) in compiler_checks.cc.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mapping/compiled.h"
#include "validation/vocabulary.h"

namespace niem::mapping::detail {

using base::diagnostic;
using base::errc;
using validation::qname;

inline constexpr std::string_view k_xsi_ns = vocabulary::k_xsi;
inline constexpr std::string_view k_xml_ns = vocabulary::k_xml;

class compiler {
 public:
  compiler(const validation::schema_model& model, compiled_mapping::impl& out,
           std::vector<diagnostic>& errs, std::vector<diagnostic>& warns)
      : model_(model), m_(out), errs_(errs), warns_(warns) {}

  void compile(const ast& root);

 private:
  struct scope {
    node* parent;
    std::vector<condition> conds;          // pending: attach to the next node a rule creates
    const source_path* iterate;            // pending: repeat without a target
    int level;                             // current repeat depth
    std::string path;                      // target path so far, for diagnostics
    const source_path* context = nullptr;  // inside an applied template: where its sources start
    std::vector<const ast*> repeats = {};  // the repeat of each level, outermost first
  };

  void error_at(std::uint32_t line, std::uint32_t column, const std::string& path, std::string msg);

  void error(const ast& at, const std::string& path, std::string msg);

  std::optional<qname> resolve_qname(const ast& at, const std::string& text);

  // A source path as written, read from the current repeat item (`level`), or from the record's
  // root with a leading '/', or inside an applied template from its context.
  source_path path(const ast& at, const std::string& text, int level,
                   const source_path* context = nullptr);

  // Resolves `target` step by step under `parent`; returns the node of the last step. Steps
  // before the last are shared containers; the last is new unless it may merge.
  node* target(const ast& at, scope& s, const std::string& target_text, node_kind last_kind,
               bool merge_last);

  // Hands the scope's pending conditions and iteration to a node a rule just created.
  void attach(node* n, scope& s);

  bool pending(const scope& s) const { return !s.conds.empty() || s.iterate; }

  value_src source(const ast& at, const scope& s, const std::string& path_for_errors);

  code_table* table(const ast& at, const std::string& name, const std::string& p);

  void rules(const ast& parent_ast, scope& s);

  void rule(const ast& r, scope& s);

  // One sibling element of the same name per part (height in feet, then inches): each written
  // when its part has a value.
  void rule_values(const ast& r, scope& s);

  // A template's rules, compiled here as if written here, their sources read from `context`.
  void rule_apply(const ast& r, scope& s);

  // An attribute of the enclosing element (the object's, the repeat's target, the root).
  void rule_attribute(const ast& r, scope& s);

  // An empty, nillable element: xsi:nil="true", with its id and attributes if it has them.
  void rule_nil(const ast& r, scope& s);

  void rule_value(const ast& r, scope& s);

  void rule_require(const ast& r, scope& s);

  void rule_forbid(const ast& r, scope& s);

  void rule_ref(const ast& r, scope& s);

  void rule_object(const ast& r, scope& s);

  void rule_repeat(const ast& r, scope& s);

  void rule_when(const ast& r, scope& s);

  void rule_choose(const ast& r, scope& s);

  // The conditions a rule holds under, for people: "when event_type is PLACEMENT_START".
  static std::string describe(const std::vector<condition>& conds);

  // min, max, min-exclusive, max-exclusive: bounds of a number, checked exactly.
  void range(const ast& r, const std::string& p, node& n);

  condition cond(const ast& w, const scope& s);

  void check_codes(const ast& at, const std::string& p, const node& n, const value_src& v);

  // The structures namespace of this exchange: the one whose xs:ID attribute the root's type
  // carries, else the only one the schemas declare.
  std::string structures_namespace(int root_element) const;

  // structures:id or structures:ref on a node whose type must declare it.
  void carries_structures(const ast& at, const std::string& p, const node& n, const char* local);

  // Resolves an attribute's name, with the `xml` prefix predefined.
  std::optional<qname> attribute_name(const ast& at, const std::string& text);

  // One attribute rule for node `n`, checked against the declaration its type (or its wildcard,
  // or a global declaration) gives.
  void add_attribute(const ast& a, const scope& s, node& n, const std::string& p,
                     const std::vector<condition>& conds);

  // Constants and code tables against the attribute's enumeration and fixed value.
  void check_attribute_values(const ast& a, const std::string& where,
                              const validation::attribute_info& decl, const value_src& v);

  // The mapping's own prefixes for structures and xsi must mean what the writer writes.
  void check_reserved_prefixes(const ast& root);

  // The id= (and key=) of rule `r` on node `n`; `item`: `r` is the repeat that writes `n` once
  // per item (its key is read from the item).
  void declare_id(const ast& r, const scope& s, const std::string& p, node* n, bool item);
  // A reference of node `n` to `to`, by the field `key` if given.
  void declare_ref(const ast& r, const scope& s, const std::string& p, node* n,
                   const std::string& to, const std::string* key);

 public:
  void resolve_refs();

 private:
  // Required children (minOccurs >= 1) that no rule fills make every document invalid, as do
  // required attributes no rule writes. Each is reported at the rule that writes the element
  // (the root's at the mapping's start), all in one run.
  void check_required(const node& n, const ast& at);

  // Written in every document its conditions allow: a reference (not a keyed one), a nil, a
  // required value, a value of constants only. (A value from a field is written only when the field
  // has one.)
  static bool always_written(const node& n);

  // More elements for one particle than its maxOccurs allows: written unconditionally, every
  // document is refused; through a repeat, every record whose array holds more items is.
  void check_cardinality(const node& n);

  static void sort(node& n);

  std::string root_start_tag(const ast& root);

  struct pending_ref {
    node* n;
    const ast* at;
    std::string path;
    int level;
    std::vector<const ast*> repeats;
    bool keyed;
  };
  struct declared_id {
    int level;          // 0: not repeated
    const ast* repeat;  // the repeat whose items number it (level > 0)
    bool keyed;         // named by a field's value rather than numbered
  };

  const validation::schema_model& model_;
  compiled_mapping::impl& m_;
  std::vector<diagnostic>& errs_;
  std::vector<diagnostic>& warns_;
  std::set<std::string> used_prefixes_;
  std::map<std::string, declared_id> ids_;
  std::vector<pending_ref> refs_;
  std::vector<std::shared_ptr<source_path>> repeat_sources_;
  struct named_template {
    const ast* at;
    bool used = false;
  };
  std::map<std::string, named_template> templates_;
  std::vector<std::string> applying_;                   // the templates being applied, nested
  std::vector<std::unique_ptr<source_path>> contexts_;  // stable: scopes point at them
  int seq_ = 1;
};

}  // namespace niem::mapping::detail
