#pragma once
// Calendar dates as the exchanges write them (xs:date, YYYY-MM-DD): one reading of the Gregorian
// calendar for the mapping's date checks and the medication check's day arithmetic.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace niem::base {

// A real date: month 1-12, day within the month (29 February only in leap years), year >= 1.
bool valid_ymd(int y, int m, int d);
// Days since 1970-01-01 of a YYYY-MM-DD date, or nullopt for a text that is not one.
std::optional<long> day_number(std::string_view iso_date);
// The YYYY-MM-DD date of a day number.
std::string iso_date(long day);
// Milliseconds since the epoch of an RFC 3339 time (YYYY-MM-DDTHH:MM:SS, optional fraction, Z
// or an offset +HH:MM/-HH:MM; seconds 00-59) or of a date's midnight UTC (YYYY-MM-DD); nullopt
// for anything else (a time without its zone could mean several instants).
std::optional<std::int64_t> parse_time_ms(std::string_view text);

}  // namespace niem::base
