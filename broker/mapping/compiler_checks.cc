// The mapping compiler's checks against the exchange schema: attributes and their
// declarations, ids and references, required and repeated elements.
#include <algorithm>

#include <fmt/format.h>

#include "mapping/compiler.h"

namespace niem::mapping::detail {

void compiler::check_codes(const ast& at, const std::string& p, const node& n, const value_src& v) {
  if (!v.codes) return;
  const auto& ty = model_.types()[model_.elements()[n.element].type];
  if (ty.enumeration.empty()) return;
  for (const auto& from : v.codes->order) {
    const auto& to = v.codes->map.at(from);
    if (std::find(ty.enumeration.begin(), ty.enumeration.end(), to) == ty.enumeration.end())
      error(at, p,
            fmt::format("code table '{}' maps '{}' to '{}', which {} does not allow", v.codes->name,
                        from, to, n.tag));
  }
}

// The structures namespace of this exchange: the one whose xs:ID attribute the root's type
// carries, else the only one the schemas declare.
std::string compiler::structures_namespace(int root_element) const {
  const auto& known = model_.structures_namespaces();
  const auto& ty = model_.types()[model_.elements()[root_element].type];
  for (const auto& a : ty.attributes)
    if (a.xsd_type == "ID" && std::find(known.begin(), known.end(), a.name.ns) != known.end())
      return a.name.ns;
  return known.size() == 1 ? known.front() : std::string();
}

// structures:id or structures:ref on a node whose type must declare it.
void compiler::carries_structures(const ast& at, const std::string& p, const node& n,
                                  const char* local) {
  if (m_.structures_ns.empty()) {
    error(at, p,
          fmt::format("the exchange schema declares no NIEM structures namespace, so {} cannot "
                      "carry structures:{}",
                      n.tag, local));
    return;
  }
  const auto& ty = model_.types()[model_.elements()[n.element].type];
  if (!ty.attribute({m_.structures_ns, local}) && !ty.any_attribute.admits(m_.structures_ns))
    error(at, p,
          fmt::format("{} cannot carry structures:{}: its type does not declare it", n.tag, local));
}

// Resolves an attribute's name, with the `xml` prefix predefined.
std::optional<qname> compiler::attribute_name(const ast& at, const std::string& text) {
  if (text.starts_with("xml:")) return qname{std::string(k_xml_ns), text.substr(4)};
  if (text.find(':') == std::string::npos) return qname{"", text};  // no namespace
  return resolve_qname(at, text);
}

// One attribute rule for node `n`, checked against the declaration its type (or its wildcard,
// or a global declaration) gives.
void compiler::add_attribute(const ast& a, const scope& s, node& n, const std::string& p,
                             const std::vector<condition>& conds) {
  const std::string name = a.get("name");
  const std::string where = p + "/@" + name;
  auto q = attribute_name(a, name);
  if (!q) return;
  if ((q->ns == m_.structures_ns && (q->local == "id" || q->local == "ref")) || q->ns == k_xsi_ns) {
    error(a, where,
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
void compiler::check_attribute_values(const ast& a, const std::string& where,
                                      const validation::attribute_info& decl, const value_src& v) {
  auto allowed = [&](const std::string& x) {
    if (!decl.fixed.empty()) return x == decl.fixed;
    return decl.enumeration.empty() ||
           std::find(decl.enumeration.begin(), decl.enumeration.end(), x) != decl.enumeration.end();
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
void compiler::check_reserved_prefixes(const ast& root) {
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

void compiler::declare_id(const ast& r, const scope& s, const std::string& p, node* n, bool item) {
  const std::string id = r.get("id");
  carries_structures(r, p, *n, "id");
  const int level = item ? s.level + 1 : s.level;
  const ast* repeat = item ? &r : (s.repeats.empty() ? nullptr : s.repeats.back());
  const bool keyed = r.attr("key") != nullptr;
  if (!ids_.emplace(id, declared_id{level, repeat, keyed}).second)
    error(r, p, fmt::format("id '{}' declared twice", id));
  n->id = id;
  if (keyed) {  // id + the key's value: read from the item itself for a repeat's target
    n->id_key = path(r, r.get("key"), level, item ? nullptr : s.context);
    n->id_level = -1;
  } else {
    n->id_level = level > 0 ? level : -1;
  }
}

void compiler::declare_ref(const ast& r, const scope& s, const std::string& p, node* n,
                           const std::string& to, const std::string* key) {
  n->ref_to = to;
  carries_structures(r, p, *n, "ref");
  if (key) n->ref_key = path(r, *key, s.level, s.context);
  refs_.push_back({n, &r, p, s.level, s.repeats, key != nullptr});
}

void compiler::resolve_refs() {
  for (auto& r : refs_) {
    const auto& to = r.n->ref_to;
    auto it = ids_.find(to);
    if (it == ids_.end()) {
      error(*r.at, r.path, fmt::format("reference to undeclared id '{}'", to));
      continue;
    }
    const declared_id& id = it->second;
    if (id.keyed != r.keyed) {
      error(*r.at, r.path,
            id.keyed ? fmt::format("'{}' is named by a field's value: give the reference the "
                                   "field that holds it (key=)",
                                   to)
                     : fmt::format("'{}' has no key (its id has no key=): a reference to it "
                                   "cannot name one",
                                   to));
      continue;
    }
    if (id.keyed) continue;  // resolved per record, by value
    if (id.level > 0 && id.level > r.level) {
      error(*r.at, r.path,
            fmt::format("'{}' is repeated; refer to it from inside the same repeat, or by a "
                        "key (id= key= on the object, key= on the reference)",
                        to));
      continue;
    }
    if (id.level > 0 && r.repeats[static_cast<std::size_t>(id.level - 1)] != id.repeat)
      warns_.push_back({errc::mapping_invalid,
                        fmt::format("the reference to '{}' binds by position: item N of this "
                                    "repeat points at item N of {}'s; name a key instead "
                                    "(id= key= on the object, key= on the reference)",
                                    to, id.repeat->get("source")),
                        fmt::format("{}:{}:{}", m_.file, r.at->line, r.at->column), r.path,
                        r.at->line, r.at->column});
    r.n->ref_level = id.level > 0 ? id.level : -1;
  }
}

// Required children (minOccurs >= 1) that no rule fills make every document invalid, as do
// required attributes no rule writes. Each is reported at the rule that writes the element
// (the root's at the mapping's start), all in one run.
void compiler::check_required(const node& n, const ast& at) {
  if (n.kind == node_kind::check) return;
  const std::uint32_t line = n.line ? n.line : at.line, column = n.line ? n.column : at.column;
  const auto& ty = model_.types()[model_.elements()[n.element].type];
  if (n.kind != node_kind::ref)
    for (const auto& a : ty.attributes) {
      if (!a.required) continue;
      bool written = std::any_of(n.attributes.begin(), n.attributes.end(),
                                 [&](const attribute_rule& r) { return r.name == a.name; });
      if (!written)
        error_at(line, column, n.tag,
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

// Written in every document its conditions allow: a reference (not a keyed one), a nil, a
// required value, a value of constants only. (A value from a field is written only when the field
// has one.)
bool compiler::always_written(const node& n) {
  switch (n.kind) {
    case node_kind::ref:  // a keyed one is written only when its key field has a value
      return !n.ref_key;
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
void compiler::check_cardinality(const node& n) {
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
               fmt::format("{} is written {} times inside {}, which allows at most {}", excess->tag,
                           always, n.tag, p->max));
  }
}

namespace {

struct check_attacher {
  const validation::schema_model& model;
  const validation::compiled_checks& checks;
  std::string why;  // the first construct without compiled checks

  void note(const std::string& where, const std::string& reason) {
    if (why.empty()) why = fmt::format("{}: {}", where, reason);
  }

  void attach(node& n) {
    if (n.kind == node_kind::check || n.element < 0) return;
    const int type = model.elements()[n.element].type;
    std::string reason;
    // Xerces compares such a value with the declaration's in the value space: left to it.
    if (model.elements()[n.element].value_constraint)
      note(n.tag, "a fixed or default value on the element's declaration");
    const bool complex_content = type >= 0 && model.types()[type].element_only;
    if (n.kind == node_kind::container ||
        (n.kind == node_kind::ref && !n.ref_nil && complex_content)) {
      n.content = checks.content(type, &reason);
      if (!n.content) note(n.tag, reason);
    } else if (n.kind == node_kind::leaf || (n.kind == node_kind::ref && !n.ref_nil)) {
      n.value = checks.value(type, &reason);
      if (!n.value) note(n.tag, reason);
    }
    for (auto& a : n.attributes) {
      a.check = checks.attribute(type, a.name, &reason);
      if (!a.check) note(fmt::format("{}@{}", n.tag, a.tag), reason);
      // A fixed value is compared in the value space by Xerces; a constant was checked above.
      const auto* decl = type >= 0 ? model.types()[type].attribute(a.name) : nullptr;
      if (!decl) decl = model.attribute(a.name);
      if (decl && !decl->fixed.empty() && !a.value.is_const)
        note(fmt::format("{}@{}", n.tag, a.tag), "a fixed attribute written from a field");
    }
    for (auto& k : n.kids) attach(*k);
  }
};

}  // namespace

void attach_checks(compiled_mapping::impl& m, const validation::schema_model& model,
                   const validation::compiled_checks& checks) {
  check_attacher a{model, checks, {}};
  a.attach(m.root);
  m.checks_complete = a.why.empty();
  m.unchecked_because = std::move(a.why);
}

}  // namespace niem::mapping::detail
