// The compiled checks against Xerces itself: every value and every child sequence below is judged
// by both, and the verdicts must agree (the cases are where a naive checker would not).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/text.h"
#include "validation/checked_writer.h"
#include "validation/compiled_checks.h"
#include "validation/validation.h"

using namespace niem::validation;
namespace fs = std::filesystem;

namespace {

const char* k_schema = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t"
           elementFormDefault="qualified">
  <xs:element name="Doc" type="t:DocType"/>
  <xs:complexType name="DocType"><xs:sequence>
    <xs:element ref="t:A"/>
    <xs:choice minOccurs="0"><xs:element ref="t:B"/><xs:element ref="t:C"/></xs:choice>
    <xs:element ref="t:D" minOccurs="1" maxOccurs="3"/>
    <xs:element ref="t:ItemAbstract" minOccurs="0" maxOccurs="unbounded"/>
    <xs:sequence minOccurs="0" maxOccurs="2"><xs:element ref="t:E"/><xs:element ref="t:F" minOccurs="0"/></xs:sequence>
  </xs:sequence></xs:complexType>
  <xs:element name="A" type="xs:string"/>
  <xs:element name="B" type="xs:string"/>
  <xs:element name="C" type="xs:string"/>
  <xs:element name="D" type="xs:string"/>
  <xs:element name="E" type="xs:string"/>
  <xs:element name="F" type="xs:string"/>
  <xs:element name="ItemAbstract" abstract="true"/>
  <xs:element name="Item" type="xs:string" substitutionGroup="t:ItemAbstract"/>
  <xs:element name="OtherItem" type="xs:string" substitutionGroup="t:ItemAbstract"/>

  <xs:simpleType name="Code"><xs:restriction base="xs:token">
    <xs:enumeration value="red"/><xs:enumeration value="light blue"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Digits"><xs:restriction base="xs:string">
    <xs:pattern value="[0-9]+"/><xs:pattern value="N/A"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="ThreeDigits"><xs:restriction base="t:Digits">
    <xs:pattern value="...."/><xs:pattern value="..."/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Short"><xs:restriction base="xs:string">
    <xs:maxLength value="3"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Money"><xs:restriction base="xs:decimal">
    <xs:totalDigits value="5"/><xs:fractionDigits value="2"/>
    <xs:minInclusive value="-100"/><xs:maxExclusive value="1000"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Dots"><xs:restriction base="xs:string">
    <xs:pattern value="a.b"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="NameLike"><xs:restriction base="xs:string">
    <xs:pattern value="\i\c*"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="IntList"><xs:list itemType="xs:int"/></xs:simpleType>
  <xs:simpleType name="DateOrCode"><xs:union memberTypes="xs:date t:Code"/></xs:simpleType>

  <xs:element name="Values"><xs:complexType><xs:sequence>
    <xs:element name="code" type="t:Code" minOccurs="0"/>
    <xs:element name="digits" type="t:Digits" minOccurs="0"/>
    <xs:element name="three" type="t:ThreeDigits" minOccurs="0"/>
    <xs:element name="short" type="t:Short" minOccurs="0"/>
    <xs:element name="money" type="t:Money" minOccurs="0"/>
    <xs:element name="dots" type="t:Dots" minOccurs="0"/>
    <xs:element name="namelike" type="t:NameLike" minOccurs="0"/>
    <xs:element name="list" type="t:IntList" minOccurs="0"/>
    <xs:element name="union" type="t:DateOrCode" minOccurs="0"/>
    <xs:element name="date" type="xs:date" minOccurs="0"/>
    <xs:element name="dateTime" type="xs:dateTime" minOccurs="0"/>
    <xs:element name="boolean" type="xs:boolean" minOccurs="0"/>
    <xs:element name="integer" type="xs:integer" minOccurs="0"/>
    <xs:element name="string" type="xs:string" minOccurs="0"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>)";

struct fixture {
  fs::path dir;
  std::shared_ptr<schema_set> set;
  std::unique_ptr<validator> xerces;
  fixture() {
    dir = fs::temp_directory_path() / ("niem-compiled-checks-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "t.xsd") << k_schema;
    auto r = schema_set::load({{(dir / "t.xsd").string()}, "", {}});
    REQUIRE(r.ok());
    set = r.value();
    xerces = std::make_unique<validator>(set);
  }
  ~fixture() { fs::remove_all(dir); }

  int element(const std::string& local) const {
    auto e = set->model().element({"urn:t", local});
    REQUIRE(e);
    return *e;
  }
  int type_of(const std::string& local) const {
    return set->model().elements()[element(local)].type;
  }

  // The compiled automaton's verdict on a child sequence of Doc.
  bool compiled_content(const std::vector<std::string>& kids) const {
    std::string why;
    const auto* a = set->checks().content(type_of("Doc"), &why);
    REQUIRE(a);
    std::int32_t s = 0;
    for (const auto& k : kids) {
      s = a->step(s, element(k));
      if (s == content_automaton::k_reject) return false;
    }
    return a->accepting(s);
  }
  bool xerces_content(const std::vector<std::string>& kids) const {
    std::string doc = R"(<t:Doc xmlns:t="urn:t">)";
    for (const auto& k : kids) doc += "<t:" + k + ">x</t:" + k + ">";
    doc += "</t:Doc>";
    return xerces->validate(doc).valid;
  }

  // The value check of a local element of Values, against Xerces' verdict on the same text.
  bool compiled_value(const std::string& local, const std::string& value) const {
    const int values_type = type_of("Values");
    const auto& kids = set->model().types()[values_type].children;
    for (const auto& p : kids) {
      const auto& e = set->model().elements()[p.element];
      if (e.name.local != local) continue;
      std::string why;
      const auto* c = set->checks().value(e.type, &why);
      REQUIRE(c);
      value_scratch scratch;
      return c->check(value, scratch, &why);
    }
    FAIL("no element " << local);
    return false;
  }
  bool xerces_value(const std::string& local, const std::string& value) const {
    std::string doc = R"(<t:Values xmlns:t="urn:t"><t:)" + local + ">";
    niem::base::append_xml_escaped(doc, value);
    doc += "</t:" + local + "></t:Values>";
    return xerces->validate(doc).valid;
  }
};

}  // namespace

TEST_CASE("a content automaton agrees with Xerces on sequences, choices, counts and groups") {
  fixture f;
  const std::vector<std::vector<std::string>> cases = {
      {"A", "D"},
      {"A", "B", "D"},
      {"A", "C", "D", "D", "D"},
      {"A", "B", "C", "D"},                     // a choice taken twice
      {"A", "D", "D", "D", "D"},                // a count past maxOccurs
      {"A"},                                    // a required element missing
      {"D", "A"},                               // out of order
      {"A", "D", "Item", "OtherItem", "Item"},  // substitution group members
      {"A", "D", "ItemAbstract"},               // the abstract head itself
      {"A", "D", "E", "F", "E"},                // a repeated inner sequence
      {"A", "D", "E", "E", "E"},                // ... past its count
      {"A", "D", "F"},                          // its optional part alone
      {"A", "D", "Item", "E", "Item"},          // back after the group
      {},
  };
  for (const auto& kids : cases) {
    std::string shown;
    for (const auto& k : kids) shown += k + " ";
    INFO("children: " << shown);
    CHECK(f.compiled_content(kids) == f.xerces_content(kids));
  }
  // And the verdicts are not all the same.
  CHECK(f.compiled_content({"A", "D"}));
  CHECK_FALSE(f.compiled_content({"A"}));
}

TEST_CASE("value checks agree with Xerces at the edges of facets, patterns, lists and dates") {
  fixture f;
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"code", {"red", "  red ", "light  blue", "light\tblue", "Red", "", "blue"}},
      {"digits", {"123", "N/A", "12a", "", "\xd9\xa3", "1\n2"}},  // U+0663: a digit to \d
      {"three", {"123", "1234", "12", "N/A", "abc"}},             // patterns ANDed by step
      {"short",
       {"abc", "abcd", "\xf0\x9f\x98\x80", "a\xf0\x9f\x98\x80", "\xc3\xa9\xc3\xa9\xc3\xa9"}},
      {"money",
       {"999.99", "1000", "-100", "-100.01", "12.345", "12.340", "123.450", "0999.99", "+5", "1e2",
        ".5", "5.", "99999"}},
      {"dots",
       {"a.b", "a\nb", "a\rb",
        "a\xe2\x80\xa8"
        "b",
        "a\xe2\x80\xa9"
        "b",
        "ab", "aXb"}},
      {"namelike", {"_a1", "1a", "a:b", "\xc3\xa9t\xc3\xa9", "a b"}},
      {"list", {"1 2 3", " 1  2 ", "1 x", "", "2147483648"}},
      {"union", {"2024-01-31", "red", "light blue", "2024-13-01", "green"}},
      {"date",
       {"2024-02-29", "2023-02-29", "0000-01-01", "0001-01-01", "-0001-01-01", "2024-01-01Z",
        "2024-01-01+14:00", "2024-01-01+14:01", "2024-01-01-14:00", "2024-1-01", " 2024-01-01 ",
        "10000-01-01"}},
      {"dateTime",
       {"2024-01-01T24:00:00", "2024-01-01T24:00:01", "2024-01-01T23:59:60",
        "2024-01-01T00:00:00.5", "2024-01-01T00:00", "2024-01-01T12:00:00+15:00"}},
      {"boolean", {"true", "false", "1", "0", "TRUE", " true ", "yes"}},
      {"integer", {"0", "-0", "+1", "007", "1.0", "99999999999999999999999999", ""}},
      {"string", {"", "anything at all", "\xe6\xbc\xa2\xe5\xad\x97"}},
  };
  int valid = 0, invalid = 0;
  for (const auto& [element, values] : cases)
    for (const auto& v : values) {
      INFO(element << ": '" << v << "'");
      const bool compiled = f.compiled_value(element, v);
      CHECK(compiled == f.xerces_value(element, v));
      (compiled ? valid : invalid)++;
    }
  CHECK(valid > 20);
  CHECK(invalid > 20);
}

TEST_CASE("plain strings and string enumerations take the fast paths, the rest Xerces' own") {
  fixture f;
  std::string why;
  const auto& model = f.set->model();
  auto check_of = [&](const std::string& type) {
    auto t = model.type({"urn:t", type});
    REQUIRE(t);
    const auto* c = f.set->checks().value(*t, &why);
    REQUIRE(c);
    return c->how();
  };
  CHECK(check_of("Code") == value_check::kind::enumeration);
  CHECK(check_of("Digits") == value_check::kind::datatype);
  CHECK(check_of("Money") == value_check::kind::datatype);
  CHECK(f.set->checks().value(f.type_of("A"), &why)->how() == value_check::kind::any);
  // A type with element content has no value check, and says so.
  CHECK(f.set->checks().value(f.type_of("Doc"), &why) == nullptr);
  CHECK(why.find("no simple content") != std::string::npos);
}

TEST_CASE("the checked writer judges a composed document as Xerces does, naming the element") {
  fixture f;
  auto write = [&](const schema_set* s, const std::vector<std::string>& kids) {
    checked_writer w(s, {{"t", "urn:t"}});
    w.open("t:Doc");
    for (const auto& k : kids) w.leaf("t:" + k, "x");
    w.close();
    return std::pair{w.take(), w.problems()};
  };
  auto [good, none] = write(f.set.get(), {"A", "B", "D"});
  CHECK(none.empty());
  CHECK(f.xerces->validate(good).valid);
  // The same bytes without a schema set: the checks never change what is written.
  CHECK(write(nullptr, {"A", "B", "D"}).first == good);

  auto [bad, problems] = write(f.set.get(), {"A", "D", "B"});
  CHECK_FALSE(f.xerces->validate(bad).valid);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].code == niem::base::errc::xml_schema_invalid);
  CHECK(problems[0].field == "/t:Doc/t:B");
  CHECK(problems[0].message.find("not expected") != std::string::npos);

  auto [short_doc, missing] = write(f.set.get(), {"A"});
  CHECK_FALSE(f.xerces->validate(short_doc).valid);
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].field == "/t:Doc");

  checked_writer v(f.set.get(), {{"t", "urn:t"}});
  v.open("t:Values");
  v.leaf("t:money", "12.345");
  v.leaf("t:undeclared", "1");
  v.close();
  CHECK_FALSE(f.xerces->validate(v.document()).valid);
  REQUIRE(v.problems().size() == 2);
  CHECK(v.problems()[0].field == "/t:Values/t:money");
  CHECK(v.problems()[0].message.find("12.345") == std::string::npos);  // no value in messages
  CHECK(v.problems()[1].message.find("not declared inside t:Values") != std::string::npos);
}
