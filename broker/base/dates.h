#pragma once
// Calendar dates as the exchanges write them (xs:date, YYYY-MM-DD): one reading of the Gregorian
// calendar for the mapping's date checks and the medication check's day arithmetic.
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

}  // namespace niem::base
