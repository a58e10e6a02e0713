#pragma once
// Private to the validation module: how a schema set hands its Xerces components to the compiled
// checks it owns.
#include <memory>
#include <unordered_map>
#include <vector>

#include <xercesc/framework/psvi/XSElementDeclaration.hpp>
#include <xercesc/framework/psvi/XSModel.hpp>
#include <xercesc/framework/psvi/XSTypeDefinition.hpp>

#include "validation/compiled_checks.h"

namespace niem::validation::detail {

// `types[i]` is the model's type i; `element_ids` maps every declaration the model lists to its
// index. All belong to `xs`, which the locked grammar pool owns.
std::unique_ptr<compiled_checks> make_checks(
    const schema_model& model, xercesc::XSModel* xs, std::vector<xercesc::XSTypeDefinition*> types,
    std::unordered_map<const xercesc::XSElementDeclaration*, int> element_ids);

}  // namespace niem::validation::detail
