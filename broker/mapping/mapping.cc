#include "mapping/mapping.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "base/digest.h"
#include "base/text.h"
#include "mapping/json_reader.h"
#include "mapping/transforms.h"
#include "validation/vocabulary.h"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace niem::mapping {

using base::diagnostic;
using base::errc;
using validation::qname;

namespace {

constexpr std::string_view k_map_ns = "urn:niem-broker:mapping:1";
constexpr std::string_view k_structures_ns = vocabulary::k_structures;
constexpr std::string_view k_xsi_ns = vocabulary::k_xsi;

// ---- The mapping file as read (before compilation) ----

struct ast {
  std::string tag;
  std::map<std::string, std::string> attrs;
  std::shared_ptr<const std::map<std::string, std::string>> prefixes;
  std::string text;
  std::uint32_t line = 0, column = 0;
  std::vector<std::unique_ptr<ast>> kids;

  const std::string* attr(const std::string& k) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? nullptr : &it->second;
  }
  std::string get(const std::string& k, std::string def = {}) const {
    auto* a = attr(k);
    return a ? *a : def;
  }
};

struct ast_builder : validation::xml_event_handler {
  std::unique_ptr<ast> root;
  std::vector<ast*> stack;
  std::vector<std::map<std::string, std::string>> scopes{{}};
  std::vector<std::pair<std::string, std::string>> pending;

  void start_prefix(const std::string& p, const std::string& uri) override {
    pending.emplace_back(p, uri);
  }
  void end_prefix(const std::string&) override {}
  void start_element(const qname& n, const std::vector<validation::xml_attribute>& attrs,
                     std::uint32_t line, std::uint32_t col) override {
    auto scope = scopes.back();
    for (auto& [p, u] : pending) scope[p] = u;
    pending.clear();
    scopes.push_back(scope);
    auto node = std::make_unique<ast>();
    node->tag = n.ns == k_map_ns ? n.local : "{" + n.ns + "}" + n.local;
    for (const auto& a : attrs)
      if (a.name.ns.empty()) node->attrs[a.name.local] = a.value;
    node->prefixes = std::make_shared<const std::map<std::string, std::string>>(scope);
    node->line = line;
    node->column = col;
    ast* raw = node.get();
    if (stack.empty())
      root = std::move(node);
    else
      stack.back()->kids.push_back(std::move(node));
    stack.push_back(raw);
  }
  void end_element(const qname&) override {
    stack.pop_back();
    scopes.pop_back();
  }
  void text(std::string_view chars) override {
    if (!stack.empty()) stack.back()->text += chars;
  }
};

// ---- Compiled form ----

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

// check: writes nothing; refuses the record when a field its conditions require is missing, or
// when a field they forbid is present.
enum class node_kind { container, leaf, ref, check };

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
  // repetition and conditions
  bool iterates = false;
  source_path iterate;
  std::vector<condition> conds;
  std::vector<std::unique_ptr<node>> kids;
  std::uint32_t line = 0, column = 0;
};

}  // namespace

struct compiled_mapping::impl {
  std::string file;
  record_format format = record_format::json;
  std::vector<std::string> columns;
  std::string header;
  source_path key;
  std::map<std::string, code_table> tables;
  node root;
  std::string root_open;  // the root start tag with its namespace declarations
  std::string record_type_field;
};

namespace {

// ---- Compiler ----

class compiler {
 public:
  compiler(const validation::schema_model& model, compiled_mapping::impl& out,
           std::vector<diagnostic>& errs, std::vector<diagnostic>& warns)
      : model_(model), m_(out), errs_(errs), warns_(warns) {}

  void compile(const ast& root) {
    m_.format = root.get("format") == "delimited" ? record_format::delimited : record_format::json;
    for (const auto& k : root.kids) {
      if (k->tag == "columns") {
        m_.header = std::string(base::trim(k->text));
        char d = k->get("delimiter", "|")[0];
        for (auto c : base::split(m_.header, d)) m_.columns.emplace_back(base::trim(c));
      } else if (k->tag == "codes") {
        code_table t;
        t.name = k->get("name");
        t.line = k->line;
        t.column = k->column;
        for (const auto& c : k->kids) {
          auto from = c->get("from");
          if (!t.map.emplace(from, c->get("to")).second)
            error(*c, "", fmt::format("code '{}' appears twice in table '{}'", from, t.name));
          t.order.push_back(from);
          t.positions.emplace_back(c->line, c->column);
        }
        if (m_.tables.count(t.name))
          error(*k, "", fmt::format("code table '{}' defined twice", t.name));
        m_.tables[t.name] = std::move(t);
      }
    }
    if (m_.format == record_format::delimited && m_.columns.empty())
      error(root, "", "a delimited mapping needs its columns");
    m_.key = path(root, root.get("key"), 0);

    // The root element.
    auto rq = resolve_qname(root, root.get("root"));
    if (rq) {
      auto e = model_.element(*rq);
      if (!e) {
        error(root, root.get("root"), "root element is not declared in the exchange schema");
      } else {
        m_.root.element = *e;
        m_.root.tag = root.get("root");
        m_.root.kind = node_kind::container;
        scope s{&m_.root, {}, nullptr, 0, ""};
        rules(root, s);
        check_required(m_.root, root);
        sort(m_.root);
        m_.root_open = root_start_tag(root);
      }
    }
    for (auto& [name, t] : m_.tables)
      if (!t.used)
        warns_.push_back(
            {errc::mapping_invalid,
             fmt::format("code table '{}' is never used ({} entries unused)", name, t.map.size()),
             fmt::format("{}:{}:{}", m_.file, t.line, t.column), name, t.line, t.column});
  }

 private:
  struct scope {
    node* parent;
    std::vector<condition> conds;  // pending: attach to the next node a rule creates
    const source_path* iterate;    // pending: repeat without a target
    int level;                     // current repeat depth
    std::string path;              // target path so far, for diagnostics
  };

  void error(const ast& at, const std::string& path, std::string msg) {
    errs_.push_back({errc::mapping_invalid, std::move(msg),
                     fmt::format("{}:{}:{}", m_.file, at.line, at.column), path, at.line,
                     at.column});
  }

  std::optional<qname> resolve_qname(const ast& at, const std::string& text) {
    auto colon = text.find(':');
    std::string prefix = colon == std::string::npos ? "" : text.substr(0, colon);
    std::string local = colon == std::string::npos ? text : text.substr(colon + 1);
    auto it = at.prefixes->find(prefix);
    if (it == at.prefixes->end()) {
      error(at, text, fmt::format("namespace prefix '{}' is not declared", prefix));
      return std::nullopt;
    }
    used_prefixes_.insert(prefix);
    return qname{it->second, local};
  }

  source_path path(const ast& at, const std::string& text, int level) {
    source_path p;
    p.label = text;
    std::string_view t = text;
    p.level = level;
    if (!t.empty() && t[0] == '/') {
      p.level = 0;
      t.remove_prefix(1);
    }
    if (t == ".") return p;
    if (m_.format == record_format::delimited) {
      auto it = std::find(m_.columns.begin(), m_.columns.end(), t);
      if (it == m_.columns.end())
        error(at, text, fmt::format("column '{}' is not in the mapping's columns", t));
      else
        p.column = static_cast<int>(it - m_.columns.begin());
      return p;
    }
    for (auto k : base::split(t, '.')) {
      if (k.empty()) error(at, text, "empty step in source path");
      p.keys.emplace_back(k);
    }
    return p;
  }

  // Resolves `target` step by step under `parent`; returns the node of the last step. Steps
  // before the last are shared containers; the last is new unless it may merge.
  node* target(const ast& at, scope& s, const std::string& target_text, node_kind last_kind,
               bool merge_last) {
    node* cur = s.parent;
    auto steps = base::split(target_text, '/');
    std::string sofar = s.path;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      std::string step(steps[i]);
      sofar += "/" + step;
      auto q = resolve_qname(at, step);
      if (!q) return nullptr;
      int ptype = model_.elements()[cur->element].type;
      auto slot = model_.child(ptype, *q);
      if (!slot) {
        std::string parent = cur->tag;
        error(at, sofar,
              model_.element(*q) ? fmt::format("{} is not allowed inside {}", step, parent)
                                 : fmt::format("{} is not declared in the exchange schema", step));
        return nullptr;
      }
      const auto& el = model_.elements()[slot->element];
      if (el.abstract) {
        std::string subs;
        for (int sub : el.substitutes)
          subs += (subs.empty() ? "" : ", ") + model_.elements()[sub].name.local;
        error(at, sofar, fmt::format("{} is abstract; use one of: {}", step, subs));
        return nullptr;
      }
      const bool last = i + 1 == steps.size();
      const auto& ty = model_.types()[el.type];
      node_kind kind = last ? last_kind : node_kind::container;
      if (kind == node_kind::container && !ty.element_only) {
        error(at, sofar, fmt::format("{} holds a value, not elements", step));
        return nullptr;
      }
      if (kind == node_kind::leaf && !ty.simple_content) {
        error(at, sofar, fmt::format("{} holds elements, not a value; map its children", step));
        return nullptr;
      }
      if (kind == node_kind::ref && !el.nillable && !ty.element_only) {
        error(at, sofar, fmt::format("{} cannot be a reference", step));
        return nullptr;
      }
      const bool merge = last ? merge_last : true;
      node* found = nullptr;
      if (merge)
        for (auto& k : cur->kids)
          if (k->mergeable && k->element == slot->element) found = k.get();
      if (!found) {
        auto n = std::make_unique<node>();
        n->kind = kind;
        n->element = slot->element;
        n->tag = step;
        n->via = slot->via;
        n->order = slot->via->order;
        n->seq = seq_++;
        n->mergeable = merge;
        n->line = at.line;
        n->column = at.column;
        found = n.get();
        cur->kids.push_back(std::move(n));
      }
      cur = found;
    }
    s.path = sofar;
    return cur;
  }

  // Hands the scope's pending conditions and iteration to a node a rule just created.
  void attach(node* n, scope& s) {
    n->conds = s.conds;
    if (s.iterate) {
      n->iterates = true;
      n->iterate = *s.iterate;
    }
  }

  bool pending(const scope& s) const { return !s.conds.empty() || s.iterate; }

  value_src source(const ast& at, const scope& s, const std::string& path_for_errors) {
    value_src v;
    if (auto* c = at.attr("const")) {
      v.is_const = true;
      v.constant = *c;
    } else if (auto* src = at.attr("source")) {
      v.path = path(at, *src, s.level);
    }
    if (auto* t = at.attr("transform")) {
      for (auto step : base::split(*t, ' ')) {
        if (step.empty()) continue;
        auto tr = parse_transform(step);
        if (!tr)
          error(at, path_for_errors, fmt::format("unknown transform '{}'", step));
        else
          v.steps.push_back(*tr);
      }
    }
    if (auto* c = at.attr("codes")) v.codes = table(at, *c, path_for_errors);
    return v;
  }

  code_table* table(const ast& at, const std::string& name, const std::string& p) {
    auto it = m_.tables.find(name);
    if (it == m_.tables.end()) {
      error(at, p, fmt::format("no code table named '{}'", name));
      return nullptr;
    }
    it->second.used = true;
    return &it->second;
  }

  void rules(const ast& parent_ast, scope& s) {
    for (const auto& k : parent_ast.kids) rule(*k, s);
  }

  void rule(const ast& r, scope& s) {
    if (r.tag == "value") {
      scope sub = s;
      node* n = target(r, sub, r.get("target"), node_kind::leaf, false);
      if (!n) return;
      attach(n, s);
      n->required = r.get("required") == "true";
      n->separator = r.get("separator", " ");
      if (r.attr("source") || r.attr("const")) n->parts.push_back(source(r, s, sub.path));
      for (const auto& p : r.kids)
        if (p->tag == "part") n->parts.push_back(source(*p, s, sub.path));
      if (n->parts.empty()) error(r, sub.path, "a value needs a source, a const or parts");
      for (const auto& p : n->parts) {
        if (!p.is_const) n->source_label += (n->source_label.empty() ? "" : "+") + p.path.label;
        check_codes(r, sub.path, *n, p);
      }
      range(r, sub.path, *n);
      if (auto* other = r.attr("not-before")) {
        // Compared as the xs:date text the value's own date step writes (YYYY-MM-DD, where
        // text order is date order); other spellings have no such order.
        const bool dated =
            n->parts.size() == 1 && !n->parts[0].is_const &&
            std::any_of(n->parts[0].steps.begin(), n->parts[0].steps.end(),
                        [](const transform& t) { return t.k == transform::kind::date; });
        if (!dated) {
          error(r, sub.path, "not-before needs a value with one source and a date: transform");
        } else {
          value_src o = n->parts[0];
          o.path = path(r, *other, s.level);
          n->not_before = std::move(o);
        }
      }
    } else if (r.tag == "require") {
      auto n = std::make_unique<node>();
      n->kind = node_kind::check;
      n->order = -1;  // before the elements: a refusal is decided before anything is written
      n->seq = seq_++;
      n->line = r.line;
      n->column = r.column;
      n->required_field = path(r, r.get("field"), s.level);
      if (auto* mi = r.attr("min-items")) {
        n->array = true;
        n->min_items = static_cast<std::uint32_t>(std::stoul(*mi));
      }
      n->because = describe(s.conds);
      attach(n.get(), s);
      s.parent->kids.push_back(std::move(n));
    } else if (r.tag == "forbid") {
      auto n = std::make_unique<node>();
      n->kind = node_kind::check;
      n->forbid = true;
      n->order = -1;
      n->seq = seq_++;
      n->line = r.line;
      n->column = r.column;
      n->forbidden = cond(r, s);
      n->required_field = n->forbidden.field;
      n->because = describe(s.conds);
      attach(n.get(), s);
      s.parent->kids.push_back(std::move(n));
    } else if (r.tag == "ref") {
      scope sub = s;
      node* n = target(r, sub, r.get("target"), node_kind::ref, false);
      if (!n) return;
      attach(n, s);
      n->ref_to = r.get("to");
      refs_.push_back({n, &r, sub.path, s.level});
    } else if (r.tag == "object") {
      scope sub = s;
      const bool has_id = r.attr("id") != nullptr;
      node* n = target(r, sub, r.get("target"), node_kind::container, !has_id && !pending(s));
      if (!n) return;
      if (!n->mergeable) attach(n, s);
      if (has_id) declare_id(r, sub.path, n, r.get("id"), s.level);
      scope inner{n, {}, nullptr, s.level, sub.path};
      rules(r, inner);
    } else if (r.tag == "repeat") {
      if (m_.format == record_format::delimited) {
        error(r, s.path, "repeat needs a JSON array; delimited records have none");
        return;
      }
      auto src = std::make_shared<source_path>(path(r, r.get("source"), s.level));
      repeat_sources_.push_back(src);
      if (auto* t = r.attr("target")) {
        scope sub = s;
        node* n = target(r, sub, *t, node_kind::container, false);
        if (!n) return;
        n->conds = s.conds;
        n->iterates = true;
        n->iterate = *src;
        if (auto* id = r.attr("id")) declare_id(r, sub.path, n, *id, s.level + 1);
        scope inner{n, {}, nullptr, s.level + 1, sub.path};
        rules(r, inner);
      } else {
        if (s.iterate) {
          error(r, s.path, "a repeat without a target cannot hold another repeat without a target");
          return;
        }
        scope inner{s.parent, s.conds, src.get(), s.level + 1, s.path};
        rules(r, inner);
      }
    } else if (r.tag == "when") {
      scope inner = s;
      inner.conds.push_back(cond(r, s));
      rules(r, inner);
    } else if (r.tag == "choose") {
      std::vector<condition> earlier;
      for (const auto& w : r.kids) {
        scope inner = s;
        for (auto c : earlier) {
          c.negate = !c.negate;
          inner.conds.push_back(c);
        }
        if (w->tag == "when") {
          auto c = cond(*w, s);
          inner.conds.push_back(c);
          earlier.push_back(c);
        }
        rules(*w, inner);
      }
    }
  }

  // The conditions a rule holds under, for people: "when event_type is PLACEMENT_START".
  static std::string describe(const std::vector<condition>& conds) {
    std::string out;
    for (const auto& c : conds) {
      out += out.empty() ? "when " : " and ";
      // "/decision" (the record root's, from inside a repeat) reads as "decision".
      std::string_view f = c.field.label;
      if (f.starts_with('/')) f.remove_prefix(1);
      switch (c.k) {
        case condition::kind::present:
          out += fmt::format("{} {}", f, c.negate ? "has no value" : "has a value");
          break;
        case condition::kind::equals:
          out += fmt::format("{} {} {}", f, c.negate ? "is not" : "is", c.value);
          break;
        case condition::kind::in_codes:
          out += fmt::format("{} {} in '{}'", f, c.negate ? "is not" : "is",
                             c.codes ? c.codes->name : "");
          break;
      }
    }
    return out;
  }

  // min, max, min-exclusive, max-exclusive: bounds of a number, checked exactly.
  void range(const ast& r, const std::string& p, node& n) {
    struct bound {
      const char* attr;
      std::optional<decimal>* into;
      bool exclusive;
      const char* op;
    };
    for (const auto& b :
         {bound{"min", &n.min, false, ">="}, bound{"min-exclusive", &n.min, true, ">"},
          bound{"max", &n.max, false, "<="}, bound{"max-exclusive", &n.max, true, "<"}}) {
      const auto* text = r.attr(b.attr);
      if (!text) continue;
      if (*b.into) {
        error(r, p, fmt::format("{} bounds the value twice on one side", b.attr));
        continue;
      }
      *b.into = parse_decimal(*text);
      if (!*b.into) {
        error(r, p, fmt::format("{}=\"{}\" is not a decimal number", b.attr, *text));
        continue;
      }
      (b.into == &n.min ? n.min_exclusive : n.max_exclusive) = b.exclusive;
      n.range += fmt::format("{}{} {}", n.range.empty() ? "" : " and ", b.op, *text);
    }
    if (n.min && n.max && compare(*n.min, *n.max) > 0)
      error(r, p, "the range is empty: its minimum is above its maximum");
  }

  condition cond(const ast& w, const scope& s) {
    condition c;
    c.field = path(w, w.get("field"), s.level);
    if (auto* e = w.attr("equals")) {
      c.k = condition::kind::equals;
      c.value = *e;
    } else if (auto* t = w.attr("in-codes")) {
      c.k = condition::kind::in_codes;
      c.codes = table(w, *t, s.path);
    }
    return c;
  }

  void check_codes(const ast& at, const std::string& p, const node& n, const value_src& v) {
    if (!v.codes) return;
    const auto& ty = model_.types()[model_.elements()[n.element].type];
    if (ty.enumeration.empty()) return;
    for (const auto& from : v.codes->order) {
      const auto& to = v.codes->map.at(from);
      if (std::find(ty.enumeration.begin(), ty.enumeration.end(), to) == ty.enumeration.end())
        error(at, p,
              fmt::format("code table '{}' maps '{}' to '{}', which {} does not allow",
                          v.codes->name, from, to, n.tag));
    }
  }

  void declare_id(const ast& at, const std::string& p, node* n, const std::string& id, int level) {
    if (!ids_.emplace(id, level).second) error(at, p, fmt::format("id '{}' declared twice", id));
    n->id = id;
    n->id_level = level > 0 ? level : -1;
  }

 public:
  void resolve_refs() {
    for (auto& r : refs_) {
      auto it = ids_.find(r.n->ref_to);
      if (it == ids_.end()) {
        error(*r.at, r.path, fmt::format("reference to undeclared id '{}'", r.n->ref_to));
        continue;
      }
      if (it->second > 0 && it->second > r.level)
        error(
            *r.at, r.path,
            fmt::format("'{}' is repeated; refer to it from inside the same repeat", r.n->ref_to));
      r.n->ref_level = it->second > 0 ? it->second : -1;
    }
  }

 private:
  // Required children (minOccurs >= 1) that no rule fills make every document invalid.
  void check_required(const node& n, const ast& at) {
    if (n.kind != node_kind::container) return;
    const auto& ty = model_.types()[model_.elements()[n.element].type];
    for (const auto& p : ty.children) {
      if (p.min == 0) continue;
      bool filled =
          std::any_of(n.kids.begin(), n.kids.end(), [&](const auto& k) { return k->via == &p; });
      if (!filled)
        error(at, n.tag,
              fmt::format("required element {} inside {} is never filled",
                          model_.elements()[p.element].name.local, n.tag));
    }
    for (const auto& k : n.kids) check_required(*k, at);
  }

  static void sort(node& n) {
    std::stable_sort(n.kids.begin(), n.kids.end(), [](const auto& a, const auto& b) {
      return a->order != b->order ? a->order < b->order : a->seq < b->seq;
    });
    for (auto& k : n.kids) sort(*k);
  }

  std::string root_start_tag(const ast& root) {
    std::string tag = "<" + root.get("root");
    for (const auto& [p, uri] : *root.prefixes) {
      if (uri == k_map_ns || p.empty() || !used_prefixes_.count(p)) continue;
      if (uri == k_structures_ns || uri == k_xsi_ns) continue;
      tag += fmt::format("\n    xmlns:{}=\"{}\"", p, uri);
    }
    tag += fmt::format("\n    xmlns:structures=\"{}\"", k_structures_ns);
    tag += fmt::format("\n    xmlns:xsi=\"{}\"", k_xsi_ns);
    return tag + ">\n";
  }

  struct pending_ref {
    node* n;
    const ast* at;
    std::string path;
    int level;
  };

  const validation::schema_model& model_;
  compiled_mapping::impl& m_;
  std::vector<diagnostic>& errs_;
  std::vector<diagnostic>& warns_;
  std::set<std::string> used_prefixes_;
  std::map<std::string, int> ids_;
  std::vector<pending_ref> refs_;
  std::vector<std::shared_ptr<source_path>> repeat_sources_;
  int seq_ = 1;
};

// ---- Evaluation ----

struct frame {
  const json::value* item = nullptr;
  int index = 0;
};

struct runner {
  const compiled_mapping::impl& m;
  std::string_view where;
  std::vector<frame> frames;
  std::vector<std::string_view> row;
  std::string out;
  std::vector<const std::string*> line_sources{nullptr};
  std::vector<diagnostic> errs;
  std::string scratch;
  std::string value_buf;
  std::string part_buf;
  code_coverage* coverage = nullptr;

  void note_code(const code_table& t, std::string_view from) {
    if (coverage) coverage->used.emplace(t.name, std::string(from));
  }

  void fail(errc code, std::string msg, const std::string& src) {
    errs.push_back({code, std::move(msg), std::string(where), src, 0, 0});
  }

  // A looked-up field: missing, or its text (numbers and booleans in their JSON spelling).
  struct field {
    bool present = false;
    bool scalar = true;
    const json::value* v = nullptr;
    std::string_view text;
  };

  field lookup(const source_path& p) {
    field f;
    if (m.format == record_format::delimited) {
      if (p.column < 0 || static_cast<std::size_t>(p.column) >= row.size()) return f;
      f.text = row[p.column];
      f.present = !f.text.empty();
      return f;
    }
    const json::value* v = frames[std::min<std::size_t>(p.level, frames.size() - 1)].item;
    for (const auto& k : p.keys) {
      const auto* o = v ? v->if_object() : nullptr;
      if (!o) return f;
      auto it = o->find(k);
      if (it == o->end()) return f;
      v = &it->value();
    }
    if (!v || v->is_null()) return f;
    f.present = true;
    f.v = v;
    if (const auto* s = v->if_string()) {
      f.text = *s;
    } else if (v->is_bool()) {
      f.text = v->get_bool() ? "true" : "false";
    } else if (v->is_double()) {
      // The shortest spelling that reads back as the same double, positional where it is short
      // (365.5, not Boost.JSON's 3.655E2, which xs:decimal does not allow).
      scratch = fmt::format("{}", v->get_double());
      f.text = scratch;
    } else if (v->is_number()) {
      scratch = json::serialize(*v);
      f.text = scratch;
    } else {
      f.scalar = false;
    }
    return f;
  }

  bool holds(const condition& c) {
    auto f = lookup(c.field);
    bool r = f.present && f.scalar && !f.text.empty();
    if (r && c.k == condition::kind::equals) r = f.text == c.value;
    if (r && c.k == condition::kind::in_codes) {
      r = c.codes && c.codes->map.count(std::string(f.text));
      if (r) note_code(*c.codes, f.text);
    }
    return c.negate ? !r : r;
  }

  // Evaluates one value source; returns false (and records why) when the record is bad.
  bool eval(const value_src& v, std::string& val) {
    if (v.is_const) {
      val = v.constant;
    } else {
      auto f = lookup(v.path);
      if (!f.present) {
        val.clear();
        return true;
      }
      if (!f.scalar) {
        fail(errc::record_wrong_type, "expected a single value, found an object or array",
             v.path.label);
        return false;
      }
      val.assign(f.text);
    }
    for (const auto& t : v.steps) {
      auto r = apply_transform(t, val);
      if (!r.ok) {
        fail(r.code, fmt::format("{}: '{}'", r.message, val), v.path.label);
        return false;
      }
    }
    if (v.codes && !val.empty()) {
      auto it = v.codes->map.find(val);
      if (it == v.codes->map.end()) {
        fail(errc::record_unknown_code,
             fmt::format("unknown code '{}' (table '{}')", val, v.codes->name), v.path.label);
        return false;
      }
      note_code(*v.codes, val);
      val = it->second;
    }
    return true;
  }

  // A number within the value's range; the record is refused (with the range) otherwise.
  bool in_range(const node& n, const std::string& val) {
    auto d = parse_decimal(val);
    if (!d) {
      fail(errc::record_bad_value, fmt::format("'{}' is not a decimal number", val),
           n.source_label);
      return false;
    }
    // XML Schema obliges every processor to support 18 digits of a decimal and lets each refuse
    // more (libxml2 stops at 24): a longer number is refused rather than written for a
    // recipient's validator to reject.
    if (auto digits = d->integer.size() + d->fraction.size(); digits > 18) {
      fail(errc::record_out_of_range,
           fmt::format("{} has {} digits: at most 18 can be written as an XML Schema decimal", val,
                       digits),
           n.source_label);
      return false;
    }
    bool ok = true;
    if (n.min) {
      int c = compare(*d, *n.min);
      ok = n.min_exclusive ? c > 0 : c >= 0;
    }
    if (ok && n.max) {
      int c = compare(*d, *n.max);
      ok = n.max_exclusive ? c < 0 : c <= 0;
    }
    if (!ok)
      fail(errc::record_out_of_range, fmt::format("{} is out of range: must be {}", val, n.range),
           n.source_label);
    return ok;
  }

  // A value in the sense of require and forbid: not missing, null or empty.
  static bool has_value(const field& f) {
    return f.present && !(f.scalar && f.text.empty()) &&
           !(f.v && f.v->is_array() && f.v->get_array().empty()) &&
           !(f.v && f.v->is_object() && f.v->get_object().empty());
  }

  // A date not before the other field's date (a missing other field is its own rule's concern).
  bool in_order(const node& n, const std::string& val) {
    std::string other;
    const auto mark = errs.size();
    if (!eval(*n.not_before, other)) {
      errs.resize(mark);  // a bad other date is reported by that field's own rule
      return true;
    }
    if (other.empty() || val >= other) return true;
    fail(errc::record_dates_out_of_order,
         fmt::format("{} is before {} ({})", val, n.not_before->path.label, other), n.source_label);
    return false;
  }

  // A field the record must carry, or must not (under the check's conditions, already found to
  // hold).
  void check(const node& n) {
    auto f = lookup(n.required_field);
    const auto& label = n.required_field.label;
    auto because = n.because.empty() ? std::string() : " " + n.because;
    if (n.forbid) {
      if (n.forbidden.k == condition::kind::present) {
        if (has_value(f)) fail(errc::record_field_not_allowed, "not allowed" + because, label);
      } else if (holds(n.forbidden)) {
        fail(errc::record_field_not_allowed, fmt::format("'{}' is not allowed{}", f.text, because),
             label);
      }
      return;
    }
    if (n.array) {
      const auto* arr = f.present && f.v ? f.v->if_array() : nullptr;
      if (f.present && !arr) {
        fail(errc::record_wrong_type, "expected an array", label);
      } else if (!arr && n.min_items == 0) {
        fail(errc::record_missing_field, "required array is missing" + because, label);
      } else if (!arr || arr->size() < n.min_items) {
        fail(errc::record_missing_field,
             fmt::format("needs at least {}{}, found {}",
                         n.min_items == 1 ? std::string("one entry")
                                          : fmt::format("{} entries", n.min_items),
                         because, arr ? arr->size() : 0),
             label);
      }
      return;
    }
    if (!has_value(f))
      fail(errc::record_missing_field, "required field is missing or empty" + because, label);
  }

  void indent(int depth) { out.append(static_cast<std::size_t>(depth) * 2, ' '); }

  void newline(const std::string* src = nullptr) {
    out += '\n';
    line_sources.push_back(src);
  }

  // Writes a node (all its iterations); true when anything was written.
  bool emit(const node& n, int depth) {
    if (!n.iterates) return emit_one(n, depth);
    auto f = lookup(n.iterate);
    if (!f.present) return false;
    const auto* arr = f.v ? f.v->if_array() : nullptr;
    if (!arr) {
      fail(errc::record_wrong_type, "expected an array", n.iterate.label);
      return false;
    }
    bool any = false;
    int index = 0;
    for (const auto& item : *arr) {
      frames.push_back({&item, ++index});
      any = emit_one(n, depth) || any;
      frames.pop_back();
    }
    return any;
  }

  std::string id_of(const std::string& id, int level) {
    if (level < 0 || static_cast<std::size_t>(level) >= frames.size()) return id;
    return id + std::to_string(frames[level].index);
  }

  bool emit_one(const node& n, int depth) {
    for (const auto& c : n.conds)
      if (!holds(c)) return false;
    switch (n.kind) {
      case node_kind::leaf: {
        // Buffers reused across leaves and records of this run: no allocation per value.
        auto& val = value_buf;
        auto& part = part_buf;
        val.clear();
        bool ok = true;
        for (const auto& p : n.parts) {
          ok = eval(p, part) && ok;
          if (!part.empty()) {
            if (!val.empty()) val += n.separator;
            val += part;
          }
        }
        if (!ok) return false;
        if (val.empty()) {
          if (n.required)
            fail(errc::record_missing_field, fmt::format("required field is missing or empty"),
                 n.source_label);
          return false;
        }
        if (!base::valid_xml_chars(val)) {
          fail(errc::record_bad_value, "value holds characters XML cannot carry", n.source_label);
          return false;
        }
        if ((n.min || n.max) && !in_range(n, val)) return false;
        if (n.not_before && !in_order(n, val)) return false;
        indent(depth);
        out += '<';
        out += n.tag;
        out += '>';
        base::append_xml_escaped(out, val);
        out += "</";
        out += n.tag;
        out += '>';
        newline(n.source_label.empty() ? nullptr : &n.source_label);
        return true;
      }
      case node_kind::check:
        check(n);
        return false;  // writes nothing
      case node_kind::ref:
        indent(depth);
        out += fmt::format("<{} structures:ref=\"{}\" xsi:nil=\"true\"/>", n.tag,
                           id_of(n.ref_to, n.ref_level));
        newline();
        return true;
      case node_kind::container: {
        const auto mark = out.size();
        const auto lines = line_sources.size();
        indent(depth);
        out += '<';
        out += n.tag;
        if (!n.id.empty()) out += fmt::format(" structures:id=\"{}\"", id_of(n.id, n.id_level));
        out += '>';
        newline();
        bool any = false;
        for (const auto& k : n.kids) any = emit(*k, depth + 1) || any;
        if (!any) {  // nothing inside: take the start tag back
          out.resize(mark);
          line_sources.resize(lines);
          return false;
        }
        indent(depth);
        out += "</";
        out += n.tag;
        out += '>';
        newline();
        return true;
      }
    }
    return false;
  }
};

std::vector<std::string_view> split_row(std::string_view line, char delim) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return base::split(line, delim);
}

}  // namespace

// ---- compiled_mapping ----

compiled_mapping::compiled_mapping(std::unique_ptr<impl> im) : impl_(std::move(im)) {}
compiled_mapping::~compiled_mapping() = default;

std::vector<diagnostic> compiled_mapping::check_header(std::string_view header,
                                                       std::string_view where) const {
  auto cols = split_row(header, delimiter_);
  std::vector<diagnostic> errs;
  if (cols.size() != impl_->columns.size()) {
    errs.push_back({errc::record_bad_header,
                    fmt::format("header has {} fields, the mapping expects {}", cols.size(),
                                impl_->columns.size()),
                    std::string(where), "", 0, 0});
    return errs;
  }
  for (std::size_t i = 0; i < cols.size(); ++i)
    if (base::trim(cols[i]) != impl_->columns[i])
      errs.push_back({errc::record_bad_header,
                      fmt::format("header field {} is '{}', the mapping expects '{}'", i + 1,
                                  cols[i], impl_->columns[i]),
                      std::string(where), "", 0, 0});
  return errs;
}

std::vector<code_entry> compiled_mapping::code_entries() const {
  std::vector<code_entry> out;
  for (const auto& [name, t] : impl_->tables)
    for (std::size_t i = 0; i < t.order.size(); ++i)
      out.push_back(
          {name, t.order[i], t.map.at(t.order[i]), t.positions[i].first, t.positions[i].second});
  std::sort(out.begin(), out.end(),
            [](const code_entry& a, const code_entry& b) { return a.line < b.line; });
  return out;
}

base::result<conversion> compiled_mapping::map(std::string_view record, std::string_view where,
                                               const record_limits& lim,
                                               code_coverage* coverage) const {
  const auto& m = *impl_;
  if (record.size() > lim.max_record_bytes)
    return diagnostic{
        errc::record_too_large,
        fmt::format("record is {} bytes, limit {}", record.size(), lim.max_record_bytes),
        std::string(where),
        "",
        0,
        0};
  if (!base::valid_utf8(record))
    return diagnostic{
        errc::record_invalid_utf8, "record is not valid UTF-8", std::string(where), "", 0, 0};
  runner r{m, where, {}, {}, {}, {nullptr}, {}, {}, {}, {}, coverage};
  // Per-record JSON allocations come from one arena released at the end of the record.
  unsigned char buffer[8192];
  json::monotonic_resource arena(buffer, sizeof buffer);
  // Bound to the arena: assigning parse()'s arena-backed result to a default-storage value would
  // deep-copy the whole record onto the heap.
  const json::storage_ptr arena_storage(&arena);
  json::value doc(arena_storage);
  if (m.format == record_format::json) {
    auto read = read_json(record, doc, static_cast<std::size_t>(lim.max_json_depth));
    if (read.code != errc::ok)
      return diagnostic{read.code, std::move(read.message), std::string(where), read.field, 0, 0};
    if (!doc.is_object())
      return diagnostic{
          errc::record_wrong_type, "record is not a JSON object", std::string(where), "", 0, 0};
    if (auto* rt = doc.as_object().if_contains("record_type");
        rt && rt->is_string() && rt->get_string() != record_type_)
      return diagnostic{errc::record_no_mapping,
                        fmt::format("record_type is '{}', this mapping is for '{}'",
                                    std::string_view(rt->get_string()), record_type_),
                        std::string(where),
                        "record_type",
                        0,
                        0};
    r.frames.push_back({&doc, 0});
  } else {
    r.row = split_row(record, delimiter_);
    if (r.row.size() != m.columns.size())
      return diagnostic{
          errc::record_bad_column_count,
          fmt::format("row has {} fields, expected {}", r.row.size(), m.columns.size()),
          std::string(where),
          "",
          0,
          0};
    r.frames.push_back({nullptr, 0});
  }
  conversion c;
  c.exchange = exchange_;
  auto key = r.lookup(m.key);
  if (!key.present || !key.scalar || key.text.empty())
    return diagnostic{errc::record_missing_field,
                      "the record's key is missing",
                      std::string(where),
                      m.key.label,
                      0,
                      0};
  c.key.assign(key.text);
  r.out.reserve(4096);
  r.out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  r.line_sources.push_back(nullptr);
  r.out += m.root_open;
  for (char ch : m.root_open)
    if (ch == '\n') r.line_sources.push_back(nullptr);
  for (const auto& k : m.root.kids) r.emit(*k, 1);
  r.out += "</" + m.root.tag + ">\n";
  if (!r.errs.empty()) return r.errs;
  c.document = std::move(r.out);
  c.line_sources = std::move(r.line_sources);
  return c;
}

// ---- mapping_library ----

base::result<std::shared_ptr<mapping_library>> mapping_library::load(
    const std::vector<std::string>& files, const std::string& mapping_schema,
    const std::vector<written_exchange>& written) {
  std::vector<diagnostic> errs;
  auto lang = validation::schema_set::load({{mapping_schema}, "", {}});
  if (!lang) return lang.errors();

  struct parsed {
    std::string file, version;
    std::unique_ptr<ast> root;
  };
  std::vector<parsed> asts;
  std::vector<std::string> schema_files;
  for (const auto& f : files) {
    auto bytes = validation::read_file(f, 4 << 20);
    if (!bytes) {
      errs.insert(errs.end(), bytes.errors().begin(), bytes.errors().end());
      continue;
    }
    ast_builder b;
    auto diags = validation::read_xml(*bytes, f, b, lang->get());
    if (!diags.empty() || !b.root) {
      for (auto& d : diags) d.code = errc::mapping_invalid;
      errs.insert(errs.end(), diags.begin(), diags.end());
      continue;
    }
    auto schema = (fs::path(f).parent_path() / b.root->get("schema")).lexically_normal().string();
    if (std::find(schema_files.begin(), schema_files.end(), schema) == schema_files.end())
      schema_files.push_back(schema);
    asts.push_back({f, base::content_version(*bytes), std::move(b.root)});
  }
  if (!errs.empty()) return errs;

  auto lib = std::make_shared<mapping_library>();
  for (const auto& w : written)
    if (std::find(schema_files.begin(), schema_files.end(), w.schema) == schema_files.end())
      schema_files.push_back(w.schema);
  auto schemas = validation::schema_set::load({schema_files, "", {}});
  if (!schemas) return schemas.errors();
  lib->schemas_ = schemas.value();
  lib->warnings_ = lib->schemas_->warnings();  // imports read other than as written
  for (const auto& w : written)
    if (!lib->schemas_->model().element(w.root))
      errs.push_back({errc::mapping_invalid,
                      fmt::format("the schema of exchange '{}' declares no element {{{}}}{}",
                                  w.exchange, w.root.ns, w.root.local),
                      w.schema, "", 0, 0});
  lib->written_ = written;

  for (auto& p : asts) {
    auto im = std::make_unique<compiled_mapping::impl>();
    im->file = p.file;
    std::vector<diagnostic> merrs;
    compiler c(lib->schemas_->model(), *im, merrs, lib->warnings_);
    c.compile(*p.root);
    c.resolve_refs();
    if (!merrs.empty()) {
      errs.insert(errs.end(), merrs.begin(), merrs.end());
      continue;
    }
    auto cm = std::make_shared<compiled_mapping>(std::move(im));
    cm->agency_ = p.root->get("agency");
    cm->record_type_ = p.root->get("record-type");
    cm->exchange_ = p.root->get("exchange");
    cm->file_ = p.file;
    cm->version_ = p.version;
    cm->format_ = cm->impl_->format;
    if (cm->impl_->root.element >= 0)
      cm->root_ = lib->schemas_->model().elements()[cm->impl_->root.element].name;
    for (const auto& k : p.root->kids)
      if (k->tag == "columns") cm->delimiter_ = k->get("delimiter", "|")[0];
    if (lib->find(cm->agency_, cm->record_type_))
      errs.push_back({errc::mapping_invalid,
                      fmt::format("a second mapping for agency '{}' and record type '{}'",
                                  cm->agency_, cm->record_type_),
                      p.file, "", 0, 0});
    lib->mappings_.push_back(std::move(cm));
  }
  if (!errs.empty()) return errs;
  return lib;
}

std::vector<exchange_root> mapping_library::exchanges() const {
  std::vector<exchange_root> out;
  for (const auto& m : mappings_) out.push_back({m->exchange(), m->root()});
  for (const auto& w : written_) out.push_back({w.exchange, w.root});
  return out;
}

const compiled_mapping* mapping_library::find(std::string_view agency,
                                              std::string_view record_type) const {
  for (const auto& m : mappings_)
    if (m->agency() == agency && m->record_type() == record_type) return m.get();
  return nullptr;
}

// ---- converter ----

converter::converter(std::shared_ptr<const mapping_library> lib, record_limits rl,
                     validation::limits vl)
    : lib_(std::move(lib)), rl_(rl), validator_(lib_->schemas(), vl) {}

base::result<conversion> converter::convert(const compiled_mapping& m, std::string_view record,
                                            std::string_view where) {
  auto c = m.map(record, where, rl_);
  if (!c) return c;
  auto rep = validator_.validate(c->document, where);
  if (rep.valid) return c;
  // Name the native field behind each invalid element where the writer recorded one.
  for (auto& d : rep.diagnostics) {
    d.where = std::string(where);
    if (d.line < c->line_sources.size() && c->line_sources[d.line])
      d.field = *c->line_sources[d.line] + " -> " + d.field;
  }
  return rep.diagnostics;
}

}  // namespace niem::mapping
