// The medication authorization check's rules (medication-oversight.md), case by case.
#include "oversight/medication.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <tuple>

#include "support/fixtures.h"
#include "validation/validation.h"

using namespace niem::oversight::medication;

namespace {

claim tablet(std::string strength, std::string quantity, std::string days,
             std::string form = "TABLET") {
  claim c;
  c.claim_id = "RX1";
  c.medicaid_id = "91234567A";
  c.fill_date = "2026-03-10";
  c.ndc = "65162-0627-10";
  c.drug_name = "GUANFACINE ER";
  c.strength = std::move(strength);
  c.dose_form = std::move(form);
  c.quantity = std::move(quantity);
  c.days_supply = std::move(days);
  return c;
}

amount max(const char* text) {
  auto a = parse_amount(text);
  REQUIRE(a);
  return *a;
}

ruling authorized(std::string drug, std::string ndc, const char* max_dose, std::string from,
                  std::string through, std::string kind = "AUTHORIZED") {
  ruling r;
  r.drug_name = std::move(drug);
  r.ndc = std::move(ndc);
  r.ruling = std::move(kind);
  r.max_daily_dose = parse_amount(max_dose);
  r.authorized_from = std::move(from);
  r.authorized_through = std::move(through);
  return r;
}

ruling denied(std::string drug, std::string ndc = "") {
  ruling r;
  r.drug_name = std::move(drug);
  r.ndc = std::move(ndc);
  r.ruling = "DENIED";
  return r;
}

order make_order(std::string id, std::string app, std::string date, std::string decision,
                 std::vector<ruling> rulings, std::string supersedes = "") {
  order o;
  o.order_id = std::move(id);
  o.application_id = std::move(app);
  o.ordered_date = std::move(date);
  o.decision = std::move(decision);
  o.rulings = std::move(rulings);
  o.supersedes_order_id = std::move(supersedes);
  return o;
}

application make_application(std::string id, std::string submitted, bool emergency,
                             std::string drug, std::string ndc = "") {
  application a;
  a.application_id = std::move(id);
  a.submitted_date = std::move(submitted);
  a.emergency = emergency;
  a.medications.push_back({std::move(drug), std::move(ndc)});
  return a;
}

}  // namespace

TEST_CASE("a maximum is a decimal, a space and mg, mcg, g or mL, and nothing else") {
  CHECK(to_string(max("4 mg")) == "4 mg");
  CHECK(to_string(max("0.5 mg")) == "0.5 mg");
  CHECK(to_string(max("10 mL")) == "10 mL");
  CHECK(to_string(max("500 mcg")) == "500 mcg");
  CHECK(to_string(max("1.50 g")) == "1.5 g");
  for (auto bad : {"4mg", "4 MG", "4 ml", "4  mg", " 4 mg", "-4 mg", "+4 mg", "4 mg/day", "mg", "4",
                   "4 tablets", "1e3 mg", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_amount(bad));
  }
}

TEST_CASE("a tablet, capsule or film's daily dose is strength x quantity / days supply") {
  for (auto form : {"TABLET", "CAPSULE", "FILM"}) {
    INFO(form);
    auto d = daily_dose(tablet("1 MG", "120", "30", form), max("4 mg"));
    CHECK(d.computable);
    CHECK_FALSE(d.over);  // exactly the maximum is within it
    CHECK(d.daily == "4 mg");
  }
  auto over = daily_dose(tablet("1 MG", "121", "30"), max("4 mg"));
  CHECK(over.computable);
  CHECK(over.over);
  CHECK(over.daily == "4.033 mg");
  // Strictly greater, however small the excess: 4.0000001 mg.
  CHECK(daily_dose(tablet("1 MG", "120.0000030", "30"), max("4 mg")).over);
  CHECK_FALSE(daily_dose(tablet("1 MG", "119.9999999", "30"), max("4 mg")).over);
  // Fractional quantities and strengths.
  auto half = daily_dose(tablet("0.5 MG", "150.5", "30"), max("2.5 mg"));
  CHECK(half.daily == "2.508 mg");
  CHECK(half.over);
}

TEST_CASE("units convert to the maximum's: 1 g = 1000 mg = 10^6 mcg") {
  auto mcg = daily_dose(tablet("500 MCG", "30", "30"), max("0.5 mg"));
  CHECK(mcg.computable);
  CHECK_FALSE(mcg.over);
  CHECK(mcg.daily == "0.5 mg");
  CHECK(daily_dose(tablet("501 MCG", "30", "30"), max("0.5 mg")).over);
  auto grams = daily_dose(tablet("0.3 G", "90", "30"), max("900 mg"));
  CHECK(grams.daily == "900 mg");
  CHECK_FALSE(grams.over);
  auto to_g = daily_dose(tablet("300 MG", "91", "30"), max("0.9 g"));
  CHECK(to_g.daily == "0.91 g");
  CHECK(to_g.over);
  auto to_mcg = daily_dose(tablet("0.1 MG", "60", "30"), max("200 mcg"));
  CHECK(to_mcg.daily == "200 mcg");
  CHECK_FALSE(to_mcg.over);
}

TEST_CASE("a solution or suspension's daily dose is N / M x quantity in mL / days supply") {
  for (auto form : {"SOLUTION", "SUSPENSION"}) {
    INFO(form);
    auto d = daily_dose(tablet("5 MG/5 ML", "150", "30", form), max("5 mg"));
    CHECK(d.computable);
    CHECK_FALSE(d.over);
    CHECK(d.daily == "5 mg");
    CHECK(daily_dose(tablet("5 MG/5 ML", "151", "30", form), max("5 mg")).over);
  }
  auto ml = daily_dose(tablet("1 MG/1 ML", "300", "30", "SOLUTION"), max("10 mL"));
  CHECK(ml.computable);
  CHECK_FALSE(ml.over);
  CHECK(ml.daily == "10 mL");
  CHECK(daily_dose(tablet("1 MG/1 ML", "300.5", "30", "SOLUTION"), max("10 mL")).over);
  auto mcg = daily_dose(tablet("100 MCG/2 ML", "60", "30", "SOLUTION"), max("0.05 mg"));
  CHECK(mcg.daily == "0.1 mg");
  CHECK(mcg.over);
}

TEST_CASE("any other strength, unit or dose form is not computable") {
  CHECK_FALSE(daily_dose(tablet("8 MG-2 MG", "30", "30", "FILM"), max("16 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("5 MEQ", "30", "30"), max("5 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("1 MG", "30", "30", "PATCH"), max("1 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("1 MG", "30", "30", "INJECTION"), max("1 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("5 MG/5 ML", "30", "30", "TABLET"), max("1 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("1 MG", "30", "30", "SOLUTION"), max("1 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("1 mg", "30", "30"), max("1 mg")).computable);
  // A tablet's dose has no volume.
  CHECK_FALSE(daily_dose(tablet("1 MG", "30", "30"), max("10 mL")).computable);
  // No days, no quantity, or a nonsense one.
  CHECK_FALSE(daily_dose(tablet("1 MG", "30", "0"), max("1 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("1 MG", "-30", "30"), max("1 mg")).computable);
  CHECK_FALSE(daily_dose(tablet("1 MG", "", "30"), max("1 mg")).computable);
}

TEST_CASE(
    "an NDC matches on labeler and product; without one, the first word without case and accents") {
  auto c = tablet("1 MG", "30", "30");
  CHECK(same_medication("65162-0627-10", "", c));
  CHECK(same_medication("65162-0627-11", "Anything", c));             // another package
  CHECK_FALSE(same_medication("65162-0628-10", "Guanfacine ER", c));  // the NDC decides
  CHECK_FALSE(same_medication("65162", "Guanfacine ER", c));
  CHECK(same_medication("", "Guanfacine ER", c));
  CHECK(same_medication("", "guanfacine", c));
  CHECK_FALSE(same_medication("", "Clonidine ER", c));
  CHECK_FALSE(same_medication("", "", c));
  CHECK(ingredient_key("Éscitalopram oxalate") == "escitalopram");
  CHECK(ingredient_key("  SERTRALINE HCL") == "sertraline");
  CHECK(ingredient_key("ÀÉÎÕÜÇÑøßŁŒ x") == "aeioucnossloe");
  auto accented = tablet("10 MG", "30", "30");
  accented.ndc.clear();
  accented.drug_name = "ESCITALOPRAM";
  CHECK(same_medication("", "Éscitalopram", accented));
}

TEST_CASE("days are added across months, years and leap days") {
  CHECK(add_days("2026-03-10", 2) == "2026-03-12");
  CHECK(add_days("2026-02-27", 2) == "2026-03-01");
  CHECK(add_days("2024-02-28", 1) == "2024-02-29");
  CHECK(add_days("2026-12-31", 1) == "2027-01-01");
  CHECK(add_days("2026-01-01", -1) == "2025-12-31");
  CHECK(add_days("2026-02-30", 1).empty());
  CHECK(add_days("20260310", 1).empty());
}

TEST_CASE("each outcome of the specification, from what is known of the child") {
  auto c = tablet("1 MG", "120", "30");  // 4 mg a day, filled 2026-03-10
  child_view child;
  child.linked = true;

  SECTION("UNLINKED_CHILD: no client number and no application or order") {
    child.linked = false;
    CHECK(evaluate(c, child).result == outcome::unlinked_child);
    CHECK(alerts(outcome::unlinked_child));
  }
  SECTION("a linked child with nothing on file: NO_AUTHORIZATION") {
    CHECK(evaluate(c, child).result == outcome::no_authorization);
  }
  SECTION("an order names the child but not the medication: NO_AUTHORIZATION") {
    child.linked = false;
    child.orders.push_back(
        make_order("O1", "A1", "2026-03-01", "GRANTED",
                   {authorized("Sertraline", "", "50 mg", "2026-03-01", "2026-08-31")}));
    CHECK(evaluate(c, child).result == outcome::no_authorization);
  }
  SECTION("AUTHORIZED within the period and the maximum, the period's days inclusive") {
    child.orders.push_back(make_order(
        "O1", "A1", "2026-03-01", "GRANTED",
        {authorized("Guanfacine ER", "65162-0627-10", "4 mg", "2026-03-10", "2026-03-10")}));
    auto v = evaluate(c, child);
    CHECK(v.result == outcome::authorized);
    CHECK(v.order_id == "O1");
    CHECK(v.daily_dose == "4 mg");
    CHECK(v.maximum == "4 mg");
    CHECK_FALSE(alerts(v.result));
  }
  SECTION("OVER_MAXIMUM_DOSE, with the dose and the maximum") {
    child.orders.push_back(make_order("O1", "A1", "2026-03-01", "GRANTED_IN_PART",
                                      {authorized("Guanfacine", "", "3 mg", "2026-03-01",
                                                  "2026-08-31", "AUTHORIZED_AS_MODIFIED")}));
    auto v = evaluate(c, child);
    CHECK(v.result == outcome::over_maximum_dose);
    CHECK(v.daily_dose == "4 mg");
    CHECK(v.maximum == "3 mg");
    CHECK(v.order_id == "O1");
  }
  SECTION("a dose that is not computable is judged on the authorization alone") {
    c.strength = "8 MG-2 MG";
    child.orders.push_back(
        make_order("O1", "A1", "2026-03-01", "GRANTED",
                   {authorized("Guanfacine", "", "1 mg", "2026-03-01", "2026-08-31")}));
    CHECK(evaluate(c, child).result == outcome::authorized);
  }
  SECTION("AUTHORIZATION_EXPIRED: authorized, but never on the fill date") {
    child.orders.push_back(
        make_order("O1", "A1", "2025-09-01", "GRANTED",
                   {authorized("Guanfacine", "", "4 mg", "2025-09-01", "2026-03-09")}));
    auto v = evaluate(c, child);
    CHECK(v.result == outcome::authorization_expired);
    CHECK(v.order_id == "O1");
    CHECK(alerts(v.result));
  }
  SECTION("DENIED: the latest order on the application denied the medication") {
    child.orders.push_back(
        make_order("O1", "A1", "2026-03-01", "DENIED", {denied("Guanfacine ER", "65162-0627-10")}));
    auto v = evaluate(c, child);
    CHECK(v.result == outcome::denied);
    CHECK(v.order_id == "O1");
    CHECK(v.application_id == "A1");
  }
  SECTION("PENDING_APPLICATION: applied for on or before the fill date, no ruling yet") {
    child.applications.push_back(
        make_application("A1", "2026-03-10", false, "Guanfacine ER", "65162-0627-10"));
    auto v = evaluate(c, child);
    CHECK(v.result == outcome::pending_application);
    CHECK(v.application_id == "A1");
    CHECK_FALSE(alerts(v.result));
    // A hearing set is no ruling.
    child.orders.push_back(make_order("O1", "A1", "2026-03-11", "HEARING_SET", {}));
    CHECK(evaluate(c, child).result == outcome::pending_application);
    // A ruling ends it.
    child.orders.push_back(
        make_order("O2", "A1", "2026-03-20", "DENIED", {denied("Guanfacine ER")}, "O1"));
    CHECK(evaluate(c, child).result == outcome::denied);
  }
}

TEST_CASE(
    "an application filed after the fill date is pending only if an emergency one, within 2 days") {
  auto c = tablet("1 MG", "120", "30");  // filled 2026-03-10
  child_view child;
  child.linked = true;
  child.applications.push_back(make_application("A1", "2026-03-12", true, "Guanfacine"));
  CHECK(evaluate(c, child).result == outcome::pending_application);
  child.applications[0].submitted_date = "2026-03-13";
  CHECK(evaluate(c, child).result == outcome::no_authorization);
  child.applications[0].submitted_date = "2026-03-11";
  child.applications[0].emergency = false;
  CHECK(evaluate(c, child).result == outcome::no_authorization);
  // Across a month's end.
  c.fill_date = "2026-02-27";
  child.applications[0] = make_application("A1", "2026-03-01", true, "Guanfacine");
  CHECK(evaluate(c, child).result == outcome::pending_application);
}

TEST_CASE("a pending claim's order covers it even before authorized_from, and denies it too") {
  auto c = tablet("1 MG", "120", "30");  // filled 2026-03-10
  child_view child;
  child.linked = true;
  child.applications.push_back(make_application("A1", "2026-03-09", true, "Guanfacine"));
  child.orders.push_back(
      make_order("O1", "A1", "2026-03-16", "GRANTED",
                 {authorized("Guanfacine", "", "4 mg", "2026-03-16", "2026-09-01")}));
  // Seen pending on A1 before: the order authorizes the dose given while it was pending.
  auto v = evaluate(c, child, {"A1"});
  CHECK(v.result == outcome::authorized);
  CHECK(v.order_id == "O1");
  // Never pending (e.g. the application arrived after the order): the period decides.
  CHECK(evaluate(c, child).result == outcome::authorization_expired);
  // Pending on another application: not covered by this one's order.
  CHECK(evaluate(c, child, {"A9"}).result == outcome::authorization_expired);
  // Over the maximum even so.
  child.orders[0].rulings[0].max_daily_dose = parse_amount("2 mg");
  CHECK(evaluate(c, child, {"A1"}).result == outcome::over_maximum_dose);
}

TEST_CASE("an order superseded on or before the fill date no longer covers it") {
  auto c = tablet("1 MG", "120", "30");  // filled 2026-03-10
  child_view child;
  child.linked = true;
  child.orders.push_back(
      make_order("O1", "A1", "2026-03-01", "GRANTED",
                 {authorized("Guanfacine", "", "4 mg", "2026-03-01", "2026-08-31")}));
  child.orders.push_back(make_order(
      "O2", "A1", "2026-03-10", "GRANTED_IN_PART",
      {authorized("Guanfacine", "", "2 mg", "2026-03-10", "2026-08-31", "AUTHORIZED_AS_MODIFIED")},
      "O1"));
  // O2, signed on the fill date, replaced O1: its 2 mg maximum holds.
  auto v = evaluate(c, child);
  CHECK(v.result == outcome::over_maximum_dose);
  CHECK(v.order_id == "O2");
  CHECK(v.maximum == "2 mg");
  // Signed the day after: O1 still held on the fill date.
  child.orders[1].ordered_date = "2026-03-11";
  child.orders[1].rulings[0].authorized_from = "2026-03-11";
  v = evaluate(c, child);
  CHECK(v.result == outcome::authorized);
  CHECK(v.order_id == "O1");
  // A superseding order that ends the authorization: denied from its signing on.
  child.orders[1] = make_order("O2", "A1", "2026-03-05", "DENIED", {denied("Guanfacine")}, "O1");
  v = evaluate(c, child);
  CHECK(v.result == outcome::denied);
  CHECK(v.order_id == "O2");
}

namespace {

std::shared_ptr<const niem::validation::schema_set> exception_schema() {
  static auto set = niem::testing::exchange_schema("medication-authorization-exception");
  REQUIRE(set);
  return set;
}

exception_notice notice(outcome o) {
  exception_notice n;
  n.result = o;
  n.id = "MAE-RX1-" + std::string(outcome_name(o));
  n.county_fips = "06037";
  n.client_id = "CWS-0047-1123";
  n.day = "2026-06-02";
  n.c = tablet("1 MG", "120", "30");
  n.c.given_name = "MARÍA";
  n.c.surname = "LÓPEZ-GARCÍA & <SONS>";
  n.c.birth_date = "2015-06-30";
  n.c.prescriber_given_name = "ANA";
  n.c.prescriber_surname = "REYES";
  n.c.prescriber_npi = "1234567893";
  n.c.therapeutic_class = "ADHD AGENT";
  return n;
}

}  // namespace

TEST_CASE("every alert and resolution the check writes is valid for its exchange schema") {
  niem::validation::validator v(exception_schema());
  for (auto o : {outcome::over_maximum_dose, outcome::denied, outcome::authorization_expired,
                 outcome::no_authorization, outcome::unlinked_child}) {
    auto n = notice(o);
    n.v.order_id = o == outcome::denied || o == outcome::over_maximum_dose ? "JV223-1" : "";
    n.v.application_id = o == outcome::denied ? "PMAP-1" : "";
    n.v.daily_dose = "4.033 mg";
    n.v.maximum = "4 mg";
    if (o == outcome::unlinked_child) {
      n.client_id.clear();
      n.county_fips.clear();
    }
    std::vector<niem::base::diagnostic> problems;
    auto doc = write_exception(n, exception_schema().get(), &problems);
    INFO(doc);
    auto rep = v.validate(doc, "alert");
    for (const auto& d : rep.diagnostics) UNSCOPED_INFO(niem::base::format(d));
    CHECK(rep.valid);
    // The compiled checks agree, and never change the bytes.
    CHECK(problems.empty());
    CHECK(write_exception(n) == doc);
    CHECK(doc.find("<ext:MedicationExceptionCategoryCode>" + std::string(outcome_name(o))) !=
          std::string::npos);
    CHECK(doc.find("LÓPEZ-GARCÍA &amp; &lt;SONS&gt;") != std::string::npos);
    CHECK((doc.find("ComputedDailyDoseText>4.033 mg<") != std::string::npos) ==
          (o == outcome::over_maximum_dose));
    CHECK((doc.find("CountyUnknownIndicator>true<") != std::string::npos) ==
          (o == outcome::unlinked_child));
  }
  auto r = notice(outcome::no_authorization);
  r.id = "MAE-RX1-NO_AUTHORIZATION-RESOLVED";
  r.resolves = "MAE-RX1-NO_AUTHORIZATION";
  r.covering_order = "JV223-2026-000811";
  r.c.sud = true;
  std::vector<niem::base::diagnostic> problems;
  auto doc = write_exception(r, exception_schema().get(), &problems);
  INFO(doc);
  auto rep = v.validate(doc, "resolution");
  for (const auto& d : rep.diagnostics) UNSCOPED_INFO(niem::base::format(d));
  CHECK(rep.valid);
  CHECK(problems.empty());
  // A county code that is not 5 digits breaks the schema: both validators say so, the checks
  // naming the element.
  auto off = r;
  off.county_fips = "6037";
  auto broken = write_exception(off, exception_schema().get(), &problems);
  CHECK_FALSE(v.validate(broken, "county").valid);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].field == "/mae:MedicationAuthorizationException/ext:CountyFIPSCode");
  CHECK(doc.find("<ext:ResolvedExceptionIdentification>\n      <nc:IdentificationID>"
                 "MAE-RX1-NO_AUTHORIZATION</nc:IdentificationID>") != std::string::npos);
  CHECK(doc.find("DrugSubstanceUseDisorderTreatmentIndicator>true<") != std::string::npos);
}

namespace {
std::string golden(const std::string& rel) {
  std::ifstream in(niem::testing::source_root() + "/mappings/" + rel, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("the check reads an order, an application and a claim from the broker's documents") {
  auto o = read_order(golden("pmap-order/tests/granted-in-part-supersedes-hearing.expected.xml"));
  REQUIRE(o);
  CHECK(o->o.order_id == "JV223-2026-100131");
  CHECK(o->o.application_id == "PMAP-2026-100060");
  CHECK(o->o.supersedes_order_id == "JV223-2026-100102");
  CHECK(o->o.ordered_date == "2026-03-16");
  CHECK(o->o.decision == "GRANTED_IN_PART");
  CHECK(o->child.client_id == "CWS-0290-1184");
  CHECK(o->child.medicaid_id.empty());
  REQUIRE(o->o.rulings.size() == 2);
  const auto& r0 = o->o.rulings[0];
  CHECK(r0.drug_name == "Aripiprazole");
  CHECK(r0.ndc.empty());
  CHECK(r0.ruling == "AUTHORIZED_AS_MODIFIED");
  REQUIRE(r0.max_daily_dose);
  CHECK(to_string(*r0.max_daily_dose) == "5 mL");
  CHECK(r0.authorized_from == "2026-03-16");
  CHECK(r0.authorized_through == "2026-06-30");
  const auto& r1 = o->o.rulings[1];
  CHECK(r1.drug_name == "Quetiapine");
  CHECK(r1.ndc == "00310-0275-10");
  CHECK(r1.ruling == "DENIED");
  CHECK_FALSE(r1.max_daily_dose);
  CHECK(r1.authorized_from.empty());

  auto h = read_order(golden("pmap-order/tests/hearing-set-no-medications.expected.xml"));
  REQUIRE(h);
  CHECK(h->o.decision == "HEARING_SET");
  CHECK(h->o.rulings.empty());
  auto g = read_order(golden("pmap-order/tests/granted-one-medication-with-ndc.expected.xml"));
  REQUIRE(g);
  CHECK(g->child.medicaid_id == "93456781C");

  auto a = read_application(golden("pmap-application/tests/emergency-one-medication.expected.xml"));
  REQUIRE(a);
  CHECK(a->a.application_id == "PMAP-2026-100002");
  CHECK(a->a.submitted_date == "2026-06-03");
  CHECK(a->a.emergency);
  CHECK(a->child.client_id == "CWS-2002-0456");  // the child's, not the prescriber's
  REQUIRE(a->a.medications.size() == 1);
  CHECK(a->a.medications[0].drug_name == "Aripiprazole");
  CHECK(a->a.medications[0].ndc == "00093-5380-56");
  auto two =
      read_application(golden("pmap-application/tests/two-medications-two-diagnoses.expected.xml"));
  REQUIRE(two);
  CHECK(two->a.medications.size() == 2);

  auto c = read_claim(golden("mmis-pharmacy-claim/tests/apostrophe-name.expected.xml"));
  REQUIRE(c);
  CHECK(c->c.claim_id == "RX2026060100006");
  CHECK(c->status == "PAID");
  CHECK(c->psychotropic);
  CHECK_FALSE(c->c.sud);
  CHECK(c->c.medicaid_id == "95550004F");
  CHECK(c->c.given_name == "LILA");
  CHECK(c->c.surname == "HADDAD");
  CHECK(c->c.birth_date == "2016-03-03");
  CHECK(c->c.drug_name == "METHYLPHENIDATE");
  CHECK(c->c.quantity == "300");
  CHECK(c->c.dose_form == "SOLUTION");
  CHECK(c->c.days_supply == "30");
  CHECK(c->c.strength == "5 MG/5 ML");
  CHECK(c->c.ndc == "00054-3171-63");
  CHECK(c->c.therapeutic_class == "ADHD AGENT");
  CHECK(c->c.prescriber_given_name == "PAT");
  CHECK(c->c.prescriber_surname == "O'BRIEN");
  CHECK(c->c.prescriber_npi == "1902837465");
  CHECK(c->c.fill_date == "2026-06-03");
  // 5 mg / 5 mL x 300 mL / 30 days = 10 mg a day.
  auto d = daily_dose(c->c, *parse_amount("10 mg"));
  CHECK(d.daily == "10 mg");
  CHECK_FALSE(d.over);

  // What is not such a document reads as nothing.
  CHECK_FALSE(read_order("<a><b>"));
  CHECK_FALSE(read_order(golden("pmap-application/tests/emergency-one-medication.expected.xml")));
  CHECK_FALSE(read_claim(""));
}

TEST_CASE("the readers read elements by namespace and local name, not local name alone") {
  // An agency's own extension may reuse NIEM's local names under its own namespace: those
  // elements are not the claim's indicator, its drug or its member's number.
  auto doc = golden("mmis-pharmacy-claim/tests/apostrophe-name.expected.xml");
  auto foreign = [&](std::string d, const std::string& from, const std::string& to) {
    for (auto at = d.find(from); at != std::string::npos; at = d.find(from, at + to.size()))
      d.replace(at, from.size(), to);
    return d;
  };
  const std::string other = " xmlns:other=\"http://example.org/other/1.0/\"";
  auto with_other = foreign(doc, " xmlns:ext=", other + " xmlns:ext=");
  REQUIRE(read_claim(with_other));  // the namespace declaration alone changes nothing

  auto c = read_claim(
      foreign(with_other, "ext:DrugPsychotropicIndicator", "other:DrugPsychotropicIndicator"));
  REQUIRE(c);
  CHECK_FALSE(c->psychotropic);
  c = read_claim(foreign(foreign(with_other, "<nc:ItemName>", "<other:ItemName>"), "</nc:ItemName>",
                         "</other:ItemName>"));
  REQUIRE(c);
  CHECK(c->c.drug_name.empty());
  // Without its member's number, in ext:, it is not a claim the check can read.
  CHECK_FALSE(read_claim(foreign(with_other, "ext:PersonMedicaidIdentification",
                                 "other:PersonMedicaidIdentification")));

  auto o = golden("pmap-order/tests/granted-in-part-supersedes-hearing.expected.xml");
  auto with_other_o = foreign(o, " xmlns:ext=", other + " xmlns:ext=");
  auto read = read_order(
      foreign(with_other_o, "ext:CourtOrderDecisionCode", "other:CourtOrderDecisionCode"));
  REQUIRE(read);
  CHECK(read->o.decision.empty());
  read =
      read_order(foreign(with_other_o, "j:CourtOrderIssuingDate", "other:CourtOrderIssuingDate"));
  REQUIRE(read);
  CHECK(read->o.ordered_date.empty());
}

TEST_CASE("the registry finds a child's records by Medicaid id or by a placement's link") {
  registry reg;
  auto c = tablet("1 MG", "120", "30");  // Medicaid 91234567A, filled 2026-03-10
  // The court's order names only the client number: the claim's child is unknown until a
  // placement links the two numbers.
  order_document o{make_order("O1", "A1", "2026-03-01", "GRANTED",
                              {authorized("Guanfacine", "", "4 mg", "2026-03-01", "2026-08-31")}),
                   {"CWS-1", ""}};
  reg.add(o);
  CHECK(evaluate(c, reg.view(c.medicaid_id)).result == outcome::unlinked_child);
  CHECK(reg.affected({"CWS-1", ""}).empty());
  reg.link("CWS-1", "91234567A");
  CHECK(reg.affected({"CWS-1", ""}) == std::vector<std::string>{"91234567A"});
  auto v = evaluate(c, reg.view(c.medicaid_id));
  CHECK(v.result == outcome::authorized);
  CHECK(v.order_id == "O1");
  // An application that names the Medicaid id itself needs no link; it links nothing else.
  application_document a{make_application("A7", "2026-03-01", false, "Sertraline"),
                         {"CWS-7", "97777777G"}};
  reg.add(a);
  auto other = c;
  other.medicaid_id = "97777777G";
  other.drug_name = "SERTRALINE";
  other.ndc = "16729-0001-01";
  CHECK(evaluate(other, reg.view("97777777G")).result == outcome::pending_application);
  CHECK(reg.view("97777777G").orders.empty());
  CHECK_FALSE(reg.view("97777777G").linked);
  CHECK(reg.affected({"CWS-7", "97777777G"}) == std::vector<std::string>{"97777777G"});
  // A record sent again replaces itself.
  reg.add(o);
  CHECK(reg.view(c.medicaid_id).orders.size() == 1);
}

TEST_CASE("whatever order the facts arrive in, the same claims end with the same outcomes") {
  // Two children; a hearing set then granted on one application, a denial, a link, an emergency.
  std::vector<std::function<void(registry&)>> facts = {
      [](registry& r) { r.link("CWS-1", "91234567A"); },
      [](registry& r) {
        r.add(application_document{
            make_application("A1", "2026-03-01", false, "Guanfacine ER", "65162-0627-10"),
            {"CWS-1", ""}});
      },
      [](registry& r) {
        r.add(
            order_document{make_order("O1", "A1", "2026-03-05", "HEARING_SET", {}), {"CWS-1", ""}});
      },
      [](registry& r) {
        r.add(order_document{make_order("O2", "A1", "2026-03-20", "GRANTED",
                                        {authorized("Guanfacine ER", "65162-0627-10", "4 mg",
                                                    "2026-03-20", "2026-09-01")},
                                        "O1"),
                             {"CWS-1", ""}});
      },
      [](registry& r) {
        r.add(order_document{make_order("O3", "A2", "2026-03-02", "DENIED", {denied("Clonidine")}),
                             {"CWS-2", "92222222B"}});
      },
      [](registry& r) {
        r.add(application_document{make_application("A3", "2026-03-12", true, "Clonidine"),
                                   {"CWS-2", "92222222B"}});
      },
  };
  std::vector<claim> claims;
  for (auto [id, m, drug, fill, qty] :
       {std::tuple{"C1", "91234567A", "GUANFACINE ER", "2026-03-10", "120"},
        std::tuple{"C2", "91234567A", "GUANFACINE ER", "2026-03-25", "120"},
        std::tuple{"C3", "91234567A", "GUANFACINE ER", "2026-03-25", "150"},
        std::tuple{"C4", "92222222B", "CLONIDINE", "2026-03-10", "30"},
        std::tuple{"C5", "92222222B", "CLONIDINE", "2026-03-08", "30"},
        std::tuple{"C6", "93333333C", "CLONIDINE", "2026-03-10", "30"}}) {
    auto c = tablet("1 MG", qty, "30");
    c.claim_id = id;
    c.medicaid_id = m;
    c.drug_name = drug;
    c.fill_date = fill;
    if (c.drug_name != "GUANFACINE ER") c.ndc = "00000-0000-00";
    claims.push_back(c);
  }
  auto outcomes = [&](const registry& r) {
    std::vector<std::string> out;
    for (const auto& c : claims)
      out.emplace_back(outcome_name(evaluate(c, r.view(c.medicaid_id)).result));
    return out;
  };
  std::vector<int> order(facts.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::vector<std::string> first;
  int permutations = 0;
  do {
    registry r;
    for (int i : order) facts[static_cast<std::size_t>(i)](r);
    auto got = outcomes(r);
    if (first.empty()) first = got;
    CHECK(got == first);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  CHECK(permutations == 720);
  // C1 was filled before the grant's period and never seen pending here: expired. C2 within it,
  // C3 over its maximum; C4 an emergency application two days after the fill, which the latest
  // order (a denial on another application) does not end; C5 the same application four days
  // late, so the denial decides; C6 a child nobody knows.
  CHECK(first == std::vector<std::string>{"AUTHORIZATION_EXPIRED", "AUTHORIZED",
                                          "OVER_MAXIMUM_DOSE", "PENDING_APPLICATION", "DENIED",
                                          "UNLINKED_CHILD"});
}
