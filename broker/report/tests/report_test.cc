// Aggregate reports (DSA-009): periods, counting by the placement known at each fill date,
// small-cell suppression (primary and complementary, with a property test), the NIEM document
// (schema-valid, golden), and production through the real pipeline, store and policy router.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include <fmt/format.h>

#include "pipeline/pipeline.h"
#include "report/report.h"
#include "routing/policy.h"
#include "support/agreements.h"
#include "validation/validation.h"

using namespace niem;
using namespace niem::report;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const class_cell& klass(const area& a, const std::string& k) {
  for (const auto& c : a.classes)
    if (c.klass == k) return c;
  FAIL("no class " << k);
  throw 0;
}

const area& county(const table& t, const std::string& c) {
  for (const auto& a : t.counties)
    if ((c == "unknown" && a.unknown) || (!a.unknown && a.county == c)) return a;
  FAIL("no county " << c);
  throw 0;
}

std::shared_ptr<const validation::schema_set> report_schema() {
  auto s = validation::schema_set::load(
      {{testing::source_root() + "/schemas/exchange/aggregate-report.xsd"}, "", {}});
  REQUIRE(s.ok());
  return s.value();
}

// 2026-11-22T12:00:00Z
constexpr std::int64_t k_now = 1'795'348'800'000;

}  // namespace

TEST_CASE("report periods: quarters, explicit ranges, and the quarter that is due") {
  auto q = parse_period("2026-Q3");
  REQUIRE(q);
  CHECK(q->from == "2026-07-01");
  CHECK(q->to == "2026-09-30");
  CHECK(parse_period("2024-Q1")->to == "2024-03-31");
  CHECK(parse_period("2026-Q4")->to == "2026-12-31");
  auto r = parse_period("2026-01-15..2026-02-28");
  REQUIRE(r);
  CHECK(r->from == "2026-01-15");
  CHECK_FALSE(parse_period("2026-Q5"));
  CHECK_FALSE(parse_period("2026-03-01..2026-02-01"));
  CHECK_FALSE(parse_period("2026-02-30..2026-03-01"));
  CHECK_FALSE(parse_period("yesterday"));
  CHECK(quarter_of("2026-11-22").label == "2026-Q4");
  // Fifteen days after a quarter ends, its report is due; before that, the one before it.
  CHECK(due_quarter("2026-10-15", 15).label == "2026-Q2");
  CHECK(due_quarter("2026-10-16", 15).label == "2026-Q3");
  CHECK(due_quarter("2026-11-22", 15).label == "2026-Q3");
  CHECK(due_quarter("2027-01-01", 0).label == "2026-Q4");
  CHECK(due_quarter("2026-01-10", 15).label == "2025-Q3");
}

TEST_CASE("children are counted in the county of the placement known at each fill date") {
  auto p = *parse_period("2026-Q3");
  std::vector<placement_event> pl = {
      // A: 06037 from May, moves to 06001 on Aug 1 (a new placement ends the one before).
      {"CWS-A", "MA", "06037", "PL-A1", "2026-05-01", ""},
      {"CWS-A", "", "06001", "PL-A2", "2026-08-01", ""},
      // B: placed in 06037, placement ended on Jul 20 (END event of the same placement).
      {"CWS-B", "MB", "06037", "PL-B1", "2026-03-01", ""},
      {"CWS-B", "MB", "06037", "PL-B1", "2026-03-01", "2026-07-20"},
      // C: known only by Medicaid id, placed in 06059 in September.
      {"", "MC", "06059", "PL-C1", "2026-09-10", ""},
      // D: left care before the quarter: not in foster care this quarter.
      {"CWS-D", "MD", "06037", "PL-D1", "2025-01-01", "2026-06-30"},
  };
  std::vector<counted_event> ev = {
      {"MA", "2026-07-15", "ANTIPSYCHOTIC"},  // A in 06037 then
      {"MA", "2026-08-15", "ANTIPSYCHOTIC"},  // and in 06001 now: counted in both counties
      {"MA", "2026-08-20", "ANTIPSYCHOTIC"},  // the same child again: counted once
      {"MB", "2026-07-10", "ADHD AGENT"},     // B still placed
      {"MB", "2026-08-10", "ADHD AGENT"},     // after B's placement ended: unknown
      {"MC", "2026-09-12", "ANTIDEPRESSANT"},
      {"MZ", "2026-08-01", "ANTIDEPRESSANT"},  // never placed: unknown
      {"MA", "2026-10-01", "ANTIDEPRESSANT"},  // outside the period
  };
  auto t = count(pl, ev, p);
  CHECK(t.state.foster.value == 3);  // A, B, C (D left before July)
  CHECK(county(t, "06037").foster.value == 2);
  CHECK(county(t, "06001").foster.value == 1);
  CHECK(county(t, "06059").foster.value == 1);
  CHECK(klass(county(t, "06037"), "ANTIPSYCHOTIC").children.value == 1);
  CHECK(klass(county(t, "06001"), "ANTIPSYCHOTIC").children.value == 1);
  CHECK(klass(t.state, "ANTIPSYCHOTIC").children.value == 1);
  CHECK(klass(county(t, "06037"), "ADHD AGENT").children.value == 1);
  CHECK(klass(county(t, "unknown"), "ADHD AGENT").children.value == 1);
  CHECK(klass(county(t, "06059"), "ANTIDEPRESSANT").children.value == 1);
  CHECK(klass(county(t, "unknown"), "ANTIDEPRESSANT").children.value == 1);
  CHECK(klass(t.state, "ANTIDEPRESSANT").children.value == 2);
  CHECK_FALSE(county(t, "unknown").has_foster);
  // Every row lists every class of the period; the unknown row comes last.
  for (const auto& a : t.counties) CHECK(a.classes.size() == 3);
  CHECK(t.counties.back().unknown);
}

TEST_CASE("small counts are suppressed, and so is any count that would give one away") {
  auto p = *parse_period("2026-Q3");
  std::vector<placement_event> pl;
  std::vector<counted_event> ev;
  for (int i = 0; i < 26; ++i) {
    auto m = "M37-" + std::to_string(i);
    pl.push_back(
        {"C37-" + std::to_string(i), m, "06037", "P37-" + std::to_string(i), "2026-05-01", ""});
    if (i < 14) ev.push_back({m, "2026-08-10", "ANTIPSYCHOTIC"});
    if (i < 12) ev.push_back({m, "2026-08-11", "ADHD AGENT"});
  }
  for (int i = 0; i < 12; ++i) {
    auto m = "M01-" + std::to_string(i);
    pl.push_back(
        {"C01-" + std::to_string(i), m, "06001", "P01-" + std::to_string(i), "2026-07-15", ""});
    if (i < 3) ev.push_back({m, "2026-08-12", "ADHD AGENT"});
  }
  auto t = count(pl, ev, p);
  suppress(t, 11);
  // Primary: the counts below 11.
  CHECK(klass(county(t, "06001"), "ADHD AGENT").children.state == shown::primary);
  CHECK(klass(county(t, "06001"), "ANTIPSYCHOTIC").children.state == shown::primary);
  // Complementary: 15 - 12 would give 06001's 3; 14 - 14 would give its 0.
  CHECK(klass(county(t, "06037"), "ADHD AGENT").children.state == shown::complementary);
  CHECK(klass(county(t, "06037"), "ANTIPSYCHOTIC").children.state == shown::complementary);
  // Shown: the totals and the foster-care counts (26 + 12 = 38, nothing hidden).
  CHECK(klass(t.state, "ADHD AGENT").children.state == shown::value);
  CHECK(klass(t.state, "ADHD AGENT").children.value == 15);
  CHECK(klass(t.state, "ANTIPSYCHOTIC").children.value == 14);
  CHECK(t.state.foster.state == shown::value);
  CHECK(t.state.foster.value == 38);
  CHECK(county(t, "06037").foster.state == shown::value);
  CHECK(county(t, "06001").foster.state == shown::value);

  SECTION("the document is schema-valid and matches its golden file") {
    t.agreement = "DSA-009@1";
    std::vector<base::diagnostic> problems;
    auto doc =
        write_document(t, "DSA-009@1/2026-Q3", "2026-10-16", report_schema().get(), &problems);
    validation::validator v(report_schema());
    auto rep = v.validate(doc, "report");
    for (const auto& d : rep.diagnostics) UNSCOPED_INFO(base::format(d));
    CHECK(rep.valid);
    CHECK(problems.empty());  // the compiled checks as the writer wrote it agree
    auto golden = fs::path(testing::source_root()) / "broker/report/tests/golden/dsa-009-q3.xml";
    if (std::getenv("NIEM_UPDATE_GOLDEN")) std::ofstream(golden, std::ios::binary) << doc;
    CHECK(doc == slurp(golden));
    // Nothing child-level: no Medicaid id or client number of the input.
    CHECK(doc.find("M37-") == std::string::npos);
    CHECK(doc.find("C01-") == std::string::npos);
  }
}

TEST_CASE(
    "children with an alert raised in the quarter and unresolved at its end, by county and "
    "outcome, suppressed like the rest") {
  auto p = *parse_period("2026-Q3");
  std::vector<placement_event> pl;
  std::vector<counted_event> ev;
  std::vector<exception_event> ex;
  for (int i = 0; i < 14; ++i) {
    auto m = "M37-" + std::to_string(i);
    ex.push_back({m, "2026-08-10", "06037", "NO_AUTHORIZATION", "MAE-A" + std::to_string(i), ""});
    // The same child twice: counted once.
    ex.push_back({m, "2026-08-11", "06037", "NO_AUTHORIZATION", "MAE-B" + std::to_string(i), ""});
  }
  for (int i = 0; i < 3; ++i)
    ex.push_back({"M01-" + std::to_string(i), "2026-09-01", "06001", "NO_AUTHORIZATION",
                  "MAE-C" + std::to_string(i), ""});
  // Resolved within the quarter: not counted. Resolved after its end: still counted.
  ex.push_back({"M01-9", "2026-07-02", "06001", "DENIED", "MAE-D1", ""});
  ex.push_back({"M01-9", "2026-07-20", "06001", "DENIED", "MAE-D1-RESOLVED", "MAE-D1"});
  ex.push_back({"M01-8", "2026-07-02", "06001", "DENIED", "MAE-D2", ""});
  ex.push_back({"M01-8", "2026-10-03", "06001", "DENIED", "MAE-D2-RESOLVED", "MAE-D2"});
  // Raised before or after the quarter: not counted. No county known: the unknown row.
  ex.push_back({"M01-7", "2026-06-30", "06001", "DENIED", "MAE-E1", ""});
  ex.push_back({"M01-6", "2026-10-01", "06001", "DENIED", "MAE-E2", ""});
  ex.push_back({"MZ-1", "2026-08-01", "", "UNLINKED_CHILD", "MAE-F1", ""});
  auto t = count(pl, ev, p, ex);
  auto outcome = [](const area& a, const std::string& o) -> const cell& {
    for (const auto& k : a.exceptions)
      if (k.klass == o) return k.children;
    FAIL("no outcome " << o);
    throw 0;
  };
  CHECK(outcome(county(t, "06037"), "NO_AUTHORIZATION").value == 14);
  CHECK(outcome(county(t, "06001"), "NO_AUTHORIZATION").value == 3);
  CHECK(outcome(county(t, "06001"), "DENIED").value == 1);  // only M01-8
  CHECK(outcome(county(t, "unknown"), "UNLINKED_CHILD").value == 1);
  CHECK(outcome(t.state, "NO_AUTHORIZATION").value == 17);
  // Every row lists every outcome of the period.
  for (const auto& a : t.counties) CHECK(a.exceptions.size() == 3);
  suppress(t, 11);
  CHECK(outcome(county(t, "06001"), "NO_AUTHORIZATION").state == shown::primary);
  // 17 - 14 = 3 is split between two hidden cells (06001's 3 and the unknown row's 0): no
  // complementary suppression is needed. DENIED: 06001's 1 and the state's 1 both primary.
  CHECK(outcome(county(t, "unknown"), "NO_AUTHORIZATION").state == shown::primary);
  CHECK(outcome(county(t, "06037"), "NO_AUTHORIZATION").state == shown::value);
  CHECK(outcome(t.state, "NO_AUTHORIZATION").state == shown::value);
  CHECK(outcome(t.state, "DENIED").state == shown::primary);

  t.agreement = "DSA-009@1";
  std::vector<base::diagnostic> problems;
  auto doc = write_document(t, "DSA-009@1/2026-Q3", "2026-10-16", report_schema().get(), &problems);
  validation::validator v(report_schema());
  auto rep = v.validate(doc, "report");
  for (const auto& d : rep.diagnostics) UNSCOPED_INFO(base::format(d));
  CHECK(rep.valid);
  CHECK(problems.empty());
  // A county code that is not 5 digits breaks the schema: both validators say so, the checks
  // naming the element.
  auto broken = t;
  REQUIRE_FALSE(broken.counties.empty());
  broken.counties.back().county = "6037";
  broken.counties.back().unknown = false;
  auto bad =
      write_document(broken, "DSA-009@1/2026-Q3", "2026-10-16", report_schema().get(), &problems);
  CHECK_FALSE(v.validate(bad, "report").valid);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].field == "/ar:AggregateReport/ext:CountyStatistics/ext:CountyFIPSCode");
  auto golden =
      fs::path(testing::source_root()) / "broker/report/tests/golden/dsa-009-q3-alerts.xml";
  if (std::getenv("NIEM_UPDATE_GOLDEN")) std::ofstream(golden, std::ios::binary) << doc;
  CHECK(doc == slurp(golden));
  CHECK(doc.find("M37-") == std::string::npos);
  CHECK(format_json(t).find(R"("outcome":"NO_AUTHORIZATION","children":{"count":17})") !=
        std::string::npos);
  CHECK(format_text(t).find("unresolved NO_AUTHORIZATION") != std::string::npos);
}

TEST_CASE("property: after suppression no small count shows and no group hides exactly one") {
  std::mt19937 rng(20261122);
  auto p = *parse_period("2026-Q2");
  for (int round = 0; round < 300; ++round) {
    std::vector<placement_event> pl;
    std::vector<counted_event> ev;
    std::vector<exception_event> ex;
    int counties = 1 + static_cast<int>(rng() % 5);
    int children = static_cast<int>(rng() % 120);
    const char* classes[] = {"ANTIPSYCHOTIC", "ADHD AGENT", "ANTIDEPRESSANT", "MOOD STABILIZER"};
    for (int i = 0; i < children; ++i) {
      auto m = fmt::format("M{}", i);
      if (rng() % 10 != 0)  // a tenth never placed: unknown county
        pl.push_back({fmt::format("C{}", i), m, fmt::format("06{:03}", rng() % counties),
                      fmt::format("P{}", i), "2026-01-01", ""});
      for (int k = 0; k < 4; ++k)
        if (rng() % 3 == 0) ev.push_back({m, "2026-05-05", classes[k]});
      if (rng() % 4 == 0)
        ex.push_back({m, "2026-05-06",
                      rng() % 8 ? fmt::format("06{:03}", rng() % counties) : std::string(),
                      rng() % 2 ? "NO_AUTHORIZATION" : "DENIED", fmt::format("MAE-{}", i), ""});
    }
    auto t = count(pl, ev, p, ex);
    std::uint32_t minimum = 1 + rng() % 15;
    suppress(t, minimum);
    INFO("round " << round << " minimum " << minimum);
    auto check_cell = [&](const cell& c) {
      if (c.value < minimum) CHECK(c.state != shown::value);
    };
    check_cell(t.state.foster);
    for (const auto& k : t.state.classes) check_cell(k.children);
    int hidden_foster = t.state.foster.state != shown::value, placed_counties = 0;
    for (const auto& a : t.counties) {
      if (a.has_foster) {
        check_cell(a.foster);
        hidden_foster += a.foster.state != shown::value;
        ++placed_counties;
      }
      for (const auto& k : a.classes) check_cell(k.children);
    }
    // (Without any county, the total stands alone: nothing to subtract it from.)
    if (placed_counties > 0) CHECK(hidden_foster != 1);
    for (std::size_t k = 0; k < t.state.classes.size(); ++k) {
      int hidden = t.state.classes[k].children.state != shown::value;
      for (const auto& a : t.counties) hidden += a.classes[k].children.state != shown::value;
      CHECK(hidden != 1);
    }
    for (std::size_t k = 0; k < t.state.exceptions.size(); ++k) {
      check_cell(t.state.exceptions[k].children);
      int hidden = t.state.exceptions[k].children.state != shown::value;
      for (const auto& a : t.counties) {
        check_cell(a.exceptions[k].children);
        hidden += a.exceptions[k].children.state != shown::value;
      }
      CHECK(hidden != 1);
    }
  }
}

TEST_CASE("the broker counts claims and placements and queues the quarterly report once") {
  testing::temp_dir dir("niem-report");
  base::manual_clock clk(k_now);
  auto lib = testing::load_project_mappings();
  REQUIRE(lib);
  auto agreements = testing::load_shipped_agreements(*lib, {"DSA-009.xml"});
  REQUIRE(agreements.size() == 1);
  auto st = store::store::open(
      {.locator = dir.path.string(), .group_commit_max = 256, .audit_key = "report-test-audit-key"},
      clk);
  REQUIRE(st.ok());
  auto router = std::make_shared<routing::policy_router>(
      std::vector<routing::policy_subscription>{
          {"oversight", "pharmacy-claim", "PUBLIC_REPORTING"},
          {"oversight", "placement-notification", "PUBLIC_REPORTING"}},
      agreements, clk, std::make_shared<routing::consent_registry>());
  pipeline::pipeline pl(lib, router, **st, [] {
    pipeline::options o;
    o.workers = 2;
    return o;
  }());
  int n = 0;
  auto run = [&](std::string agency, std::string type, std::string ct, std::string body) {
    pipeline::job j;
    j.message_id = fmt::format("M{}", ++n);
    j.agency = agency;
    j.record_type = type;
    j.content_type = ct;
    j.body = body;
    j.received_ms = clk.now_ms();
    std::promise<pipeline::outcome> pr;
    pl.submit(std::move(j), [&](pipeline::outcome o) { pr.set_value(std::move(o)); });
    return pr.get_future().get();
  };
  auto placement = [&](const std::string& id, const std::string& client,
                       const std::string& medicaid, const std::string& fips,
                       const std::string& begin) {
    return fmt::format(
        R"({{"record_type":"placement","event_id":"EV-{}","event_type":"PLACEMENT_START",)"
        R"("recorded_at":"{}T09:00:00-07:00","county_fips":"{}","child":{{"client_id":"{}",)"
        R"("first_name":"Ana","last_name":"Test","birth_date":"2015-04-01","sex":"F",)"
        R"("medicaid_id":"{}"}},"removal":{{"date":"{}","reason_codes":["NEGLECT"]}},)"
        R"("placement":{{"placement_id":"PL-{}","setting":"FOSTER_FAMILY_HOME","begin_date":"{}",)"
        R"("caregiver":{{"name":"Home"}}}},"caseworker":{{"name":"Sam"}},"case":{{"case_id":"K-{}"}}}})",
        id, begin, fips, client, medicaid, begin, id, begin, id);
  };
  const std::string header =
      "CLAIM_ID|MEDICAID_ID|MEMBER_LAST_NAME|MEMBER_FIRST_NAME|MEMBER_DOB|MEMBER_SEX|FILL_DATE|"
      "NDC|DRUG_NAME|STRENGTH|DOSE_FORM|QUANTITY|DAYS_SUPPLY|PRESCRIBER_NPI|PRESCRIBER_NAME|"
      "PHARMACY_NPI|THERAPEUTIC_CLASS|PSYCHOTROPIC|SUD_TREATMENT|CLAIM_STATUS\n";
  auto claim = [&](const std::string& id, const std::string& medicaid, const std::string& fill,
                   const std::string& klass, const std::string& psych, const std::string& status) {
    return header + fmt::format(
                        "{}|{}|TEST|ANA|20150401|F|{}|00000-0000-00|DRUG|1 MG|TABLET|30|30|"
                        "1234567893|KIM, DANIEL|1987654321|{}|{}|N|{}\n",
                        id, medicaid, fill, klass, psych, status);
  };
  for (int i = 0; i < 26; ++i) {
    auto m = fmt::format("9100{:04}A", i);
    auto o = run("cws", "placement", "application/json",
                 placement(fmt::format("37-{}", i), fmt::format("CWS-0037-{:04}", i), m, "06037",
                           "2026-05-01"));
    REQUIRE(o.what == pipeline::outcome::status::accepted);
    // Withheld from oversight (counted, never delivered).
    REQUIRE(o.withheld.size() == 1);
    CHECK(o.withheld[0].reason == base::errc::route_aggregate_only);
    if (i < 14) {
      auto c = run("medicaid", "pharmacy_claim", "text/plain",
                   claim(fmt::format("RX37A{}", i), m, "20260810", "ANTIPSYCHOTIC", "Y", "PAID"));
      INFO(c.detail);
      REQUIRE(c.what == pipeline::outcome::status::accepted);
    }
    if (i < 12)
      run("medicaid", "pharmacy_claim", "text/plain",
          claim(fmt::format("RX37B{}", i), m, "20260811", "ADHD AGENT", "Y", "PAID"));
  }
  for (int i = 0; i < 12; ++i) {
    auto m = fmt::format("9200{:04}B", i);
    run("cws", "placement", "application/json",
        placement(fmt::format("01-{}", i), fmt::format("CWS-0001-{:04}", i), m, "06001",
                  "2026-07-15"));
    if (i < 3)
      run("medicaid", "pharmacy_claim", "text/plain",
          claim(fmt::format("RX01B{}", i), m, "20260812", "ADHD AGENT", "Y", "PAID"));
  }
  // Not counted: denied, not psychotropic, filled in another quarter.
  run("medicaid", "pharmacy_claim", "text/plain",
      claim("RXX1", "91000000A", "20260813", "ANTIPSYCHOTIC", "Y", "DENIED"));
  run("medicaid", "pharmacy_claim", "text/plain",
      claim("RXX2", "91000001A", "20260813", "ANTIBIOTIC", "N", "PAID"));
  run("medicaid", "pharmacy_claim", "text/plain",
      claim("RXX3", "91000002A", "20260613", "ANTIPSYCHOTIC", "Y", "PAID"));

  std::vector<store::queue_entry> queued;
  scheduler_options so;
  so.schemas = report_schema();
  so.recipients = {"oversight"};
  scheduler sch(so, agreements, **st, **st, clk, [&](std::vector<store::queue_entry> e) {
    queued.insert(queued.end(), e.begin(), e.end());
  });
  auto made = sch.run_once();
  REQUIRE(made == std::vector<std::string>{"DSA-009@1/2026-Q3"});
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].recipient == "oversight");
  CHECK(queued[0].exchange == "aggregate-report");
  const auto& doc = *queued[0].document;
  auto golden =
      slurp(fs::path(testing::source_root()) / "broker/report/tests/golden/dsa-009-q3.xml");
  // The same counts and suppressions as the table built by hand above, produced on 2026-11-22.
  auto expected = golden;
  expected.replace(expected.find("2026-10-16"), 10, "2026-11-22");
  CHECK(doc == expected);
  // Once per quarter: a second run (or a restart) queues nothing more.
  CHECK(sch.run_once().empty());
  scheduler again(so, agreements, **st, **st, clk, {});
  CHECK(again.run_once().empty());
  CHECK((*st)->stats({"oversight"})[0].depth == 1);
  // The delivery has its audit entry (no child in it) and the chain verifies.
  (*st)->flush();
  auto check = (*st)->verify_audit("report-test-audit-key");
  CHECK(check.ok);
  auto none = (*st)->disclosures("91000000A", 0);
  REQUIRE(none.ok());
  CHECK(none->empty());
  // On demand, the same table for any period: Q2 counted only the June claim's child, unknown.
  auto q2 = build(**st, *agreements[0], *parse_period("2026-Q2"));
  REQUIRE(q2.ok());
  CHECK(klass(q2->state, "ANTIPSYCHOTIC").children.value == 1);
  CHECK(klass(q2->state, "ANTIPSYCHOTIC").children.state == shown::primary);
  CHECK(q2->state.foster.value == 26);  // the 06037 children were in care in June
}
