#include "base/dates.h"

#include <catch2/catch.hpp>

using namespace niem::base;

TEST_CASE("real dates only, with 29 February in leap years") {
  CHECK(valid_ymd(2024, 2, 29));
  CHECK(valid_ymd(2000, 2, 29));
  CHECK_FALSE(valid_ymd(1900, 2, 29));
  CHECK_FALSE(valid_ymd(2026, 2, 29));
  CHECK_FALSE(valid_ymd(2026, 4, 31));
  CHECK_FALSE(valid_ymd(2026, 13, 1));
  CHECK_FALSE(valid_ymd(0, 1, 1));
}

TEST_CASE("day numbers count from 1970-01-01 and read back as the same date") {
  CHECK(day_number("1970-01-01") == 0);
  CHECK(day_number("1970-01-02") == 1);
  CHECK(day_number("1969-12-31") == -1);
  CHECK(iso_date(*day_number("2024-02-29") + 1) == "2024-03-01");
  CHECK(iso_date(*day_number("0001-01-01")) == "0001-01-01");
  const long first = *day_number("0001-01-01"), last = *day_number("9999-12-31");
  CHECK(first == -719162);
  for (long d = first; d <= last; d += 997) CHECK(day_number(iso_date(d)) == d);
  for (auto bad : {"2026-02-30", "2026-1-01", "20260101", "2026-01-0x", ""}) {
    INFO(bad);
    CHECK_FALSE(day_number(bad));
  }
}

TEST_CASE("times are read as RFC 3339 with their zone, or a date as its midnight UTC") {
  CHECK(parse_time_ms("1970-01-01") == 0);
  CHECK(parse_time_ms("1970-01-02T00:00:00Z") == 86'400'000);
  CHECK(parse_time_ms("2026-12-03T10:15:30Z") == 1'796'292'930'000);
  CHECK(parse_time_ms("2026-12-03T10:15:30.123Z") == 1'796'292'930'123);
  CHECK(parse_time_ms("2026-12-03T10:15:30.1239Z") == 1'796'292'930'123);  // to the ms
  CHECK(parse_time_ms("2026-12-03T10:15:30.5Z") == 1'796'292'930'500);
  CHECK(parse_time_ms("2026-12-03T05:15:30-05:00") == 1'796'292'930'000);
  CHECK(parse_time_ms("2026-12-03T12:15:30+02:00") == 1'796'292'930'000);
  for (auto bad : {"2026-12-03T10:15:30", "2026-12-03T10:15Z", "2026-12-03 10:15:30Z",
                   "2026-12-03T24:00:00Z", "2026-12-03T10:60:00Z", "2026-12-03T10:15:60Z",
                   "2026-12-03T10:15:30.Z", "2026-12-03T10:15:30+15:00", "2026-12-03T10:15:30+0200",
                   "2026-02-30", "2026-12-03T10:15:30Zjunk", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_time_ms(bad));
  }
}
