// The NIEM conformance of the project's schemas: the subset holds only reference components, and
// every example document is valid against the full NIEM 5.2 reference release as well.
#include <unistd.h>
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "support/fixtures.h"
#include "validation/validation.h"

using namespace niem;
using validation::qname;

namespace {

const std::set<std::string> k_niem_namespaces = {
    "http://release.niem.gov/niem/niem-core/5.0/",
    "http://release.niem.gov/niem/domains/humanServices/5.2/",
    "http://release.niem.gov/niem/domains/jxdm/7.2/",
    "http://release.niem.gov/niem/structures/5.0/",
    "http://release.niem.gov/niem/proxy/niem-xs/5.0/",
    "http://release.niem.gov/niem/codes/iso_639-3/5.1/",
};

// Every exchange schema the project writes (schemas/exchange/*.xsd).
std::vector<std::string> exchange_files() {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(testing::source_root() + "/schemas/exchange"))
    if (e.path().extension() == ".xsd") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The exchange and extension schemas compiled against the reference release: a catalog sends every
// NIEM namespace to the release in ../shared and the absent NCIC code list to its stand-in.
std::shared_ptr<validation::schema_set> load_reference(const testing::temp_dir& tmp) {
  const std::string ref = testing::shared_dir() + "/niem/niem-5.2/xsd/";
  auto catalog = tmp.path / "catalog.xml";
  std::ofstream(catalog)
      << "<catalog xmlns='urn:oasis:names:tc:entity:xmlns:xml:catalog'>\n"
      << "<uri name='http://release.niem.gov/niem/niem-core/5.0/' uri='" << ref
      << "niem-core.xsd'/>\n"
      << "<uri name='http://release.niem.gov/niem/domains/humanServices/5.2/' uri='" << ref
      << "domains/hs.xsd'/>\n"
      << "<uri name='http://release.niem.gov/niem/domains/jxdm/7.2/' uri='" << ref
      << "domains/jxdm.xsd'/>\n"
      << "<uri name='http://release.niem.gov/niem/structures/5.0/' uri='" << ref
      << "utility/structures.xsd'/>\n"
      << "<uri name='http://release.niem.gov/niem/proxy/niem-xs/5.0/' uri='" << ref
      << "adapters/niem-xs.xsd'/>\n"
      << "<uri name='http://release.niem.gov/niem/codes/iso_639-3/5.1/' uri='" << ref
      << "codes/iso_639-3.xsd'/>\n"
      << "<uri name='http://release.niem.gov/niem/codes/ncic/5.2/' uri='" << testing::shared_dir()
      << "/niem/_validation/stubs/ncic-5.2-STUB.xsd'/>\n"
      << "</catalog>\n";
  auto r = validation::schema_set::load({exchange_files(), catalog.string(), {}});
  if (!r) {
    for (const auto& d : r.errors()) UNSCOPED_INFO(base::format(d));
    return nullptr;
  }
  return r.value();
}

std::string type_name(const validation::schema_model& m, int t) {
  if (t < 0) return "(none)";
  const auto& n = m.types()[t].name;
  return n.local.empty() ? "(anonymous)" : n.ns + "#" + n.local;
}

}  // namespace

TEST_CASE("the subset holds only reference components, with the same names and types") {
  testing::temp_dir tmp("niem-conformance");
  auto subset = validation::schema_set::load({exchange_files(), "", {}});
  REQUIRE(subset.ok());
  auto reference = load_reference(tmp);
  REQUIRE(reference);
  const auto& s = subset.value()->model();
  const auto& r = reference->model();

  int elements = 0, types = 0, particles = 0;
  for (const auto& e : s.elements()) {
    if (!k_niem_namespaces.count(e.name.ns)) continue;
    ++elements;
    INFO("element " << e.name.ns << "#" << e.name.local);
    auto re = r.element(e.name);
    REQUIRE(re);
    const auto& ref_el = r.elements()[*re];
    CHECK(type_name(s, e.type) == type_name(r, ref_el.type));
    CHECK(e.abstract == ref_el.abstract);
    CHECK(e.substitution_head.has_value() == ref_el.substitution_head.has_value());
    if (e.substitution_head && ref_el.substitution_head)
      CHECK(e.substitution_head->local == ref_el.substitution_head->local);
  }
  for (const auto& t : s.types()) {
    if (!k_niem_namespaces.count(t.name.ns)) continue;
    ++types;
    INFO("type " << t.name.ns << "#" << t.name.local);
    auto rt = r.type(t.name);
    REQUIRE(rt);
    const auto& ref_t = r.types()[*rt];
    CHECK(t.base.has_value() == ref_t.base.has_value());
    if (t.base && ref_t.base) CHECK(t.base->local == ref_t.base->local);
    CHECK(t.simple_content == ref_t.simple_content);
    // The same codes; their order has no meaning in XSD (the subset lists common ones first).
    auto codes = [](std::vector<std::string> v) {
      std::sort(v.begin(), v.end());
      return v;
    };
    CHECK(codes(t.enumeration) == codes(ref_t.enumeration));
    // A subset may drop particles, never add one or loosen its cardinality; order is kept.
    int last = -1;
    for (const auto& p : t.children) {
      ++particles;
      const auto& pname = s.elements()[p.element].name;
      INFO("particle " << pname.local);
      auto it = std::find_if(ref_t.children.begin(), ref_t.children.end(),
                             [&](const auto& q) { return r.elements()[q.element].name == pname; });
      REQUIRE(it != ref_t.children.end());
      CHECK(it->min == p.min);
      CHECK(it->max == p.max);
      CHECK(it->order > last);
      last = it->order;
    }
  }
  // The subset is not empty and not the whole release.
  CHECK(elements > 80);
  CHECK(types > 40);
  CHECK(particles > 60);
  CHECK(s.elements().size() * 20 < r.elements().size());
}

TEST_CASE("every example document is valid against the subset and the full reference release") {
  auto lib = testing::load_project_mappings();
  REQUIRE(lib);
  testing::temp_dir tmp("niem-conformance");
  auto reference = load_reference(tmp);
  REQUIRE(reference);
  mapping::converter conv(lib);
  validation::validator ref_validator(reference);
  auto records = testing::example_records(*lib);
  REQUIRE(records.size() >= 20);
  std::set<std::string> exchanges;
  for (const auto& rec : records) {
    INFO(rec.where);
    auto c = conv.convert(*rec.mapping, rec.text, rec.where);
    if (!c)
      for (const auto& d : c.errors()) UNSCOPED_INFO(base::format(d));
    REQUIRE(c.ok());
    auto rep = ref_validator.validate(c->document, rec.where);
    for (const auto& d : rep.diagnostics) UNSCOPED_INFO(base::format(d));
    CHECK(rep.valid);
    exchanges.insert(c->exchange);
  }
  // Every mapping's examples: each exchange the mappings produce.
  CHECK(exchanges.size() == lib->mappings().size());
}

TEST_CASE("the aggregate report's golden document is valid against the full reference release") {
  testing::temp_dir tmp("niem-conformance");
  auto reference = load_reference(tmp);
  REQUIRE(reference);
  validation::validator v(reference);
  for (const auto* name : {"dsa-009-q3.xml", "dsa-009-q3-alerts.xml"}) {
    std::ifstream in(testing::source_root() + "/broker/report/tests/golden/" + name,
                     std::ios::binary);
    std::string doc{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    INFO(name);
    REQUIRE(doc.size() > 100);
    auto rep = v.validate(doc, name);
    for (const auto& d : rep.diagnostics) UNSCOPED_INFO(base::format(d));
    CHECK(rep.valid);
  }
}
