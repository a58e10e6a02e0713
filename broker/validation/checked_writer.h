#pragma once
// The writer of the documents the broker composes itself rather than maps (the medication
// authorization exception, the aggregate report): element by element, indented, each element
// checked as it is written by the schema set's compiled checks (compiled_checks.h), as the mapping
// writer checks a mapped document. The checks never change what is written.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "validation/compiled_checks.h"
#include "validation/validation.h"

namespace niem::validation {

class checked_writer {
 public:
  // `prefixes`: (prefix, namespace), declared on the root in this order. Without a schema set the
  // document is written unchecked (tests of the document's content alone).
  checked_writer(const schema_set* schemas,
                 std::vector<std::pair<std::string, std::string>> prefixes);

  // An element with children; the first is the document's root.
  void open(std::string_view tag);
  // An element holding `value`; nothing for an empty value.
  void leaf(std::string_view tag, std::string_view value);
  void close();

  // The document so far (complete once every element is closed).
  const std::string& document() const { return out_; }
  std::string take() { return std::move(out_); }
  // What the checks found wrong, each naming the element path (never a value).
  const std::vector<base::diagnostic>& problems() const { return problems_; }

 private:
  struct open_element {
    std::string tag;
    int type = -1;
    const content_automaton* content = nullptr;
    std::int32_t state = 0;
  };
  // The element `tag` inside the innermost open one (or the root): its index, or -1 (a problem).
  int admit(std::string_view tag);
  void problem(std::string_view tag, std::string message);
  void indent() { out_.append(open_.size() * 2, ' '); }

  const schema_set* schemas_;
  std::vector<std::pair<std::string, std::string>> prefixes_;
  std::string out_;
  std::vector<open_element> open_;
  std::vector<base::diagnostic> problems_;
  value_scratch scratch_;
};

}  // namespace niem::validation
