#pragma once
// The compiled form of a mapping, shared by the compiler that builds it and the runner that walks
// it for each record: a tree of nodes in schema order, every name already resolved.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "mapping/mapping.h"
#include "mapping/mapping_file.h"
#include "mapping/transforms.h"
#include "validation/compiled_checks.h"
#include "validation/validation.h"

namespace niem::mapping {
namespace detail {

struct source_path {
  std::vector<std::string> keys;
  int level = 0;      // which repeat frame the path starts from (0: the record)
  int column = -1;    // delimited input: column index
  std::string label;  // as written, for diagnostics
};

struct code_table {
  std::string name;
  std::unordered_map<std::string, std::string> map;
  std::vector<std::string> order;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> positions;  // of each entry, as `order`
  std::uint32_t line = 0, column = 0;
  bool used = false;
};

struct value_src {
  bool is_const = false;
  std::string constant;
  source_path path;
  std::vector<transform> steps;
  const code_table* codes = nullptr;
};

struct condition {
  enum class kind { present, equals, in_codes } k = kind::present;
  source_path field;
  std::string value;
  const code_table* codes = nullptr;
  bool negate = false;
};

// An attribute written on a node's start tag: declared by the element's type (or admitted by its
// wildcard), checked at compile time; not written when its value is empty.
struct attribute_rule {
  std::string tag;  // prefix:local as written in the output
  validation::qname name;
  value_src value;
  bool required = false;
  std::vector<condition> conds;  // those of a `when` around the attribute rule alone
  std::uint32_t line = 0, column = 0;
  const validation::value_check* check = nullptr;  // its type's compiled check
};

// check: writes nothing; refuses the record when a field its conditions require is missing, or
// when a field they forbid is present. nil: an empty element with xsi:nil="true".
enum class node_kind { container, leaf, ref, check, nil };

struct node {
  node_kind kind = node_kind::container;
  int element = -1;
  std::string tag;  // prefix:local as written in the output
  int order = 0;
  int seq = 0;
  bool mergeable = false;
  const validation::particle* via = nullptr;
  // leaf
  std::vector<value_src> parts;
  std::string separator = " ";
  bool required = false;
  std::string source_label;
  // leaf: the range a number must lie in (an xs:decimal bound each, inclusive or not)
  std::optional<decimal> min, max;
  bool min_exclusive = false, max_exclusive = false;
  std::string range;  // as written, for messages: "> 0", ">= 1 and <= 365"
  // leaf: a date value must not precede this other field's date (both through the same steps)
  std::optional<value_src> not_before;
  // check: the field that must have a value (an array: at least min_items entries), or with
  // `forbid`, the field that must not (or must not meet `forbidden`'s equals or in-codes)
  source_path required_field;
  bool array = false;
  std::uint32_t min_items = 0;
  bool forbid = false;
  condition forbidden;
  std::string because;  // the conditions, for messages: "when grantor.role is COURT"
  // ref / id
  std::string ref_to;
  int ref_level = -1;  // repeat level whose index numbers the referenced id (-1: not repeated)
  std::string id;
  int id_level = -1;
  // id / ref named by a field's value: the id (or ref_to) followed by the value as an NCName
  std::optional<source_path> id_key, ref_key;
  bool ref_nil = true;  // ref: the element is nillable, so the reference carries xsi:nil
  std::vector<attribute_rule> attributes;
  // repetition and conditions
  bool iterates = false;
  source_path iterate;
  std::vector<condition> conds;
  std::vector<std::unique_ptr<node>> kids;
  std::uint32_t line = 0, column = 0;
  // The compiled checks of the element's type (attach_checks): its children's automaton, or the
  // check of its value (a leaf's, or the empty content of a reference without xsi:nil).
  const validation::content_automaton* content = nullptr;
  const validation::value_check* value = nullptr;
};

}  // namespace detail

struct compiled_mapping::impl {
  std::string file;
  record_format format = record_format::json;
  std::vector<std::string> columns;
  std::string header;
  detail::source_path key;
  std::map<std::string, detail::code_table> tables;
  detail::node root;
  std::string root_open;  // the root start tag with its namespace declarations, without its '>'
  // NIEM's structures namespace of this exchange (3.0 ... 6.0), read from its schema; written
  // under the prefix `structures`. Empty when the schema declares none.
  std::string structures_ns;
  std::string record_type_field;
  // Whether every element and attribute the mapping writes has compiled checks; if not, why not
  // (the first construct the checker does not compile), and its documents go to Xerces.
  bool checks_complete = false;
  std::string unchecked_because;
};

namespace detail {

// Compiles one mapping file's rules against the exchange schemas into `out`; problems go to
// `errs` (the mapping cannot be used) and `warns` (it can).
void compile(const ast& root, const validation::schema_model& model, compiled_mapping::impl& out,
             std::vector<base::diagnostic>& errs, std::vector<base::diagnostic>& warns);

// Gives every node of a compiled mapping the compiled checks of its element's type.
void attach_checks(compiled_mapping::impl& m, const validation::schema_model& model,
                   const validation::compiled_checks& checks);

}  // namespace detail
}  // namespace niem::mapping
