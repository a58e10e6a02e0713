#include "validation/validation.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <xercesc/framework/LocalFileInputSource.hpp>
#include <xercesc/framework/MemBufInputSource.hpp>
#include <xercesc/framework/XMLGrammarPoolImpl.hpp>
#include <xercesc/framework/psvi/XSAttributeDeclaration.hpp>
#include <xercesc/framework/psvi/XSAttributeUse.hpp>
#include <xercesc/framework/psvi/XSComplexTypeDefinition.hpp>
#include <xercesc/framework/psvi/XSElementDeclaration.hpp>
#include <xercesc/framework/psvi/XSModel.hpp>
#include <xercesc/framework/psvi/XSModelGroup.hpp>
#include <xercesc/framework/psvi/XSNamedMap.hpp>
#include <xercesc/framework/psvi/XSNamespaceItem.hpp>
#include <xercesc/framework/psvi/XSParticle.hpp>
#include <xercesc/framework/psvi/XSSimpleTypeDefinition.hpp>
#include <xercesc/framework/psvi/XSTypeDefinition.hpp>
#include <xercesc/framework/psvi/XSWildcard.hpp>
#include <xercesc/sax/Locator.hpp>
#include <xercesc/sax/SAXParseException.hpp>
#include <xercesc/util/XMLException.hpp>
#include <xercesc/util/XMLUni.hpp>
#include <xercesc/validators/common/Grammar.hpp>

#include "validation/compiled_checks_build.h"
#include "validation/hardened_parser.h"
#include "validation/shared_grammar.h"
#include "validation/xerces_util.h"

namespace fs = std::filesystem;

namespace niem::validation {

using namespace xercesc;
using base::diagnostic;
using base::errc;
using detail::to_utf8;

// ------------------------------------------------------------------------------------------------
// schema_model

namespace {
std::string key(const qname& q) {
  return q.ns + '\x1f' + q.local;
}
}  // namespace

std::optional<int> schema_model::element(const qname& name) const {
  auto it = element_index_.find(key(name));
  if (it == element_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<int> schema_model::type(const qname& name) const {
  auto it = type_index_.find(key(name));
  if (it == type_index_.end()) return std::nullopt;
  return it->second;
}

const attribute_info* schema_model::attribute(const qname& name) const {
  auto it = attribute_index_.find(key(name));
  return it == attribute_index_.end() ? nullptr : &it->second;
}

const attribute_info* type_info::attribute(const qname& attr) const {
  for (const auto& a : attributes)
    if (a.name == attr) return &a;
  return nullptr;
}

bool attribute_wildcard::admits(const std::string& ns) const {
  const bool listed = std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
  switch (k) {
    case kind::none:
      return false;
    case kind::any:
      return true;
    case kind::not_in:
      return !listed && !ns.empty();
    case kind::in:
      return listed;
  }
  return false;
}

std::optional<child_slot> schema_model::child(int parent_type, const qname& child) const {
  if (parent_type < 0) return std::nullopt;
  for (const auto& p : types_[parent_type].children) {
    const auto& e = elements_[p.element];
    if (e.name == child) return child_slot{p.element, &p};
    for (int s : e.substitutes)
      if (elements_[s].name == child) return child_slot{s, &p};
  }
  return std::nullopt;
}

// ------------------------------------------------------------------------------------------------
// schema_set

struct schema_set::impl : public XMLEntityResolver, public ErrorHandler {
  std::unique_ptr<XMLGrammarPoolImpl> pool;
  SecurityManager security;
  std::map<std::string, std::string> by_namespace;  // catalog and search-dir index
  std::vector<diagnostic> diags;
  std::vector<diagnostic> unresolved;  // imports and includes nothing resolved
  std::vector<diagnostic> warnings;    // resolved, but not as written

  impl() : pool(new XMLGrammarPoolImpl(XMLPlatformUtils::fgMemoryManager)) {
    security.setEntityExpansionLimit(100);
  }

  // Imports are resolved by namespace first (catalog, then the search index), then by their
  // schemaLocation as a local file. Nothing is ever fetched from the network. A schemaLocation
  // written with backslashes (a Windows path, as some published IEPDs have) is read with
  // slashes, with a warning. An import nothing resolves is remembered with every place tried.
  InputSource* resolveEntity(XMLResourceIdentifier* id) override {
    const std::string ns = to_utf8(id->getNameSpace());
    std::string sys = to_utf8(id->getSystemId());
    std::string base = to_utf8(id->getBaseURI());
    if (base.rfind("file://", 0) == 0) base = base.substr(7);
    auto kind = id->getResourceIdentifierType();
    if (kind == XMLResourceIdentifier::SchemaImport && !ns.empty()) {
      auto it = by_namespace.find(ns);
      if (it != by_namespace.end()) return file_source(it->second);
    }
    std::vector<std::string> tried;
    if (!ns.empty())
      tried.push_back(fmt::format("the catalog and the schema folders (no schema for '{}')", ns));
    const bool remote = sys.find("://") != std::string::npos && sys.rfind("file://", 0) != 0;
    if (remote) tried.push_back(fmt::format("'{}' (remote: never fetched)", sys));
    if (!remote && !sys.empty()) {
      std::string local = sys;
      std::replace(local.begin(), local.end(), '\\', '/');
      fs::path p = local.rfind("file://", 0) == 0 ? fs::path(local.substr(7)) : fs::path(local);
      if (p.is_relative() && !base.empty()) p = fs::path(base).parent_path() / p;
      p = p.lexically_normal();
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) {
        if (local != sys)
          warnings.push_back(
              at(id, fmt::format("schemaLocation '{}' has backslashes: read as '{}'", sys, local)));
        return file_source(p.string());
      }
      tried.push_back(fmt::format("schemaLocation '{}' as {} (no such file)", sys, p.string()));
    }
    if (!ns.empty()) {
      auto it = by_namespace.find(ns);
      if (it != by_namespace.end()) return file_source(it->second);
    }
    std::string what = kind == XMLResourceIdentifier::SchemaImport
                           ? fmt::format("the import of '{}' resolves to no schema", ns)
                           : fmt::format("the schema '{}' is not found", sys);
    std::string places;
    for (const auto& t : tried) {
      if (!places.empty()) places += "; ";
      places += t;
    }
    unresolved.push_back(
        at(id, fmt::format("{}: tried {}", what, places.empty() ? "nothing" : places)));
    // An empty schema for that namespace, so that loading goes on and reports the components
    // that are really missing instead of reaching out for them.
    static const char* k_empty =
        "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' targetNamespace='{}'/>";
    std::string doc = ns.empty() ? "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>"
                                 : fmt::format(fmt::runtime(k_empty), ns);
    auto* buf = new XMLByte[doc.size()];
    std::copy(doc.begin(), doc.end(), buf);
    return new MemBufInputSource(buf, doc.size(), sys.c_str(), true);
  }

  // A diagnostic at the import (or include) that asked for `id`.
  static diagnostic at(XMLResourceIdentifier* id, std::string message) {
    diagnostic d;
    d.code = errc::schema_load_failed;
    d.message = std::move(message);
    const Locator* loc = id->getLocator();
    std::string file = loc ? to_utf8(loc->getSystemId()) : to_utf8(id->getBaseURI());
    if (file.rfind("file://", 0) == 0) file = file.substr(7);
    if (loc) {
      d.line = static_cast<std::uint32_t>(loc->getLineNumber());
      d.column = static_cast<std::uint32_t>(loc->getColumnNumber());
    }
    d.where = fmt::format("{}:{}:{}", file, d.line, d.column);
    return d;
  }

  static InputSource* file_source(const std::string& path) {
    auto x = detail::to_xml(path);
    return new LocalFileInputSource(reinterpret_cast<const XMLCh*>(x.c_str()));
  }

  void warning(const SAXParseException&) override {}
  void error(const SAXParseException& e) override { record(e); }
  void fatalError(const SAXParseException& e) override { record(e); }
  void resetErrors() override {}
  void record(const SAXParseException& e) {
    diagnostic d;
    d.code = errc::schema_load_failed;
    d.message = to_utf8(e.getMessage());
    d.line = static_cast<std::uint32_t>(e.getLineNumber());
    d.column = static_cast<std::uint32_t>(e.getColumnNumber());
    std::string sys = to_utf8(e.getSystemId());
    if (sys.rfind("file://", 0) == 0) sys = sys.substr(7);
    d.where = fmt::format("{}:{}:{}", sys, d.line, d.column);
    diags.push_back(std::move(d));
  }
};

schema_set::schema_set() : impl_(std::make_unique<impl>()) {}
schema_set::~schema_set() = default;

namespace {

// Reads the targetNamespace of a schema file from its first few kilobytes: enough for an index
// used only to resolve imports whose schemaLocation does not exist.
std::string sniff_target_namespace(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string head(8192, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  auto pos = head.find("targetNamespace");
  if (pos == std::string::npos) return {};
  pos = head.find_first_of("\"'", pos);
  if (pos == std::string::npos) return {};
  auto end = head.find(head[pos], pos + 1);
  if (end == std::string::npos) return {};
  return head.substr(pos + 1, end - pos - 1);
}

// OASIS XML catalog: <uri name="namespace" uri="file"/> and <nextCatalog catalog="file"/>.
struct catalog_reader : xml_event_handler {
  fs::path dir;
  std::map<std::string, std::string>* out;
  std::vector<std::string> next;
  void start_prefix(const std::string&, const std::string&) override {}
  void end_prefix(const std::string&) override {}
  void end_element(const qname&) override {}
  void text(std::string_view) override {}
  void start_element(const qname& n, const std::vector<xml_attribute>& attrs, std::uint32_t,
                     std::uint32_t) override {
    auto get = [&](const char* a) {
      for (const auto& x : attrs)
        if (x.name.local == a) return x.value;
      return std::string();
    };
    if (n.local == "uri" && !get("name").empty())
      out->emplace(get("name"), (dir / get("uri")).lexically_normal().string());
    else if (n.local == "nextCatalog" && !get("catalog").empty())
      next.push_back((dir / get("catalog")).lexically_normal().string());
  }
};

// Published IEPD catalogs name the OASIS catalog DTD. A catalog is the author's file, not a
// message, so a DOCTYPE that only names an external DTD (no internal subset, so no entities) is
// blanked, keeping lines and columns, instead of refused; the DTD is never read. One with an
// internal subset is still refused by the reader.
void blank_external_doctype(std::string& xml) {
  auto start = xml.find("<!DOCTYPE");
  if (start == std::string::npos) return;
  auto end = xml.find('>', start);
  if (end == std::string::npos || xml.find('[', start) < end) return;
  for (auto i = start; i <= end; ++i)
    if (xml[i] != '\n' && xml[i] != '\r') xml[i] = ' ';
}

void load_catalog(const std::string& file, std::map<std::string, std::string>& out,
                  std::vector<diagnostic>& diags, int depth = 0) {
  if (depth > 8) return;
  auto bytes = read_file(file);
  if (!bytes) {
    diags.insert(diags.end(), bytes.errors().begin(), bytes.errors().end());
    return;
  }
  blank_external_doctype(*bytes);
  catalog_reader r;
  r.dir = fs::path(file).parent_path();
  r.out = &out;
  auto errs = read_xml(*bytes, file, r);
  diags.insert(diags.end(), errs.begin(), errs.end());
  // A chained catalog that is not there is skipped, as libxml2 and Xerces' resolver do (published
  // IEPDs point at ones they did not ship).
  for (const auto& n : r.next)
    if (std::error_code ec; fs::is_regular_file(n, ec)) load_catalog(n, out, diags, depth + 1);
}

// Builds the plain model from Xerces' PSVI model.
class model_builder {
 public:
  model_builder() = default;

  std::vector<element_info>& elements() { return els_; }

  void build(XSModel* xs, std::unordered_map<std::string, int>& el_index,
             std::unordered_map<std::string, int>& type_index) {
    XSNamedMap<XSObject>* decls = xs->getComponents(XSConstants::ELEMENT_DECLARATION);
    for (XMLSize_t i = 0; decls && i < decls->getLength(); ++i) {
      auto* d = static_cast<XSElementDeclaration*>(decls->item(i));
      el_index[key({to_utf8(d->getNamespace()), to_utf8(d->getName())})] = element(d);
    }
    // Substitution groups: every concrete member is listed under each of its heads.
    for (std::size_t i = 0; i < els_.size(); ++i) {
      const XSElementDeclaration* d = decl_of_[i];
      if (d->getScope() != XSConstants::SCOPE_GLOBAL || d->getAbstract()) continue;
      for (const XSElementDeclaration* h = d->getSubstitutionGroupAffiliation(); h;
           h = h->getSubstitutionGroupAffiliation())
        els_[element(h)].substitutes.push_back(static_cast<int>(i));
    }
    XSNamedMap<XSObject>* adecls = xs->getComponents(XSConstants::ATTRIBUTE_DECLARATION);
    for (XMLSize_t i = 0; adecls && i < adecls->getLength(); ++i) {
      auto a = attribute(static_cast<XSAttributeDeclaration*>(adecls->item(i)), nullptr);
      attributes_.emplace(key(a.name), std::move(a));
    }
    XSNamedMap<XSObject>* tdefs = xs->getComponents(XSConstants::TYPE_DEFINITION);
    for (XMLSize_t i = 0; tdefs && i < tdefs->getLength(); ++i)
      type(static_cast<XSTypeDefinition*>(tdefs->item(i)));
    for (std::size_t i = 0; i < types_.size(); ++i)
      if (!types_[i].name.local.empty()) type_index[key(types_[i].name)] = static_cast<int>(i);
  }

  std::vector<type_info>& types() { return types_; }
  // The Xerces components behind the model's indexes, for the compiled checks.
  std::vector<XSTypeDefinition*> type_definitions() const {
    std::vector<XSTypeDefinition*> out(type_ids_.size());
    for (const auto& [t, i] : type_ids_) out[i] = const_cast<XSTypeDefinition*>(t);
    return out;
  }
  const std::unordered_map<const XSElementDeclaration*, int>& element_ids() const {
    return el_ids_;
  }
  std::unordered_map<std::string, attribute_info>& attributes() { return attributes_; }

  // Namespaces declaring global `id` (xs:ID) and `ref` (xs:IDREF): NIEM's structures.
  std::vector<std::string> structures_namespaces() const {
    std::set<std::string> out;
    for (const auto& [k, a] : attributes_) {
      if (a.name.local != "id" || a.xsd_type != "ID") continue;
      auto ref = attributes_.find(key({a.name.ns, "ref"}));
      if (ref != attributes_.end() && ref->second.xsd_type == "IDREF") out.insert(a.name.ns);
    }
    return {out.begin(), out.end()};
  }

 private:
  // The first type of the derivation chain that XML Schema itself defines (ID, anyURI, ...).
  static std::string xsd_type_of(XSTypeDefinition* t) {
    static const std::string xsd = "http://www.w3.org/2001/XMLSchema";
    for (int guard = 0; t && guard < 64; ++guard) {
      if (!t->getAnonymous() && to_utf8(t->getNamespace()) == xsd) return to_utf8(t->getName());
      auto* b = t->getBaseType();
      if (b == t) break;
      t = b;
    }
    return {};
  }

  static attribute_info attribute(XSAttributeDeclaration* d, XSAttributeUse* use) {
    attribute_info a;
    a.name = {to_utf8(d->getNamespace()), to_utf8(d->getName())};
    a.required = use && use->getRequired();
    a.xsd_type = xsd_type_of(d->getTypeDefinition());
    a.enumeration = enumeration_of(d->getTypeDefinition());
    if (use && use->getConstraintType() == XSConstants::VALUE_CONSTRAINT_FIXED)
      a.fixed = to_utf8(use->getConstraintValue());
    else if (d->getConstraintType() == XSConstants::VALUE_CONSTRAINT_FIXED)
      a.fixed = to_utf8(d->getConstraintValue());
    return a;
  }

  static attribute_wildcard wildcard_of(XSWildcard* w) {
    attribute_wildcard out;
    if (!w) return out;
    switch (w->getConstraintType()) {
      case XSWildcard::NSCONSTRAINT_ANY:
        out.k = attribute_wildcard::kind::any;
        break;
      case XSWildcard::NSCONSTRAINT_NOT:
        out.k = attribute_wildcard::kind::not_in;
        break;
      default:
        out.k = attribute_wildcard::kind::in;
        break;
    }
    if (StringList* l = w->getNsConstraintList())
      for (XMLSize_t i = 0; i < l->size(); ++i) {
        const XMLCh* ns = l->elementAt(i);
        out.namespaces.push_back(ns ? to_utf8(ns) : std::string());
      }
    out.strict = w->getProcessContents() == XSWildcard::PC_STRICT;
    return out;
  }

  int element(const XSElementDeclaration* d) {
    auto it = el_ids_.find(d);
    if (it != el_ids_.end()) return it->second;
    int id = static_cast<int>(els_.size());
    el_ids_[d] = id;
    els_.emplace_back();
    decl_of_.push_back(d);
    element_info info;
    info.name = {to_utf8(d->getNamespace()), to_utf8(d->getName())};
    info.abstract = d->getAbstract();
    info.nillable = d->getNillable();
    info.value_constraint = d->getConstraintType() != XSConstants::VALUE_CONSTRAINT_NONE;
    if (auto* h = d->getSubstitutionGroupAffiliation())
      info.substitution_head = qname{to_utf8(h->getNamespace()), to_utf8(h->getName())};
    els_[id] = std::move(info);
    // NIEM abstract elements are declared without a type (the PSVI reports anyType): no type.
    if (auto* t = d->getTypeDefinition(); t && !d->getAbstract()) els_[id].type = type(t);
    return id;
  }

  static std::string builtin_of(XSSimpleTypeDefinition* s) {
    if (!s) return {};
    if (auto* p = s->getPrimitiveType()) return to_utf8(p->getName());
    return to_utf8(s->getName());
  }

  static std::vector<std::string> enumeration_of(XSSimpleTypeDefinition* s) {
    std::vector<std::string> out;
    if (!s) return out;
    if (StringList* e = s->getLexicalEnumeration())
      for (XMLSize_t i = 0; i < e->size(); ++i) out.push_back(to_utf8(e->elementAt(i)));
    return out;
  }

  int type(XSTypeDefinition* t) {
    auto it = type_ids_.find(t);
    if (it != type_ids_.end()) return it->second;
    int id = static_cast<int>(types_.size());
    type_ids_[t] = id;
    types_.emplace_back();
    type_info info;
    if (!t->getAnonymous()) info.name = {to_utf8(t->getNamespace()), to_utf8(t->getName())};
    if (auto* b = t->getBaseType(); b && b != t && !b->getAnonymous())
      info.base = qname{to_utf8(b->getNamespace()), to_utf8(b->getName())};
    if (t->getTypeCategory() == XSTypeDefinition::SIMPLE_TYPE) {
      auto* s = static_cast<XSSimpleTypeDefinition*>(t);
      info.simple_content = true;
      info.builtin = builtin_of(s);
      info.enumeration = enumeration_of(s);
    } else {
      auto* c = static_cast<XSComplexTypeDefinition*>(t);
      info.complex = true;
      switch (c->getContentType()) {
        case XSComplexTypeDefinition::CONTENTTYPE_SIMPLE:
          info.simple_content = true;
          info.builtin = builtin_of(c->getSimpleType());
          info.enumeration = enumeration_of(c->getSimpleType());
          break;
        case XSComplexTypeDefinition::CONTENTTYPE_ELEMENT:
        case XSComplexTypeDefinition::CONTENTTYPE_MIXED:
          info.element_only = true;
          break;
        default:
          break;
      }
      if (XSAttributeUseList* uses = c->getAttributeUses())
        for (XMLSize_t i = 0; i < uses->size(); ++i)
          info.attributes.push_back(
              attribute(uses->elementAt(i)->getAttrDeclaration(), uses->elementAt(i)));
      info.any_attribute = wildcard_of(c->getAttributeWildcard());
      types_[id] = info;
      std::vector<particle> flat;
      if (auto* p = c->getParticle()) flatten(p, 1, 1, false, flat);
      for (std::size_t i = 0; i < flat.size(); ++i) flat[i].order = static_cast<int>(i);
      info.children = std::move(flat);
    }
    types_[id] = std::move(info);
    return id;
  }

  void flatten(XSParticle* p, std::uint32_t min_mul, std::uint32_t max_mul, bool in_choice,
               std::vector<particle>& out) {
    std::uint32_t min = static_cast<std::uint32_t>(p->getMinOccurs()) * min_mul;
    std::uint32_t max = p->getMaxOccursUnbounded() || max_mul == k_unbounded
                            ? k_unbounded
                            : static_cast<std::uint32_t>(p->getMaxOccurs()) * max_mul;
    if (in_choice) min = 0;
    switch (p->getTermType()) {
      case XSParticle::TERM_ELEMENT: {
        particle q;
        q.element = element(p->getElementTerm());
        q.min = min;
        q.max = max;
        out.push_back(q);
        break;
      }
      case XSParticle::TERM_MODELGROUP: {
        XSModelGroup* g = p->getModelGroupTerm();
        bool choice = g->getCompositor() == XSModelGroup::COMPOSITOR_CHOICE;
        XSParticleList* ps = g->getParticles();
        for (XMLSize_t i = 0; ps && i < ps->size(); ++i)
          flatten(ps->elementAt(i), min, max, in_choice || choice, out);
        break;
      }
      default:
        break;  // wildcards admit nothing a mapping can name
    }
  }

  std::vector<element_info> els_;
  std::vector<const XSElementDeclaration*> decl_of_;
  std::vector<type_info> types_;
  std::unordered_map<const XSElementDeclaration*, int> el_ids_;
  std::unordered_map<const XSTypeDefinition*, int> type_ids_;
  std::unordered_map<std::string, attribute_info> attributes_;
};

}  // namespace

base::result<std::shared_ptr<schema_set>> schema_set::load(const schema_source& src) {
  detail::ensure_xerces();
  std::lock_guard<std::mutex> serialized(detail::load_mutex());
  std::shared_ptr<schema_set> set(new schema_set());
  impl& im = *set->impl_;
  std::vector<diagnostic> diags;

  if (!src.catalog.empty()) load_catalog(src.catalog, im.by_namespace, diags);
  // A folder is an IEPD's: a few thousand files at most. One that holds far more (a folder named
  // by mistake: "/", a home directory) is refused rather than walked for minutes.
  constexpr std::size_t k_max_folder_entries = 50'000;
  for (const auto& dir : src.search_dirs) {
    std::error_code ec;
    std::size_t entries = 0;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (++entries > k_max_folder_entries) {
        diags.push_back({errc::schema_load_failed,
                         fmt::format("the schema folder holds more than {} entries: name the "
                                     "IEPD's own folder",
                                     k_max_folder_entries),
                         dir, "", 0, 0});
        break;
      }
      if (it->is_regular_file() && it->path().extension() == ".xsd") {
        auto ns = sniff_target_namespace(it->path());
        if (!ns.empty()) im.by_namespace.emplace(ns, it->path().lexically_normal().string());
      }
    }
  }
  if (src.files.empty())
    diags.push_back({errc::schema_load_failed, "no schema files given", "", "", 0, 0});

  auto reader = detail::make_reader(im.pool.get(), &im.security);
  reader->setFeature(XMLUni::fgXercesHandleMultipleImports, true);
  reader->setFeature(XMLUni::fgXercesSchemaFullChecking, true);
  reader->setFeature(XMLUni::fgXercesDisableDefaultEntityResolution, false);
  reader->setErrorHandler(&im);
  reader->setXMLEntityResolver(&im);
  for (const auto& f : src.files) {
    std::error_code ec;
    if (!fs::is_regular_file(f, ec)) {
      diags.push_back({errc::io_error, fmt::format("schema file not found: {}", f), f, "", 0, 0});
      continue;
    }
    try {
      auto x = detail::to_xml(fs::absolute(f).lexically_normal().string());
      Grammar* g = reader->loadGrammar(reinterpret_cast<const XMLCh*>(x.c_str()),
                                       Grammar::SchemaGrammarType, true);
      if (!g && im.diags.empty())
        diags.push_back({errc::schema_load_failed, "schema could not be loaded", f, "", 0, 0});
    } catch (const SAXParseException& e) {
      im.record(e);
    } catch (const XMLException& e) {
      diags.push_back({errc::schema_load_failed, to_utf8(e.getMessage()), f, "", 0, 0});
    }
  }
  // An import nothing resolved comes first: the missing components reported after it are
  // most often its consequence. When everything loaded without it, it is a warning.
  if (!diags.empty() || !im.diags.empty())
    diags.insert(diags.begin(), im.unresolved.begin(), im.unresolved.end());
  diags.insert(diags.end(), im.diags.begin(), im.diags.end());
  if (!diags.empty()) return diags;
  set->warnings_ = std::move(im.warnings);
  set->warnings_.insert(set->warnings_.end(), im.unresolved.begin(), im.unresolved.end());

  im.pool->lockPool();
  bool changed = false;
  XSModel* xs = im.pool->getXSModel(changed);
  if (!xs) return diagnostic{errc::schema_load_failed, "no schema model", "", "", 0, 0};
  // Before any validator can see the pool: what its validators would build on first use.
  set->prepared_regexes_ = detail::prepare_for_threads(*im.pool);
  model_builder b;
  b.build(xs, set->model_.element_index_, set->model_.type_index_);
  set->model_.elements_ = std::move(b.elements());
  set->model_.types_ = std::move(b.types());
  set->model_.structures_ = b.structures_namespaces();
  set->model_.attribute_index_ = std::move(b.attributes());
  set->checks_ = detail::make_checks(set->model_, xs, b.type_definitions(), b.element_ids());
  std::set<std::string> nss;
  for (const auto& e : set->model_.elements_) nss.insert(e.name.ns);
  set->namespaces_.assign(nss.begin(), nss.end());
  return set;
}

// ------------------------------------------------------------------------------------------------
// validator

struct validator::impl {
  std::shared_ptr<const schema_set> schemas;
  limits lim;
  SecurityManager security;
  detail::guard_handler handler;
  std::unique_ptr<SAX2XMLReaderImpl> reader;

  impl(std::shared_ptr<const schema_set> s, limits l)
      : schemas(std::move(s)), lim(l), handler(l, "document") {
    security.setEntityExpansionLimit(100);
    reader = detail::make_reader(schemas->internals().pool.get(), &security);
    handler.set_allowed_namespaces(&schemas->namespaces());
  }
};

validator::validator(std::shared_ptr<const schema_set> schemas, limits lim)
    : impl_(std::make_unique<impl>(std::move(schemas), lim)) {}
validator::~validator() = default;

validation_report validator::validate(std::string_view bytes, std::string_view doc_name) {
  validation_report rep;
  auto& h = impl_->handler;
  h.reset(std::string(doc_name));
  if (bytes.size() > impl_->lim.max_bytes) {
    rep.diagnostics.push_back(
        {errc::xml_too_large, fmt::format("{} bytes, limit {}", bytes.size(), impl_->lim.max_bytes),
         std::string(doc_name), "", 0, 0});
    return rep;
  }
  detail::run_parse(*impl_->reader, h, bytes, std::string(doc_name));
  rep.elements = h.element_count();
  rep.valid = !h.failed() && h.element_count() > 0;
  rep.diagnostics = std::move(h.diagnostics());
  if (!rep.valid && rep.diagnostics.empty())
    rep.diagnostics.push_back(
        {errc::xml_not_well_formed, "empty document", std::string(doc_name), "", 0, 0});
  return rep;
}

// ------------------------------------------------------------------------------------------------
// read_xml / read_file

std::vector<diagnostic> read_xml(std::string_view bytes, const std::string& doc_name,
                                 xml_event_handler& handler, const schema_set* schemas,
                                 limits lim) {
  if (bytes.size() > lim.max_bytes)
    return {{errc::xml_too_large, fmt::format("{} bytes, limit {}", bytes.size(), lim.max_bytes),
             doc_name, "", 0, 0}};
  // Configuration files are trusted input: US-ASCII and ISO-8859-1 are read as UTF-8.
  std::optional<detail::utf8_text> converted = detail::configuration_as_utf8(bytes);
  if (converted && !converted->error.empty())
    return {{errc::xml_encoding_not_utf8, converted->error, doc_name, "", converted->line, 1}};
  if (converted) bytes = converted->text;
  SecurityManager security;
  security.setEntityExpansionLimit(100);
  auto reader = detail::make_reader(schemas ? schemas->internals().pool.get() : nullptr, &security);
  detail::guard_handler h(lim, doc_name);
  h.set_forward(&handler);
  if (schemas) h.set_allowed_namespaces(&schemas->namespaces());
  detail::run_parse(*reader, h, bytes, doc_name);
  return std::move(h.diagnostics());
}

base::result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec)
    return diagnostic{errc::io_error, fmt::format("cannot read: {}", ec.message()), path, "", 0, 0};
  if (size > max_bytes)
    return diagnostic{
        errc::io_error, fmt::format("file is {} bytes, limit {}", size, max_bytes), path, "", 0, 0};
  std::ifstream in(path, std::ios::binary);
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (!in) return diagnostic{errc::io_error, "read failed", path, "", 0, 0};
  return data;
}

}  // namespace niem::validation
