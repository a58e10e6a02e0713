// Attributes, ids, references and xsi:nil written for exchanges on each NIEM release: a small
// exchange schema built on the release's own structures.xsd (from ../shared), so the structures
// namespace the writer uses must come from the schema.
#include <catch2/catch.hpp>

#include "exchange_fixture.h"

using namespace niem;
using base::errc;
using namespace niem::mapping::test;

namespace {

const std::string k_rules = R"(
  <map:codes name="status"><map:code from="A" to="active"/><map:code from="R" to="retired"/></map:codes>
  <map:attribute name="t:version" const="1.2"/>
  <map:repeat source="people" target="t:Person" id="P">
    <map:value target="t:Name" source="name" id="N"/>
  </map:repeat>
  <map:object target="t:Person" id="Lead"><map:value target="t:Name" source="lead"/></map:object>
  <map:ref target="t:Subject" to="Lead"/>
  <map:nil target="t:Subject"/>
  <map:value target="t:Code" source="code">
    <map:attribute name="t:codeListURI" const="http://example.gov/codes?a=1&amp;b=&quot;2&quot;"/>
    <map:attribute name="t:status" source="status" codes="status" required="true"/>
  </map:value>)";

}  // namespace

TEST_CASE("ids, references, nil and attributes are written in the exchange's own NIEM release") {
  for (const release* r : {&k_v3, &k_v5, &k_v6}) {
    DYNAMIC_SECTION("NIEM " << r->name) {
      exchange_dir x(*r);
      auto lib = x.load(k_rules);
      INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
      REQUIRE(lib.ok());
      mapping::converter conv(lib.value());
      const auto* m = lib.value()->find("a", "r");
      REQUIRE(m);
      auto c = conv.convert(
          *m,
          R"({"id":"k","people":[{"name":"Ann\tLee"},{"name":"Bo"}],"lead":"Cy","code":"X1",)"
          R"("status":"R"})",
          "rec");
      INFO((c.ok() ? std::string() : errors_of(c.errors())));
      REQUIRE(c.ok());
      const auto& d = c->document;
      INFO(d);
      CHECK(d.find(fmt::format("xmlns:structures=\"{}\"", r->structures_ns)) != std::string::npos);
      CHECK(d.find("<t:Report\n") != std::string::npos);
      CHECK(d.find(" t:version=\"1.2\">") != std::string::npos);
      CHECK(d.find("<t:Person structures:id=\"P1\">") != std::string::npos);
      CHECK(d.find("<t:Person structures:id=\"P2\">") != std::string::npos);
      // structures:id on simple content; a tab kept through attribute-value normalization is
      // content here, so it is written as is.
      CHECK(d.find("<t:Name structures:id=\"N1\">Ann\tLee</t:Name>") != std::string::npos);
      CHECK(d.find("<t:Subject structures:ref=\"Lead\" xsi:nil=\"true\"/>") != std::string::npos);
      CHECK(d.find("<t:Subject xsi:nil=\"true\"/>") != std::string::npos);
      CHECK(d.find("<t:Code t:codeListURI=\"http://example.gov/codes?a=1&amp;b=&quot;2&quot;\" "
                   "t:status=\"retired\">X1</t:Code>") != std::string::npos);
    }
  }
}

TEST_CASE("an attribute value with white space is written so that it reads back the same") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:attribute name="t:version" source="v"/>
  <map:object target="t:Person"><map:value target="t:Name" const="n"/></map:object>)");
  INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
  REQUIRE(lib.ok());
  mapping::converter conv(lib.value());
  auto c = conv.convert(*lib.value()->find("a", "r"), R"({"id":"k","v":"a\tb\nc\rd"})", "rec");
  INFO((c.ok() ? std::string() : errors_of(c.errors())));
  REQUIRE(c.ok());
  CHECK(c->document.find("t:version=\"a&#9;b&#10;c&#13;d\"") != std::string::npos);
}

TEST_CASE("a record without a required attribute's field is refused, naming the field") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:attribute name="t:version" source="v" required="true"/>
  <map:object target="t:Person"><map:value target="t:Name" const="n"/></map:object>)");
  REQUIRE(lib.ok());
  const auto* m = lib.value()->find("a", "r");
  auto c = m->map(R"({"id":"k"})", "rec");
  REQUIRE_FALSE(c.ok());
  CHECK(c.errors()[0].code == errc::record_missing_field);
  CHECK(c.errors()[0].field == "v");
}

TEST_CASE("attribute mistakes are found when the mapping is compiled, at the rule's line") {
  exchange_dir x(k_v6);
  auto lib =
      x.load(R"(
  <map:codes name="st"><map:code from="A" to="active"/><map:code from="X" to="expired"/></map:codes>
  <map:repeat source="people" target="t:Person">
    <map:attribute name="t:nope" const="1"/>
    <map:attribute name="structures:id" const="P"/>
  </map:repeat>
  <map:value target="t:Code" source="code">
    <map:attribute name="t:status" const="gone"/>
    <map:attribute name="t:nope" const="1"/>
    <map:attribute name="t:codeListURI" source="a"/>
    <map:attribute name="t:codeListURI" source="b"/>
  </map:value>
  <map:value target="t:Code" source="code2"><map:attribute name="t:status" source="s" codes="st"/></map:value>
  <map:value target="t:Plain" source="p" id="X"/>
  <map:nil target="t:Missing"/>)",
             "xmlns:structures=\"https://docs.oasis-open.org/niemopen/ns/model/structures/6.0/\"");
  REQUIRE_FALSE(lib.ok());
  const auto& e = lib.errors();
  INFO(errors_of(e));
  // NIEM 6.0's objects admit other namespaces' attributes, strictly: only declared ones.
  CHECK(has(e, "t:nope is admitted on t:Person only if declared, and no schema declares it"));
  CHECK(has(e, "t:nope is not an attribute of t:Code (its type declares: codeListURI, status)"));
  CHECK(has(e, "structures:id is written by the rules themselves"));
  CHECK(has(e, "'gone' is not a value t:status allows"));
  CHECK(has(e, "t:codeListURI is written twice on t:Code"));
  CHECK(has(e, "code table 'st' maps 'X' to 'expired', which t:status does not allow"));
  CHECK(has(e, "t:Plain cannot carry structures:id: its type does not declare it"));
  CHECK(has(e, "t:Missing is not nillable"));
  CHECK(has(e, "required attribute version of t:Report is never written"));
  // Each at its own rule's line, not the mapping's first.
  bool at_rule_line = false;
  for (const auto& d : e)
    if (d.message.find("admitted on t:Person") != std::string::npos) at_rule_line = d.line == 8;
  CHECK(at_rule_line);
}

TEST_CASE("a structures prefix bound to another release's namespace is refused") {
  exchange_dir x(k_v3);
  auto lib = x.load(R"(
  <map:attribute name="t:version" const="1"/>
  <map:object target="t:Person" id="P"><map:value target="t:Name" const="n"/></map:object>)",
                    "xmlns:structures=\"http://release.niem.gov/niem/structures/5.0/\"");
  REQUIRE_FALSE(lib.ok());
  CHECK(has(lib.errors(),
            "prefix 'structures' is bound to http://release.niem.gov/niem/"
            "structures/5.0/, but this exchange's structures namespace is "
            "http://release.niem.gov/niem/structures/3.0/"));
}

TEST_CASE("a template is written once and applied under several contexts") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:template name="person">
    <map:value target="t:Name" source="name" required="true"/>
  </map:template>
  <map:template name="unused"><map:value target="t:Name" source="x"/></map:template>
  <map:attribute name="t:version" const="1"/>
  <map:object target="t:Person" id="Child"><map:apply template="person" context="child"/></map:object>
  <map:object target="t:Person" id="Parent"><map:apply template="person" context="parent"/></map:object>
  <map:repeat source="others" target="t:Person"><map:apply template="person"/></map:repeat>
  <map:object target="t:Subject" ref="Child"><map:value target="t:Name" source="alias"/></map:object>)");
  INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
  REQUIRE(lib.ok());
  CHECK(has(lib.value()->warnings(), "template 'unused' is never applied"));
  const auto* m = lib.value()->find("a", "r");
  mapping::converter conv(lib.value());
  auto c = conv.convert(*m,
                        R"({"id":"k","child":{"name":"Ann"},"parent":{"name":"Bo"},)"
                        R"("others":[{"name":"Cy"}],"alias":"Annie"})",
                        "rec");
  INFO((c.ok() ? std::string() : errors_of(c.errors())));
  REQUIRE(c.ok());
  const auto& d = c->document;
  INFO(d);
  CHECK(d.find("<t:Person structures:id=\"Child\">\n    <t:Name>Ann</t:Name>") !=
        std::string::npos);
  CHECK(d.find("<t:Person structures:id=\"Parent\">\n    <t:Name>Bo</t:Name>") !=
        std::string::npos);
  CHECK(d.find("<t:Person>\n    <t:Name>Cy</t:Name>") != std::string::npos);
  // A reference that also carries content: structures:ref, no xsi:nil.
  CHECK(d.find("<t:Subject structures:ref=\"Child\">\n    <t:Name>Annie</t:Name>") !=
        std::string::npos);
  // A refusal inside a template names the field under its context.
  auto bad = m->map(R"({"id":"k","child":{"name":"Ann"},"parent":{}})", "rec");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.errors()[0].field == "parent.name");
}

TEST_CASE("templates that apply themselves or do not exist are mapping errors") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:template name="loop"><map:object target="t:Person"><map:apply template="loop"/></map:object></map:template>
  <map:attribute name="t:version" const="1"/>
  <map:apply template="loop"/>
  <map:apply template="nowhere"/>)");
  REQUIRE_FALSE(lib.ok());
  INFO(errors_of(lib.errors()));
  CHECK(has(lib.errors(), "template 'loop' applies itself"));
  CHECK(has(lib.errors(), "no template named 'nowhere'"));
}

TEST_CASE("values writes one sibling element per field, in the parts' order") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:attribute name="t:version" const="1"/>
  <map:object target="t:Person"><map:value target="t:Name" const="n"/></map:object>
  <map:values target="t:Note"><map:part source="feet"/><map:part source="inches"/></map:values>)");
  INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
  REQUIRE(lib.ok());
  const auto* m = lib.value()->find("a", "r");
  mapping::converter conv(lib.value());
  auto both = conv.convert(*m, R"({"id":"k","feet":5,"inches":11})", "rec");
  REQUIRE(both.ok());
  CHECK(both->document.find("  <t:Note>5</t:Note>\n  <t:Note>11</t:Note>\n") != std::string::npos);
  auto one = conv.convert(*m, R"({"id":"k","inches":11})", "rec");
  REQUIRE(one.ok());
  CHECK(one->document.find("<t:Note>5</t:Note>") == std::string::npos);
  CHECK(one->document.find("<t:Note>11</t:Note>") != std::string::npos);
}

TEST_CASE("check finds elements written more often than the schema allows") {
  exchange_dir x(k_v5);
  auto lib = x.load(R"(
  <map:attribute name="t:version" const="1"/>
  <map:object target="t:Person"><map:value target="t:Name" const="n"/></map:object>
  <map:values target="t:Note"><map:part const="a"/><map:part const="b"/></map:values>
  <map:value target="t:Note" source="maybe"/>
  <map:value target="t:Note" const="c"/>)");
  REQUIRE_FALSE(lib.ok());
  INFO(errors_of(lib.errors()));
  CHECK(has(lib.errors(), "t:Note is written 3 times inside t:Report, which allows at most 2"));
  CHECK(lib.errors()[0].line == 10);  // at the rule that writes one too many (const="c")

  auto warned = x.load(R"(
  <map:attribute name="t:version" const="1"/>
  <map:object target="t:Person"><map:value target="t:Name" const="n"/></map:object>
  <map:repeat source="codes"><map:value target="t:Code" source="."/></map:repeat>)");
  INFO((warned.ok() ? std::string() : errors_of(warned.errors())));
  REQUIRE(warned.ok());
  CHECK(has(warned.value()->warnings(),
            "t:Code occurs at most once inside t:Report, but is written once per item of codes"));
}
