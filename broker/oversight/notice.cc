// The medication authorization exception: finding its exchange among the schemas, and writing
// a notice (an alert, or the resolution of one) as its NIEM document.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/text.h"
#include "oversight/medication.h"

namespace niem::oversight::medication {

namespace {

// One element holding a value, indented; nothing for an empty value.
void leaf(std::string& out, int depth, std::string_view tag, std::string_view value) {
  if (value.empty()) return;
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
  out += '<';
  out += tag;
  out += '>';
  base::append_xml_escaped(out, value);
  out += "</";
  out += tag;
  out += ">\n";
}

void open(std::string& out, int depth, std::string_view tag) {
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
  out += fmt::format("<{}>\n", tag);
}

void close(std::string& out, int depth, std::string_view tag) {
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
  out += fmt::format("</{}>\n", tag);
}

void identification(std::string& out, int depth, std::string_view tag, std::string_view id) {
  if (id.empty()) return;
  open(out, depth, tag);
  leaf(out, depth + 1, "nc:IdentificationID", id);
  close(out, depth, tag);
}

}  // namespace

std::optional<std::string> exception_exchange_in(const std::string& schema_dir) {
  const auto target = fmt::format("targetNamespace=\"{}\"", k_exception_namespace);
  std::optional<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(schema_dir, ec)) {
    if (e.path().extension() != ".xsd") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string head(4096, '\0');  // the schema element's attributes come first
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    if (head.find(target) == std::string::npos) continue;
    if (found) return std::nullopt;  // two candidates: ambiguous
    found = e.path().stem().string();
  }
  return found;
}

std::string write_exception(const exception_notice& n) {
  const auto& c = n.c;
  std::string out;
  out.reserve(4096);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mae:MedicationAuthorizationException";
  for (auto [prefix, ns] : {std::pair{"ext", vocabulary::k_ext},
                            {"hs", vocabulary::k_hs},
                            {"mae", vocabulary::k_mae},
                            {"nc", vocabulary::k_nc},
                            {"structures", vocabulary::k_structures}})
    out += fmt::format("\n    xmlns:{}=\"{}\"", prefix, ns);
  out += ">\n";
  identification(out, 1, "ext:SourceRecordIdentification", n.id);
  leaf(out, 1, "ext:MedicationExceptionCategoryCode", outcome_name(n.result));
  open(out, 1, "ext:RecordedDate");
  leaf(out, 2, "nc:Date", n.day);
  close(out, 1, "ext:RecordedDate");
  if (!n.resolves.empty()) {
    open(out, 1, "ext:ExceptionResolution");
    identification(out, 2, "ext:ResolvedExceptionIdentification", n.resolves);
    identification(out, 2, "ext:CourtOrderIdentification", n.covering_order);
    close(out, 1, "ext:ExceptionResolution");
  }
  if (n.county_fips.empty())
    leaf(out, 1, "ext:CountyUnknownIndicator", "true");
  else
    leaf(out, 1, "ext:CountyFIPSCode", n.county_fips);
  identification(out, 1, "ext:ClaimIdentification", c.claim_id);
  open(out, 1, "nc:Person");
  if (!c.birth_date.empty()) {
    open(out, 2, "nc:PersonBirthDate");
    leaf(out, 3, "nc:Date", c.birth_date);
    close(out, 2, "nc:PersonBirthDate");
  }
  if (!c.given_name.empty() || !c.surname.empty()) {
    open(out, 2, "nc:PersonName");
    leaf(out, 3, "nc:PersonGivenName", c.given_name);
    leaf(out, 3, "nc:PersonSurName", c.surname);
    close(out, 2, "nc:PersonName");
  }
  open(out, 2, "ext:PersonAugmentation");
  identification(out, 3, "ext:PersonChildWelfareClientIdentification", n.client_id);
  identification(out, 3, "ext:PersonMedicaidIdentification", c.medicaid_id);
  close(out, 2, "ext:PersonAugmentation");
  open(out, 2, "hs:PersonAugmentation");
  open(out, 3, "hs:HealthDetails");
  open(out, 4, "hs:MedicationUse");
  open(out, 5, "hs:Medication");
  leaf(out, 6, "nc:ItemName", c.drug_name);
  leaf(out, 6, "nc:ItemQuantity", c.quantity);
  leaf(out, 6, "nc:SubstanceFormText", c.dose_form);
  leaf(out, 6, "nc:DrugDaysSupplyQuantity", c.days_supply);
  leaf(out, 6, "nc:DrugStrengthText", c.strength);
  open(out, 6, "ext:DrugAugmentation");
  leaf(out, 7, "ext:DrugNDCCode", c.ndc);
  leaf(out, 7, "ext:DrugTherapeuticClassText", c.therapeutic_class);
  leaf(out, 7, "ext:DrugPsychotropicIndicator", "true");
  leaf(out, 7, "ext:DrugSubstanceUseDisorderTreatmentIndicator", c.sud ? "true" : "false");
  close(out, 6, "ext:DrugAugmentation");
  close(out, 5, "hs:Medication");
  if (!c.prescriber_given_name.empty() || !c.prescriber_surname.empty() ||
      !c.prescriber_npi.empty()) {
    open(out, 5, "hs:Prescriber");
    open(out, 6, "nc:EntityPerson");
    if (!c.prescriber_given_name.empty() || !c.prescriber_surname.empty()) {
      open(out, 7, "nc:PersonName");
      leaf(out, 8, "nc:PersonGivenName", c.prescriber_given_name);
      leaf(out, 8, "nc:PersonSurName", c.prescriber_surname);
      close(out, 7, "nc:PersonName");
    }
    if (!c.prescriber_npi.empty()) {
      open(out, 7, "ext:PersonAugmentation");
      identification(out, 8, "hs:NPIIdentification", c.prescriber_npi);
      close(out, 7, "ext:PersonAugmentation");
    }
    close(out, 6, "nc:EntityPerson");
    close(out, 5, "hs:Prescriber");
  }
  if (!c.fill_date.empty()) {
    open(out, 5, "hs:MedicationDispensingDate");
    leaf(out, 6, "nc:Date", c.fill_date);
    close(out, 5, "hs:MedicationDispensingDate");
  }
  close(out, 4, "hs:MedicationUse");
  close(out, 3, "hs:HealthDetails");
  close(out, 2, "hs:PersonAugmentation");
  close(out, 1, "nc:Person");
  if (n.result == outcome::over_maximum_dose)
    leaf(out, 1, "ext:ComputedDailyDoseText", n.v.daily_dose);
  if (n.result == outcome::over_maximum_dose || n.result == outcome::authorization_expired)
    leaf(out, 1, "ext:AuthorizedMaximumDailyDoseText", n.v.maximum);
  identification(out, 1, "ext:CourtOrderIdentification", n.v.order_id);
  identification(out, 1, "ext:ApplicationIdentification", n.v.application_id);
  out += "</mae:MedicationAuthorizationException>\n";
  return out;
}

}  // namespace niem::oversight::medication
