#pragma once
// Digests for the audit trail (SHA-256 of delivered bytes, an HMAC-SHA-256 hash chain) and for
// keyed pseudonyms. Thin wrappers over OpenSSL's libcrypto, hex-encoded.
#include <string>
#include <string_view>

namespace niem::base {

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Compares two strings in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// A file's version as the audit trail names it: the first 16 hex digits of its SHA-256.
std::string content_version(std::string_view bytes);

}  // namespace niem::base
