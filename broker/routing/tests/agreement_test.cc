// Agreements against the real exchange schemas and the mappings' golden documents: the shipped
// DSA files load, filters keep exactly what they list and stay schema-valid, broken agreements
// are refused, and the policy router decides per recipient as agreements.md says.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "base/clock.h"
#include "base/digest.h"
#include "base/text.h"
#include "routing/agreement.h"
#include "oversight/medication.h"
#include "routing/policy.h"
#include "routing/xml_stream.h"
#include "support/fixtures.h"

using namespace niem;
using namespace niem::routing;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct fixture {
  std::shared_ptr<mapping::mapping_library> lib = testing::load_project_mappings();
  std::vector<exchange_root> roots;
  std::string xsd = testing::source_root() + "/schemas/agreement/agreement.xsd";
  fixture() {
    REQUIRE(lib);
    roots = lib->exchanges();
  }
  std::vector<std::string> shipped() const {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(testing::source_root() + "/config/agreements"))
      if (e.path().extension() == ".xml") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string research_key = "test-research-pseudonym-key-0123456789";
  base::result<std::vector<std::shared_ptr<const agreement>>> load(
      const std::vector<std::string>& files) const {
    std::map<std::string, std::string> keys;
    for (const auto& f : files)
      if (f.ends_with("DSA-007.xml")) keys[f] = research_key;
    return load_agreements(files, xsd, *lib->schemas(), roots, keys);
  }
  // The golden documents of an exchange (tests/*.expected.xml beside its mapping).
  std::vector<std::pair<std::string, std::string>> goldens(const std::string& exchange) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& m : lib->mappings()) {
      if (m->exchange() != exchange) continue;
      for (auto& e : fs::directory_iterator(fs::path(m->file()).parent_path() / "tests"))
        if (e.path().string().ends_with(".expected.xml"))
          out.emplace_back(e.path().filename().string(), slurp(e.path()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

const agreement& by_id(const std::vector<std::shared_ptr<const agreement>>& all,
                       const std::string& id) {
  for (const auto& a : all)
    if (a->id == id) return *a;
  FAIL("no agreement " << id);
  throw 0;
}

// Every element of a document as a path of local names below the root ("nc:Person/..." style
// with local names only: "Person/PersonName").
std::vector<std::string> element_paths(std::string_view doc) {
  std::vector<std::string> out, stack;
  xml_stream x(doc);
  bool root = false;
  for (;;) {
    auto k = x.next();
    if (k == xml_stream::kind::done || k == xml_stream::kind::error) break;
    if (k == xml_stream::kind::start) {
      if (!root) {
        root = true;
        continue;
      }
      stack.emplace_back(x.name().local);
      std::string p;
      for (const auto& s : stack) p += (p.empty() ? "" : "/") + s;
      out.push_back(p);
    } else if (k == xml_stream::kind::end && !stack.empty()) {
      stack.pop_back();
    }
  }
  return out;
}

bool valid(fixture& f, const std::string& doc, std::string* why = nullptr) {
  validation::validator v(f.lib->schemas());
  auto rep = v.validate(doc, "filtered");
  if (!rep.valid && why && !rep.diagnostics.empty()) *why = base::format(rep.diagnostics.front());
  return rep.valid;
}

const std::string k_ns =
    R"(xmlns="urn:niem-broker:agreement:1" xmlns:nc="http://release.niem.gov/niem/niem-core/5.0/" )"
    R"(xmlns:hs="http://release.niem.gov/niem/domains/humanServices/5.2/" )"
    R"(xmlns:ext="http://example.gov/niem-broker/extension/1.0/")";

std::string agreement_text(const std::string& id, const std::string& exchange,
                           const std::vector<std::string>& includes) {
  std::string s = "<?xml version=\"1.0\"?>\n<agreement " + k_ns + " id=\"" + id +
                  "\" version=\"1\" level=\"identifiable\">\n<title>t</title>\n"
                  "<provider agency=\"cws\"/><recipient agency=\"court\"/>"
                  "<purpose code=\"COURT_PROCEEDING\"/><effective from=\"2024-01-01\"/>\n"
                  "<terms exchange=\"" +
                  exchange + "\">\n";
  for (const auto& i : includes) s += "  <include path=\"" + i + "\"/>\n";
  return s + "</terms>\n</agreement>\n";
}

}  // namespace

TEST_CASE("every shipped agreement loads and checks against the exchange schemas") {
  fixture f;
  auto all = f.load(f.shipped());
  if (!all) {
    for (const auto& d : all.errors()) UNSCOPED_INFO(base::format(d));
  }
  REQUIRE(all.ok());
  REQUIRE(all->size() == 13);  // DSA-001 to DSA-013
  CHECK(by_id(*all, "DSA-008").effective_to == "2025-12-31");
  CHECK(by_id(*all, "DSA-010").terms("pmap-order") != nullptr);
  CHECK(by_id(*all, "DSA-011").purposes == std::vector<std::string>{"TREATMENT"});
  CHECK(by_id(*all, "DSA-007").level == sharing_level::deidentified);
  CHECK(by_id(*all, "DSA-009").level == sharing_level::aggregate);
  CHECK(by_id(*all, "DSA-007").providers == std::vector<std::string>{"cws", "medicaid"});
  CHECK(by_id(*all, "DSA-012").terms("medication-authorization-exception") != nullptr);
  CHECK(by_id(*all, "DSA-013").providers == std::vector<std::string>{"exchange"});
}

TEST_CASE(
    "DSA-012 passes the whole medication alert to cws, DSA-013 all but the NPI and client "
    "number to phn, both schema-valid") {
  fixture f;
  auto all = f.load(f.shipped());
  REQUIRE(all.ok());
  oversight::medication::exception_notice n;
  n.id = "MAE-RX1-OVER_MAXIMUM_DOSE";
  n.result = oversight::medication::outcome::over_maximum_dose;
  n.county_fips = "06037";
  n.client_id = "CWS-0047-1123";
  n.day = "2026-03-03";
  n.c.claim_id = "RX1";
  n.c.medicaid_id = "91234567A";
  n.c.given_name = "MARIA";
  n.c.surname = "LOPEZ";
  n.c.birth_date = "2015-06-30";
  n.c.drug_name = "GUANFACINE ER 1 MG TABLET";
  n.c.ndc = "54092-0517-01";
  n.c.strength = "1 MG";
  n.c.quantity = "120";
  n.c.days_supply = "30";
  n.c.dose_form = "TABLET";
  n.c.fill_date = "2026-03-02";
  n.c.prescriber_given_name = "ANA";
  n.c.prescriber_surname = "REYES";
  n.c.prescriber_npi = "1234567893";
  n.c.therapeutic_class = "ADHD AGENT";
  n.v.order_id = "JV223-1";
  n.v.daily_dose = "4 mg";
  n.v.maximum = "3 mg";
  auto doc = oversight::medication::write_exception(n);
  std::string why;
  REQUIRE(valid(f, doc, &why));

  const auto* cws = by_id(*all, "DSA-012").terms("medication-authorization-exception");
  const auto* phn = by_id(*all, "DSA-013").terms("medication-authorization-exception");
  REQUIRE(cws);
  REQUIRE(phn);
  auto whole = apply_filter(*cws, doc);
  REQUIRE(whole.ok);
  CHECK(valid(f, whole.document, &why));
  INFO(why);
  CHECK(element_paths(whole.document) == element_paths(doc));
  auto nurse = apply_filter(*phn, doc);
  REQUIRE(nurse.ok);
  CHECK(valid(f, nurse.document, &why));
  INFO(why);
  CHECK(nurse.document.find("1234567893") == std::string::npos);
  CHECK(nurse.document.find("CWS-0047-1123") == std::string::npos);
  for (const auto* kept : {"91234567A", "GUANFACINE ER 1 MG TABLET", "JV223-1", "REYES", "06037",
                           "OVER_MAXIMUM_DOSE", "4 mg", "2026-03-02"})
    CHECK(nurse.document.find(kept) != std::string::npos);
}

TEST_CASE("filtered documents keep only what each agreement lists and stay schema-valid") {
  fixture f;
  auto all = f.load(f.shipped());
  REQUIRE(all.ok());
  // What must never reach each recipient (agreements.md, "must not include").
  std::map<std::string, std::vector<std::string>> forbidden = {
      {"DSA-001",
       {"PersonSSNIdentification", "FosterCareRemovalReason", "Caregiver", "CaseDocketID",
        "ContactMailingAddress", "ChildWelfareAgencyCaseID", "ContactEmailID",
        "PersonPrimaryLanguage"}},
      {"DSA-002", {"PersonSSNIdentification", "PersonMedicaidIdentification"}},
      {"DSA-003", {"Dispenser"}},
      {"DSA-004",
       {"PersonSSNIdentification", "Dispenser", "NPIIdentification", "DrugTherapeuticClassText",
        "PersonSexText"}},
      {"DSA-005", {}},
      {"DSA-006", {"DiagnosisDescriptionText"}},
      {"DSA-008", {"PersonSSNIdentification", "PersonMedicaidIdentification", "Caregiver"}},
  };
  int checked = 0;
  for (const auto& [id, banned] : forbidden) {
    const auto& a = by_id(*all, id);
    for (const auto& t : a.exchanges) {
      for (const auto& [name, doc] : f.goldens(t.exchange)) {
        INFO(id << " on " << name);
        auto r = apply_filter(t, doc);
        REQUIRE(r.ok);
        std::string why;
        CHECK(valid(f, r.document, &why));
        INFO(why);
        for (const auto& b : banned) CHECK(r.document.find(b) == std::string::npos);
        CHECK_FALSE(r.disclosed.empty());
        // Every element that flowed lies under an include or on the way to one.
        for (const auto& p : element_paths(r.document)) {
          bool allowed = false;
          for (const auto& inc : t.includes) {
            std::string ip;
            for (const auto& q : inc) ip += (ip.empty() ? "" : "/") + q.local;
            allowed |= p == ip || p.starts_with(ip + "/") || ip.starts_with(p + "/");
          }
          CHECK(allowed);
        }
        ++checked;
      }
    }
  }
  CHECK(checked >= 30);
  // Several agreements in one pass give each the same bytes as alone.
  std::vector<const exchange_terms*> placement_terms;
  for (const auto& a : *all)
    if (const auto* t = a->terms("placement-notification")) placement_terms.push_back(t);
  REQUIRE(placement_terms.size() >= 4);
  for (const auto& [name, doc] : f.goldens("placement-notification")) {
    auto together = apply_filters(placement_terms, doc);
    REQUIRE(together.size() == placement_terms.size());
    for (std::size_t i = 0; i < placement_terms.size(); ++i) {
      auto alone = apply_filter(*placement_terms[i], doc);
      CHECK(together[i].document == alone.document);
      CHECK(together[i].disclosed == alone.disclosed);
    }
  }
  // DSA-005 removes nothing: the court gets every element of the application.
  const auto& t5 = *by_id(*all, "DSA-005").terms("pmap-application");
  for (const auto& [name, doc] : f.goldens("pmap-application")) {
    auto r = apply_filter(t5, doc);
    REQUIRE(r.ok);
    CHECK(element_paths(r.document) == element_paths(doc));
  }
}

TEST_CASE("an agreement that would produce invalid documents or names unknown paths is refused") {
  fixture f;
  testing::temp_dir dir("niem-dsa");
  // Placement notifications require every top-level element: keeping only the name is refused.
  auto only_name = dir.write("only-name.xml", agreement_text("DSA-X1", "placement-notification",
                                                             {"nc:Person/nc:PersonName"}));
  auto unknown = dir.write("unknown.xml",
                           agreement_text("DSA-X2", "pharmacy-claim",
                                          {"ext:SourceRecordIdentification", "ext:ClaimStatusCode",
                                           "nc:Person", "nc:Person/nc:PersonShoeSize"}));
  auto unbound =
      dir.write("unbound.xml", agreement_text("DSA-X3", "pharmacy-claim", {"zz:Nothing"}));
  auto no_exchange =
      dir.write("no-exchange.xml", agreement_text("DSA-X4", "weather-report", {"nc:Person"}));
  auto r = f.load({only_name, unknown, unbound, no_exchange});
  REQUIRE_FALSE(r.ok());
  std::string all;
  for (const auto& d : r.errors()) {
    CHECK(d.code == base::errc::agreement_invalid);
    all += base::format(d) + "\n";
  }
  INFO(all);
  CHECK(all.find("only-name.xml:") != std::string::npos);
  CHECK(all.find("removes its required element SourceRecordIdentification") != std::string::npos);
  CHECK(all.find("unknown.xml:") != std::string::npos);
  CHECK(all.find("no PersonShoeSize") != std::string::npos);
  CHECK(all.find("unbound.xml:") != std::string::npos);
  CHECK(all.find("no-exchange.xml:") != std::string::npos);
  CHECK(all.find("weather-report") != std::string::npos);
}

TEST_CASE("an aggregate agreement counts and reports, and never lets a record flow") {
  fixture f;
  testing::temp_dir dir("niem-dsa");
  auto text = [&](const std::string& id, const std::string& level, const std::string& body) {
    return "<?xml version=\"1.0\"?>\n<agreement " + k_ns + " id=\"" + id +
           "\" version=\"1\" level=\"" + level +
           "\">\n<title>t</title>\n<provider agency=\"medicaid\"/><recipient "
           "agency=\"oversight\"/><purpose code=\"PUBLIC_REPORTING\"/><effective "
           "from=\"2024-01-01\"/>\n" +
           body + "</agreement>\n";
  };
  const std::string id =
      "nc:Person/ext:PersonAugmentation/ext:PersonMedicaidIdentification/"
      "nc:IdentificationID";
  const std::string report =
      "<report kind=\"psychotropic-by-county\" period=\"quarter\" minimum-count=\"11\" "
      "after-days=\"15\"/>\n";
  // Records would flow: include in an aggregate agreement.
  auto leaks = dir.write(
      "leaks.xml", text("DSA-A1", "aggregate",
                        "<terms exchange=\"pharmacy-claim\"><count as=\"person\" path=\"" + id +
                            "\"/><include path=\"nc:Person\"/></terms>\n" + report));
  // No report: the recipient would receive nothing at all.
  auto no_report = dir.write(
      "no-report.xml", text("DSA-A2", "aggregate",
                            "<terms exchange=\"pharmacy-claim\"><count as=\"person\" path=\"" + id +
                                "\"/></terms>\n"));
  // The report needs the placements' county: only claims are counted.
  auto no_county = dir.write(
      "no-county.xml",
      text("DSA-A3", "aggregate",
           "<terms exchange=\"pharmacy-claim\"><count as=\"person\" path=\"" + id +
               "\"/><count as=\"date\" path=\"nc:Person/hs:PersonAugmentation/hs:HealthDetails/"
               "hs:MedicationUse/hs:MedicationDispensingDate/nc:Date\"/><count as=\"class\" "
               "path=\"nc:Person/hs:PersonAugmentation/hs:HealthDetails/hs:MedicationUse/"
               "hs:Medication/ext:DrugAugmentation/ext:DrugTherapeuticClassText\"/></terms>\n" +
               report));
  // Counting a container, and counting under an identifiable agreement.
  auto container =
      dir.write("container.xml", text("DSA-A4", "aggregate",
                                      "<terms exchange=\"pharmacy-claim\"><count as=\"person\" "
                                      "path=\"nc:Person\"/></terms>\n" +
                                          report));
  auto identifiable =
      dir.write("identifiable.xml",
                text("DSA-A5", "identifiable",
                     "<terms exchange=\"pharmacy-claim\"><count as=\"person\" path=\"" + id +
                         "\"/><include path=\"ext:SourceRecordIdentification\"/><include "
                         "path=\"ext:ClaimStatusCode\"/><include path=\"nc:Person\"/></terms>\n" +
                         report));
  auto r = f.load({leaks, no_report, no_county, container, identifiable});
  REQUIRE_FALSE(r.ok());
  std::string all;
  for (const auto& d : r.errors()) all += base::format(d) + "\n";
  INFO(all);
  CHECK(all.find("leaks.xml:") != std::string::npos);
  CHECK(all.find("lets no record flow") != std::string::npos);
  CHECK(all.find("no-report.xml:1") != std::string::npos);
  CHECK(all.find("needs a report") != std::string::npos);
  CHECK(all.find("no-county.xml:") != std::string::npos);
  CHECK(all.find("count client or person, county and begin") != std::string::npos);
  CHECK(all.find("container.xml:") != std::string::npos);
  CHECK(all.find("no simple value to count") != std::string::npos);
  CHECK(all.find("identifiable.xml:") != std::string::npos);
  CHECK(all.find("count belongs to aggregate agreements only") != std::string::npos);
  CHECK(all.find("report belongs to aggregate agreements only") != std::string::npos);
  // The shipped DSA-009 counts claims and placements for its quarterly report.
  auto shipped = f.load(f.shipped());
  REQUIRE(shipped.ok());
  const auto& dsa9 = by_id(*shipped, "DSA-009");
  REQUIRE(dsa9.report);
  CHECK(dsa9.report->minimum_count == 11);
  CHECK(dsa9.report->kind == "psychotropic-by-county");
  CHECK(dsa9.terms("pharmacy-claim")->counts.size() == 3);
  CHECK(dsa9.terms("placement-notification")->includes.empty());
}

TEST_CASE("property: random agreements never let an unlisted path through and stay valid") {
  fixture f;
  testing::temp_dir dir("niem-dsa-prop");
  std::mt19937 rng(20261122);
  int accepted = 0, refused = 0;
  for (const char* exchange : {"placement-notification", "pharmacy-claim", "pmap-application"}) {
    auto docs = f.goldens(exchange);
    REQUIRE_FALSE(docs.empty());
    // Candidate include paths: every element path of every golden document, with prefixes.
    std::set<std::string> candidates;
    for (const auto& [name, doc] : docs) {
      xml_stream x(doc);
      std::vector<std::string> stack;
      bool root = false;
      for (auto k = x.next(); k != xml_stream::kind::done && k != xml_stream::kind::error;
           k = x.next()) {
        if (k == xml_stream::kind::start) {
          if (!root) {
            root = true;
            continue;
          }
          std::string raw(x.raw().substr(1));
          stack.push_back(raw.substr(0, raw.find_first_of(" />")));
          std::string p;
          for (const auto& s : stack) p += (p.empty() ? "" : "/") + s;
          candidates.insert(p);
        } else if (k == xml_stream::kind::end && !stack.empty()) {
          stack.pop_back();
        }
      }
    }
    std::vector<std::string> pool(candidates.begin(), candidates.end());
    for (int round = 0; round < 40; ++round) {
      std::vector<std::string> inc;
      for (const auto& p : pool)
        if (rng() % 3 == 0) inc.push_back(p);
      if (inc.empty()) inc.push_back(pool[rng() % pool.size()]);
      auto file = dir.write("gen-" + std::to_string(round) + ".xml",
                            agreement_text("DSA-G" + std::to_string(round), exchange, inc));
      auto r = f.load({file});
      if (!r.ok()) {
        ++refused;
        for (const auto& d : r.errors()) CHECK(d.code == base::errc::agreement_invalid);
        continue;
      }
      ++accepted;
      const auto& t = *r->front()->terms(exchange);
      for (const auto& [name, doc] : docs) {
        INFO(exchange << " round " << round << " on " << name);
        auto fr = apply_filter(t, doc);
        REQUIRE(fr.ok);
        std::string why;
        CHECK(valid(f, fr.document, &why));
        INFO(why);
        for (const auto& p : element_paths(fr.document)) {
          bool allowed = false;
          for (const auto& q : t.includes) {
            std::string ip;
            for (const auto& s : q) ip += (ip.empty() ? "" : "/") + s.local;
            allowed |= p == ip || p.starts_with(ip + "/") || ip.starts_with(p + "/");
          }
          CHECK(allowed);
        }
      }
    }
  }
  // Both outcomes occur: the generator exercises the load-time check as well as the filter.
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

namespace {

// 2026-06-15T12:00:00Z
constexpr std::int64_t k_june_2026 = 1781524800000;

struct policy_fixture : fixture {
  base::manual_clock clk{k_june_2026};
  std::shared_ptr<consent_registry> consents = std::make_shared<consent_registry>();
  std::unique_ptr<policy_router> router;
  policy_fixture() {
    auto all = load(shipped());
    REQUIRE(all.ok());
    router = std::make_unique<policy_router>(
        std::vector<policy_subscription>{
            {"medicaid", "placement-notification", "CARE_COORDINATION"},
            {"court", "placement-notification", "COURT_PROCEEDING"},
            {"school", "placement-notification", "EDUCATION_STABILITY"},
            {"research", "placement-notification", "RESEARCH"},
            {"cws", "pharmacy-claim", "OVERSIGHT"},
            {"phn", "pharmacy-claim", "CARE_COORDINATION"},
            {"research", "pharmacy-claim", "RESEARCH"},
            {"court", "pharmacy-claim", "COURT_PROCEEDING"},
            {"court", "pmap-application", "COURT_PROCEEDING"},
            {"cws", "pmap-application", "TREATMENT"},
            {"oversight", "pharmacy-claim", "PUBLIC_REPORTING"},
            {"oversight", "placement-notification", "PUBLIC_REPORTING"}},
        *all, clk, consents);
  }
  std::vector<observation> counted;
  std::map<std::string, decision> route(const std::string& agency, const std::string& exchange,
                                        const std::string& doc) {
    auto d = std::make_shared<const std::string>(doc);
    std::map<std::string, decision> out;
    counted.clear();
    for (auto& x : router->route({"M1", agency, "t", "K1", exchange, d}, nullptr, &counted))
      out[x.recipient] = x;
    return out;
  }
  std::string golden(const std::string& exchange, const std::string& name) {
    for (auto& [n, d] : goldens(exchange))
      if (n == name) return d;
    FAIL("no golden " << name);
    return {};
  }
};

consent grant(std::string id, std::string recipient, std::vector<std::string> purposes,
              std::vector<std::string> categories) {
  consent c;
  c.consent_id = std::move(id);
  c.record_id = c.consent_id + "-1";
  c.status = "ACTIVE";
  c.client_id = "CWS-2002-0456";
  c.medicaid_id = "95550009K";
  c.recipient = std::move(recipient);
  c.purposes = std::move(purposes);
  c.categories = std::move(categories);
  c.effective_date = "2026-03-10";
  c.expiration_date = "2026-12-31";
  c.acknowledged = true;
  return c;
}

}  // namespace

TEST_CASE(
    "placements: medicaid and the court receive their filtered documents, school and research "
    "nothing") {
  policy_fixture f;
  auto doc = f.golden("placement-notification", "start-foster-home-full.expected.xml");
  auto ds = f.route("cws", "placement-notification", doc);
  REQUIRE(ds.count("medicaid"));
  CHECK(ds["medicaid"].deliver);
  CHECK(ds["medicaid"].agreement == "DSA-001@1");
  CHECK(ds["medicaid"].document->find("900-11-2222") == std::string::npos);  // the SSN
  CHECK(ds["medicaid"].document->find("95550001C") != std::string::npos);    // the Medicaid id
  CHECK(ds["court"].deliver);
  CHECK(ds["court"].agreement == "DSA-002@1");
  CHECK(ds["court"].document->find("95550001C") == std::string::npos);
  CHECK(ds["court"].document->find("JV-2026-00701") != std::string::npos);  // court case number
  CHECK(ds["medicaid"].document != ds["court"].document);
  CHECK_FALSE(ds["school"].deliver);
  CHECK(ds["school"].reason == base::errc::route_agreement_expired);
  CHECK(ds["school"].agreement == "DSA-008@1");
  // Research receives the placement de-identified (DSA-007).
  REQUIRE(ds["research"].deliver);
  const auto& deid = *ds["research"].document;
  CHECK(deid.find("Ana") == std::string::npos);
  CHECK(deid.find("95550001C") == std::string::npos);
  CHECK(deid.find("<nc:YearDate>2014</nc:YearDate>") != std::string::npos);
  CHECK(deid.find("PSN-") != std::string::npos);
  // Before DSA-008 ended, the school received the placement.
  f.clk.set_ms(k_june_2026 - 365LL * 24 * 3600 * 1000);
  auto before = f.route("cws", "placement-notification", doc);
  CHECK(before["school"].deliver);
  CHECK(before["school"].document->find("Ana") != std::string::npos);
}

TEST_CASE(
    "oversight never receives a record: paid psychotropic claims and placements are counted") {
  policy_fixture f;
  auto claim = f.golden("pharmacy-claim", "paid-psychotropic.expected.xml");
  auto ds = f.route("medicaid", "pharmacy-claim", claim);
  CHECK_FALSE(ds["oversight"].deliver);
  CHECK(ds["oversight"].reason == base::errc::route_aggregate_only);
  CHECK(ds["oversight"].agreement == "DSA-009@1");
  CHECK_FALSE(ds["oversight"].document);
  REQUIRE(f.counted.size() == 1);
  CHECK(f.counted[0].agreement == "DSA-009");
  CHECK(f.counted[0].day == "2026-06-01");
  auto fields = decode_fields(encode_fields(f.counted[0].fields));
  CHECK(fields == f.counted[0].fields);
  CHECK(fields == std::vector<std::pair<std::string, std::string>>{
                      {"person", "95550001C"}, {"date", "2026-06-01"}, {"class", "ADHD AGENT"}});
  // A denied claim is not counted (the agreement's condition), and says so.
  auto denied =
      f.route("medicaid", "pharmacy-claim", f.golden("pharmacy-claim", "denied.expected.xml"));
  CHECK(denied["oversight"].reason == base::errc::route_condition_not_met);
  CHECK(f.counted.empty());
  // Every placement event counts (the population and the county).
  auto pl = f.route("cws", "placement-notification",
                    f.golden("placement-notification", "start-foster-home-full.expected.xml"));
  CHECK(pl["oversight"].reason == base::errc::route_aggregate_only);
  REQUIRE(f.counted.size() == 1);
  CHECK(f.counted[0].exchange == "placement-notification");
  CHECK_FALSE(f.counted[0].day.empty());
  // Values with line breaks, '=' and '%' survive the stored encoding.
  std::vector<std::pair<std::string, std::string>> odd{{"class", "A=B%\nC\r"}, {"x", ""}};
  CHECK(decode_fields(encode_fields(odd)) == odd);
}

TEST_CASE("pharmacy claims: paid only, the court has no agreement, phn needs consent") {
  policy_fixture f;
  auto paid = f.golden("pharmacy-claim", "paid-psychotropic.expected.xml");
  auto ds = f.route("medicaid", "pharmacy-claim", paid);
  CHECK(ds["cws"].deliver);
  CHECK(ds["cws"].document->find("Dispenser") == std::string::npos);
  CHECK_FALSE(ds["court"].deliver);
  CHECK(ds["court"].reason == base::errc::route_no_agreement);
  CHECK_FALSE(ds["phn"].deliver);
  CHECK(ds["phn"].reason == base::errc::route_no_consent);
  auto denied =
      f.route("medicaid", "pharmacy-claim", f.golden("pharmacy-claim", "denied.expected.xml"));
  CHECK_FALSE(denied["cws"].deliver);
  CHECK(denied["cws"].reason == base::errc::route_condition_not_met);
  // A recipient asking for a purpose its agreement does not allow.
  auto pmap = f.route("pmap-portal", "pmap-application",
                      f.golden("pmap-application", "emergency-one-medication.expected.xml"));
  CHECK(pmap["court"].deliver);
  CHECK_FALSE(pmap["cws"].deliver);
  CHECK(pmap["cws"].reason == base::errc::route_purpose_not_allowed);
}

TEST_CASE(
    "a substance use disorder claim reaches cws only inside the consent's window and never after "
    "its revocation") {
  policy_fixture f;
  auto sud = f.golden("pharmacy-claim", "sud-treatment.expected.xml");
  REQUIRE(sud.find("<ext:DrugSubstanceUseDisorderTreatmentIndicator>true") != std::string::npos);
  // The claim's Medicaid id.
  auto mid_at = sud.find("<ext:PersonMedicaidIdentification>");
  REQUIRE(mid_at != std::string::npos);
  auto id_start = sud.find("<nc:IdentificationID>", mid_at) + 21;
  auto medicaid_id = sud.substr(id_start, sud.find('<', id_start) - id_start);

  auto no_consent = f.route("medicaid", "pharmacy-claim", sud);
  CHECK_FALSE(no_consent["cws"].deliver);
  CHECK(no_consent["cws"].reason == base::errc::route_no_consent);

  auto c = grant("CNS-1", "cws", {"OVERSIGHT"}, {"MEDICATION"});
  c.medicaid_id = medicaid_id;
  f.consents->apply(c);
  auto wrong_category = f.route("medicaid", "pharmacy-claim", sud);
  CHECK(wrong_category["cws"].reason == base::errc::route_category_not_consented);

  auto s = grant("CNS-2", "cws", {"OVERSIGHT"}, {"SUD"});
  s.medicaid_id = medicaid_id;
  f.consents->apply(s);
  auto within = f.route("medicaid", "pharmacy-claim", sud);
  CHECK(within["cws"].deliver);
  CHECK(within["cws"].consent == "CNS-2");
  // 42 CFR Part 2: the notice of 2.32 and the security labels travel with the record.
  const auto& delivered = *within["cws"].document;
  CHECK(delivered.find("<ext:SecurityLabelCode>42CFRPart2</ext:SecurityLabelCode>") !=
        std::string::npos);
  CHECK(delivered.find("prohibit you from making any further disclosure") != std::string::npos);
  std::string why;
  CHECK(valid(f, delivered, &why));
  INFO(why);
  // A claim without substance use disorder treatment carries no such notice.
  auto plain = f.route("medicaid", "pharmacy-claim",
                       f.golden("pharmacy-claim", "paid-psychotropic.expected.xml"));
  REQUIRE(plain["cws"].deliver);
  CHECK(plain["cws"].document->find("DisclosureRestriction") == std::string::npos);

  f.clk.set_ms(k_june_2026 + 200LL * 24 * 3600 * 1000);  // 2027-01: after expiration
  auto after = f.route("medicaid", "pharmacy-claim", sud);
  CHECK_FALSE(after["cws"].deliver);
  CHECK(after["cws"].reason == base::errc::route_consent_expired);

  f.clk.set_ms(k_june_2026);
  auto revoke = s;
  revoke.status = "REVOKED";
  revoke.revoked_at = "2026-06-01T09:30:00-07:00";
  revoke.purposes.clear();
  f.consents->apply(revoke);
  auto revoked = f.route("medicaid", "pharmacy-claim", sud);
  CHECK_FALSE(revoked["cws"].deliver);
  CHECK(revoked["cws"].reason == base::errc::route_consent_revoked);
  // A later grant under the same consent id does not revive a revoked consent.
  f.consents->apply(s);
  CHECK_FALSE(f.route("medicaid", "pharmacy-claim", sud)["cws"].deliver);
}

TEST_CASE("phn receives claims under an acknowledged consent and never without it") {
  policy_fixture f;
  auto paid = f.golden("pharmacy-claim", "paid-psychotropic.expected.xml");
  auto mid_at = paid.find("<ext:PersonMedicaidIdentification>");
  auto id_start = paid.find("<nc:IdentificationID>", mid_at) + 21;
  auto medicaid_id = paid.substr(id_start, paid.find('<', id_start) - id_start);
  auto c = grant("CNS-P", "phn", {"CARE_COORDINATION"}, {"MEDICATION"});
  c.medicaid_id = medicaid_id;
  c.acknowledged = false;
  f.consents->apply(c);
  CHECK(f.route("medicaid", "pharmacy-claim", paid)["phn"].reason == base::errc::route_no_consent);
  c.consent_id = "CNS-P2";
  c.acknowledged = true;
  f.consents->apply(c);
  auto ok = f.route("medicaid", "pharmacy-claim", paid);
  REQUIRE(ok["phn"].deliver);
  const auto& d = *ok["phn"].document;
  CHECK(d.find("NPIIdentification") == std::string::npos);
  CHECK(d.find("DrugTherapeuticClassText") == std::string::npos);
  CHECK(d.find("DrugNDCCode") != std::string::npos);
  std::string why;
  CHECK(valid(f, d, &why));
  INFO(why);
}

TEST_CASE("consent directives are read from their NIEM documents") {
  fixture f;
  auto docs = f.goldens("consent-directive");
  std::map<std::string, std::string> by;
  for (auto& [n, d] : docs) by[n] = d;
  auto youth = consent_from_document(by["youth-sud-consent.expected.xml"]);
  REQUIRE(youth);
  CHECK(youth->consent_id == "CNS-2026-100002");
  CHECK(youth->status == "ACTIVE");
  CHECK(youth->recipient == "cws");
  CHECK(youth->client_id == "CWS-2002-0456");
  CHECK(youth->purposes == std::vector<std::string>{"OVERSIGHT", "TREATMENT"});
  CHECK(youth->categories == std::vector<std::string>{"SUD"});
  CHECK(youth->effective_date == "2026-03-10");
  CHECK(youth->expiration_date == "2026-12-31");
  CHECK(youth->acknowledged);
  auto rev = consent_from_document(by["revocation.expected.xml"]);
  REQUIRE(rev);
  CHECK(rev->status == "REVOKED");
  CHECK(rev->revoked_at == "2026-06-01T09:30:00-07:00");
  auto nack = consent_from_document(by["not-acknowledged.expected.xml"]);
  REQUIRE(nack);
  CHECK_FALSE(nack->acknowledged);
}

TEST_CASE("the tokenizer ends damaged documents with an error, never a crash") {
  for (std::string_view bad : {"<a><b></a>", "<a", "<a x=1/>", "<p:a/>", "<a><!DOCTYPE x></a>",
                               "<a>text", "</a>", "<a x=\"1/>", "<a><!-- never closed"}) {
    xml_stream x(bad);
    auto k = x.next();
    int guard = 0;
    while (k != xml_stream::kind::done && k != xml_stream::kind::error && ++guard < 100)
      k = x.next();
    CHECK(k == xml_stream::kind::error);
    CHECK_FALSE(x.error().empty());
  }
  xml_stream ok(
      R"(<?xml version="1.0"?><a xmlns="u" xmlns:p="v"><p:b c="&amp;">x &lt; y</p:b><d/></a>)");
  std::vector<std::string> seen;
  for (auto k = ok.next(); k != xml_stream::kind::done; k = ok.next()) {
    REQUIRE(k != xml_stream::kind::error);
    if (k == xml_stream::kind::start)
      seen.push_back(std::string(ok.name().ns) + "|" + std::string(ok.name().local));
    if (k == xml_stream::kind::text) seen.push_back(ok.text());
  }
  CHECK(seen == std::vector<std::string>{"u|a", "v|b", "x < y", "u|d"});
}

namespace {

// Every value a Safe Harbor reviewer would call an identifier, from a source document.
std::vector<std::string> identifiers_in(std::string_view doc) {
  static const std::set<std::string> names = {
      "IdentificationID", "PersonGivenName",          "PersonMiddleName",
      "PersonSurName",    "PersonFullName",           "TelephoneNumberFullID",
      "ContactEmailID",   "AddressDeliveryPointText", "AddressPostalCode",
      "CaseDocketID",     "ChildWelfareAgencyCaseID", "CaregiverName"};
  std::vector<std::string> out;
  xml_stream x(doc);
  std::string current;
  for (auto k = x.next(); k != xml_stream::kind::done && k != xml_stream::kind::error;
       k = x.next()) {
    if (k == xml_stream::kind::start) current = std::string(x.name().local);
    if (k == xml_stream::kind::text && names.count(current)) {
      auto v = std::string(niem::base::trim(x.text()));
      if (v.size() >= 3) out.push_back(v);
    }
    if (k == xml_stream::kind::end) current.clear();
  }
  return out;
}

bool has_full_date(const std::string& s) {
  for (std::size_t i = 0; i + 10 <= s.size(); ++i) {
    auto d = [&](std::size_t j) { return s[i + j] >= '0' && s[i + j] <= '9'; };
    if (d(0) && d(1) && d(2) && d(3) && s[i + 4] == '-' && d(5) && d(6) && s[i + 7] == '-' &&
        d(8) && d(9))
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("property: no de-identified document holds an identifier or a full date") {
  fixture f;
  auto all = f.load(f.shipped());
  REQUIRE(all.ok());
  const auto& research = by_id(*all, "DSA-007");
  int checked = 0;
  for (const auto& t : research.exchanges) {
    for (const auto& [name, doc] : f.goldens(t.exchange)) {
      INFO(t.exchange << " " << name);
      auto r = apply_filter(t, doc);
      REQUIRE(r.ok);
      std::string why;
      CHECK(valid(f, r.document, &why));
      INFO(why);
      CHECK_FALSE(has_full_date(r.document));
      for (const auto& id : identifiers_in(doc)) {
        INFO("identifier " << id);
        CHECK(r.document.find(id) == std::string::npos);
      }
      ++checked;
    }
  }
  CHECK(checked >= 14);
}

TEST_CASE("pseudonyms are stable within an agreement and unlinkable across agreements") {
  fixture f;
  auto all = f.load(f.shipped());
  REQUIRE(all.ok());
  const auto& research = by_id(*all, "DSA-007");
  auto pseudonyms = [](const std::string& doc) {
    std::vector<std::string> out;
    for (auto at = doc.find("PSN-"); at != std::string::npos; at = doc.find("PSN-", at + 1))
      out.push_back(doc.substr(at, 28));
    return out;
  };
  // The same child (Medicaid id 95550001C) in a placement and in a claim: the same pseudonym.
  std::string placement, claim;
  for (const auto& [n, d] : f.goldens("placement-notification"))
    if (d.find("95550001C") != std::string::npos) placement = d;
  for (const auto& [n, d] : f.goldens("pharmacy-claim"))
    if (d.find("95550001C") != std::string::npos &&
        d.find("<ext:ClaimStatusCode>PAID") != std::string::npos &&
        d.find("DrugSubstanceUseDisorderTreatmentIndicator>false") != std::string::npos)
      claim = d;
  REQUIRE_FALSE(placement.empty());
  REQUIRE_FALSE(claim.empty());
  auto p = apply_filter(*research.terms("placement-notification"), placement).document;
  auto c = apply_filter(*research.terms("pharmacy-claim"), claim).document;
  auto child = "PSN-" + base::hmac_sha256_hex(f.research_key, "95550001C").substr(0, 24);
  CHECK(p.find(child) != std::string::npos);
  CHECK(c.find(child) != std::string::npos);
  // Under another agreement's secret the same child has another pseudonym.
  testing::temp_dir dir("niem-dsa-keys");
  auto copy = dir.write("DSA-007.xml", slurp(research.file));
  std::map<std::string, std::string> other_key{{copy, "another-agreement-secret-0123456789abcdef"}};
  auto other = load_agreements({copy}, f.xsd, *f.lib->schemas(), f.roots, other_key);
  REQUIRE(other.ok());
  auto p2 = apply_filter(*other->front()->terms("placement-notification"), placement).document;
  for (const auto& ps : pseudonyms(p)) CHECK(p2.find(ps) == std::string::npos);
  CHECK_FALSE(pseudonyms(p2).empty());
  // Without a secret, an agreement that pseudonymizes is refused.
  auto none = load_agreements({copy}, f.xsd, *f.lib->schemas(), f.roots);
  REQUIRE_FALSE(none.ok());
  CHECK(none.errors().front().message.find("secret") != std::string::npos);
}

TEST_CASE("an agreement's status on a day reads its effective dates inclusively, open when empty") {
  routing::agreement a;
  a.effective_from = "2024-01-01";
  a.effective_to = "2025-12-31";
  CHECK(a.status_on("2023-12-31") == agreement_status::not_yet_effective);
  CHECK(a.status_on("2024-01-01") == agreement_status::in_effect);
  CHECK(a.status_on("2025-12-31") == agreement_status::in_effect);
  CHECK(a.status_on("2026-01-01") == agreement_status::expired);
  CHECK(routing::status_name(a.status_on("2026-01-01")) == "expired");
  CHECK(a.in_effect_during("2025-10-01", "2025-12-31"));
  CHECK(a.in_effect_during("2023-10-01", "2024-01-01"));
  CHECK_FALSE(a.in_effect_during("2026-01-01", "2026-03-31"));
  CHECK_FALSE(a.in_effect_during("2023-10-01", "2023-12-31"));
  routing::agreement open;
  CHECK(open.status_on("0001-01-01") == agreement_status::in_effect);
  CHECK(open.status_on("9999-12-31") == agreement_status::in_effect);
  open.effective_from = "2024-01-01";
  CHECK(open.status_on("9999-12-31") == agreement_status::in_effect);
  CHECK(routing::status_name(open.status_on("2023-01-01")) == "not_yet_effective");
}
