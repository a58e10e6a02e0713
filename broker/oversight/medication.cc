#include "oversight/medication.h"

#include "base/dates.h"
#include "base/text.h"
#include "routing/xml_stream.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace niem::oversight::medication {
namespace {

using base::decimal;

// Powers of ten from each unit to micrograms (mL stands apart: a volume).
int mcg_exponent(unit u) {
  switch (u) {
    case unit::g:
      return 6;
    case unit::mg:
      return 3;
    case unit::mcg:
    case unit::ml:
      break;
  }
  return 0;
}

std::optional<unit> mass_unit_upper(std::string_view s) {
  if (s == "MG") return unit::mg;
  if (s == "MCG") return unit::mcg;
  if (s == "G") return unit::g;
  return std::nullopt;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<decimal> positive(std::string_view s) {
  auto d = base::parse_decimal(s);
  if (!d || d->negative || (d->integer.empty() && d->fraction.empty())) return std::nullopt;
  return d;
}

// Latin letters U+00C0 to U+017F without their accents, lower case (nullptr: not a letter).
constexpr std::array<const char*, 192> k_fold = {
    "a", "a", "a",  "a",  "a", "a", "ae", "c",     "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o",  "o",  "o", "o", "o",  nullptr, "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a",  "a",  "a", "a", "ae", "c",     "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o",  "o",  "o", "o", "o",  nullptr, "o", "u", "u", "u", "u", "y", "th", "y",
    "a", "a", "a",  "a",  "a", "a", "c",  "c",     "c", "c", "c", "c", "c", "c", "d",  "d",
    "d", "d", "e",  "e",  "e", "e", "e",  "e",     "e", "e", "e", "e", "g", "g", "g",  "g",
    "g", "g", "g",  "g",  "h", "h", "h",  "h",     "i", "i", "i", "i", "i", "i", "i",  "i",
    "i", "i", "ij", "ij", "j", "j", "k",  "k",     "k", "l", "l", "l", "l", "l", "l",  "l",
    "l", "l", "l",  "n",  "n", "n", "n",  "n",     "n", "n", "n", "n", "o", "o", "o",  "o",
    "o", "o", "oe", "oe", "r", "r", "r",  "r",     "r", "r", "s", "s", "s", "s", "s",  "s",
    "s", "s", "t",  "t",  "t", "t", "t",  "t",     "u", "u", "u", "u", "u", "u", "u",  "u",
    "u", "u", "u",  "u",  "w", "w", "y",  "y",     "y", "z", "z", "z", "z", "z", "z",  "s",
};

// The labeler and product segments of a 5-4-2 NDC ("65162-0627").
std::string_view labeler_product(std::string_view ndc) {
  auto first = ndc.find('-');
  if (first == std::string_view::npos) return {};
  auto second = ndc.find('-', first + 1);
  return ndc.substr(0, second);
}

bool superseded_on(const order& o, const std::vector<order>& all, const std::string& day) {
  return std::any_of(all.begin(), all.end(), [&](const order& x) {
    return x.supersedes_order_id == o.order_id && x.ordered_date <= day;
  });
}

// The order that rules last on an application: one no other order on file supersedes (the
// latest signed if several).
const order* latest_on(const std::string& application_id, const std::vector<order>& all) {
  const order* best = nullptr;
  for (const auto& o : all) {
    if (o.application_id != application_id) continue;
    bool replaced = std::any_of(all.begin(), all.end(), [&](const order& x) {
      return x.supersedes_order_id == o.order_id;
    });
    if (replaced) continue;
    if (!best || o.ordered_date > best->ordered_date) best = &o;
  }
  return best;
}

}  // namespace

std::string_view unit_name(unit u) {
  switch (u) {
    case unit::mcg:
      return "mcg";
    case unit::g:
      return "g";
    case unit::ml:
      return "mL";
    case unit::mg:
      break;
  }
  return "mg";
}

std::optional<amount> parse_amount(std::string_view text) {
  auto sp = text.find(' ');
  if (sp == std::string_view::npos || text.find(' ', sp + 1) != std::string_view::npos)
    return std::nullopt;
  auto number = text.substr(0, sp), u = text.substr(sp + 1);
  if (number.empty() || number[0] == '+' || number[0] == '-') return std::nullopt;
  auto v = base::parse_decimal(number);
  if (!v) return std::nullopt;
  amount a{*v, unit::mg};
  if (u == "mg")
    a.u = unit::mg;
  else if (u == "mcg")
    a.u = unit::mcg;
  else if (u == "g")
    a.u = unit::g;
  else if (u == "mL")
    a.u = unit::ml;
  else
    return std::nullopt;
  return a;
}

std::string to_string(const amount& a) {
  return base::to_string(a.value) + " " + std::string(unit_name(a.u));
}

dose daily_dose(const claim& c, const amount& maximum) {
  dose out;
  auto q = positive(c.quantity), days = positive(c.days_supply);
  if (!q || !days) return out;
  auto w = words(c.strength);
  const bool solid = c.dose_form == "TABLET" || c.dose_form == "CAPSULE" || c.dose_form == "FILM";
  const bool liquid = c.dose_form == "SOLUTION" || c.dose_form == "SUSPENSION";
  // The daily dose as numerator / denominator, in the maximum's unit: over when the numerator
  // exceeds maximum x denominator, exactly.
  decimal num, den = *days;
  if (solid && w.size() == 2) {
    // "N UNIT": N x QUANTITY / DAYS_SUPPLY
    auto n = positive(w[0]);
    auto u = mass_unit_upper(w[1]);
    if (!n || !u || maximum.u == unit::ml) return out;
    num = base::multiply(base::shift(*n, mcg_exponent(*u) - mcg_exponent(maximum.u)), *q);
  } else if (liquid && w.size() == 3 && w[2] == "ML") {
    // "N UNIT/M ML": N / M x QUANTITY (mL) / DAYS_SUPPLY; a maximum in mL: QUANTITY / DAYS_SUPPLY
    auto slash = w[1].find('/');
    if (slash == std::string_view::npos) return out;
    auto n = positive(w[0]);
    auto u = mass_unit_upper(w[1].substr(0, slash));
    auto per = positive(w[1].substr(slash + 1));
    if (!n || !u || !per) return out;
    if (maximum.u == unit::ml) {
      num = *q;
    } else {
      num = base::multiply(base::shift(*n, mcg_exponent(*u) - mcg_exponent(maximum.u)), *q);
      den = base::multiply(*per, *days);
    }
  } else {
    return out;  // a combination, another unit or dose form
  }
  out.computable = true;
  out.over = base::compare(num, base::multiply(maximum.value, den)) > 0;
  out.daily = base::divide_rounded(num, den, 3) + " " + std::string(unit_name(maximum.u));
  return out;
}

std::string ingredient_key(std::string_view drug_name) {
  auto w = words(drug_name);
  std::string out;
  if (w.empty()) return out;
  auto s = w[0];
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(std::tolower(b));
      continue;
    }
    if ((b == 0xC3 || b == 0xC4 || b == 0xC5) && i + 1 < s.size()) {
      auto cp = ((b & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
      if (cp >= 0xC0 && cp <= 0x17F && k_fold[cp - 0xC0]) {
        out += k_fold[cp - 0xC0];
        ++i;
        continue;
      }
    }
    out += s[i];  // another character: kept as written
  }
  return out;
}

bool same_medication(std::string_view ndc, std::string_view drug_name, const claim& c) {
  if (!ndc.empty()) {
    auto a = labeler_product(ndc);
    return !a.empty() && a == labeler_product(c.ndc);
  }
  auto k = ingredient_key(drug_name);
  return !k.empty() && k == ingredient_key(c.drug_name);
}

std::string add_days(std::string_view date, int days) {
  auto n = base::day_number(date);
  return n ? base::iso_date(*n + days) : std::string();
}

std::string_view outcome_name(outcome o) {
  switch (o) {
    case outcome::authorized:
      return "AUTHORIZED";
    case outcome::pending_application:
      return "PENDING_APPLICATION";
    case outcome::over_maximum_dose:
      return "OVER_MAXIMUM_DOSE";
    case outcome::denied:
      return "DENIED";
    case outcome::authorization_expired:
      return "AUTHORIZATION_EXPIRED";
    case outcome::no_authorization:
      return "NO_AUTHORIZATION";
    case outcome::unlinked_child:
      break;
  }
  return "UNLINKED_CHILD";
}

bool alerts(outcome o) {
  return o != outcome::authorized && o != outcome::pending_application;
}

verdict evaluate(const claim& c, const child_view& child,
                 const std::vector<std::string>& pending_on) {
  verdict v;
  if (!child.linked && child.applications.empty() && child.orders.empty()) {
    v.result = outcome::unlinked_child;
    return v;
  }
  const auto& day = c.fill_date;
  // 1. An authorization that covers the fill date (or the pending claim's application).
  std::optional<verdict> over;
  for (const auto& o : child.orders) {
    const bool was_pending =
        std::find(pending_on.begin(), pending_on.end(), o.application_id) != pending_on.end();
    if (superseded_on(o, child.orders, day)) continue;
    for (const auto& r : o.rulings) {
      if (!r.authorizes() || !same_medication(r.ndc, r.drug_name, c)) continue;
      const bool in_period = r.authorized_from <= day && day <= r.authorized_through;
      const bool before_period = was_pending && day < r.authorized_from;
      if (!in_period && !before_period) continue;
      verdict cover;
      cover.order_id = o.order_id;
      cover.application_id = o.application_id;
      if (r.max_daily_dose) {
        cover.maximum = to_string(*r.max_daily_dose);
        auto d = daily_dose(c, *r.max_daily_dose);
        cover.daily_dose = d.daily;
        if (d.over) {
          cover.result = outcome::over_maximum_dose;
          if (!over) over = cover;
          continue;
        }
      }
      cover.result = outcome::authorized;
      return cover;
    }
  }
  if (over) return *over;
  // 2. An application naming the medication, filed in time, on which the court has not ruled.
  for (const auto& a : child.applications) {
    bool named = std::any_of(
        a.medications.begin(), a.medications.end(),
        [&](const application_medication& m) { return same_medication(m.ndc, m.drug_name, c); });
    if (!named) continue;
    const bool in_time =
        a.submitted_date <= day || (a.emergency && a.submitted_date <= add_days(day, 2));
    if (!in_time) continue;
    const auto* last = latest_on(a.application_id, child.orders);
    if (last && last->decision != "HEARING_SET") continue;
    v.result = outcome::pending_application;
    v.application_id = a.application_id;
    return v;
  }
  // 3. The latest order on an application for the medication denied it.
  std::vector<std::string> seen;
  for (const auto& o : child.orders) {
    if (std::find(seen.begin(), seen.end(), o.application_id) != seen.end()) continue;
    seen.push_back(o.application_id);
    const auto* last = latest_on(o.application_id, child.orders);
    if (!last) continue;
    for (const auto& r : last->rulings)
      if (r.ruling == "DENIED" && same_medication(r.ndc, r.drug_name, c)) {
        v.result = outcome::denied;
        v.order_id = last->order_id;
        v.application_id = last->application_id;
        return v;
      }
  }
  // 4. Authorized for the child at some time, never on the fill date.
  for (const auto& o : child.orders)
    for (const auto& r : o.rulings)
      if (r.authorizes() && same_medication(r.ndc, r.drug_name, c)) {
        v.result = outcome::authorization_expired;
        v.order_id = o.order_id;
        v.application_id = o.application_id;
        if (r.max_daily_dose) v.maximum = to_string(*r.max_daily_dose);
        return v;
      }
  v.result = outcome::no_authorization;
  return v;
}

std::vector<consideration> explain(const claim& c, const child_view& child,
                                   const std::vector<std::string>& pending_on) {
  std::vector<consideration> out;
  const auto& day = c.fill_date;
  for (const auto& o : child.orders) {
    const bool was_pending =
        std::find(pending_on.begin(), pending_on.end(), o.application_id) != pending_on.end();
    if (o.rulings.empty())
      out.push_back({"order", o.order_id, "", false,
                     fmt::format("{} with no ruling on a medication", o.decision)});
    for (const auto& r : o.rulings) {
      consideration k{"order", o.order_id, r.drug_name, false, ""};
      if (!same_medication(r.ndc, r.drug_name, c))
        k.why = r.ndc.empty() ? "another active ingredient than the claim's drug"
                              : "its NDC names another labeler or product";
      else if (!r.authorizes())
        k.why = fmt::format("ruled {}", r.ruling);
      else if (superseded_on(o, child.orders, day))
        k.why = fmt::format("superseded by an order signed on or before the fill date {}", day);
      else if (!(r.authorized_from <= day && day <= r.authorized_through) &&
               !(was_pending && day < r.authorized_from))
        k.why = fmt::format("the fill date {} is outside {} to {}", day, r.authorized_from,
                            r.authorized_through);
      else {
        k.covers = true;
        k.why = r.authorized_from <= day
                    ? fmt::format("authorized {} to {}", r.authorized_from, r.authorized_through)
                    : fmt::format("authorized from {} on the application the claim was pending on",
                                  r.authorized_from);
        if (r.max_daily_dose) {
          auto d = daily_dose(c, *r.max_daily_dose);
          if (!d.computable)
            k.why += fmt::format("; daily dose not computable, maximum {}",
                                 to_string(*r.max_daily_dose));
          else
            k.why += fmt::format("; daily dose {} {} the maximum {}", d.daily,
                                 d.over ? "exceeds" : "within", to_string(*r.max_daily_dose));
        }
      }
      out.push_back(std::move(k));
    }
  }
  for (const auto& a : child.applications) {
    consideration k{"application", a.application_id, "", false, ""};
    auto m = std::find_if(
        a.medications.begin(), a.medications.end(),
        [&](const application_medication& x) { return same_medication(x.ndc, x.drug_name, c); });
    const auto* last = latest_on(a.application_id, child.orders);
    if (m == a.medications.end()) {
      k.why = "names no medication matching the claim's drug";
    } else {
      k.medication = m->drug_name;
      if (!(a.submitted_date <= day || (a.emergency && a.submitted_date <= add_days(day, 2))))
        k.why = fmt::format("submitted {}, after the fill date {}{}", a.submitted_date, day,
                            a.emergency ? " by more than 2 days" : " (not an emergency)");
      else if (last && last->decision != "HEARING_SET")
        k.why = fmt::format("ruled on by order {} ({})", last->order_id, last->decision);
      else {
        k.covers = true;
        k.why = fmt::format("submitted {}{}, no ruling yet: the claim is pending", a.submitted_date,
                            a.emergency ? " as an emergency" : "");
      }
    }
    out.push_back(std::move(k));
  }
  return out;
}

namespace {

// The elements from the root's child down to the current one, each by namespace and local name:
// an element of another namespace with the same local name (an agency's own extension) is not
// read as one of these.
using name_path = std::vector<routing::xml_name>;

constexpr routing::xml_name nc(std::string_view local) {
  return {vocabulary::k_nc, local};
}
constexpr routing::xml_name hs(std::string_view local) {
  return {vocabulary::k_hs, local};
}
constexpr routing::xml_name j(std::string_view local) {
  return {vocabulary::k_j, local};
}
constexpr routing::xml_name ext(std::string_view local) {
  return {vocabulary::k_ext, local};
}

bool ends_with(const name_path& p, std::initializer_list<routing::xml_name> tail) {
  if (p.size() < tail.size()) return false;
  return std::equal(tail.begin(), tail.end(), p.end() - static_cast<long>(tail.size()));
}

bool has(const name_path& p, const routing::xml_name& name) {
  return std::find(p.begin(), p.end(), name) != p.end();
}

// The record's own number: the root's ext:SourceRecordIdentification.
bool is_source_id(const name_path& p) {
  return p.size() == 2 && ends_with(p, {ext("SourceRecordIdentification"), nc("IdentificationID")});
}

bool is_client_id(const name_path& p) {
  return ends_with(p, {ext("PersonChildWelfareClientIdentification"), nc("IdentificationID")});
}

bool is_medicaid_id(const name_path& p) {
  return ends_with(p, {ext("PersonMedicaidIdentification"), nc("IdentificationID")});
}

// A text's content, decoded only when a reader asks for it: most texts of a document are not
// among the fields the check reads, and decoding each into a string of its own cost as much as
// the rest of the walk.
class lazy_text {
 public:
  explicit lazy_text(const routing::xml_stream& x) : x_(x) {}
  std::string str() const { return x_.text(); }

 private:
  const routing::xml_stream& x_;
};

// xs:boolean's true, as the documents write it.
bool is_true(const std::string& v) {
  return v == "true" || v == "1";
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Walks a document: on_start for each element under the root, on_text for each text with
// something besides white space. False when the document does not read.
template <typename Start, typename Text>
bool walk(std::string_view doc, Start on_start, Text on_text) {
  routing::xml_stream x(doc);
  name_path p;
  bool root = true;
  for (;;) {
    switch (x.next()) {
      case routing::xml_stream::kind::start:
        if (root) {
          root = false;
          break;
        }
        p.push_back(x.name());
        on_start(p);
        break;
      case routing::xml_stream::kind::end:
        if (!p.empty()) p.pop_back();
        break;
      case routing::xml_stream::kind::text: {
        if (p.empty()) break;
        // Without a reference or markup the bytes are the text; with one, it is decoded to see.
        auto raw = x.raw();
        bool empty = blank(raw);
        if (!empty && raw.find_first_of("&<") != std::string_view::npos) empty = blank(x.text());
        if (!empty) on_text(p, lazy_text(x));
        break;
      }
      case routing::xml_stream::kind::other:
        break;
      case routing::xml_stream::kind::done:
        return !root;
      case routing::xml_stream::kind::error:
        return false;
    }
  }
}

}  // namespace

std::optional<order_document> read_order(std::string_view doc) {
  order_document d;
  auto& o = d.o;
  bool ok = walk(
      doc,
      [&](const name_path& p) {
        if (ends_with(p, {ext("CourtOrderAugmentation"), ext("MedicationRuling")}))
          o.rulings.emplace_back();
      },
      [&](const name_path& p, const lazy_text& t) {
        if (is_source_id(p))
          o.order_id = t.str();
        else if (ends_with(p, {j("CourtOrderIssuingDate"), nc("DateTime")}))
          o.ordered_date = t.str().substr(0, 10);
        else if (ends_with(p, {ext("ApplicationIdentification"), nc("IdentificationID")}))
          o.application_id = t.str();
        else if (ends_with(p, {ext("SupersededCourtOrderIdentification"), nc("IdentificationID")}))
          o.supersedes_order_id = t.str();
        else if (ends_with(p, {ext("CourtOrderDecisionCode")}))
          o.decision = t.str();
        else if (is_client_id(p))
          d.child.client_id = t.str();
        else if (is_medicaid_id(p))
          d.child.medicaid_id = t.str();
        else if (has(p, ext("MedicationRuling")) && !o.rulings.empty()) {
          auto& r = o.rulings.back();
          if (ends_with(p, {hs("Medication"), nc("ItemName")}))
            r.drug_name = t.str();
          else if (ends_with(p, {ext("DrugNDCCode")}))
            r.ndc = t.str();
          else if (ends_with(p, {ext("MedicationRulingCode")}))
            r.ruling = t.str();
          else if (ends_with(p, {ext("AuthorizedMaximumDailyDoseText")}))
            r.max_daily_dose = parse_amount(t.str());
          else if (ends_with(p, {ext("AuthorizationDateRange"), nc("StartDate"), nc("Date")}))
            r.authorized_from = t.str();
          else if (ends_with(p, {ext("AuthorizationDateRange"), nc("EndDate"), nc("Date")}))
            r.authorized_through = t.str();
        }
      });
  if (!ok || o.order_id.empty() || o.application_id.empty()) return std::nullopt;
  return d;
}

std::optional<application_document> read_application(std::string_view doc) {
  application_document d;
  auto& a = d.a;
  // Every person's ids; the child is the one with a client number (the other is the prescriber).
  std::vector<child_ids> people;
  bool ok = walk(
      doc,
      [&](const name_path& p) {
        if (p.size() == 1 && p[0] == nc("Person")) people.emplace_back();
        if (ends_with(p, {hs("HealthDetails"), hs("MedicationUse")})) a.medications.emplace_back();
      },
      [&](const name_path& p, const lazy_text& t) {
        if (is_source_id(p))
          a.application_id = t.str();
        else if (ends_with(p, {ext("ApplicationSubmittedDate"), nc("DateTime")}))
          a.submitted_date = t.str().substr(0, 10);
        else if (ends_with(p, {ext("EmergencyAdministrationIndicator")}))
          a.emergency = is_true(t.str());
        else if (!people.empty() && is_client_id(p))
          people.back().client_id = t.str();
        else if (!people.empty() && is_medicaid_id(p))
          people.back().medicaid_id = t.str();
        else if (has(p, hs("MedicationUse")) && !a.medications.empty()) {
          if (ends_with(p, {hs("Medication"), nc("ItemName")}))
            a.medications.back().drug_name = t.str();
          else if (ends_with(p, {ext("DrugNDCCode")}))
            a.medications.back().ndc = t.str();
        }
      });
  for (auto& c : people)
    if (!c.client_id.empty()) d.child = std::move(c);
  if (!ok || a.application_id.empty() || d.child.client_id.empty()) return std::nullopt;
  return d;
}

std::optional<claim_document> read_claim(std::string_view doc) {
  claim_document d;
  auto& c = d.c;
  bool ok = walk(
      doc, [](const name_path&) {},
      [&](const name_path& p, const lazy_text& t) {
        const bool prescriber = has(p, hs("Prescriber"));
        if (is_source_id(p))
          c.claim_id = t.str();
        else if (ends_with(p, {ext("ClaimStatusCode")}))
          d.status = t.str();
        else if (ends_with(p, {nc("PersonBirthDate"), nc("Date")}))
          c.birth_date = t.str();
        else if (ends_with(p, {nc("PersonName"), nc("PersonGivenName")}))
          (prescriber ? c.prescriber_given_name : c.given_name) = t.str();
        else if (ends_with(p, {nc("PersonName"), nc("PersonSurName")}))
          (prescriber ? c.prescriber_surname : c.surname) = t.str();
        else if (is_medicaid_id(p))
          c.medicaid_id = t.str();
        else if (ends_with(p, {hs("NPIIdentification"), nc("IdentificationID")}) && prescriber)
          c.prescriber_npi = t.str();
        else if (ends_with(p, {hs("Medication"), nc("ItemName")}))
          c.drug_name = t.str();
        else if (ends_with(p, {hs("Medication"), nc("ItemQuantity")}))
          c.quantity = t.str();
        else if (ends_with(p, {hs("Medication"), nc("SubstanceFormText")}))
          c.dose_form = t.str();
        else if (ends_with(p, {hs("Medication"), nc("DrugDaysSupplyQuantity")}))
          c.days_supply = t.str();
        else if (ends_with(p, {hs("Medication"), nc("DrugStrengthText")}))
          c.strength = t.str();
        else if (ends_with(p, {ext("DrugNDCCode")}))
          c.ndc = t.str();
        else if (ends_with(p, {ext("DrugTherapeuticClassText")}))
          c.therapeutic_class = t.str();
        else if (ends_with(p, {ext("DrugPsychotropicIndicator")}))
          d.psychotropic = is_true(t.str());
        else if (ends_with(p, {ext("DrugSubstanceUseDisorderTreatmentIndicator")}))
          c.sud = is_true(t.str());
        else if (ends_with(p, {hs("MedicationDispensingDate"), nc("Date")}))
          c.fill_date = t.str();
      });
  if (!ok || c.claim_id.empty() || c.medicaid_id.empty()) return std::nullopt;
  return d;
}

void registry::add(application_document a) {
  // Its own numbers name the child directly; only a placement links a client number to a
  // Medicaid id for other records (medication-oversight.md: "linked ... by a placement").
  std::unique_lock lk(mu_);
  auto id = a.a.application_id;
  applications_.insert_or_assign(std::move(id), std::move(a));
}

void registry::add(order_document o) {
  std::unique_lock lk(mu_);
  auto id = o.o.order_id;
  orders_.insert_or_assign(std::move(id), std::move(o));
}

void registry::link(const std::string& client_id, const std::string& medicaid_id) {
  if (client_id.empty() || medicaid_id.empty()) return;
  std::unique_lock lk(mu_);
  clients_of_[medicaid_id].insert(client_id);
  medicaid_of_[client_id].insert(medicaid_id);
}

bool registry::names_child(const child_ids& ids, const std::string& medicaid_id,
                           const std::set<std::string>& clients) const {
  return (!ids.medicaid_id.empty() && ids.medicaid_id == medicaid_id) ||
         (!ids.client_id.empty() && clients.count(ids.client_id));
}

child_view registry::view(const std::string& medicaid_id) const {
  std::shared_lock lk(mu_);
  child_view v;
  static const std::set<std::string> none;
  auto it = clients_of_.find(medicaid_id);
  const auto& clients = it == clients_of_.end() ? none : it->second;
  v.linked = !clients.empty();
  for (const auto& [id, a] : applications_)
    if (names_child(a.child, medicaid_id, clients)) v.applications.push_back(a.a);
  for (const auto& [id, o] : orders_)
    if (names_child(o.child, medicaid_id, clients)) v.orders.push_back(o.o);
  return v;
}

std::vector<std::string> registry::affected(const child_ids& ids) const {
  std::shared_lock lk(mu_);
  std::set<std::string> out;
  if (!ids.medicaid_id.empty()) out.insert(ids.medicaid_id);
  if (auto it = medicaid_of_.find(ids.client_id);
      !ids.client_id.empty() && it != medicaid_of_.end())
    out.insert(it->second.begin(), it->second.end());
  return {out.begin(), out.end()};
}

std::vector<std::string> registry::clients(const std::string& medicaid_id) const {
  std::shared_lock lk(mu_);
  auto it = clients_of_.find(medicaid_id);
  if (it == clients_of_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::optional<placement_document> read_placement(std::string_view doc) {
  placement_document d;
  auto& e = d.e;
  bool ok = walk(
      doc, [](const name_path&) {},
      [&](const name_path& p, const lazy_text& t) {
        if (is_source_id(p))
          d.event_id = t.str();
        else if (p.size() == 1 && ends_with(p, {ext("CountyFIPSCode")}))
          e.county = t.str();
        else if (is_client_id(p) && p.front() == nc("Person"))
          e.client = t.str();
        else if (is_medicaid_id(p) && p.front() == nc("Person"))
          e.person = t.str();
        else if (ends_with(p,
                           {hs("Placement"), nc("ActivityIdentification"), nc("IdentificationID")}))
          e.placement = t.str();
        else if (ends_with(p, {hs("Placement"), nc("ActivityDate"), nc("DateRange"),
                               nc("StartDate"), nc("Date")}))
          e.begin = t.str();
        else if (ends_with(p, {hs("Placement"), nc("ActivityDate"), nc("DateRange"), nc("EndDate"),
                               nc("Date")}))
          e.end = t.str();
      });
  if (!ok || d.event_id.empty() || (e.client.empty() && e.person.empty())) return std::nullopt;
  return d;
}

std::optional<std::string> read_exception_id(std::string_view doc) {
  std::optional<std::string> id;
  bool ok = walk(
      doc, [](const name_path&) {},
      [&](const name_path& p, const lazy_text& t) {
        if (is_source_id(p)) id = t.str();
      });
  if (!ok) return std::nullopt;
  return id;
}

}  // namespace niem::oversight::medication
