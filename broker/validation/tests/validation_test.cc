#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "validation/validation.h"

using namespace niem::validation;
using niem::base::errc;
namespace fs = std::filesystem;

namespace {

// A tiny schema set written to a temporary directory, so these tests do not depend on the
// project's exchange schemas.
struct tiny_schema {
  fs::path dir;
  std::shared_ptr<schema_set> set;
  tiny_schema() {
    dir =
        fs::temp_directory_path() / fs::path("niem-validation-test-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "t.xsd") << R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t"
           elementFormDefault="qualified">
  <xs:element name="Doc" type="t:DocType"/>
  <xs:complexType name="DocType"><xs:sequence>
    <xs:element ref="t:Name"/>
    <xs:element ref="t:When" minOccurs="0"/>
    <xs:element ref="t:ItemAbstract" minOccurs="0" maxOccurs="unbounded"/>
  </xs:sequence><xs:attribute name="id" type="xs:ID"/></xs:complexType>
  <xs:element name="Name" type="xs:string"/>
  <xs:element name="When" type="xs:date"/>
  <xs:element name="ItemAbstract" abstract="true"/>
  <xs:element name="Item" type="t:ColorType" substitutionGroup="t:ItemAbstract"/>
  <xs:simpleType name="ColorType"><xs:restriction base="xs:token">
    <xs:enumeration value="red"/><xs:enumeration value="blue"/></xs:restriction></xs:simpleType>
</xs:schema>)";
    auto r = schema_set::load({{(dir / "t.xsd").string()}, "", {}});
    REQUIRE(r.ok());
    set = r.value();
  }
  ~tiny_schema() { fs::remove_all(dir); }
};

bool has_code(const validation_report& r, errc c) {
  for (const auto& d : r.diagnostics)
    if (d.code == c) return true;
  return false;
}

}  // namespace

TEST_CASE("valid documents validate and invalid ones carry line, column and path") {
  tiny_schema t;
  validator v(t.set);
  auto ok = v.validate(R"(<t:Doc xmlns:t="urn:t"><t:Name>x</t:Name><t:Item>red</t:Item></t:Doc>)");
  INFO(ok.diagnostics.size());
  CHECK(ok.valid);
  auto bad = v.validate(
      "<t:Doc xmlns:t=\"urn:t\">\n<t:Name>x</t:Name>\n<t:When>2026-02-30</t:When></t:Doc>");
  CHECK_FALSE(bad.valid);
  REQUIRE(!bad.diagnostics.empty());
  CHECK(bad.diagnostics[0].code == errc::xml_schema_invalid);
  CHECK(bad.diagnostics[0].line == 3);
  CHECK(bad.diagnostics[0].field == "/Doc/When");
  // The same validator keeps working after a failure.
  CHECK(v.validate(R"(<t:Doc xmlns:t="urn:t"><t:Name>y</t:Name></t:Doc>)").valid);
}

TEST_CASE("hostile documents are refused with their own codes") {
  tiny_schema t;
  limits lim;
  lim.max_depth = 8;
  lim.max_elements = 50;
  lim.max_attributes = 3;
  lim.max_text = 100;
  lim.max_bytes = 10000;
  validator v(t.set, lim);
  CHECK(has_code(
      v.validate(
          "<!DOCTYPE d [<!ENTITY a 'aaaa'>]><t:Doc xmlns:t='urn:t'><t:Name>&a;</t:Name></t:Doc>"),
      errc::xml_doctype_forbidden));
  CHECK(has_code(v.validate("<!DOCTYPE d SYSTEM 'file:///etc/passwd'><t:Doc xmlns:t='urn:t'/>"),
                 errc::xml_doctype_forbidden));
  std::string laughs =
      "<!DOCTYPE l [<!ENTITY l0 'ha'><!ENTITY l1 '&l0;&l0;&l0;&l0;&l0;&l0;'>]>"
      "<t:Doc xmlns:t='urn:t'><t:Name>&l1;</t:Name></t:Doc>";
  CHECK(has_code(v.validate(laughs), errc::xml_doctype_forbidden));
  std::string deep = "<t:Doc xmlns:t='urn:t'>";
  for (int i = 0; i < 20; ++i) deep += "<t:Name>";
  CHECK(has_code(v.validate(deep), errc::xml_too_deep));
  std::string many = "<t:Doc xmlns:t='urn:t'><t:Name>x</t:Name>";
  for (int i = 0; i < 60; ++i) many += "<t:Item>red</t:Item>";
  many += "</t:Doc>";
  CHECK(has_code(v.validate(many), errc::xml_too_many_elements));
  CHECK(has_code(v.validate("<t:Doc xmlns:t='urn:t' a='1' b='2' c='3' d='4'/>"),
                 errc::xml_too_many_attributes));
  CHECK(has_code(v.validate("<t:Doc xmlns:t='urn:t' id='" + std::string(200, 'a') + "'/>"),
                 errc::xml_text_too_large));
  CHECK(has_code(
      v.validate("<t:Doc xmlns:t='urn:t'><t:Name>" + std::string(200, 'a') + "</t:Name></t:Doc>"),
      errc::xml_text_too_large));
  CHECK(has_code(v.validate(std::string(20000, ' ')), errc::xml_too_large));
  CHECK(has_code(v.validate("<t:Doc xmlns:t='urn:t'><t:Name>\xC3\x28</t:Name></t:Doc>"),
                 errc::xml_not_well_formed));
  CHECK(
      has_code(v.validate("<t:Doc xmlns:t='urn:t'><t:Name>x</t:Doc>"), errc::xml_not_well_formed));
  CHECK(has_code(v.validate("<x:Doc xmlns:x='urn:other'/>"), errc::xml_no_grammar));
  // A schema location in the document is never followed.
  auto hinted = v.validate(
      "<t:Doc xmlns:t='urn:t' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
      "xsi:schemaLocation='urn:t http://attacker.example/evil.xsd'><t:Name>x</t:Name></t:Doc>");
  CHECK(hinted.valid);
}

// Found by fuzz_xml_differential: Xerces read a document declared UTF-7 that libxml2 refuses, so
// two parties could read one document differently.
TEST_CASE("a document in an encoding other than UTF-8 is refused with NIEM-210") {
  tiny_schema t;
  validator v(t.set);
  const std::string body = "<t:Doc xmlns:t='urn:t'><t:Name>x</t:Name></t:Doc>";
  CHECK(v.validate("<?xml version='1.0' encoding='UTF-8'?>" + body).valid);
  CHECK(v.validate("<?xml version=\"1.0\" encoding=\"utf-8\"?>" + body).valid);
  CHECK(v.validate("\xEF\xBB\xBF<?xml version='1.0'?>" + body).valid);
  // A processing instruction whose name starts with "xml" is not the declaration.
  CHECK(v.validate(body).valid);
  for (const char* enc : {"UTF-7", "ISO-8859-1", "UTF-16", "US-ASCII", "EBCDIC-CP-US"}) {
    INFO(enc);
    auto r = v.validate(std::string("<?xml version=\"1.0\" encoding=\"") + enc + "\"?>" + body);
    CHECK_FALSE(r.valid);
    REQUIRE(!r.diagnostics.empty());
    CHECK(r.diagnostics[0].code == errc::xml_encoding_not_utf8);
    CHECK(r.diagnostics[0].message.find(enc) != std::string::npos);
  }
  std::string utf16 = "\xFF\xFE";
  for (char c : body) utf16 += std::string{c, '\0'};
  CHECK(has_code(v.validate(utf16), errc::xml_encoding_not_utf8));
  CHECK(has_code(v.validate(std::string("<\0t\0", 4)), errc::xml_encoding_not_utf8));
}

namespace {
struct text_of : xml_event_handler {
  std::string all;
  void start_prefix(const std::string&, const std::string&) override {}
  void end_prefix(const std::string&) override {}
  void start_element(const qname&, const std::vector<xml_attribute>&, std::uint32_t,
                     std::uint32_t) override {}
  void end_element(const qname&) override {}
  void text(std::string_view chars) override { all += chars; }
};
}  // namespace

TEST_CASE("a configuration file declared US-ASCII or ISO-8859-1 is read as UTF-8") {
  auto read = [](const std::string& doc, std::string& text) {
    text_of h;
    auto d = read_xml(doc, "c.xml", h);
    text = h.all;
    return d;
  };
  std::string text;
  CHECK(read("<?xml version=\"1.0\" encoding=\"US-ASCII\"?>\n<a>plain</a>", text).empty());
  CHECK(text == "plain");
  // Latin-1 e-acute (0xE9) reads as U+00E9.
  CHECK(read("<?xml version='1.0' encoding='ISO-8859-1'?><a>Jos\xE9</a>", text).empty());
  CHECK(text == "Jos\xC3\xA9");
  // A byte over 0x7F in a document declared US-ASCII is an error, at its line.
  auto d = read("<?xml version=\"1.0\" encoding=\"US-ASCII\"?>\n<a>\n\xE9</a>", text);
  REQUIRE(d.size() == 1);
  CHECK(d[0].code == errc::xml_encoding_not_utf8);
  CHECK(d[0].line == 3);
  CHECK(d[0].message.find("0xE9") != std::string::npos);
  // Other encodings stay refused, configuration or not.
  d = read("<?xml version='1.0' encoding='UTF-7'?><a/>", text);
  REQUIRE(!d.empty());
  CHECK(d[0].code == errc::xml_encoding_not_utf8);

  // A published IEPD's catalog declared US-ASCII loads (OJBC's is).
  auto dir = fs::temp_directory_path() / ("niem-catalog-ascii-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "t.xsd") << R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">
  <xs:element name="Doc" type="xs:string"/></xs:schema>)";
  std::ofstream(dir / "u.xsd") << R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:u">
  <xs:import namespace="urn:t"/>
  <xs:element name="Wrap"><xs:complexType><xs:sequence><xs:element ref="t:Doc"/>
  </xs:sequence></xs:complexType></xs:element></xs:schema>)";
  std::ofstream(dir / "xml-catalog.xml") << R"(<?xml version="1.0" encoding="US-ASCII"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <uri name="urn:t" uri="t.xsd"/>
</catalog>)";
  auto r = schema_set::load({{(dir / "u.xsd").string()}, (dir / "xml-catalog.xml").string(), {}});
  fs::remove_all(dir);
  INFO((r.ok() ? std::string() : r.errors()[0].message));
  REQUIRE(r.ok());
  validator v(r.value());
  CHECK(v.validate("<u:Wrap xmlns:u='urn:u' xmlns:t='urn:t'><t:Doc>x</t:Doc></u:Wrap>").valid);
}

// Found by CI's fuzz_xml_differential run: Xerces read <?xml version="1.+"?> as well-formed,
// which libxml2 refuses; and XML 1.1 has other character and line-end rules.
TEST_CASE("a document that does not declare XML version 1.0 is not well-formed") {
  tiny_schema t;
  validator v(t.set);
  const std::string body = "<t:Doc xmlns:t='urn:t'><t:Name>x</t:Name></t:Doc>";
  CHECK(v.validate("<?xml version='1.0'?>" + body).valid);
  CHECK(v.validate("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>" + body).valid);
  for (const char* decl :
       {"<?xml version=\"1.+\"?>", "<?xml version='1.1'?>", "<?xml version='2.0'?>",
        "<?xml version=''?>", "<?xml encoding='UTF-8'?>", "<?xml version=1.0?>",
        "<?xml version='1.0 '?>"}) {
    INFO(decl);
    auto r = v.validate(decl + body);
    CHECK_FALSE(r.valid);
    REQUIRE(!r.diagnostics.empty());
    CHECK(r.diagnostics[0].code == errc::xml_not_well_formed);
  }
  auto r = v.validate("<?xml version='1.+'?>" + body);
  REQUIRE(!r.diagnostics.empty());
  CHECK(r.diagnostics[0].message ==
        "the XML declaration says version '1.+' (only 1.0 is accepted)");
}

// Found by fuzz_xml_differential: Xerces ignored one byte 0xFC after the root's end tag (an
// incomplete UTF-8 sequence at the end of its input), which libxml2 refuses.
TEST_CASE("a document with an incomplete UTF-8 sequence at its end is not well-formed") {
  tiny_schema t;
  validator v(t.set);
  const std::string doc = "<t:Doc xmlns:t='urn:t'><t:Name>x</t:Name></t:Doc>";
  CHECK(v.validate(doc).valid);
  for (const char* tail : {"\xFC", "\xC3", "\xE2\x82", "\xF0\x9F\x98"}) {
    INFO(tail);
    auto r = v.validate(doc + tail);
    CHECK_FALSE(r.valid);
    CHECK(has_code(r, errc::xml_not_well_formed));
  }
}

TEST_CASE("the schema model resolves children, substitution groups and enumerations") {
  tiny_schema t;
  const auto& m = t.set->model();
  auto doc = m.element({"urn:t", "Doc"});
  REQUIRE(doc);
  int type = m.elements()[*doc].type;
  auto item = m.child(type, {"urn:t", "Item"});
  REQUIRE(item);
  CHECK(item->via->order == 2);
  CHECK(m.elements()[item->element].name.local == "Item");
  auto color = m.elements()[item->element].type;
  CHECK(m.types()[color].enumeration == std::vector<std::string>{"red", "blue"});
  CHECK(m.child(type, {"urn:t", "Nope"}) == std::nullopt);
  auto name = m.child(type, {"urn:t", "Name"});
  REQUIRE(name);
  CHECK(name->via->min == 1);
  CHECK(m.types()[m.elements()[*m.element({"urn:t", "When"})].type].builtin == "date");
}

TEST_CASE("the schema model lists each type's attributes with their built-in types") {
  tiny_schema t;
  const auto& m = t.set->model();
  const auto& doc = m.types()[m.elements()[*m.element({"urn:t", "Doc"})].type];
  const auto* id = doc.attribute({"", "id"});
  REQUIRE(id);
  CHECK(id->xsd_type == "ID");
  CHECK_FALSE(id->required);
  CHECK(doc.attribute({"urn:t", "id"}) == nullptr);
  CHECK(doc.any_attribute.k == attribute_wildcard::kind::none);
  CHECK(m.structures_namespaces().empty());  // no global id and ref side by side
}

namespace {
const auto& structures_of(const std::string& exchange_schema) {
  static std::map<std::string, std::shared_ptr<schema_set>> loaded;
  auto& set = loaded[exchange_schema];
  if (!set) {
    auto r = schema_set::load({{std::string(NIEM_SHARED_DIR) + exchange_schema}, "", {}});
    INFO((r.ok() ? std::string() : r.errors()[0].where + " " + r.errors()[0].message));
    REQUIRE(r.ok());
    set = r.value();
  }
  return *set;
}
}  // namespace

TEST_CASE("NIEM's structures namespace is read from the schemas, whatever the release") {
  const auto& v3 = structures_of(
      "/niem/samples/ojbc-juvenile-history/information_model/IEPD/Placement/"
      "JuvenilePlacementHistoryResponse.xsd");
  CHECK(v3.model().structures_namespaces() ==
        std::vector<std::string>{"http://release.niem.gov/niem/structures/3.0/"});
  const auto& v6 = structures_of("/niem/niem-6.0/xsd/niem-core.xsd");
  CHECK(v6.model().structures_namespaces() ==
        std::vector<std::string>{"https://docs.oasis-open.org/niemopen/ns/model/structures/6.0/"});
  // A NIEM 6.0 simple-content type carries structures:id and the open attribute wildcard.
  const std::string s6 = "https://docs.oasis-open.org/niemopen/ns/model/structures/6.0/";
  auto text =
      v6.model().type({"https://docs.oasis-open.org/niemopen/ns/model/niem-core/6.0/", "TextType"});
  REQUIRE(text);
  const auto& tt = v6.model().types()[*text];
  CHECK(tt.simple_content);
  REQUIRE(tt.attribute({s6, "id"}));
  CHECK(tt.attribute({s6, "id"})->xsd_type == "ID");
  CHECK(tt.attribute({s6, "ref"})->xsd_type == "IDREF");
  CHECK(tt.any_attribute.k == attribute_wildcard::kind::not_in);
  CHECK(tt.any_attribute.admits("http://www.w3.org/XML/1998/namespace"));
  CHECK_FALSE(tt.any_attribute.admits(s6));
}

TEST_CASE("schema load errors are all reported with file and line") {
  auto dir = fs::temp_directory_path() / fs::path("niem-badschema-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "bad.xsd") << "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>\n"
                                    "<xs:element name='A' type='xs:nosuch'/>\n</xs:schema>";
  auto r = schema_set::load({{(dir / "bad.xsd").string(), (dir / "missing.xsd").string()}, "", {}});
  REQUIRE_FALSE(r.ok());
  bool bad_at_line = false, missing_named = false;
  for (const auto& d : r.errors()) {
    INFO(niem::base::format(d));
    CHECK(d.code != niem::base::errc::ok);
    if (d.where.find("bad.xsd") != std::string::npos && d.line == 2) bad_at_line = true;
    if ((d.where + d.message).find("missing.xsd") != std::string::npos) missing_named = true;
  }
  CHECK(bad_at_line);    // the unknown type, at bad.xsd line 2
  CHECK(missing_named);  // the file that does not exist, by name
  fs::remove_all(dir);
}

namespace {
struct schema_dir {
  fs::path dir = fs::temp_directory_path() / ("niem-imports-" + std::to_string(::getpid()));
  schema_dir() { fs::create_directories(dir / "sub"); }
  ~schema_dir() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  }
  // u.xsd imports urn:t from `location` and uses t:Doc when `uses` is set.
  void importer(const std::string& location, bool uses) {
    write("u.xsd", R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:u">
  <xs:import namespace="urn:t" schemaLocation=")" +
                       location + R"("/>
  <xs:element name="Wrap"><xs:complexType><xs:sequence>)" +
                       (uses ? R"(<xs:element ref="t:Doc"/>)" : "") + R"(
  </xs:sequence></xs:complexType></xs:element></xs:schema>)");
  }
};
const char* k_t_schema = R"(<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">
  <xs:element name="Doc" type="xs:string"/></xs:schema>)";
}  // namespace

TEST_CASE("a schemaLocation written with backslashes is read with slashes, with a warning") {
  schema_dir d;
  d.write("sub/t.xsd", k_t_schema);
  d.importer(".\\sub\\t.xsd", true);
  auto r = schema_set::load({{(d.dir / "u.xsd").string()}, "", {}});
  INFO((r.ok() ? std::string() : r.errors()[0].message));
  REQUIRE(r.ok());
  REQUIRE(r.value()->warnings().size() == 1);
  const auto& w = r.value()->warnings()[0];
  CHECK(w.message == "schemaLocation '.\\sub\\t.xsd' has backslashes: read as './sub/t.xsd'");
  CHECK(w.line == 3);
  CHECK(w.where.find("u.xsd:3:") != std::string::npos);
}

TEST_CASE("an import nothing resolves is reported as itself, with every place tried") {
  schema_dir d;
  SECTION("its components used: the load fails, the import's failure first") {
    d.importer("missing.xsd", true);
    auto r = schema_set::load({{(d.dir / "u.xsd").string()}, "", {}});
    REQUIRE_FALSE(r.ok());
    const auto& first = r.errors()[0];
    CHECK(first.code == errc::schema_load_failed);
    CHECK(first.line == 3);
    CHECK(first.where.find("u.xsd:3:") != std::string::npos);
    CHECK(first.message.starts_with("the import of 'urn:t' resolves to no schema: tried "));
    CHECK(first.message.find("no schema for 'urn:t'") != std::string::npos);
    CHECK(first.message.find("schemaLocation 'missing.xsd' as " + (d.dir / "missing.xsd").string() +
                             " (no such file)") != std::string::npos);
    CHECK(r.errors().size() >= 2);  // and the missing t:Doc it explains
  }
  SECTION("nothing of it used: the load succeeds, with a warning") {
    d.importer("http://example.org/t.xsd", false);
    auto r = schema_set::load({{(d.dir / "u.xsd").string()}, "", {}});
    REQUIRE(r.ok());
    REQUIRE(r.value()->warnings().size() == 1);
    CHECK(r.value()->warnings()[0].message.find("'http://example.org/t.xsd' (remote: never "
                                                "fetched)") != std::string::npos);
  }
}

TEST_CASE("a published IEPD whose imports are Windows paths loads from its exchange schema") {
  // JTMP's juvenile admission (NIEM 5.2) imports "./niem\xsd\niem-core.xsd" and the like.
  const std::string xsd = std::string(NIEM_SHARED_DIR) +
                          "/niem/samples/jtmp-juvenile-admission/api/xml_schema/"
                          "JuvenileAdmission_NOLA.xsd";
  auto r = schema_set::load({{xsd}, "", {}});
  INFO((r.ok() ? std::string() : r.errors()[0].where + " " + r.errors()[0].message));
  REQUIRE(r.ok());
  CHECK(r.value()->warnings().size() >= 8);  // one per import written with backslashes
  validator v(r.value());
  auto sample = read_file(std::string(NIEM_SHARED_DIR) +
                          "/niem/samples/jtmp-juvenile-admission/examples/"
                          "Annotated_JuvenileAdmission.xml");
  REQUIRE(sample.ok());
  auto rep = v.validate(*sample, "Annotated_JuvenileAdmission.xml");
  INFO((rep.diagnostics.empty() ? std::string() : rep.diagnostics[0].message));
  CHECK(rep.valid);
}
