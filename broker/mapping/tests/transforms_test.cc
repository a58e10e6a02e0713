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
