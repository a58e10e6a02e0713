// The policy router decides per recipient as agreements.md says, under the shipped agreements:
// consents, purposes, de-identification, pseudonyms, aggregate counting, effective dates.
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
