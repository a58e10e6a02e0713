#include "base/decimal.h"

#include <catch2/catch.hpp>

using namespace niem::base;

namespace {
decimal d(const char* s) {
  auto v = parse_decimal(s);
  REQUIRE(v);
  return *v;
}
}  // namespace

TEST_CASE("decimals parse as xs:decimal spells them and nothing else") {
  CHECK(to_string(d("007.500")) == "7.5");
  CHECK(to_string(d("-0.0")) == "0");
  CHECK(to_string(d("+.5")) == "0.5");
  CHECK(to_string(d("5.")) == "5");
  for (auto bad : {"", "-", ".", "1e3", "1,5", " 1", "0x10", "1.2.3", "∞"}) {
    INFO(bad);
    CHECK_FALSE(parse_decimal(bad));
  }
}

TEST_CASE("decimals compare exactly, whatever their spelling") {
  CHECK(compare(d("4"), d("4.000")) == 0);
  CHECK(compare(d("0.1"), d("0.10000000000000000001")) < 0);
  CHECK(compare(d("-2"), d("1")) < 0);
  CHECK(compare(d("-2"), d("-10")) > 0);
  CHECK(compare(d("100"), d("99.999")) > 0);
}

TEST_CASE("products are exact to any number of digits") {
  CHECK(to_string(multiply(d("1"), d("120"))) == "120");
  CHECK(to_string(multiply(d("0.5"), d("0.5"))) == "0.25");
  CHECK(to_string(multiply(d("150.5"), d("2.5"))) == "376.25");
  CHECK(to_string(multiply(d("-3"), d("0.1"))) == "-0.3");
  CHECK(to_string(multiply(d("0"), d("-7"))) == "0");
  CHECK(to_string(multiply(d("123456789012345678901234567890"), d("1000000000000"))) ==
        "123456789012345678901234567890000000000000");
  CHECK(to_string(multiply(d("0.000001"), d("0.000001"))) == "0.000000000001");
}

TEST_CASE("a shift multiplies by a power of ten: unit conversions") {
  CHECK(to_string(shift(d("0.9"), 3)) == "900");    // g to mg
  CHECK(to_string(shift(d("500"), -3)) == "0.5");   // mcg to mg
  CHECK(to_string(shift(d("4"), 6)) == "4000000");  // g to mcg
  CHECK(to_string(shift(d("0.0004"), 3)) == "0.4");
  CHECK(to_string(shift(d("0"), 5)) == "0");
}

TEST_CASE("a quotient for display is rounded half away from zero at the places asked") {
  CHECK(divide_rounded(d("120"), d("30"), 3) == "4");
  CHECK(divide_rounded(d("100"), d("30"), 3) == "3.333");
  CHECK(divide_rounded(d("200"), d("30"), 3) == "6.667");
  CHECK(divide_rounded(d("1"), d("8"), 2) == "0.13");
  CHECK(divide_rounded(d("1"), d("8"), 3) == "0.125");
  CHECK(divide_rounded(d("-1"), d("8"), 2) == "-0.13");
  CHECK(divide_rounded(d("0.5"), d("0.25"), 3) == "2");
  CHECK(divide_rounded(d("999.9995"), d("1"), 3) == "1000");
  CHECK(divide_rounded(d("1"), d("3000"), 3) == "0");
  CHECK(divide_rounded(d("0"), d("7"), 3) == "0");
}
