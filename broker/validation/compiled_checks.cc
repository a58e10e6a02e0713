// The compiled checks, built from Xerces' PSVI model of the locked grammar pool: content models
// as deterministic automata (Glushkov positions, then subsets), values by fast paths where a
// type is a plain string or an enumeration of strings, and by the type's own Xerces datatype
// validator otherwise (the very object Xerces' parse would call, so facets, patterns, lists and
// unions are judged the same way).
#include "validation/compiled_checks.h"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <xercesc/framework/psvi/XSAttributeDeclaration.hpp>
#include <xercesc/framework/psvi/XSAttributeUse.hpp>
#include <xercesc/framework/psvi/XSComplexTypeDefinition.hpp>
#include <xercesc/framework/psvi/XSModelGroup.hpp>
#include <xercesc/framework/psvi/XSParticle.hpp>
#include <xercesc/framework/psvi/XSSimpleTypeDefinition.hpp>
#include <xercesc/util/OutOfMemoryException.hpp>
#include <xercesc/util/XMLException.hpp>
#include <xercesc/validators/datatype/DatatypeValidator.hpp>
#include <xercesc/validators/datatype/ListDatatypeValidator.hpp>
#include <xercesc/validators/datatype/UnionDatatypeValidator.hpp>

#include "validation/compiled_checks_build.h"
#include "validation/xerces_util.h"

namespace niem::validation {

using namespace xercesc;
using detail::to_utf8;

namespace {

constexpr std::uint32_t k_max_copies = 64;  // a bounded repeat unrolled at most this far
constexpr std::size_t k_max_positions = 4096;
constexpr std::size_t k_max_states = 2048;

bool xml_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// White space as Xerces' SchemaValidator::normalizeWhiteSpace handles it before it calls the
// datatype validator: replace turns each XML space character into a space; collapse also drops
// leading and trailing runs and joins inner runs into one space.
std::string_view normalize(std::string_view v, int ws, std::string& buf) {
  if (ws == DatatypeValidator::PRESERVE) return v;
  buf.clear();
  if (ws == DatatypeValidator::REPLACE) {
    for (char c : v) buf += xml_space(c) ? ' ' : c;
    return buf;
  }
  bool pending = false;
  for (char c : v) {
    if (xml_space(c)) {
      pending = !buf.empty();
      continue;
    }
    if (pending) buf += ' ';
    pending = false;
    buf += c;
  }
  return buf;
}

// UTF-8 (already checked valid by the writer) to UTF-16, null-terminated, into a reused buffer.
void to_utf16(std::string_view v, std::u16string& out) {
  out.clear();
  for (std::size_t i = 0; i < v.size();) {
    const auto c = static_cast<unsigned char>(v[i]);
    char32_t cp;
    int n;
    if (c < 0x80) {
      cp = c, n = 1;
    } else if (c < 0xE0) {
      cp = c & 0x1F, n = 2;
    } else if (c < 0xF0) {
      cp = c & 0x0F, n = 3;
    } else {
      cp = c & 0x07, n = 4;
    }
    for (int k = 1; k < n && i + k < v.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(v[i + k]) & 0x3F);
    i += static_cast<std::size_t>(n);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
}

// A datatype whose validation needs the document (ids, references, prefixes, entities): the
// compiled checker leaves it to Xerces.
bool needs_document(DatatypeValidator* dv, int depth = 0) {
  if (!dv || depth > 32) return true;
  switch (dv->getType()) {
    case DatatypeValidator::QName:
    case DatatypeValidator::NOTATION:
    case DatatypeValidator::ID:
    case DatatypeValidator::IDREF:
    case DatatypeValidator::ENTITY:
      return true;
    case DatatypeValidator::List:
      return needs_document(static_cast<ListDatatypeValidator*>(dv)->getItemTypeDTV(), depth + 1);
    case DatatypeValidator::Union: {
      auto* members = static_cast<UnionDatatypeValidator*>(dv)->getMemberTypeValidators();
      for (XMLSize_t i = 0; members && i < members->size(); ++i)
        if (needs_document(members->elementAt(i), depth + 1)) return true;
      return false;
    }
    default:
      return false;
  }
}

std::string name_of(XSTypeDefinition* t) {
  for (int guard = 0; t && guard < 64; ++guard) {
    if (!t->getAnonymous()) return to_utf8(t->getName());
    auto* b = t->getBaseType();
    if (b == t) break;
    t = b;
  }
  return "anonymous type";
}

}  // namespace

// ---- content_automaton ----

std::vector<int> content_automaton::expected(std::int32_t state) const {
  std::vector<int> out;
  for (auto i = first_edge_[state]; i < first_edge_[state + 1]; ++i) out.push_back(edges_[i].first);
  return out;
}

// Glushkov's construction over a complex type's particle tree: one position per element particle
// (a bounded repeat's copies each their own), then the subset construction over them.
struct automaton_builder {
  const schema_model& model;
  const std::unordered_map<const XSElementDeclaration*, int>& ids;
  std::vector<std::vector<int>> symbols;  // per position: the elements it admits
  std::vector<std::set<int>> follow;      // per position
  std::string why;

  struct frag {
    bool nullable = true;
    std::vector<int> first, last;
  };

  static void add(std::vector<int>& to, const std::vector<int>& from) {
    to.insert(to.end(), from.begin(), from.end());
  }
  frag seq(frag a, const frag& b) {
    for (int p : a.last) follow[p].insert(b.first.begin(), b.first.end());
    frag r;
    r.nullable = a.nullable && b.nullable;
    r.first = a.first;
    if (a.nullable) add(r.first, b.first);
    r.last = b.last;
    if (b.nullable) add(r.last, a.last);
    return r;
  }
  frag alt(frag a, const frag& b) {
    a.nullable = a.nullable || b.nullable;
    add(a.first, b.first);
    add(a.last, b.last);
    return a;
  }
  frag repeat(frag a, bool may_be_absent) {
    for (int p : a.last) follow[p].insert(a.first.begin(), a.first.end());
    if (may_be_absent) a.nullable = true;
    return a;
  }

  std::optional<frag> leaf(const XSElementDeclaration* d) {
    auto it = ids.find(d);
    if (it == ids.end()) {
      why = "an element the schema model does not list";
      return std::nullopt;
    }
    if (symbols.size() >= k_max_positions) {
      why = "a content model of more than 4096 positions";
      return std::nullopt;
    }
    const auto& e = model.elements()[it->second];
    std::vector<int> admits;
    if (!e.abstract) admits.push_back(it->second);
    add(admits, e.substitutes);
    std::sort(admits.begin(), admits.end());
    admits.erase(std::unique(admits.begin(), admits.end()), admits.end());
    const int pos = static_cast<int>(symbols.size());
    symbols.push_back(std::move(admits));
    follow.emplace_back();
    frag f;
    f.nullable = false;
    f.first = f.last = {pos};
    return f;
  }

  std::optional<frag> term(XSParticle* p) {
    switch (p->getTermType()) {
      case XSParticle::TERM_ELEMENT:
        return leaf(p->getElementTerm());
      case XSParticle::TERM_MODELGROUP: {
        XSModelGroup* g = p->getModelGroupTerm();
        const auto compositor = g->getCompositor();
        if (compositor == XSModelGroup::COMPOSITOR_ALL) {
          why = "an xs:all group";
          return std::nullopt;
        }
        const bool choice = compositor == XSModelGroup::COMPOSITOR_CHOICE;
        frag r;
        r.nullable = !choice;  // an empty choice admits nothing, an empty sequence nothing too
        bool first = true;
        XSParticleList* ps = g->getParticles();
        for (XMLSize_t i = 0; ps && i < ps->size(); ++i) {
          auto k = particle(ps->elementAt(i));
          if (!k) return std::nullopt;
          r = first ? *k : choice ? alt(std::move(r), *k) : seq(std::move(r), *k);
          first = false;
        }
        return r;
      }
      case XSParticle::TERM_WILDCARD:
        why = "an element wildcard (xs:any)";
        return std::nullopt;
      default:
        return frag{};
    }
  }

  // p{min,max}: min copies, then (max - min) optional ones, or a repeat of the last when unbounded.
  std::optional<frag> particle(XSParticle* p) {
    const auto min = static_cast<std::uint32_t>(p->getMinOccurs());
    const bool unbounded = p->getMaxOccursUnbounded();
    const auto max = unbounded ? min : static_cast<std::uint32_t>(p->getMaxOccurs());
    if (!unbounded && max == 0) return frag{};
    if (std::max(min, max) > k_max_copies) {
      why = fmt::format("a repeat bounded at more than {} occurrences", k_max_copies);
      return std::nullopt;
    }
    frag r;
    const std::uint32_t plain = unbounded && min > 0 ? min - 1 : min;
    for (std::uint32_t i = 0; i < plain; ++i) {
      auto t = term(p);
      if (!t) return std::nullopt;
      r = seq(std::move(r), *t);
    }
    if (unbounded) {
      auto t = term(p);
      if (!t) return std::nullopt;
      return seq(std::move(r), repeat(std::move(*t), min == 0));
    }
    for (std::uint32_t i = min; i < max; ++i) {
      auto t = term(p);
      if (!t) return std::nullopt;
      t->nullable = true;
      r = seq(std::move(r), *t);
    }
    return r;
  }

  // The subset construction; state 0 is the start (the virtual position before the first).
  std::optional<content_automaton> build(XSParticle* root) {
    frag f;
    if (root) {
      auto r = particle(root);
      if (!r) return std::nullopt;
      f = std::move(*r);
    }
    const int start = static_cast<int>(symbols.size());
    follow.emplace_back(f.first.begin(), f.first.end());
    symbols.emplace_back();
    const std::set<int> last(f.last.begin(), f.last.end());
    content_automaton a;
    std::vector<std::vector<int>> states{{start}};
    std::map<std::vector<int>, std::int32_t> index{{{start}, 0}};
    for (std::size_t s = 0; s < states.size(); ++s) {
      std::map<int, std::set<int>> next;  // element -> positions
      for (int p : states[s])
        for (int q : follow[p])
          for (int e : symbols[q]) next[e].insert(q);
      a.first_edge_.push_back(static_cast<std::uint32_t>(a.edges_.size()));
      bool accepting = false;
      for (int p : states[s]) accepting = accepting || (p == start ? f.nullable : last.count(p));
      a.accepting_.push_back(accepting ? 1 : 0);
      for (auto& [e, qs] : next) {
        std::vector<int> target(qs.begin(), qs.end());
        auto [it, fresh] = index.emplace(target, static_cast<std::int32_t>(states.size()));
        if (fresh) {
          if (states.size() >= k_max_states) {
            why = fmt::format("a content model of more than {} states", k_max_states);
            return std::nullopt;
          }
          states.push_back(std::move(target));
        }
        a.edges_.emplace_back(e, it->second);
      }
    }
    a.first_edge_.push_back(static_cast<std::uint32_t>(a.edges_.size()));
    return a;
  }
};

// ---- value_check ----

bool value_check::check(std::string_view value, value_scratch& s, std::string* why) const {
  if (kind_ == kind::any) return true;
  const auto v = normalize(value, white_space_, s.normalized);
  if (kind_ == kind::enumeration) {
    auto it = std::lower_bound(enumeration_.begin(), enumeration_.end(), v);
    if (it != enumeration_.end() && *it == v) return true;
    if (why)
      *why = fmt::format("the value is not one of the {} codes of {}", enumeration_.size(),
                         type_name_);
    return false;
  }
  to_utf16(v, s.utf16);
  try {
    static_cast<DatatypeValidator*>(datatype_)->validate(s.utf16.c_str(), nullptr);
    return true;
  } catch (const XMLException&) {
  } catch (const OutOfMemoryException&) {
  }
  if (why) *why = fmt::format("the value is not a valid {}", type_name_);
  return false;
}

// ---- compiled_checks ----

struct checks_builder;

struct compiled_checks::impl {
  const schema_model& model;
  XSModel* xs;
  std::vector<XSTypeDefinition*> types;
  std::unordered_map<const XSElementDeclaration*, int> element_ids;
  std::mutex mu;
  std::deque<content_automaton> automata;
  std::deque<value_check> values;
  std::map<int, std::pair<const content_automaton*, std::string>> content_of;
  std::map<const XSSimpleTypeDefinition*, std::pair<const value_check*, std::string>> value_of;

  impl(const schema_model& m, XSModel* x, std::vector<XSTypeDefinition*> t,
       std::unordered_map<const XSElementDeclaration*, int> ids)
      : model(m), xs(x), types(std::move(t)), element_ids(std::move(ids)) {}

  std::pair<const value_check*, std::string> simple(XSSimpleTypeDefinition* st);
};

struct checks_builder {
  static std::pair<const value_check*, std::string> simple(compiled_checks::impl& im,
                                                           XSSimpleTypeDefinition* st) {
    auto* dv = st->getDatatypeValidator();
    if (!dv) return {nullptr, "a simple type without a datatype validator"};
    if (needs_document(dv))
      return {nullptr, fmt::format("type {} (ids, references, QNames and entities are checked "
                                   "against the whole document)",
                                   name_of(st))};
    value_check c;
    c.type_name_ = name_of(st);
    c.white_space_ = dv->getWSFacet();
    c.datatype_ = dv;
    c.kind_ = value_check::kind::datatype;
    const int facets = st->getDefinedFacets() & ~XSSimpleTypeDefinition::FACET_WHITESPACE;
    const bool atomic_string = st->getVariety() == XSSimpleTypeDefinition::VARIETY_ATOMIC &&
                               dv->getType() == DatatypeValidator::String;
    if (atomic_string && facets == 0) {
      c.kind_ = value_check::kind::any;
    } else if (atomic_string && facets == XSSimpleTypeDefinition::FACET_ENUMERATION) {
      c.kind_ = value_check::kind::enumeration;
      if (StringList* e = st->getLexicalEnumeration())
        for (XMLSize_t i = 0; i < e->size(); ++i)
          c.enumeration_.push_back(to_utf8(e->elementAt(i)));
      std::sort(c.enumeration_.begin(), c.enumeration_.end());
    }
    im.values.push_back(std::move(c));
    return {&im.values.back(), {}};
  }
};

std::pair<const value_check*, std::string> compiled_checks::impl::simple(
    XSSimpleTypeDefinition* st) {
  auto it = value_of.find(st);
  if (it == value_of.end()) it = value_of.emplace(st, checks_builder::simple(*this, st)).first;
  return it->second;
}

compiled_checks::compiled_checks(std::unique_ptr<impl> im) : impl_(std::move(im)) {}
compiled_checks::~compiled_checks() = default;

const content_automaton* compiled_checks::content(int type, std::string* why) const {
  auto& im = *impl_;
  std::lock_guard lock(im.mu);
  if (type < 0 || static_cast<std::size_t>(type) >= im.types.size()) {
    if (why) *why = "no such type";
    return nullptr;
  }
  auto it = im.content_of.find(type);
  if (it == im.content_of.end()) {
    std::pair<const content_automaton*, std::string> r{nullptr, {}};
    auto* t = im.types[type];
    if (t->getTypeCategory() != XSTypeDefinition::COMPLEX_TYPE) {
      r.second = "a simple type has no element content";
    } else {
      auto* c = static_cast<XSComplexTypeDefinition*>(t);
      automaton_builder b{im.model, im.element_ids, {}, {}, {}};
      if (auto a = b.build(c->getParticle())) {
        im.automata.push_back(std::move(*a));
        r.first = &im.automata.back();
      } else {
        r.second = fmt::format("type {} has {}", name_of(t), b.why);
      }
    }
    it = im.content_of.emplace(type, std::move(r)).first;
  }
  if (!it->second.first && why) *why = it->second.second;
  return it->second.first;
}

const value_check* compiled_checks::value(int type, std::string* why) const {
  auto& im = *impl_;
  std::lock_guard lock(im.mu);
  if (type < 0 || static_cast<std::size_t>(type) >= im.types.size()) {
    if (why) *why = "no such type";
    return nullptr;
  }
  auto* t = im.types[type];
  XSSimpleTypeDefinition* st = nullptr;
  if (t->getTypeCategory() == XSTypeDefinition::SIMPLE_TYPE)
    st = static_cast<XSSimpleTypeDefinition*>(t);
  else if (auto* c = static_cast<XSComplexTypeDefinition*>(t);
           c->getContentType() == XSComplexTypeDefinition::CONTENTTYPE_SIMPLE)
    st = c->getSimpleType();
  if (!st) {
    if (why) *why = fmt::format("type {} has no simple content", name_of(t));
    return nullptr;
  }
  auto r = im.simple(st);
  if (!r.first && why) *why = r.second;
  return r.first;
}

const value_check* compiled_checks::attribute(int type, const qname& name, std::string* why) const {
  auto& im = *impl_;
  std::lock_guard lock(im.mu);
  XSAttributeDeclaration* decl = nullptr;
  if (type >= 0 && static_cast<std::size_t>(type) < im.types.size() &&
      im.types[type]->getTypeCategory() == XSTypeDefinition::COMPLEX_TYPE) {
    auto* c = static_cast<XSComplexTypeDefinition*>(im.types[type]);
    if (XSAttributeUseList* uses = c->getAttributeUses())
      for (XMLSize_t i = 0; i < uses->size() && !decl; ++i) {
        auto* d = uses->elementAt(i)->getAttrDeclaration();
        if (to_utf8(d->getName()) == name.local && to_utf8(d->getNamespace()) == name.ns) decl = d;
      }
  }
  if (!decl) {
    auto ns = detail::to_xml(name.ns);
    auto local = detail::to_xml(name.local);
    decl = im.xs->getAttributeDeclaration(reinterpret_cast<const XMLCh*>(local.c_str()),
                                          reinterpret_cast<const XMLCh*>(ns.c_str()));
  }
  if (!decl || !decl->getTypeDefinition()) {
    if (why) *why = fmt::format("attribute {} has no declaration", name.local);
    return nullptr;
  }
  auto r = im.simple(decl->getTypeDefinition());
  if (!r.first && why) *why = r.second;
  return r.first;
}

namespace detail {

std::unique_ptr<compiled_checks> make_checks(
    const schema_model& model, XSModel* xs, std::vector<XSTypeDefinition*> types,
    std::unordered_map<const XSElementDeclaration*, int> element_ids) {
  return std::make_unique<compiled_checks>(
      std::make_unique<compiled_checks::impl>(model, xs, std::move(types), std::move(element_ids)));
}

}  // namespace detail
}  // namespace niem::validation
