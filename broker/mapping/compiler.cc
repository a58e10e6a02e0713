// The mapping compiler: resolves every rule of a mapping file against the exchange schema's
// model once, at load, so that the runner only walks a tree.
#include <algorithm>

#include <fmt/format.h>

#include "base/text.h"
#include "mapping/compiler.h"

namespace niem::mapping::detail {

void compiler::compile(const ast& root) {
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
      warns_.push_back({errc::mapping_invalid, fmt::format("template '{}' is never applied", name),
                        fmt::format("{}:{}:{}", m_.file, t.at->line, t.at->column), name,
                        t.at->line, t.at->column});
  for (auto& [name, t] : m_.tables)
    if (!t.used)
      warns_.push_back(
          {errc::mapping_invalid,
           fmt::format("code table '{}' is never used ({} entries unused)", name, t.map.size()),
           fmt::format("{}:{}:{}", m_.file, t.line, t.column), name, t.line, t.column});
}

void compiler::error_at(std::uint32_t line, std::uint32_t column, const std::string& path,
                        std::string msg) {
  errs_.push_back({errc::mapping_invalid, std::move(msg),
                   fmt::format("{}:{}:{}", m_.file, line, column), path, line, column});
}

void compiler::error(const ast& at, const std::string& path, std::string msg) {
  errs_.push_back({errc::mapping_invalid, std::move(msg),
                   fmt::format("{}:{}:{}", m_.file, at.line, at.column), path, at.line, at.column});
}

std::optional<qname> compiler::resolve_qname(const ast& at, const std::string& text) {
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
source_path compiler::path(const ast& at, const std::string& text, int level,
                           const source_path* context) {
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
node* compiler::target(const ast& at, scope& s, const std::string& target_text, node_kind last_kind,
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
void compiler::attach(node* n, scope& s) {
  n->conds = s.conds;
  if (s.iterate) {
    n->iterates = true;
    n->iterate = *s.iterate;
  }
}

value_src compiler::source(const ast& at, const scope& s, const std::string& path_for_errors) {
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

code_table* compiler::table(const ast& at, const std::string& name, const std::string& p) {
  auto it = m_.tables.find(name);
  if (it == m_.tables.end()) {
    error(at, p, fmt::format("no code table named '{}'", name));
    return nullptr;
  }
  it->second.used = true;
  return &it->second;
}

void compiler::rules(const ast& parent_ast, scope& s) {
  for (const auto& k : parent_ast.kids) rule(*k, s);
}

void compiler::rule(const ast& r, scope& s) {
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
void compiler::rule_values(const ast& r, scope& s) {
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
void compiler::rule_apply(const ast& r, scope& s) {
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
void compiler::rule_attribute(const ast& r, scope& s) {
  if (s.iterate) {
    error(r, s.path, "an attribute inside a repeat without a target has no one element to go on");
    return;
  }
  add_attribute(r, s, *s.parent, s.path, s.conds);
}

// An empty, nillable element: xsi:nil="true", with its id and attributes if it has them.
void compiler::rule_nil(const ast& r, scope& s) {
  scope sub = s;
  node* n = target(r, sub, r.get("target"), node_kind::nil, false);
  if (!n) return;
  attach(n, s);
  if (r.attr("id")) declare_id(r, s, sub.path, n, false);
  for (const auto& a : r.kids)
    if (a->tag == "attribute") add_attribute(*a, s, *n, sub.path, {});
}

void compiler::rule_value(const ast& r, scope& s) {
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
  if (r.attr("id")) declare_id(r, s, sub.path, n, false);
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
    const bool dated = n->parts.size() == 1 && !n->parts[0].is_const &&
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

void compiler::rule_require(const ast& r, scope& s) {
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

void compiler::rule_forbid(const ast& r, scope& s) {
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

void compiler::rule_ref(const ast& r, scope& s) {
  scope sub = s;
  node* n = target(r, sub, r.get("target"), node_kind::ref, false);
  if (!n) return;
  attach(n, s);
  n->ref_nil = model_.elements()[n->element].nillable;
  for (const auto& a : r.kids)
    if (a->tag == "attribute") add_attribute(*a, s, *n, sub.path, {});
  declare_ref(r, s, sub.path, n, r.get("to"), r.attr("key"));
}

void compiler::rule_object(const ast& r, scope& s) {
  scope sub = s;
  const bool has_id = r.attr("id") != nullptr;
  const bool distinct = has_id || r.attr("ref") || r.get("distinct") == "true";
  node* n = target(r, sub, r.get("target"), node_kind::container, !distinct && !pending(s));
  if (!n) return;
  if (!n->mergeable) attach(n, s);
  if (has_id) declare_id(r, s, sub.path, n, false);
  if (auto* to = r.attr("ref"))  // a reference that also carries content (NIEM allows it)
    declare_ref(r, s, sub.path, n, *to, r.attr("ref-key"));
  scope inner{n, {}, nullptr, s.level, sub.path, s.context, s.repeats};
  rules(r, inner);
}

void compiler::rule_repeat(const ast& r, scope& s) {
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
    if (r.attr("id")) declare_id(r, s, sub.path, n, true);
    scope inner{n, {}, nullptr, s.level + 1, sub.path, nullptr, s.repeats};
    inner.repeats.push_back(&r);
    rules(r, inner);
  } else {
    if (s.iterate) {
      error(r, s.path, "a repeat without a target cannot hold another repeat without a target");
      return;
    }
    scope inner{s.parent, s.conds, src.get(), s.level + 1, s.path, nullptr, s.repeats};
    inner.repeats.push_back(&r);
    rules(r, inner);
  }
}

void compiler::rule_when(const ast& r, scope& s) {
  scope inner = s;
  inner.conds.push_back(cond(r, s));
  rules(r, inner);
}

void compiler::rule_choose(const ast& r, scope& s) {
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
std::string compiler::describe(const std::vector<condition>& conds) {
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
void compiler::range(const ast& r, const std::string& p, node& n) {
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

condition compiler::cond(const ast& w, const scope& s) {
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

void compiler::sort(node& n) {
  std::stable_sort(n.kids.begin(), n.kids.end(), [](const auto& a, const auto& b) {
    return a->order != b->order ? a->order < b->order : a->seq < b->seq;
  });
  for (auto& k : n.kids) sort(*k);
}

std::string compiler::root_start_tag(const ast& root) {
  std::string tag(1, '<');  // appended, not "<" + name: GCC 12 -O3 misreads that (-Wrestrict)
  tag += root.get("root");
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

void compile(const ast& root, const validation::schema_model& model, compiled_mapping::impl& out,
             std::vector<diagnostic>& errs, std::vector<diagnostic>& warns) {
  compiler c(model, out, errs, warns);
  c.compile(root);
  c.resolve_refs();
}

}  // namespace niem::mapping::detail
