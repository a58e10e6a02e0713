#include <catch2/catch.hpp>

#include "base/text.h"

using namespace niem::base;

TEST_CASE("valid_utf8 accepts well-formed text and rejects every malformed class") {
  CHECK(valid_utf8("López-García"));
  CHECK(valid_utf8("\xF0\x9F\x98\x80"));        // U+1F600
  CHECK_FALSE(valid_utf8("\xC3"));              // truncated
  CHECK_FALSE(valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(valid_utf8("\xFF"));
  CHECK_FALSE(valid_utf8("ab\x80"));
}

TEST_CASE("XML escaping and character checks") {
  std::string out;
  append_xml_escaped(out, "a<b & \"c\">");
  CHECK(out == "a&lt;b &amp; &quot;c&quot;&gt;");
  CHECK(valid_xml_chars("tab\tok"));
  CHECK_FALSE(valid_xml_chars(std::string("nul\0x", 5)));
  CHECK_FALSE(valid_xml_chars("\x01"));
}

TEST_CASE("trim, split and ASCII case mapping") {
  CHECK(trim("  x y \r\n") == "x y");
  auto parts = split("a||b", '|');
  REQUIRE(parts.size() == 3);
  CHECK(parts[1].empty());
  CHECK(to_upper_ascii("Kim, é") == "KIM, é");
  CHECK(json_escape("a\"\n") == "a\\\"\\n");
}
