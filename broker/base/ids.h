#pragma once
// Broker message ids: 26-character ULIDs (48-bit millisecond time, 80 random bits, Crockford
// base32). They sort by creation time, which makes logs and traces easy to read, and say nothing
// about the record they name.
#include <cstdint>
#include <string>
#include <string_view>

namespace niem::base {

std::string new_message_id(std::int64_t now_ms);
// True for a well-formed id (used to refuse junk before it reaches a query or a log).
bool valid_message_id(std::string_view id);
// ISO 8601 UTC with milliseconds, e.g. 2026-11-21T10:00:00.123Z.
std::string format_time_ms(std::int64_t ms);

}  // namespace niem::base
