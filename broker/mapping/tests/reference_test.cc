// References that follow the data: an object's id named by a field's value (id= key=), and a
// reference naming by another field the object it means (key=), checked when the mapping is
// compiled and for each record; and the positional binding that is warned about.
#include <catch2/catch.hpp>

#include "exchange_fixture.h"

using namespace niem;
using namespace niem::mapping::test;
using base::errc;

namespace {

const std::string k_keyed = R"(
  <map:attribute name="t:version" const="1"/>
  <map:repeat source="people" target="t:Person" id="P" key="number">
    <map:value target="t:Name" source="name"/>
  </map:repeat>
  <map:repeat source="subjects"><map:ref target="t:Subject" to="P" key="person"/></map:repeat>)";

}  // namespace

TEST_CASE("a reference names the object whose key its field holds, whatever the order") {
  exchange_dir x(k_v5);
  auto lib = x.load(k_keyed);
  INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
  REQUIRE(lib.ok());
  CHECK(lib.value()->warnings().empty());
  mapping::converter conv(lib.value());
  const auto* m = lib.value()->find("a", "r");
  auto c = conv.convert(*m,
                        R"({"id":"k","people":[{"number":"7","name":"Ann"},)"
                        R"({"number":"a b_c","name":"Bo"}],)"
                        R"("subjects":[{"person":"a b_c"},{"person":"7"},{}]})",
                        "rec");
  INFO((c.ok() ? std::string() : errors_of(c.errors())));
  REQUIRE(c.ok());  // valid by Xerces: every IDREF has its ID
  const auto& d = c->document;
  INFO(d);
  CHECK(d.find("<t:Person structures:id=\"P7\">") != std::string::npos);
  // Any byte outside letters, digits, '.' and '-' is written _HH, '_' too: distinct keys stay
  // distinct ids.
  CHECK(d.find("<t:Person structures:id=\"Pa_20b_5Fc\">") != std::string::npos);
  const auto first = d.find("<t:Subject structures:ref=\"Pa_20b_5Fc\" xsi:nil=\"true\"/>");
  const auto second = d.find("<t:Subject structures:ref=\"P7\" xsi:nil=\"true\"/>");
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  CHECK(first < second);
  // The subject without a person writes no reference.
  CHECK(d.find("<t:Subject", second + 1) == std::string::npos);
}

TEST_CASE("a record whose reference names an object it does not hold is refused") {
  exchange_dir x(k_v5);
  auto lib = x.load(k_keyed);
  REQUIRE(lib.ok());
  const auto* m = lib.value()->find("a", "r");
  auto c = m->map(R"({"id":"k","people":[{"number":"7"}],"subjects":[{"person":"3"}]})", "rec");
  REQUIRE_FALSE(c.ok());
  CHECK(c.errors()[0].code == errc::record_unresolved_reference);
  CHECK(c.errors()[0].field == "person");
  CHECK(c.errors()[0].message == "no P with the key '3' in the record");
}

TEST_CASE("two objects sharing a key, or one without its key, are refused") {
  exchange_dir x(k_v5);
  auto lib = x.load(k_keyed);
  REQUIRE(lib.ok());
  const auto* m = lib.value()->find("a", "r");
  auto twice = m->map(R"({"id":"k","people":[{"number":"7"},{"number":"7"}]})", "rec");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.errors()[0].code == errc::record_ambiguous_reference);
  CHECK(twice.errors()[0].field == "number");
  auto keyless = m->map(R"({"id":"k","people":[{"name":"Ann"}]})", "rec");
  REQUIRE_FALSE(keyless.ok());
  CHECK(keyless.errors()[0].code == errc::record_missing_field);
  CHECK(keyless.errors()[0].field == "number");
}

TEST_CASE("a reference and its object must agree on whether a key names it") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:attribute name="t:version" const="1"/>
  <map:repeat source="people" target="t:Person" id="P" key="number"/>
  <map:object target="t:Person" id="Lead"><map:value target="t:Name" source="lead"/></map:object>
  <map:ref target="t:Subject" to="P"/>
  <map:ref target="t:Subject" to="Lead" key="lead"/>)");
  REQUIRE_FALSE(lib.ok());
  INFO(errors_of(lib.errors()));
  CHECK(has(lib.errors(), "'P' is named by a field's value: give the reference the field"));
  CHECK(has(lib.errors(), "'Lead' has no key (its id has no key=)"));
}

TEST_CASE("a numbered id referred to from another repeat binds by position, with a warning") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:attribute name="t:version" const="1"/>
  <map:repeat source="people" target="t:Person" id="P"><map:value target="t:Name" source="name"/></map:repeat>
  <map:repeat source="subjects"><map:ref target="t:Subject" to="P"/></map:repeat>)");
  INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
  REQUIRE(lib.ok());
  CHECK(has(lib.value()->warnings(), "the reference to 'P' binds by position"));
}
