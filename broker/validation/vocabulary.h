#pragma once
// The NIEM vocabulary of the broker's own exchanges, named once: the namespaces the routing, the
// medication check, the report and the mapping compiler read and write (under the prefixes
// nc, hs, j, structures, ext, mae and ar), and the exchange whose documents are consent directives.
// tools/check-architecture.py fails on a namespace URI of these written anywhere else in broker/.
#include <string_view>

namespace niem::vocabulary {

inline constexpr std::string_view k_nc = "http://release.niem.gov/niem/niem-core/5.0/";
inline constexpr std::string_view k_hs = "http://release.niem.gov/niem/domains/humanServices/5.2/";
inline constexpr std::string_view k_j = "http://release.niem.gov/niem/domains/jxdm/7.2/";
inline constexpr std::string_view k_structures = "http://release.niem.gov/niem/structures/5.0/";
inline constexpr std::string_view k_ext = "http://example.gov/niem-broker/extension/1.0/";
inline constexpr std::string_view k_mae =
    "http://example.gov/niem-broker/exchange/medication-authorization-exception/1.0/";
inline constexpr std::string_view k_aggregate_report =
    "http://example.gov/niem-broker/exchange/aggregate-report/1.0/";
inline constexpr std::string_view k_xsi = "http://www.w3.org/2001/XMLSchema-instance";
// The namespace of xml:lang and the like, bound to the prefix `xml` without a declaration.
inline constexpr std::string_view k_xml = "http://www.w3.org/XML/1998/namespace";

// The exchange whose documents the router learns consents from.
inline constexpr std::string_view k_consent_directive = "consent-directive";

}  // namespace niem::vocabulary
