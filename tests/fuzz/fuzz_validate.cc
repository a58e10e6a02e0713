// The hardened Xerces validation from bytes (what `niem-map validate` and the pipeline run): any
// bytes against the exchange schemas. Checked beyond "no crash": a refusal names a code and a
// position, and the verdict does not depend on an earlier document (the validator is reused).
#include <cstdint>

#include "fuzz_support.h"
#include "validation/validation.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto lib = fuzz::project_mappings();
  static validation::validator reused(lib->schemas());
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto r = reused.validate(doc, "fuzz");
  if (!r.valid && r.diagnostics.empty()) fuzz::defect("an invalid document without a diagnostic");
  for (const auto& d : r.diagnostics)
    if (d.code == base::errc::ok) fuzz::defect("a diagnostic without a code: " + d.message);
  validation::validator fresh(lib->schemas());
  if (fresh.validate(doc, "fuzz").valid != r.valid)
    fuzz::defect("a reused validator and a fresh one disagree");
  return 0;
}
