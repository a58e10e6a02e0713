// The medication authorization check's state: claims checked when they arrive and again when an
// application, an order or a placement link for the child arrives; alerts once per claim and
// outcome; resolutions when a claim turns out covered; the state rebuilt from its facts.
#include "oversight/medication_check.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "base/clock.h"
#include "mapping/mapping.h"
#include "support/fixtures.h"
#include "validation/validation.h"

using namespace niem;
using namespace niem::oversight::medication;

namespace {

// The broker's own documents, made by the project's mappings from native records.
struct documents {
  std::shared_ptr<mapping::mapping_library> lib = testing::load_project_mappings();
  mapping::converter conv{lib};

  std::string convert(std::string_view exchange, const std::string& record) {
    REQUIRE(lib);
    for (const auto& m : lib->mappings())
      if (m->exchange() == exchange) {
        auto r = conv.convert(*m, record, "test");
        INFO(record);
        INFO((r.ok() ? std::string() : base::format(r.errors().front())));
        REQUIRE(r.ok());
        return r->document;
      }
    FAIL("no mapping for " << exchange);
    return {};
  }
  std::string claim(const std::string& id, const std::string& drug, const std::string& ndc,
                    const std::string& fill, const std::string& quantity,
                    const std::string& status = "PAID", const std::string& psychotropic = "Y",
                    const std::string& sud = "N") {
    // One row of the extract (the header is the mapping's).
    return convert("pharmacy-claim", id + "|95550001C|DE LA CRUZ|ANA|20141102|F|" + fill + "|" +
                                         ndc + "|" + drug + "|1 MG|TABLET|" + quantity +
                                         "|30|1234567893|KIM, DANIEL|1987654321|ADHD AGENT|" +
                                         psychotropic + "|" + sud + "|" + status);
  }
  std::string application(const std::string& id, const std::string& submitted_at,
                          bool emergency = false) {
    return convert(
        "pmap-application",
        R"({"record_type":"pmap_application","application_id":")" + id + R"(","submitted_at":")" +
            submitted_at +
            R"(","county_fips":"06075","court_case_number":"JV-2026-00701","emergency":)" +
            (emergency ? "true" : "false") +
            R"(,"child":{"client_id":"CWS-1001-0001","first_name":"Ana","last_name":"de la Cruz","birth_date":"2014-11-02","sex":"F","medicaid_id":"95550001C"},"prescriber":{"name":"Daniel Kim, MD","npi":"1234567893","specialty":"Child and Adolescent Psychiatry","phone":"+1-415-555-0123"},"diagnoses":[{"code":"F90.2","system":"ICD-10-CM","description":"ADHD"}],"medications":[{"drug_name":"Guanfacine ER","ndc":"65162-0627-10","dose":"1 mg","max_daily_dose":"4 mg","frequency":"once daily","route":"oral","status":"NEW","treatment_reason":"Inattention"}],"child_informed":true,"caregiver_informed":true})");
  }
  std::string order(const std::string& id, const std::string& application_id,
                    const std::string& ordered_at, const std::string& ruling,
                    const std::string& from, const std::string& through) {
    std::string medication =
        ruling == "DENIED"
            ? R"({"drug_name":"Guanfacine ER","ndc":"65162-0627-10","ruling":"DENIED"})"
            : R"({"drug_name":"Guanfacine ER","ndc":"65162-0627-10","ruling":")" + ruling +
                  R"(","max_daily_dose":"4 mg","authorized_from":")" + from +
                  R"(","authorized_through":")" + through + R"("})";
    return convert(
        "pmap-order",
        R"({"record_type":"pmap_order","order_id":")" + id + R"(","application_id":")" +
            application_id +
            R"(","court_case_number":"JV-2026-00701","county_fips":"06075","ordered_at":")" +
            ordered_at + R"(","judicial_officer":"Hon. Amara Okafor","decision":")" +
            (ruling == "DENIED" ? "DENIED" : "GRANTED") +
            R"(","child":{"client_id":"CWS-1001-0001","medicaid_id":"95550001C","first_name":"Ana","last_name":"de la Cruz","birth_date":"2014-11-02"},"medications":[)" +
            medication + "]}");
  }
};

std::string first_line(const std::string& rel) {
  std::ifstream in(testing::source_root() + rel);
  std::string line;
  std::getline(in, line);
  REQUIRE_FALSE(line.empty());
  return line;
}

check_inputs inputs() {
  return {"pharmacy-claim", "pmap-application", "pmap-order", "placement-notification"};
}

std::vector<std::string> ids(const std::vector<check_fact>& fs) {
  std::vector<std::string> out;
  for (const auto& f : fs) out.push_back(f.key);
  return out;
}

std::vector<std::string> ids(const std::vector<exception_notice>& ns) {
  std::vector<std::string> out;
  for (const auto& n : ns) out.push_back(n.id);
  return out;
}

std::shared_ptr<const validation::schema_set> exception_schema() {
  static auto set = testing::exchange_schema("medication-authorization-exception");
  REQUIRE(set);
  return set;
}

}  // namespace

TEST_CASE(
    "a claim is checked when it arrives and again when the child's application and order do") {
  documents d;
  std::vector<check_fact> kept_facts;
  base::manual_clock clk(1'780'000'000'000);  // 2026-05-28 UTC
  check ck(inputs(), clk);
  // As the store keeps them: the first value of a kind and key (so every change needs a key of
  // its own, or it would be lost).
  std::set<std::pair<std::string, std::string>> seen;
  auto keep = [&](const check::result& r) {
    for (const auto& f : r.facts) {
      INFO(f.kind << " " << f.key);
      CHECK(seen.emplace(f.kind, f.key).second);
      kept_facts.push_back(f);
    }
  };

  // Nobody knows the child yet: UNLINKED_CHILD, alerted once.
  auto r = ck.observe("pharmacy-claim",
                      d.claim("RX-C1", "GUANFACINE ER", "65162-0627-10", "20260601", "30"));
  keep(r);
  REQUIRE(ids(r.notices) == std::vector<std::string>{"MAE-RX-C1-UNLINKED_CHILD"});
  CHECK(r.notices[0].county_fips.empty());  // no placement known: the county is unknown
  REQUIRE(ck.kept().size() == 1);
  // The same claim again (resent, replayed): decided already, nothing new.
  r = ck.observe("pharmacy-claim",
                 d.claim("RX-C1", "GUANFACINE ER", "65162-0627-10", "20260601", "30"));
  CHECK(r.notices.empty());
  CHECK(r.facts.empty());

  // An application naming the medication, filed before the fill: pending, and no new alert.
  r = ck.observe("pmap-application", d.application("PMAP-T-1", "2026-05-28T09:00:00-07:00"));
  keep(r);
  CHECK(r.notices.empty());
  REQUIRE(ck.kept().size() == 1);
  CHECK(ck.kept()[0].last == outcome::pending_application);
  CHECK(ck.kept()[0].pending_on == std::vector<std::string>{"PMAP-T-1"});
  REQUIRE(r.facts.size() == 2);  // the application, and the claim's new state
  CHECK(r.facts[0].kind == k_fact_application);
  CHECK(r.facts[1].kind == k_fact_claim);

  // The order grants it from a date after the fill: the pending claim is covered all the same,
  // and its alert is resolved, naming the order.
  r = ck.observe("pmap-order", d.order("JV223-T-1", "PMAP-T-1", "2026-06-10T10:00:00-07:00",
                                       "AUTHORIZED", "2026-06-10", "2026-12-31"));
  keep(r);
  REQUIRE(ids(r.notices) == std::vector<std::string>{"MAE-RX-C1-UNLINKED_CHILD-RESOLVED"});
  CHECK(r.notices[0].resolves == "MAE-RX-C1-UNLINKED_CHILD");
  CHECK(r.notices[0].covering_order == "JV223-T-1");
  CHECK(ck.kept().empty());

  // The child's placement (county 06075 since 2026-02-02) becomes known.
  r = ck.observe("placement-notification",
                 d.convert("placement-notification",
                           first_line("/mappings/cws-placement/examples/placements.ndjson")));
  keep(r);
  REQUIRE(r.facts.size() == 1);
  CHECK(r.facts[0].kind == k_fact_placement);

  // A later fill over the maximum (5 mg a day against 4 mg): OVER_MAXIMUM_DOSE with both.
  r = ck.observe("pharmacy-claim",
                 d.claim("RX-C2", "GUANFACINE ER", "65162-0627-10", "20260615", "150"));
  keep(r);
  REQUIRE(ids(r.notices) == std::vector<std::string>{"MAE-RX-C2-OVER_MAXIMUM_DOSE"});
  CHECK(r.notices[0].v.daily_dose == "5 mg");
  CHECK(r.notices[0].v.maximum == "4 mg");
  CHECK(r.notices[0].v.order_id == "JV223-T-1");
  CHECK(r.notices[0].county_fips == "06075");
  // Another drug the court never saw: NO_AUTHORIZATION.
  r = ck.observe("pharmacy-claim",
                 d.claim("RX-C3", "CLONIDINE", "00000-0000-00", "20260615", "30"));
  keep(r);
  CHECK(ids(r.notices) == std::vector<std::string>{"MAE-RX-C3-NO_AUTHORIZATION"});
  // What the check wants (replicas catch up first only for these).
  CHECK(
      ck.wants("pharmacy-claim", d.claim("RX-W1", "CLONIDINE", "00000-0000-00", "20260615", "30")));
  CHECK_FALSE(ck.wants("pharmacy-claim",
                       d.claim("RX-W2", "CLONIDINE", "00000-0000-00", "20260615", "30", "DENIED")));
  CHECK(ck.wants("pmap-order", ""));
  CHECK(ck.wants("placement-notification", ""));
  CHECK_FALSE(ck.wants("aggregate-report", ""));
  // Not checked: a claim not paid, or not psychotropic.
  CHECK(ck.observe("pharmacy-claim",
                   d.claim("RX-C4", "CLONIDINE", "00000-0000-00", "20260615", "30", "DENIED"))
            .notices.empty());
  CHECK(ck.observe("pharmacy-claim",
                   d.claim("RX-C5", "CLONIDINE", "00000-0000-00", "20260615", "30", "PAID", "N"))
            .notices.empty());
  CHECK(ck.kept().size() == 2);

  // For operations: the open alerts (no name, no Medicaid id), what was decided of a settled
  // claim, and why each order or application did or did not cover a claim.
  auto open = ck.open_alerts();
  REQUIRE(open.size() == 2);
  CHECK(open[0].id == "MAE-RX-C2-OVER_MAXIMUM_DOSE");
  CHECK(open[0].county == "06075");
  CHECK(open[0].raised == "2026-05-28");
  CHECK(open[1].result == outcome::no_authorization);
  auto settled = ck.status("RX-C1");
  REQUIRE(settled);
  CHECK(settled->last == outcome::authorized);
  REQUIRE(settled->alerts.size() == 1);
  CHECK(settled->alerts[0].resolved);
  CHECK_FALSE(ck.status("RX-NEVER"));
  auto why = ck.explain("RX-C2");
  REQUIRE(why.size() == 2);
  CHECK(why[0].kind == "order");
  CHECK(why[0].id == "JV223-T-1");
  CHECK(why[0].covers);
  CHECK(why[0].why.find("daily dose 5 mg exceeds the maximum 4 mg") != std::string::npos);
  CHECK(why[1].kind == "application");
  CHECK_FALSE(why[1].covers);
  CHECK(why[1].why.find("ruled on by order JV223-T-1") != std::string::npos);
  why = ck.explain("RX-C3");
  REQUIRE(why.size() == 2);
  CHECK(why[0].why == "its NDC names another labeler or product");

  // Every notice is kept, written, with the record that raised it: a valid document of the
  // exception exchange.
  validation::validator v(exception_schema());
  std::vector<std::string> raised;
  for (const auto& f : kept_facts) {
    if (f.kind != k_fact_notice) continue;
    raised.push_back(f.key);
    auto rep = v.validate(f.value, f.key);
    for (const auto& dg : rep.diagnostics) UNSCOPED_INFO(base::format(dg));
    CHECK(rep.valid);
    CHECK(read_exception_id(f.value) == f.key);
  }
  CHECK(raised ==
        std::vector<std::string>{"MAE-RX-C1-UNLINKED_CHILD", "MAE-RX-C1-UNLINKED_CHILD-RESOLVED",
                                 "MAE-RX-C2-OVER_MAXIMUM_DOSE", "MAE-RX-C3-NO_AUTHORIZATION"});
  CHECK(ck.outstanding().empty());  // owed notices are what a restore finds unsent

  // Rebuilt from its facts, the check keeps the same claims and owes the notices not marked
  // sent (here: the two whose records committed).
  kept_facts.push_back({std::string(k_fact_sent), "MAE-RX-C1-UNLINKED_CHILD", ""});
  kept_facts.push_back({std::string(k_fact_sent), "MAE-RX-C1-UNLINKED_CHILD-RESOLVED", ""});
  check again(inputs());
  again.restore(kept_facts);
  REQUIRE(again.kept().size() == 2);
  CHECK(encode_claim_state(again.kept()[0]) == encode_claim_state(ck.kept()[0]));
  CHECK(encode_claim_state(again.kept()[1]) == encode_claim_state(ck.kept()[1]));
  CHECK(ids(again.outstanding()) ==
        std::vector<std::string>{"MAE-RX-C2-OVER_MAXIMUM_DOSE", "MAE-RX-C3-NO_AUTHORIZATION"});

  // ... and decides the same way from there: RX-C2 is still over, so nothing is sent twice.
  r = again.observe("pmap-order", d.order("JV223-T-2", "PMAP-T-9", "2026-06-20T10:00:00-07:00",
                                          "DENIED", "", ""));
  CHECK(r.notices.empty());
}

TEST_CASE("a pending claim whose order denies the medication raises DENIED") {
  documents d;
  check ck(inputs());
  ck.observe("pmap-application", d.application("PMAP-T-2", "2026-05-28T09:00:00-07:00"));
  auto r = ck.observe("pharmacy-claim",
                      d.claim("RX-D1", "GUANFACINE ER", "65162-0627-10", "20260601", "30"));
  CHECK(r.notices.empty());
  REQUIRE(ck.kept().size() == 1);
  CHECK(ck.kept()[0].last == outcome::pending_application);
  r = ck.observe("pmap-order",
                 d.order("JV223-T-3", "PMAP-T-2", "2026-06-05T10:00:00-07:00", "DENIED", "", ""));
  REQUIRE(ids(r.notices) == std::vector<std::string>{"MAE-RX-D1-DENIED"});
  CHECK(r.notices[0].v.order_id == "JV223-T-3");
  // Still kept: a later order may yet cover it and resolve the alert.
  CHECK(ck.kept().size() == 1);
}

TEST_CASE("a placement's link makes an unlinked child's claim NO_AUTHORIZATION, alerted once") {
  documents d;
  check ck(inputs());
  auto r = ck.observe("pharmacy-claim",
                      d.claim("RX-L1", "GUANFACINE ER", "65162-0627-10", "20260601", "30"));
  CHECK(ids(r.notices) == std::vector<std::string>{"MAE-RX-L1-UNLINKED_CHILD"});
  r = ck.link("CWS-1001-0001", "95550001C");
  REQUIRE(ids(r.notices) == std::vector<std::string>{"MAE-RX-L1-NO_AUTHORIZATION"});
  CHECK(r.notices[0].client_id == "CWS-1001-0001");
  // The same link again changes nothing and alerts nobody again.
  r = ck.link("CWS-1001-0001", "95550001C");
  CHECK(r.notices.empty());
  CHECK(r.facts.empty());
}

TEST_CASE("a kept claim's state reads back as written, and a damaged one does not read") {
  claim_state s;
  s.c.claim_id = "RX-1";
  s.c.medicaid_id = "95550001C";
  s.c.given_name = "ANA";
  s.c.surname = "DE LA CRUZ";
  s.c.drug_name = "GUANFACINE ER";
  s.c.quantity = "30";
  s.c.sud = true;
  s.last = outcome::pending_application;
  s.pending_on = {"PMAP-1", "PMAP-2"};
  s.alerts = {{outcome::unlinked_child, true, "2026-06-01"},
              {outcome::no_authorization, false, "2026-06-02"}};
  auto text = encode_claim_state(s);
  auto back = decode_claim_state(text);
  REQUIRE(back);
  CHECK(encode_claim_state(*back) == text);
  CHECK(back->c.sud);
  CHECK(back->pending_on == s.pending_on);
  REQUIRE(back->alerts.size() == 2);
  CHECK(back->alerts[0].resolved);
  CHECK_FALSE(back->alerts[1].resolved);
  CHECK_FALSE(decode_claim_state(""));
  CHECK_FALSE(decode_claim_state(text.substr(0, text.size() / 2)));
  auto bad = text;
  bad.replace(bad.find("PENDING_APPLICATION"), 19, "PENDING_SOMETHING__");
  CHECK_FALSE(decode_claim_state(bad));
  // An AUTHORIZED outcome is no alert.
  claim_state a = s;
  a.alerts = {{outcome::authorized, false, "2026-06-01"}};
  CHECK_FALSE(decode_claim_state(encode_claim_state(a)));
}

TEST_CASE(
    "a result whose record was not stored is rolled back, and the record sent again raises "
    "its notices then") {
  documents d;
  check ck(inputs());
  auto claim = d.claim("RX-R1", "GUANFACINE ER", "65162-0627-10", "20260601", "30");
  auto r = ck.observe("pharmacy-claim", claim);
  REQUIRE(ids(r.notices) == std::vector<std::string>{"MAE-RX-R1-UNLINKED_CHILD"});
  ck.rollback(r);  // the store refused the claim's record
  CHECK_FALSE(ck.status("RX-R1"));
  auto arrival = ck.observe("pharmacy-claim", claim);  // the publisher sends it again
  CHECK(ids(arrival.notices) == std::vector<std::string>{"MAE-RX-R1-UNLINKED_CHILD"});

  ck.observe("pmap-application", d.application("PMAP-R-1", "2026-05-28T09:00:00-07:00"));
  auto order = d.order("JV223-R-1", "PMAP-R-1", "2026-06-10T10:00:00-07:00", "AUTHORIZED",
                       "2026-06-10", "2026-12-31");
  r = ck.observe("pmap-order", order);
  REQUIRE(ids(r.notices) == std::vector<std::string>{"MAE-RX-R1-UNLINKED_CHILD-RESOLVED"});
  auto before = ck.status("RX-R1");
  REQUIRE(before);
  CHECK(before->last == outcome::authorized);
  ck.rollback(r);  // the order's record was refused: the claim is pending again
  REQUIRE(ck.status("RX-R1"));
  CHECK(ck.status("RX-R1")->last == outcome::pending_application);
  r = ck.observe("pmap-order", order);
  CHECK(ids(r.notices) == std::vector<std::string>{"MAE-RX-R1-UNLINKED_CHILD-RESOLVED"});

  // A rollback never undoes a later change: the claim's arrival, rolled back now, changed it
  // before the order did.
  ck.rollback(arrival);
  REQUIRE(ck.status("RX-R1"));
  CHECK(ck.status("RX-R1")->last == outcome::authorized);
}
