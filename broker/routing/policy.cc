#include "routing/policy.h"

#include <algorithm>
#include <ctime>
#include <unordered_map>

#include <fmt/format.h>

#include "validation/vocabulary.h"

namespace niem::routing {

namespace {

using vocabulary::k_ext;
using vocabulary::k_hs;
using vocabulary::k_nc;

path niem_path(std::initializer_list<const char*> steps) {
  path p;
  for (const char* s : steps) {
    std::string_view v(s);
    auto colon = v.find(':');
    auto prefix = v.substr(0, colon);
    p.push_back({std::string(prefix == "nc"   ? k_nc
                             : prefix == "hs" ? k_hs
                                              : k_ext),
                 std::string(v.substr(colon + 1))});
  }
  return p;
}

// Where the exchanges carry the child's client number and Medicaid id.
const path& client_id_path() {
  static const path p =
      niem_path({"nc:Person", "ext:PersonAugmentation",
                 "ext:PersonChildWelfareClientIdentification", "nc:IdentificationID"});
  return p;
}
const path& medicaid_id_path() {
  static const path p = niem_path({"nc:Person", "ext:PersonAugmentation",
                                   "ext:PersonMedicaidIdentification", "nc:IdentificationID"});
  return p;
}

const path& sud_indicator_path() {
  static const path p = niem_path({"nc:Person", "hs:PersonAugmentation", "hs:HealthDetails",
                                   "hs:MedicationUse", "hs:Medication", "ext:DrugAugmentation",
                                   "ext:DrugSubstanceUseDisorderTreatmentIndicator"});
  return p;
}

// 42 CFR 2.32(a)(1): the notice that must accompany each disclosure of a record protected by
// Part 2, with HL7 security labels (restricted, SUD sensitivity, Part 2 policy, no redisclosure
// without consent). Written as the last child of the claim (ext:DisclosureRestriction).
const std::string& part2_restriction() {
  static const std::string s =
      "  <ext:DisclosureRestriction xmlns:ext=\"" + std::string(k_ext) + "\">\n" +
      "    <ext:SecurityLabelCode>R</ext:SecurityLabelCode>\n"
      "    <ext:SecurityLabelCode>SUD</ext:SecurityLabelCode>\n"
      "    <ext:SecurityLabelCode>42CFRPart2</ext:SecurityLabelCode>\n"
      "    <ext:SecurityLabelCode>NORDSCLCD</ext:SecurityLabelCode>\n"
      "    <ext:RedisclosureProhibitionNoticeText>This information has been disclosed to you from "
      "records protected by federal confidentiality rules (42 CFR part 2). The federal rules "
      "prohibit you from making any further disclosure of information in this record that "
      "identifies a patient as having or having had a substance use disorder either directly, by "
      "reference to publicly available information, or through verification of such "
      "identification by another person unless further disclosure is expressly permitted by the "
      "written consent of the individual whose information is being disclosed or as otherwise "
      "permitted by 42 CFR part 2. A general authorization for the release of medical or other "
      "information is NOT sufficient for this purpose (see 42 CFR 2.31). The federal rules "
      "restrict any use of the information to investigate or prosecute with regard to a crime any "
      "patient with a substance use disorder, except as provided at 42 CFR 2.12(c)(5) and "
      "2.65.</ext:RedisclosureProhibitionNoticeText>\n"
      "  </ext:DisclosureRestriction>\n";
  return s;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The more specific reason wins when no consent holds: a revoked consent explains more than
// another consent that never covered the category.
int rank(base::errc e) {
  switch (e) {
    case base::errc::route_consent_revoked:
      return 4;
    case base::errc::route_category_not_consented:
      return 3;
    case base::errc::route_consent_expired:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

std::string utc_date(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

void consent_registry::apply(consent c) {
  std::lock_guard lk(mu_);
  auto it = by_id_.find(c.consent_id);
  if (it != by_id_.end() && c.status == "REVOKED") {
    // A revocation ends the consent it names, whatever terms the revocation record repeats.
    it->second.status = "REVOKED";
    it->second.revoked_at = c.revoked_at;
    it->second.record_id = c.record_id;
    return;
  }
  if (it != by_id_.end() && it->second.status == "REVOKED") return;  // never revived
  by_id_[c.consent_id] = std::move(c);
}

consent_answer consent_registry::check(const consent_query& q) const {
  consent_answer best;
  best.reason = base::errc::route_no_consent;
  std::lock_guard lk(mu_);
  const std::vector<std::string>* linked = nullptr;
  if (q.subject_kind == "medicaid") {
    auto it = clients_of_medicaid_.find(std::string(q.subject_id));
    if (it != clients_of_medicaid_.end()) linked = &it->second;
  }
  for (const auto& [id, c] : by_id_) {
    const auto& subject = q.subject_kind == "medicaid" ? c.medicaid_id : c.client_id;
    bool same = !subject.empty() && subject == q.subject_id;
    if (!same && linked && !c.client_id.empty())
      same = std::find(linked->begin(), linked->end(), c.client_id) != linked->end();
    if (!same || c.recipient != q.recipient) continue;
    base::errc why = base::errc::ok;
    if (!c.acknowledged || !contains(c.purposes, q.purpose))
      why = base::errc::route_no_consent;
    else if (c.status == "REVOKED")
      why = base::errc::route_consent_revoked;
    else if (c.status != "ACTIVE" || q.date < c.effective_date || q.date > c.expiration_date)
      why = base::errc::route_consent_expired;
    else if (q.categories)
      for (const auto& cat : *q.categories)
        if (!contains(c.categories, cat)) why = base::errc::route_category_not_consented;
    if (why == base::errc::ok) return {base::errc::ok, id};
    if (best.consent_id.empty() || rank(why) > rank(best.reason)) best = {why, id};
  }
  return best;
}

void consent_registry::link(const std::string& client_id, const std::string& medicaid_id) {
  std::lock_guard lk(mu_);
  auto& v = clients_of_medicaid_[medicaid_id];
  if (std::find(v.begin(), v.end(), client_id) == v.end()) v.push_back(client_id);
}

base::errc consent_registry::holds(const std::string& consent_id, std::string_view date) const {
  std::lock_guard lk(mu_);
  auto it = by_id_.find(consent_id);
  if (it == by_id_.end()) return base::errc::route_no_consent;
  const auto& c = it->second;
  if (c.status == "REVOKED") return base::errc::route_consent_revoked;
  if (!c.acknowledged) return base::errc::route_no_consent;
  if (date < c.effective_date || date > c.expiration_date) return base::errc::route_consent_expired;
  return base::errc::ok;
}

namespace {
constexpr char k_sep = '\x1f';
std::string join_list(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}
}  // namespace

std::string encode_consent(const consent& c) {
  std::string out;
  for (const auto* f : {&c.consent_id, &c.record_id, &c.status, &c.client_id, &c.medicaid_id,
                        &c.recipient, &c.effective_date, &c.expiration_date, &c.revoked_at}) {
    out += *f;
    out += k_sep;
  }
  out += join_list(c.purposes) + k_sep + join_list(c.categories) + k_sep +
         (c.acknowledged ? "1" : "0");
  return out;
}

std::optional<consent> decode_consent(std::string_view s) {
  std::vector<std::string> f;
  std::size_t i = 0;
  for (;;) {
    auto j = s.find(k_sep, i);
    f.emplace_back(s.substr(i, j == std::string_view::npos ? s.npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  if (f.size() != 12) return std::nullopt;
  consent c;
  c.consent_id = f[0];
  c.record_id = f[1];
  c.status = f[2];
  c.client_id = f[3];
  c.medicaid_id = f[4];
  c.recipient = f[5];
  c.effective_date = f[6];
  c.expiration_date = f[7];
  c.revoked_at = f[8];
  c.purposes = split_list(f[9]);
  c.categories = split_list(f[10]);
  c.acknowledged = f[11] == "1";
  return c;
}

std::optional<consent> consent_registry::find(const std::string& consent_id) const {
  std::lock_guard lk(mu_);
  auto it = by_id_.find(consent_id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::vector<consent> consent_registry::all() const {
  std::lock_guard lk(mu_);
  std::vector<consent> out;
  for (const auto& [id, c] : by_id_) out.push_back(c);
  return out;
}

std::optional<consent> consent_from_document(std::string_view doc) {
  auto q = [](std::initializer_list<const char*> steps) { return niem_path(steps); };
  static const std::vector<path> paths = {
      q({"ext:SourceRecordIdentification", "nc:IdentificationID"}),
      q({"ext:Consent", "ext:ConsentIdentification", "nc:IdentificationID"}),
      q({"ext:Consent", "ext:ConsentStatusCode"}),
      q({"nc:Person", "ext:PersonAugmentation", "ext:PersonChildWelfareClientIdentification",
         "nc:IdentificationID"}),
      q({"nc:Person", "ext:PersonAugmentation", "ext:PersonMedicaidIdentification",
         "nc:IdentificationID"}),
      q({"ext:Consent", "ext:ConsentRecipientID"}),
      q({"ext:Consent", "ext:ConsentPurposeCode"}),
      q({"ext:Consent", "ext:ConsentDataCategoryCode"}),
      q({"ext:Consent", "ext:ConsentEffectiveDate", "nc:Date"}),
      q({"ext:Consent", "ext:ConsentExpirationDate", "nc:Date"}),
      q({"ext:Consent", "ext:ConsentRevokedDate", "nc:DateTime"}),
      q({"ext:Consent", "ext:ConsentDisclosureAcknowledgedIndicator"}),
  };
  std::vector<const path*> ptrs;
  for (const auto& p : paths) ptrs.push_back(&p);
  std::vector<std::vector<std::string>> v;
  if (!values_at(doc, ptrs, v)) return std::nullopt;
  auto one = [&](std::size_t i) { return v[i].empty() ? std::string() : v[i].front(); };
  consent c;
  c.record_id = one(0);
  c.consent_id = one(1);
  c.status = one(2);
  c.client_id = one(3);
  c.medicaid_id = one(4);
  c.recipient = one(5);
  c.purposes = v[6];
  c.categories = v[7];
  c.effective_date = one(8);
  c.expiration_date = one(9);
  c.revoked_at = one(10);
  c.acknowledged = one(11) == "true" || one(11) == "1";
  if (c.consent_id.empty() || c.recipient.empty()) return std::nullopt;
  return c;
}

policy_router::policy_router(std::vector<policy_subscription> subs,
                             std::vector<std::shared_ptr<const agreement>> agreements,
                             const base::clock& clk, std::shared_ptr<consent_registry> consents)
    : subs_(std::move(subs)),
      agreements_(std::move(agreements)),
      clk_(clk),
      consents_(consents ? std::move(consents) : std::make_shared<consent_registry>()) {
  // Per exchange, every path a decision reads (each once), fixed when the agreements load.
  auto add = [](std::vector<const path*>& v, const path& p) {
    if (std::none_of(v.begin(), v.end(), [&](const path* q) { return *q == p; })) v.push_back(&p);
  };
  for (const auto& a : agreements_)
    for (const auto& t : a->exchanges) {
      auto& v = wanted_[t.exchange];
      for (const auto& c : t.conditions) add(v, c.at);
      for (const auto& c : t.consents) {
        add(v, c.subject);
        if (c.when) add(v, c.when->at);
      }
      for (const auto& c : t.counts) add(v, c.at);
    }
  wanted_[""];  // exchanges no agreement names
  for (auto& [exchange, v] : wanted_)
    for (const auto* p : {&client_id_path(), &medicaid_id_path(), &sud_indicator_path()})
      add(v, *p);
}

std::vector<std::string> policy_router::recipients() const {
  std::vector<std::string> out;
  for (const auto& s : subs_)
    if (!contains(out, s.recipient)) out.push_back(s.recipient);
  return out;
}

void learn(consent_registry& consents, const std::vector<fact>& facts) {
  for (const auto& f : facts) {
    if (f.kind == "consent") {
      if (auto c = decode_consent(f.value)) consents.apply(std::move(*c));
    } else if (f.kind == "identity") {
      auto sp = f.key.find(' ');
      if (sp != std::string::npos) consents.link(f.key.substr(0, sp), f.key.substr(sp + 1));
    }
  }
}

void policy_router::learn(const std::vector<fact>& facts) const {
  routing::learn(*consents_, facts);
}

base::errc policy_router::still_consented(std::string_view consent_id, std::int64_t now_ms) const {
  return consents_->holds(std::string(consent_id), utc_date(now_ms));
}

namespace {

// The values of a record that the agreements test, all read in one pass over the document.
class record_values {
 public:
  record_values(const std::vector<const path*>& wanted, std::string_view doc) : wanted_(wanted) {
    readable_ = values_at(doc, wanted_, values_);
  }
  const std::vector<std::string>& of(const path& p) const {
    static const std::vector<std::string> none;
    for (std::size_t i = 0; i < wanted_.size(); ++i)
      if (*wanted_[i] == p) return readable_ ? values_[i] : none;
    return none;
  }
  bool holds(const path_condition& c) const {
    const auto& v = of(c.at);
    if (c.equals == "*")  // present with a value
      return std::any_of(v.begin(), v.end(), [](const std::string& s) { return !s.empty(); });
    return std::find(v.begin(), v.end(), c.equals) != v.end();
  }
  // The child's identifiers, for the accounting of disclosures.
  std::string subjects() const {
    std::string out;
    for (const auto* p : {&client_id_path(), &medicaid_id_path()})
      for (const auto& id : of(*p))
        if (!id.empty() && out.find(id) == std::string::npos) out += (out.empty() ? "" : " ") + id;
    return out;
  }

 private:
  const std::vector<const path*>& wanted_;
  std::vector<std::vector<std::string>> values_;
  bool readable_ = false;
};

// What the record teaches the registry: a consent directive, or the same child under both
// numbers (consents by client number then cover claims).
void learn_from(const routed_document& doc, const record_values& values,
                std::vector<fact>& learned) {
  if (doc.exchange == vocabulary::k_consent_directive) {
    // Keyed by the record: a grant and its revocation are two facts, applied in order.
    if (auto c = consent_from_document(*doc.document))
      learned.push_back({"consent", c->record_id, encode_consent(*c)});
    return;
  }
  const auto& client = values.of(client_id_path());
  const auto& medicaid = values.of(medicaid_id_path());
  if (!client.empty() && !medicaid.empty() && !client[0].empty() && !medicaid[0].empty())
    learned.push_back({"identity", client[0] + " " + medicaid[0], ""});
}

// The agreements between this provider and recipient for this exchange; the one in effect
// today decides (agreements are renewed by new versions with new dates). None: `d` says why.
const agreement* choose_agreement(const std::vector<std::shared_ptr<const agreement>>& all,
                                  const routed_document& doc, const std::string& recipient,
                                  const std::string& today, decision& d) {
  const agreement* chosen = nullptr;
  const agreement* future = nullptr;
  const agreement* past = nullptr;
  for (const auto& a : all) {
    if (a->recipient != recipient || !a->provided_by(doc.source_agency) || !a->terms(doc.exchange))
      continue;
    switch (a->status_on(today)) {
      case agreement_status::not_yet_effective:
        future = a.get();
        break;
      case agreement_status::expired:
        past = a.get();
        break;
      case agreement_status::in_effect:
        if (!chosen) chosen = a.get();
        break;
    }
  }
  const auto* named = chosen ? chosen : future ? future : past;
  if (named) {
    d.agreement = named->label();
    d.agreement_version = named->content_version;
  }
  if (!chosen)
    d.reason = future ? base::errc::route_agreement_not_effective
               : past ? base::errc::route_agreement_expired
                      : base::errc::route_no_agreement;
  return chosen;
}

// Aggregate agreements receive counts, never records: the record is counted here (once per
// agreement) and the quarterly report carries it.
void count(const agreement& a, const exchange_terms& terms, const routed_document& doc,
           const record_values& values, std::vector<observation>& counted) {
  if (std::any_of(counted.begin(), counted.end(), [&](const observation& o) {
        return o.agreement == a.id && o.exchange == doc.exchange;
      }))
    return;
  observation o;
  o.agreement = a.id;
  o.exchange = std::string(doc.exchange);
  for (const auto& c : terms.counts) {
    const auto& v = values.of(c.at);
    o.fields.emplace_back(c.role, v.empty() ? std::string() : v.front());
    if ((c.role == "date" || (c.role == "begin" && o.day.empty())) && !v.empty()) o.day = v.front();
  }
  counted.push_back(std::move(o));
}

// Every consent rule of the terms that applies to the record must be met; `d` names the consent
// relied on, or why none holds.
bool consented(const exchange_terms& terms, const consent_registry& consents,
               const record_values& values, const std::string& recipient, const std::string& today,
               decision& d) {
  for (const auto& rule : terms.consents) {
    if (rule.when && !values.holds(*rule.when)) continue;
    consent_answer best{base::errc::route_no_consent, {}};
    for (const auto& id : values.of(rule.subject)) {
      auto ans =
          consents.check({rule.subject_kind, id, recipient, rule.purpose, &rule.categories, today});
      if (ans.reason == base::errc::ok || rank(ans.reason) > rank(best.reason) ||
          best.consent_id.empty())
        best = ans;
      if (ans.reason == base::errc::ok) break;
    }
    d.consent = best.consent_id;
    if (best.reason != base::errc::ok) {
      d.reason = best.reason;
      return false;
    }
  }
  return true;
}

// Every distinct agreement's filter in one pass over the document, for the decisions to deliver
// (index in `out`, terms); agreements that let the same bytes through share one copy.
void filter_all(const routed_document& doc, const record_values& values,
                const std::vector<std::pair<std::size_t, const exchange_terms*>>& pending,
                std::vector<decision>& out) {
  std::vector<const exchange_terms*> distinct;
  for (const auto& p : pending)
    if (std::find(distinct.begin(), distinct.end(), p.second) == distinct.end())
      distinct.push_back(p.second);
  auto results = apply_filters(distinct, *doc.document);
  // A substance use disorder record (a claim, or the medication check's alert about one)
  // carries the 42 CFR 2.32 notice and its security labels wherever it goes.
  bool part2 = false;
  for (const auto& v : values.of(sud_indicator_path())) part2 |= v == "true" || v == "1";
  std::vector<std::shared_ptr<const std::string>> shared(distinct.size());
  for (std::size_t i = 0; i < distinct.size(); ++i) {
    if (!results[i].ok) continue;
    auto bytes = std::move(results[i].document);
    if (part2) {
      auto end = bytes.rfind("</");
      if (end != std::string::npos) bytes.insert(end, part2_restriction());
    }
    for (std::size_t j = 0; j < i && !shared[i]; ++j)
      if (shared[j] && *shared[j] == bytes) shared[i] = shared[j];
    if (!shared[i]) shared[i] = std::make_shared<const std::string>(std::move(bytes));
  }
  for (const auto& [index, terms] : pending) {
    auto i = static_cast<std::size_t>(std::find(distinct.begin(), distinct.end(), terms) -
                                      distinct.begin());
    auto& d = out[index];
    if (!results[i].ok) {
      d.deliver = false;
      d.reason = results[i].code;
      continue;
    }
    d.document = shared[i];
    d.disclosed = results[i].disclosed;
  }
}

}  // namespace

// Per subscriber of the exchange: the agreement in effect, its purposes, conditions, level and
// consents decide; the deliveries' filters then run in one pass.
std::vector<decision> policy_router::route(const routed_document& doc, std::vector<fact>* learned,
                                           std::vector<observation>* counted) const {
  std::vector<decision> out;
  auto today = utc_date(clk_.now_ms());
  auto w = wanted_.find(doc.exchange);
  record_values values(w != wanted_.end() ? w->second : wanted_.at(""), *doc.document);
  const auto subjects = values.subjects();
  if (learned) learn_from(doc, values, *learned);
  // Decisions to deliver, waiting for their terms' filter: (index in out, terms).
  std::vector<std::pair<std::size_t, const exchange_terms*>> pending;
  for (const auto& s : subs_) {
    if (s.exchange != doc.exchange || s.recipient == doc.source_agency) continue;
    decision d;
    d.recipient = s.recipient;
    d.purpose = s.purpose;
    d.subjects = subjects;
    const auto* chosen = choose_agreement(agreements_, doc, s.recipient, today, d);
    const auto* terms = chosen ? chosen->terms(doc.exchange) : nullptr;
    if (!chosen) {
      // d.reason says why
    } else if (!contains(chosen->purposes, s.purpose)) {
      d.reason = base::errc::route_purpose_not_allowed;
    } else if (!std::all_of(terms->conditions.begin(), terms->conditions.end(),
                            [&](const path_condition& c) { return values.holds(c); })) {
      d.reason = base::errc::route_condition_not_met;
    } else if (chosen->level == sharing_level::aggregate) {
      d.reason = base::errc::route_aggregate_only;
      if (counted) count(*chosen, *terms, doc, values, *counted);
    } else if (consented(*terms, *consents_, values, s.recipient, today, d)) {
      d.deliver = true;  // once its terms' filter has run (below)
      pending.push_back({out.size(), terms});
    }
    out.push_back(std::move(d));
  }
  if (!pending.empty()) filter_all(doc, values, pending, out);
  if (out.empty()) {
    decision d;
    d.reason = base::errc::route_no_subscriber;
    out.push_back(std::move(d));
  }
  return out;
}
}  // namespace niem::routing
