#include <catch2/catch.hpp>
#include <set>

#include "base/clock.h"
#include "base/ids.h"

using namespace niem::base;

TEST_CASE("message ids are unique, well-formed and sort by time") {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    auto id = new_message_id(1'700'000'000'000 + i / 100);
    REQUIRE(valid_message_id(id));
    CHECK(seen.insert(id).second);
  }
  CHECK(new_message_id(1'700'000'000'000) < new_message_id(1'700'000'000'001));
  CHECK_FALSE(valid_message_id("short"));
  CHECK_FALSE(valid_message_id("01ARZ3NDEKTSV4RRFFQ69G5FA'"));  // quote is not in the alphabet
  CHECK_FALSE(valid_message_id("01ARZ3NDEKTSV4RRFFQ69G5FAU"));  // U is excluded by Crockford
}

TEST_CASE("manual clock moves only when told") {
  manual_clock c(1000);
  CHECK(c.now_ms() == 1000);
  c.advance_ms(250);
  CHECK(c.now_ms() == 1250);
  CHECK(format_time_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_time_ms(1'763'719'200'123) == "2025-11-21T10:00:00.123Z");
}
