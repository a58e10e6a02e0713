#pragma once
// Private to the validation module: Xerces start-up and string conversion.
#include <string>
#include <string_view>

#include <xercesc/util/XMLString.hpp>

namespace niem::validation::detail {

void ensure_xerces();
std::string to_utf8(const XMLCh* s);
std::string to_utf8(const XMLCh* s, XMLSize_t len);
std::u16string to_xml(std::string_view utf8);

}  // namespace niem::validation::detail
