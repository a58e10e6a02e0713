#include <catch2/catch.hpp>

#include "mapping/transforms.h"

using namespace niem::mapping;
using niem::base::errc;

namespace {
std::string run(const char* spec, std::string v, bool* ok = nullptr) {
  auto t = parse_transform(spec);
  if (!t) return "NO-SUCH-TRANSFORM";
  auto r = apply_transform(*t, v);
  if (ok) *ok = r.ok;
  return r.ok ? v : "ERR:" + r.message;
}
bool accepts(const char* spec, std::string v) {
  bool ok = false;
  run(spec, std::move(v), &ok);
  return ok;
}
}  // namespace

TEST_CASE("date formats convert to xs:date and reject impossible dates") {
  CHECK(run("date:YYYYMMDD", "20150630") == "2015-06-30");
  CHECK(run("date:YYYY-MM-DD", "2024-02-29") == "2024-02-29");
  CHECK_FALSE(accepts("date:YYYYMMDD", "20230229"));
  CHECK_FALSE(accepts("date:YYYYMMDD", "2015063"));
  CHECK_FALSE(accepts("date:YYYY-MM-DD", "2015-13-01"));
  CHECK(accepts("date:MM/DD/YYYY", "06/30/2015"));
  CHECK_FALSE(parse_transform("date:YYMMDD"));
  CHECK_FALSE(parse_transform("rot13"));
}

TEST_CASE("RFC 3339 date-times need an offset") {
  CHECK(accepts("datetime", "2026-03-04T10:15:00-08:00"));
  CHECK(accepts("datetime", "2026-03-04T10:15:00.123Z"));
  CHECK_FALSE(accepts("datetime", "2026-03-04T10:15:00"));
  CHECK_FALSE(accepts("datetime", "2026-03-04 10:15:00Z"));
  CHECK_FALSE(accepts("datetime", "2026-03-04T25:15:00Z"));
}

// Regression: a leap second (RFC 3339 allows :60) was written as an nc:DateTime that Xerces
// accepts and libxml2 rejects; xs:dateTime has no leap seconds.
TEST_CASE("a leap second is refused: xs:dateTime cannot carry it") {
  CHECK(run("datetime", "2026-03-04T10:15:60Z") ==
        "ERR:a leap second (:60) cannot be written as xs:dateTime");
  CHECK(run("datetime", "2016-12-31T23:59:60+00:00") ==
        "ERR:a leap second (:60) cannot be written as xs:dateTime");
  CHECK(run("datetime", "2026-03-04T10:15:61Z") == "ERR:the second must be 00 to 59");
  CHECK(run("datetime", "2026-03-04T10:15:59.999Z") == "2026-03-04T10:15:59.999Z");
}

// Regression: +15:00 was refused with a message about minutes (from Xerces); RFC 3339 allows
// offsets to 23:59, xs:dateTime only to 14:00.
TEST_CASE("an offset beyond 14:00 is refused naming the offset") {
  CHECK(run("datetime", "2026-03-04T10:15:00+15:00") ==
        "ERR:the offset must lie within -14:00 and +14:00 (xs:dateTime)");
  CHECK(run("datetime", "2026-03-04T10:15:00-14:30") ==
        "ERR:the offset must lie within -14:00 and +14:00 (xs:dateTime)");
  CHECK(run("datetime", "2026-03-04T10:15:00+14:00") == "2026-03-04T10:15:00+14:00");
  CHECK(run("datetime", "2026-03-04T10:15:00-14:00") == "2026-03-04T10:15:00-14:00");
  CHECK(run("datetime", "2026-03-04T10:15:00+05:60") ==
        "ERR:the offset's minutes must be 00 to 59");
  CHECK(run("datetime", "2026-03-04T10:60:00Z") == "ERR:the minute must be 00 to 59");
  CHECK(run("datetime", "2026-03-04T24:00:00Z") == "ERR:the hour must be 00 to 23");
}

TEST_CASE("lower-case t and z of RFC 3339 are written as xs:dateTime's T and Z") {
  CHECK(run("datetime", "2026-03-04t10:15:00z") == "2026-03-04T10:15:00Z");
  CHECK(run("datetime", "2026-03-04t10:15:00+01:00") == "2026-03-04T10:15:00+01:00");
  CHECK(run("datetime", "2026-02-30T10:15:00Z") ==
        "ERR:not a real date: not an RFC 3339 date-time with offset");
}

TEST_CASE("names split on the comma, case and trim, and Y/N flags") {
  CHECK(run("name-last", "KIM, DANIEL") == "KIM");
  CHECK(run("name-first", "KIM, DANIEL") == "DANIEL");
  CHECK(run("name-first", "MADONNA") == "");
  CHECK(run("name-last", " MADONNA ") == "MADONNA");
  CHECK(run("upper", "López") == "LóPEZ");  // ASCII only, other letters untouched
  CHECK(run("trim", "  a b  ") == "a b");
  CHECK(run("yn", "Y") == "true");
  CHECK(run("yn", "N") == "false");
  CHECK_FALSE(accepts("yn", "MAYBE"));
}
