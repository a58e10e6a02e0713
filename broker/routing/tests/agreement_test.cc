// Agreements against the real exchange schemas and the mappings' golden documents: the shipped
// DSA files load, filters keep exactly what they list and stay schema-valid, broken agreements
// are refused (the policy router's decisions: policy_test.cc).
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
#include "oversight/medication.h"
#include "routing/agreement.h"
#include "routing/policy.h"
#include "routing/xml_stream.h"
#include "support/fixtures.h"

using namespace niem;
using namespace niem::routing;
namespace fs = std::filesystem;

#include "routing/tests/agreement_fixture.h"

using namespace niem::routing::test;

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
  int accepted = 0, refused = 0, withheld = 0;
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
        if (!fr.ok) {  // it kept a reference and removed its object: withheld, never delivered
          CHECK(fr.code == base::errc::route_reference_removed);
          ++withheld;
          continue;
        }
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
  INFO("withheld for a reference without its object: " << withheld);
}
