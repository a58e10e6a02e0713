#pragma once
// Small text helpers shared by every module: UTF-8 checks, escaping, trimming, splitting.
#include <string>
#include <string_view>
#include <vector>

namespace niem::base {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);
// True when every character of `s` may appear in an XML 1.0 document (assumes valid UTF-8).
bool valid_xml_chars(std::string_view s);
// Appends `s` escaped for XML text or a double-quoted attribute value.
void append_xml_escaped(std::string& out, std::string_view s);
std::string json_escape(std::string_view s);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
// ASCII case mapping; other characters are kept as they are (names may hold accented letters,
// and case-mapping those correctly needs locale data the broker does not depend on).
std::string to_upper_ascii(std::string_view s);
std::string to_lower_ascii(std::string_view s);
// A distinguished name with the spaces around ',' and '=' removed: "CN = a, O = b" -> "CN=a,O=b".
std::string normalize_dn(std::string_view dn);

}  // namespace niem::base
