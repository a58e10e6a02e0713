// The streaming filter and de-identification of every shipped agreement, over any document. Input:
// a document; every agreement's terms for the exchange whose root it has are applied. Checked
// beyond "no crash": the one-pass filter of several recipients equals each recipient's own, and a
// document valid for its schema stays valid after every filter (the agreements' promise, proven
// at load where it can be).
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "routing/agreement.h"
#include "routing/xml_stream.h"
#include "validation/validation.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static const auto& agreements = fuzz::project_agreements();
  static validation::validator val(lib->schemas());
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  routing::xml_stream xs(doc);
  auto k = xs.next();
  while (k == routing::xml_stream::kind::other || k == routing::xml_stream::kind::text)
    k = xs.next();
  if (k != routing::xml_stream::kind::start) return 0;
  // Aggregate agreements deliver reports, never the document: their terms are counts only.
  std::vector<const routing::exchange_terms*> terms;
  std::vector<std::string> labels;
  for (const auto& a : agreements)
    for (const auto& t : a->exchanges)
      if (a->level != routing::sharing_level::aggregate && t.root.ns == xs.name().ns &&
          t.root.local == xs.name().local) {
        terms.push_back(&t);
        labels.push_back(a->label());
      }
  if (terms.empty()) return 0;
  auto together = routing::apply_filters(terms, doc);
  if (together.size() != terms.size()) fuzz::defect("apply_filters lost a recipient");
  const bool valid_in = val.validate(doc, "fuzz").valid;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    auto alone = routing::apply_filter(*terms[i], doc);
    if (alone.ok != together[i].ok || alone.document != together[i].document ||
        alone.disclosed != together[i].disclosed)
      fuzz::defect("one pass over several filters differs from " + labels[i]);
    if (valid_in && alone.ok) {
      auto out = val.validate(alone.document, "filtered");
      if (!out.valid)
        fuzz::defect("a valid document filtered by " + labels[i] + " is invalid: " +
                     (out.diagnostics.empty() ? "" : out.diagnostics.front().message) + "\n" +
                     alone.document);
    }
  }
  return 0;
}
