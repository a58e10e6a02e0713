#pragma once
// A small exchange schema in urn:t built on one NIEM release's own structures.xsd (from
// ../shared), and mappings written beside it: for tests of what the writer puts on elements
// (attributes, ids, references, nil) whatever the release.
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "mapping/mapping.h"

namespace niem::mapping::test {

namespace fs = std::filesystem;

inline const std::string k_root = NIEM_SOURCE_ROOT;

struct release {
  const char* name;
  const char* structures_ns;
  const char* structures_xsd;  // under ../shared/niem
};

inline const release k_v3{"3.0", "http://release.niem.gov/niem/structures/3.0/",
                          "niem-3.2-cyfs/niem/structures/3.0/structures.xsd"};
inline const release k_v5{"5.0", "http://release.niem.gov/niem/structures/5.0/",
                          "niem-5.2/xsd/utility/structures.xsd"};
inline const release k_v6{"6.0", "https://docs.oasis-open.org/niemopen/ns/model/structures/6.0/",
                          "niem-6.0/xsd/utility/structures.xsd"};

// Rules writing a constant attribute, an object, and a value with an attribute from a field whose
// schema type is an enumeration (active, inactive): the validation modes' and the oracle's tests.
inline const std::string k_checked_rules = R"(
  <map:attribute name="t:version" const="1"/>
  <map:object target="t:Person"><map:value target="t:Name" source="name"/></map:object>
  <map:value target="t:Code" source="code">
    <map:attribute name="t:status" source="status"/>
  </map:value>)";

// An exchange schema in urn:t on release `r`'s structures, and mappings beside it.
struct exchange_dir {
  fs::path dir;
  const release& r;
  explicit exchange_dir(const release& rel) : r(rel) {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("niem-attribute-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    fs::create_directories(dir);
    std::ofstream(dir / "t.xsd") << fmt::format(
        R"(<?xml version="1.0" encoding="UTF-8"?>
<xs:schema targetNamespace="urn:t" xmlns:t="urn:t" xmlns:structures="{0}"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:import namespace="{0}" schemaLocation="{1}/niem/{2}"/>
  <xs:element name="Report" type="t:ReportType"/>
  <xs:complexType name="ReportType"><xs:complexContent><xs:extension base="structures:ObjectType">
    <xs:sequence>
      <xs:element ref="t:Person" maxOccurs="unbounded"/>
      <xs:element ref="t:Subject" minOccurs="0" maxOccurs="unbounded"/>
      <xs:element ref="t:Code" minOccurs="0"/>
      <xs:element ref="t:Plain" minOccurs="0"/>
      <xs:element ref="t:Missing" minOccurs="0"/>
      <xs:element ref="t:Note" minOccurs="0" maxOccurs="2"/>
      <xs:element ref="t:Fixed" minOccurs="0"/>
    </xs:sequence>
    <xs:attribute ref="t:version" use="required"/>
  </xs:extension></xs:complexContent></xs:complexType>
  <xs:complexType name="PersonType"><xs:complexContent><xs:extension base="structures:ObjectType">
    <xs:sequence><xs:element ref="t:Name" minOccurs="0"/></xs:sequence>
  </xs:extension></xs:complexContent></xs:complexType>
  <xs:element name="Person" type="t:PersonType" nillable="true"/>
  <xs:element name="Subject" type="t:PersonType" nillable="true"/>
  <xs:element name="Missing" type="t:PersonType"/>
  <xs:complexType name="TextType"><xs:simpleContent><xs:extension base="xs:string">
    <xs:attributeGroup ref="structures:SimpleObjectAttributeGroup"/>
  </xs:extension></xs:simpleContent></xs:complexType>
  <xs:element name="Name" type="t:TextType" nillable="true"/>
  <xs:element name="Note" type="t:TextType"/>
  <xs:complexType name="CodeType"><xs:simpleContent><xs:extension base="xs:token">
    <xs:attribute ref="t:codeListURI"/>
    <xs:attribute ref="t:status"/>
  </xs:extension></xs:simpleContent></xs:complexType>
  <xs:element name="Code" type="t:CodeType"/>
  <xs:element name="Plain" type="xs:string"/>
  <xs:element name="Fixed" type="xs:string" fixed="F"/>
  <xs:attribute name="codeListURI" type="xs:anyURI"/>
  <xs:attribute name="version" type="xs:string"/>
  <xs:attribute name="status"><xs:simpleType><xs:restriction base="xs:token">
    <xs:enumeration value="active"/><xs:enumeration value="retired"/>
  </xs:restriction></xs:simpleType></xs:attribute>
</xs:schema>
)",
        r.structures_ns, NIEM_SHARED_DIR, r.structures_xsd);
  }
  ~exchange_dir() { fs::remove_all(dir); }

  base::result<std::shared_ptr<mapping::mapping_library>> load(
      const std::string& body, const std::string& prefixes = "") const {
    auto file = dir / "mapping.xml";
    std::ofstream(file) << R"(<?xml version="1.0" encoding="UTF-8"?>
<map:mapping xmlns:map="urn:niem-broker:mapping:1" xmlns:t="urn:t" )"
                        << prefixes << R"(
  agency="a" record-type="r" format="json" key="id" exchange="report" schema="t.xsd"
  root="t:Report">
)" << body << "\n</map:mapping>\n";
    return mapping::mapping_library::load({file.string()}, k_root + "/schemas/mapping/mapping.xsd");
  }
};

inline std::string errors_of(const std::vector<base::diagnostic>& ds) {
  std::string s;
  for (const auto& d : ds) s += base::format(d) + "\n";
  return s;
}

inline bool has(const std::vector<base::diagnostic>& ds, const std::string& text) {
  for (const auto& d : ds)
    if ((d.message + " " + d.field).find(text) != std::string::npos) return true;
  return false;
}

}  // namespace niem::mapping::test
