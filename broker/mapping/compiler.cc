// The mapping compiler: resolves every rule of a mapping file against the exchange schema's
// model once, at load, so that the runner only walks a tree.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "base/text.h"
#include "mapping/compiled.h"
#include "validation/vocabulary.h"

namespace niem::mapping::detail {

using base::diagnostic;
using base::errc;
using validation::qname;

namespace {

constexpr std::string_view k_xsi_ns = vocabulary::k_xsi;
constexpr std::string_view k_xml_ns = "http://www.w3.org/XML/1998/namespace";

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
      } else if (k->tag == "template") {
        if (!templates_.emplace(k->get("name"), named_template{k.get()}).second)
          error(*k, "", fmt::format("template '{}' defined twice", k->get("name")));
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
        m_.structures_ns = structures_namespace(*e);
        scope s{&m_.root, {}, nullptr, 0, ""};
        rules(root, s);
        check_required(m_.root, root);
        check_reserved_prefixes(root);
        sort(m_.root);
        m_.root_open = root_start_tag(root);
      }
    }
    for (const auto& [name, t] : templates_)
      if (!t.used)
        warns_.push_back({errc::mapping_invalid,
                          fmt::format("template '{}' is never applied", name),
                          fmt::format("{}:{}:{}", m_.file, t.at->line, t.at->column), name,
                          t.at->line, t.at->column});
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
    std::vector<condition> conds;          // pending: attach to the next node a rule creates
    const source_path* iterate;            // pending: repeat without a target
    int level;                             // current repeat depth
    std::string path;                      // target path so far, for diagnostics
    const source_path* context = nullptr;  // inside an applied template: where its sources start
  };

  void error_at(std::uint32_t line, std::uint32_t column, const std::string& path,
                std::string msg) {
    errs_.push_back({errc::mapping_invalid, std::move(msg),
                     fmt::format("{}:{}:{}", m_.file, line, column), path, line, column});
  }

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

  // A source path as written, read from the current repeat item (`level`), or from the record's
  // root with a leading '/', or inside an applied template from its context.
  source_path path(const ast& at, const std::string& text, int level,
                   const source_path* context = nullptr) {
    source_path p;
    p.label = text;
    std::string_view t = text;
    p.level = level;
    if (!t.empty() && t[0] == '/') {
      p.level = 0;
      t.remove_prefix(1);
    } else if (context) {
      p.level = context->level;
      p.keys = context->keys;
      p.label = t == "." ? context->label : context->label + "." + text;
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
      if (kind == node_kind::nil && !el.nillable) {
        error(at, sofar, fmt::format("{} is not nillable: xsi:nil cannot be written on it", step));
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
      v.path = path(at, *src, s.level, s.context);
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
      rule_value(r, s);
    } else if (r.tag == "require") {
      rule_require(r, s);
    } else if (r.tag == "forbid") {
      rule_forbid(r, s);
    } else if (r.tag == "ref") {
      rule_ref(r, s);
    } else if (r.tag == "object") {
      rule_object(r, s);
    } else if (r.tag == "repeat") {
      rule_repeat(r, s);
    } else if (r.tag == "when") {
      rule_when(r, s);
    } else if (r.tag == "choose") {
      rule_choose(r, s);
    } else if (r.tag == "attribute") {
      rule_attribute(r, s);
    } else if (r.tag == "nil") {
      rule_nil(r, s);
    } else if (r.tag == "apply") {
      rule_apply(r, s);
    } else if (r.tag == "values") {
      rule_values(r, s);
    }
  }

  // One sibling element of the same name per part (height in feet, then inches): each written
  // when its part has a value.
  void rule_values(const ast& r, scope& s) {
    for (const auto& p : r.kids) {
      if (p->tag != "part") continue;
      scope sub = s;
      node* n = target(*p, sub, r.get("target"), node_kind::leaf, false);
      if (!n) return;
      attach(n, s);
      n->parts.push_back(source(*p, s, sub.path));
      if (!n->parts[0].is_const) n->source_label = n->parts[0].path.label;
      check_codes(*p, sub.path, *n, n->parts[0]);
    }
  }

  // A template's rules, compiled here as if written here, their sources read from `context`.
  void rule_apply(const ast& r, scope& s) {
    const auto name = r.get("template");
    auto it = templates_.find(name);
    if (it == templates_.end()) {
      error(r, s.path, fmt::format("no template named '{}'", name));
      return;
    }
    if (std::find(applying_.begin(), applying_.end(), name) != applying_.end()) {
      error(r, s.path, fmt::format("template '{}' applies itself", name));
      return;
    }
    if (m_.format == record_format::delimited && r.attr("context")) {
      error(r, s.path, "a delimited record has no nested fields to be a template's context");
      return;
    }
    it->second.used = true;
    scope inner = s;
    if (auto* c = r.attr("context")) {
      contexts_.push_back(std::make_unique<source_path>(path(r, *c, s.level, s.context)));
      inner.context = contexts_.back().get();
    }
    applying_.push_back(name);
    rules(*it->second.at, inner);
    applying_.pop_back();
  }

  // An attribute of the enclosing element (the object's, the repeat's target, the root).
  void rule_attribute(const ast& r, scope& s) {
    if (s.iterate) {
      error(r, s.path, "an attribute inside a repeat without a target has no one element to go on");
      return;
    }
    add_attribute(r, s, *s.parent, s.path, s.conds);
  }

  // An empty, nillable element: xsi:nil="true", with its id and attributes if it has them.
  void rule_nil(const ast& r, scope& s) {
    scope sub = s;
    node* n = target(r, sub, r.get("target"), node_kind::nil, false);
    if (!n) return;
    attach(n, s);
    if (auto* id = r.attr("id")) declare_id(r, sub.path, n, *id, s.level);
    for (const auto& a : r.kids)
      if (a->tag == "attribute") add_attribute(*a, s, *n, sub.path, {});
  }

  void rule_value(const ast& r, scope& s) {
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
    if (auto* id = r.attr("id")) declare_id(r, sub.path, n, *id, s.level);
    for (const auto& a : r.kids)
      if (a->tag == "attribute") add_attribute(*a, s, *n, sub.path, {});
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
        o.path = path(r, *other, s.level, s.context);
        n->not_before = std::move(o);
      }
    }
  }

  void rule_require(const ast& r, scope& s) {
    auto n = std::make_unique<node>();
    n->kind = node_kind::check;
    n->order = -1;  // before the elements: a refusal is decided before anything is written
    n->seq = seq_++;
    n->line = r.line;
    n->column = r.column;
    n->required_field = path(r, r.get("field"), s.level, s.context);
    if (auto* mi = r.attr("min-items")) {
      n->array = true;
      n->min_items = static_cast<std::uint32_t>(std::stoul(*mi));
    }
    n->because = describe(s.conds);
    attach(n.get(), s);
    s.parent->kids.push_back(std::move(n));
  }

  void rule_forbid(const ast& r, scope& s) {
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
  }

  void rule_ref(const ast& r, scope& s) {
    scope sub = s;
    node* n = target(r, sub, r.get("target"), node_kind::ref, false);
    if (!n) return;
    attach(n, s);
    n->ref_to = r.get("to");
    n->ref_nil = model_.elements()[n->element].nillable;
    carries_structures(r, sub.path, *n, "ref");
    for (const auto& a : r.kids)
      if (a->tag == "attribute") add_attribute(*a, s, *n, sub.path, {});
    refs_.push_back({n, &r, sub.path, s.level});
  }

  void rule_object(const ast& r, scope& s) {
    scope sub = s;
    const bool has_id = r.attr("id") != nullptr;
    const bool distinct = has_id || r.attr("ref") || r.get("distinct") == "true";
    node* n = target(r, sub, r.get("target"), node_kind::container, !distinct && !pending(s));
    if (!n) return;
    if (!n->mergeable) attach(n, s);
    if (has_id) declare_id(r, sub.path, n, r.get("id"), s.level);
    if (auto* to = r.attr("ref")) {  // a reference that also carries content (NIEM allows it)
      n->ref_to = *to;
      carries_structures(r, sub.path, *n, "ref");
      refs_.push_back({n, &r, sub.path, s.level});
    }
    scope inner{n, {}, nullptr, s.level, sub.path, s.context};
    rules(r, inner);
  }

  void rule_repeat(const ast& r, scope& s) {
    if (m_.format == record_format::delimited) {
      error(r, s.path, "repeat needs a JSON array; delimited records have none");
      return;
    }
    auto src = std::make_shared<source_path>(path(r, r.get("source"), s.level, s.context));
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
  }

  void rule_when(const ast& r, scope& s) {
    scope inner = s;
    inner.conds.push_back(cond(r, s));
    rules(r, inner);
  }

  void rule_choose(const ast& r, scope& s) {
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
    c.field = path(w, w.get("field"), s.level, s.context);
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

  // The structures namespace of this exchange: the one whose xs:ID attribute the root's type
  // carries, else the only one the schemas declare.
  std::string structures_namespace(int root_element) const {
    const auto& known = model_.structures_namespaces();
    const auto& ty = model_.types()[model_.elements()[root_element].type];
    for (const auto& a : ty.attributes)
      if (a.xsd_type == "ID" && std::find(known.begin(), known.end(), a.name.ns) != known.end())
        return a.name.ns;
    return known.size() == 1 ? known.front() : std::string();
  }

  // structures:id or structures:ref on a node whose type must declare it.
  void carries_structures(const ast& at, const std::string& p, const node& n, const char* local) {
    if (m_.structures_ns.empty()) {
      error(at, p,
            fmt::format("the exchange schema declares no NIEM structures namespace, so {} cannot "
                        "carry structures:{}",
                        n.tag, local));
      return;
    }
    const auto& ty = model_.types()[model_.elements()[n.element].type];
    if (!ty.attribute({m_.structures_ns, local}) && !ty.any_attribute.admits(m_.structures_ns))
      error(
          at, p,
          fmt::format("{} cannot carry structures:{}: its type does not declare it", n.tag, local));
  }

  // Resolves an attribute's name, with the `xml` prefix predefined.
  std::optional<qname> attribute_name(const ast& at, const std::string& text) {
    if (text.starts_with("xml:")) return qname{std::string(k_xml_ns), text.substr(4)};
    if (text.find(':') == std::string::npos) return qname{"", text};  // no namespace
    return resolve_qname(at, text);
  }

  // One attribute rule for node `n`, checked against the declaration its type (or its wildcard,
  // or a global declaration) gives.
  void add_attribute(const ast& a, const scope& s, node& n, const std::string& p,
                     const std::vector<condition>& conds) {
    const std::string name = a.get("name");
    const std::string where = p + "/@" + name;
    auto q = attribute_name(a, name);
    if (!q) return;
    if ((q->ns == m_.structures_ns && (q->local == "id" || q->local == "ref")) ||
        q->ns == k_xsi_ns) {
      error(
          a, where,
          fmt::format("{} is written by the rules themselves: use id=, a ref or a nil rule", name));
      return;
    }
    const auto& ty = model_.types()[model_.elements()[n.element].type];
    const validation::attribute_info* decl = ty.attribute(*q);
    if (!decl && ty.any_attribute.admits(q->ns)) {
      decl = model_.attribute(*q);
      if (!decl && ty.any_attribute.strict) {
        error(a, where,
              fmt::format("{} is admitted on {} only if declared, and no schema declares it", name,
                          n.tag));
        return;
      }
    } else if (!decl) {
      std::string declared;
      for (const auto& d : ty.attributes) declared += (declared.empty() ? "" : ", ") + d.name.local;
      error(a, where,
            fmt::format("{} is not an attribute of {} (its type declares: {})", name, n.tag,
                        declared.empty() ? "none" : declared));
      return;
    }
    for (const auto& r : n.attributes)
      if (r.tag == name) error(a, where, fmt::format("{} is written twice on {}", name, n.tag));
    attribute_rule rule;
    rule.tag = name;
    rule.name = *q;
    rule.value = source(a, s, where);
    rule.required = a.get("required") == "true";
    rule.conds = conds;
    rule.line = a.line;
    rule.column = a.column;
    if (!a.attr("source") && !a.attr("const"))
      error(a, where, "an attribute needs a source or a const");
    if (decl) check_attribute_values(a, where, *decl, rule.value);
    n.attributes.push_back(std::move(rule));
  }

  // Constants and code tables against the attribute's enumeration and fixed value.
  void check_attribute_values(const ast& a, const std::string& where,
                              const validation::attribute_info& decl, const value_src& v) {
    auto allowed = [&](const std::string& x) {
      if (!decl.fixed.empty()) return x == decl.fixed;
      return decl.enumeration.empty() || std::find(decl.enumeration.begin(), decl.enumeration.end(),
                                                   x) != decl.enumeration.end();
    };
    if (v.is_const && v.steps.empty() && !v.codes && !allowed(v.constant))
      error(a, where, fmt::format("'{}' is not a value {} allows", v.constant, a.get("name")));
    if (v.codes)
      for (const auto& from : v.codes->order)
        if (!allowed(v.codes->map.at(from)))
          error(a, where,
                fmt::format("code table '{}' maps '{}' to '{}', which {} does not allow",
                            v.codes->name, from, v.codes->map.at(from), a.get("name")));
  }

  // The mapping's own prefixes for structures and xsi must mean what the writer writes.
  void check_reserved_prefixes(const ast& root) {
    for (const auto& [p, uri] : *root.prefixes) {
      if (p == "structures" && !m_.structures_ns.empty() && uri != m_.structures_ns)
        error(root, p,
              fmt::format("prefix 'structures' is bound to {}, but this exchange's structures "
                          "namespace is {}",
                          uri, m_.structures_ns));
      if (p == "xsi" && uri != k_xsi_ns)
        error(root, p, fmt::format("prefix 'xsi' is bound to {}, not to {}", uri, k_xsi_ns));
    }
  }

  void declare_id(const ast& at, const std::string& p, node* n, const std::string& id, int level) {
    carries_structures(at, p, *n, "id");
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
  // Required children (minOccurs >= 1) that no rule fills make every document invalid, as do
  // required attributes no rule writes. Each is reported at the rule that writes the element
  // (the root's at the mapping's start), all in one run.
  void check_required(const node& n, const ast& at) {
    if (n.kind == node_kind::check) return;
    const std::uint32_t line = n.line ? n.line : at.line, column = n.line ? n.column : at.column;
    const auto& ty = model_.types()[model_.elements()[n.element].type];
    if (n.kind != node_kind::ref)
      for (const auto& a : ty.attributes) {
        if (!a.required) continue;
        bool written = std::any_of(n.attributes.begin(), n.attributes.end(),
                                   [&](const attribute_rule& r) { return r.name == a.name; });
        if (!written)
          error_at(
              line, column, n.tag,
              fmt::format("required attribute {} of {} is never written", a.name.local, n.tag));
      }
    if (n.kind != node_kind::container) return;
    check_cardinality(n);
    for (const auto& p : ty.children) {
      if (p.min == 0) continue;
      bool filled =
          std::any_of(n.kids.begin(), n.kids.end(), [&](const auto& k) { return k->via == &p; });
      if (!filled)
        error_at(line, column, n.tag,
                 fmt::format("required element {} inside {} is never filled",
                             model_.elements()[p.element].name.local, n.tag));
    }
    for (const auto& k : n.kids) check_required(*k, at);
  }

  // Written in every document its conditions allow: a reference, a nil, a required value, a
  // value of constants only. (A value from a field is written only when the field has one.)
  static bool always_written(const node& n) {
    switch (n.kind) {
      case node_kind::ref:
      case node_kind::nil:
        return true;
      case node_kind::leaf:
        return n.required || std::all_of(n.parts.begin(), n.parts.end(), [](const value_src& v) {
                 return v.is_const && !v.constant.empty();
               });
      default:
        return false;
    }
  }

  // More elements for one particle than its maxOccurs allows: written unconditionally, every
  // document is refused; through a repeat, every record whose array holds more items is.
  void check_cardinality(const node& n) {
    std::map<const validation::particle*, std::vector<const node*>> by_particle;
    for (const auto& k : n.kids)
      if (k->via) by_particle[k->via].push_back(k.get());
    for (const auto& [p, kids] : by_particle) {
      if (p->max == validation::k_unbounded) continue;
      std::uint32_t always = 0;
      const node* excess = nullptr;  // the first one too many
      for (const node* k : kids) {
        if (k->iterates && p->max == 1)
          warns_.push_back(
              {errc::mapping_invalid,
               fmt::format("{} occurs at most once inside {}, but is written once per item of "
                           "{}: a record whose array holds two items is refused",
                           k->tag, n.tag, k->iterate.label),
               fmt::format("{}:{}:{}", m_.file, k->line, k->column), k->tag, k->line, k->column});
        if (!k->iterates && k->conds.empty() && always_written(*k) && ++always == p->max + 1)
          excess = k;
      }
      if (excess)
        error_at(excess->line, excess->column, excess->tag,
                 fmt::format("{} is written {} times inside {}, which allows at most {}",
                             excess->tag, always, n.tag, p->max));
    }
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
      if (p == "structures" || p == "xsi") continue;
      tag += fmt::format("\n    xmlns:{}=\"{}\"", p, uri);
    }
    if (!m_.structures_ns.empty())
      tag += fmt::format("\n    xmlns:structures=\"{}\"", m_.structures_ns);
    tag += fmt::format("\n    xmlns:xsi=\"{}\"", k_xsi_ns);
    return tag;
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
  struct named_template {
    const ast* at;
    bool used = false;
  };
  std::map<std::string, named_template> templates_;
  std::vector<std::string> applying_;                   // the templates being applied, nested
  std::vector<std::unique_ptr<source_path>> contexts_;  // stable: scopes point at them
  int seq_ = 1;
};

}  // namespace

void compile(const ast& root, const validation::schema_model& model, compiled_mapping::impl& out,
             std::vector<diagnostic>& errs, std::vector<diagnostic>& warns) {
  compiler c(model, out, errs, warns);
  c.compile(root);
  c.resolve_refs();
}

}  // namespace niem::mapping::detail
