// The strict JSON reader: a member named twice in one object is refused after unescaping, at any
// depth, with its path; everything else reads as Boost.JSON's own parser reads it.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>

#include <fmt/format.h>

#include "mapping/json_reader.h"

using namespace niem;
namespace json = boost::json;

namespace {

struct read_result {
  mapping::json_read r;
  json::value v;
};

read_result read(const std::string& text, std::size_t depth = 32) {
  read_result out;
  out.r = mapping::read_json(text, out.v, depth);
  return out;
}

}  // namespace

TEST_CASE("json reader: duplicate member event_id with two values is refused (NIEM-115)") {
  auto x = read(R"({"event_id":"E-1","event_type":"PLACEMENT_START","event_id":"E-2"})");
  CHECK(x.r.code == base::errc::record_duplicate_member);
  CHECK(x.r.field == "event_id");
  CHECK(x.r.message.find("'event_id' appears twice") != std::string::npos);
  CHECK(x.v.is_null());
  // The same value twice means one thing, but is refused as well: no parser detail decides.
  CHECK(read(R"({"a":1,"a":1})").r.code == base::errc::record_duplicate_member);
}

TEST_CASE("json reader: a duplicate spelled through an escape is refused after unescaping") {
  auto x = read(R"({"event_id":"E-1","ev\u0065nt_id":"E-2"})");
  CHECK(x.r.code == base::errc::record_duplicate_member);
  CHECK(x.r.field == "event_id");
  auto y = read(R"({"\u0061":1,"a":2})");
  CHECK(y.r.code == base::errc::record_duplicate_member);
  CHECK(y.r.field == "a");
}

TEST_CASE("json reader: a duplicate inside a nested object or an array element names its path") {
  auto x = read(R"({"child":{"first_name":"A","last_name":"B","last_name":"C"}})");
  CHECK(x.r.code == base::errc::record_duplicate_member);
  CHECK(x.r.field == "child.last_name");
  auto y = read(R"({"diagnoses":[{"code":"F90.0"},{"code":"F32.1","code":"F41.1"}]})");
  CHECK(y.r.code == base::errc::record_duplicate_member);
  CHECK(y.r.field == "diagnoses[1].code");
  auto z = read(R"({"a":{"b":[1,[{"c":{"d":1,"d":2}}]]}})");
  CHECK(z.r.code == base::errc::record_duplicate_member);
  CHECK(z.r.field == "a.b[1][0].c.d");
  auto top = read(R"([{"k":1},{"k":1,"k":2}])");
  CHECK(top.r.code == base::errc::record_duplicate_member);
  CHECK(top.r.field == "[1].k");
}

TEST_CASE("json reader: the same name in different objects is not a duplicate") {
  auto x = read(R"({"a":{"x":1},"b":{"x":2},"c":[{"x":3},{"x":4}],"x":5})");
  REQUIRE(x.r.code == base::errc::ok);
  CHECK(x.v.at("b").at("x") == 2);
  CHECK(x.v.at("c").at(1).at("x") == 4);
  CHECK(x.v.at("x") == 5);
}

TEST_CASE("json reader: a record reads as Boost.JSON's parser reads it") {
  const std::string text =
      R"({"s":"caf\u00e9 \"q\"","i":-3,"u":18446744073709551615,"d":1.5e3,"t":true,"n":null,)"
      R"("o":{"a":[1,"2",{"b":[]}]},"e":{}})";
  auto x = read(text);
  REQUIRE(x.r.code == base::errc::ok);
  CHECK(x.v == json::parse(text));
}

TEST_CASE("json reader: malformed JSON, trailing data and excessive depth keep their codes") {
  CHECK(read(R"({"a":)").r.code == base::errc::record_malformed_json);
  CHECK(read(R"({"a":1} {"b":2})").r.code == base::errc::record_malformed_json);
  CHECK(read(R"({"a":1}x)").r.code == base::errc::record_malformed_json);
  CHECK(read("").r.code == base::errc::record_malformed_json);
  CHECK(read(R"({"a":[[[[1]]]]})", 3).r.code == base::errc::record_too_deep);
  CHECK(read(R"({"a":[[[[1]]]]})", 8).r.code == base::errc::ok);
}

TEST_CASE("json reader: an object of many members is checked whole, the duplicate found anywhere") {
  std::string text = "{";
  for (int i = 0; i < 50'000; ++i) text += fmt::format("\"m{}\":{},", i, i);
  auto ok = text;
  ok.back() = '}';
  auto x = read(ok);
  REQUIRE(x.r.code == base::errc::ok);
  CHECK(x.v.as_object().size() == 50'000);
  text += "\"m25000\":0}";
  auto y = read(text);
  CHECK(y.r.code == base::errc::record_duplicate_member);
  CHECK(y.r.field == "m25000");
}
