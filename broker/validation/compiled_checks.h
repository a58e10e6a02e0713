#pragma once
// The compiled checker's tables: what an element's children and a value must be, built from the
// schema set's own Xerces grammar (so Xerces settles imports, derivation, substitution groups and
// facet inheritance) and read by the mapping writer as it writes, without parsing anything.
// Xerces' parse of the written bytes (`validator`) stays the oracle: docs/ARCHITECTURE.md,
// "Two validators".
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "validation/validation.h"

namespace niem::validation {

// A deterministic automaton over a complex type's child elements, by the schema model's element
// indexes (substitution groups expanded, bounded repeats unrolled). State 0 is the start.
class content_automaton {
 public:
  static constexpr std::int32_t k_reject = -1;
  // The state after `element` (k_reject when the content model does not admit it there).
  std::int32_t step(std::int32_t state, int element) const {
    auto lo = edges_.begin() + first_edge_[state];
    auto hi = edges_.begin() + first_edge_[state + 1];
    while (lo < hi) {  // a few edges per state: binary search over a contiguous slice
      auto mid = lo + (hi - lo) / 2;
      if (mid->first < element)
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo != edges_.begin() + first_edge_[state + 1] && lo->first == element ? lo->second
                                                                                 : k_reject;
  }
  bool accepting(std::int32_t state) const { return accepting_[state] != 0; }
  // The elements admitted at `state` (for messages, on failure only).
  std::vector<int> expected(std::int32_t state) const;
  std::size_t states() const { return accepting_.size(); }

 private:
  friend struct automaton_builder;
  std::vector<std::uint32_t> first_edge_;            // per state (and one past the last)
  std::vector<std::pair<int, std::int32_t>> edges_;  // (element, next state), sorted per state
  std::vector<std::uint8_t> accepting_;
};

// Buffers a thread reuses for value checks, so that a warm check allocates nothing.
struct value_scratch {
  std::string normalized;
  std::u16string utf16;
};

// The check of one simple type's values, as Xerces would judge the text of an element or
// attribute holding it.
class value_check {
 public:
  enum class kind {
    any,          // a string type without facets: every XML text is valid
    enumeration,  // a string type with only an enumeration: a set of allowed values
    datatype,     // anything else: Xerces' own datatype validator, after white space handling
  };
  // True when `value` (UTF-8, as written) is valid; otherwise false, with `why` (no value in it:
  // messages reach logs).
  bool check(std::string_view value, value_scratch& s, std::string* why) const;
  kind how() const { return kind_; }
  const std::string& type_name() const { return type_name_; }

 private:
  friend struct checks_builder;
  kind kind_ = kind::any;
  int white_space_ = 0;                   // 0 preserve, 1 replace, 2 collapse
  std::vector<std::string> enumeration_;  // sorted
  void* datatype_ = nullptr;              // xercesc::DatatypeValidator, owned by the grammar pool
  std::string type_name_;
};

// The compiled checks of one schema set, built on demand at mapping compile time (under a lock)
// and read without one afterwards. Null results carry `why` (a construct the checker does not
// compile; the mapping's documents then go to Xerces).
class compiled_checks {
 public:
  ~compiled_checks();
  // The content automaton of a complex type with element content.
  const content_automaton* content(int type, std::string* why) const;
  // The check of a type's value (a simple type, or a complex type's simple content).
  const value_check* value(int type, std::string* why) const;
  // The check of attribute `name`'s value on an element of type `type` (declared by the type,
  // else a global declaration, as a wildcard admits it).
  const value_check* attribute(int type, const qname& name, std::string* why) const;

  struct impl;
  explicit compiled_checks(std::unique_ptr<impl> im);

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace niem::validation
