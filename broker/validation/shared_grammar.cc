#include "validation/shared_grammar.h"

#include <unordered_set>

#include <xercesc/framework/XMLAttDefList.hpp>
#include <xercesc/util/RefHashTableOf.hpp>
#include <xercesc/util/regx/RangeToken.hpp>
#include <xercesc/util/regx/RegularExpression.hpp>
#include <xercesc/util/regx/Token.hpp>
#include <xercesc/validators/common/Grammar.hpp>
#include <xercesc/validators/datatype/DatatypeValidatorFactory.hpp>
#include <xercesc/validators/datatype/ListDatatypeValidator.hpp>
#include <xercesc/validators/datatype/UnionDatatypeValidator.hpp>
#include <xercesc/validators/schema/ComplexTypeInfo.hpp>
#include <xercesc/validators/schema/SchemaAttDef.hpp>
#include <xercesc/validators/schema/SchemaElementDecl.hpp>
#include <xercesc/validators/schema/SchemaGrammar.hpp>

namespace niem::validation::detail {

using namespace xercesc;

namespace {

// A regular expression's token tree is protected; naming the member through a derived class gives
// a pointer to it that applies to any RegularExpression (no copy of Xerces' layout is assumed).
struct token_tree_access : RegularExpression {
  static Token* RegularExpression::*member() { return &token_tree_access::fTokenTree; }
};
// The same for a datatype's pattern (DatatypeValidator::getRegex is protected). Never instantiated.
struct regex_access : DatatypeValidator {
  static RegularExpression* (DatatypeValidator::*member())() const {
    return &regex_access::getRegex;
  }
};

class walker {
 public:
  std::size_t regexes() const { return regexes_; }

  void grammar(SchemaGrammar& g) {
    if (auto* dvs = g.getDatatypeRegistry()->getUserDefinedRegistry()) datatypes(*dvs);
    if (auto* types = g.getComplexTypeRegistry()) {
      RefHashTableOfEnumerator<ComplexTypeInfo> it(types, false);
      while (it.hasMoreElements()) complex_type(&it.nextElement());
    }
    if (auto* atts = g.getAttributeDeclRegistry()) {
      RefHashTableOfEnumerator<XMLAttDef> it(atts, false);
      while (it.hasMoreElements()) attribute(&it.nextElement());
    }
    auto els = g.getElemEnumerator();
    while (els.hasMoreElements()) {
      SchemaElementDecl& e = els.nextElement();
      e.getFullName();
      datatype(e.getDatatypeValidator());
      complex_type(e.getComplexTypeInfo());
    }
  }

  void datatypes(RefHashTableOf<DatatypeValidator>& table) {
    RefHashTableOfEnumerator<DatatypeValidator> it(&table, false);
    while (it.hasMoreElements()) datatype(&it.nextElement());
  }

 private:
  bool first_visit(const void* p) { return p && seen_.insert(p).second; }

  void datatype(DatatypeValidator* dv) {
    if (!first_visit(dv)) return;
    if (RegularExpression* re = (dv->*regex_access::member())()) regex(*re);
    datatype(dv->getBaseValidator());
    if (dv->getType() == DatatypeValidator::Union) {
      auto* members = static_cast<UnionDatatypeValidator*>(dv)->getMemberTypeValidators();
      for (XMLSize_t i = 0; members && i < members->size(); ++i) datatype(members->elementAt(i));
    } else if (dv->getType() == DatatypeValidator::List) {
      datatype(static_cast<ListDatatypeValidator*>(dv)->getItemTypeDTV());
    }
  }

  void regex(RegularExpression& re) {
    ++regexes_;
    token(re.*token_tree_access::member());
  }

  // Every character class a pattern matches against: RangeToken::match builds its map on first
  // use, and two threads doing so at once fail Xerces' assertion (or, without assertions, may
  // read a half-built map and refuse a valid value).
  void token(Token* t) {
    if (!first_visit(t)) return;
    const auto type = t->getTokenType();
    if (type == Token::T_RANGE || type == Token::T_NRANGE) static_cast<RangeToken*>(t)->createMap();
    for (XMLSize_t i = 0; i < t->size(); ++i) token(t->getChild(i));
  }

  void complex_type(ComplexTypeInfo* ct) {
    if (!first_visit(ct)) return;
    // Both are built on first use during validation, without a lock.
    ct->getContentModel();
    ct->getFormattedContentModel();
    datatype(ct->getDatatypeValidator());
    complex_type(ct->getBaseComplexTypeInfo());
    if (ct->hasAttDefs()) {
      XMLAttDefList& atts = ct->getAttDefList();
      for (XMLSize_t i = 0; i < atts.getAttDefCount(); ++i) attribute(&atts.getAttDef(i));
    }
  }

  void attribute(XMLAttDef* a) {
    if (!first_visit(a)) return;
    a->getFullName();
    datatype(static_cast<SchemaAttDef*>(a)->getDatatypeValidator());
  }

  std::unordered_set<const void*> seen_;
  std::size_t regexes_ = 0;
};

}  // namespace

std::mutex& load_mutex() {
  static std::mutex m;
  return m;
}

std::size_t prepare_for_threads(XMLGrammarPool& pool) {
  walker w;
  // The built-in types (xs:language has a pattern) are shared by every pool of the process.
  if (auto* builtin = DatatypeValidatorFactory::getBuiltInRegistry()) w.datatypes(*builtin);
  auto grammars = pool.getGrammarEnumerator();
  while (grammars.hasMoreElements()) {
    Grammar& g = grammars.nextElement();
    if (g.getGrammarType() == Grammar::SchemaGrammarType) w.grammar(static_cast<SchemaGrammar&>(g));
  }
  return w.regexes();
}

}  // namespace niem::validation::detail
