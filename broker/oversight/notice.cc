// The medication authorization exception: finding its exchange among the schemas, and writing
// a notice (an alert, or the resolution of one) as its NIEM document.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/text.h"
#include "oversight/medication.h"
#include "validation/checked_writer.h"

namespace niem::oversight::medication {

namespace {

void identification(validation::checked_writer& w, std::string_view tag, std::string_view id) {
  if (id.empty()) return;
  w.open(tag);
  w.leaf("nc:IdentificationID", id);
  w.close();
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

std::string write_exception(const exception_notice& n, const validation::schema_set* schemas,
                            std::vector<base::diagnostic>* problems) {
  const auto& c = n.c;
  validation::checked_writer w(schemas, {{"ext", std::string(vocabulary::k_ext)},
                                         {"hs", std::string(vocabulary::k_hs)},
                                         {"mae", std::string(vocabulary::k_mae)},
                                         {"nc", std::string(vocabulary::k_nc)},
                                         {"structures", std::string(vocabulary::k_structures)}});
  w.open("mae:MedicationAuthorizationException");
  identification(w, "ext:SourceRecordIdentification", n.id);
  w.leaf("ext:MedicationExceptionCategoryCode", outcome_name(n.result));
  w.open("ext:RecordedDate");
  w.leaf("nc:Date", n.day);
  w.close();
  if (!n.resolves.empty()) {
    w.open("ext:ExceptionResolution");
    identification(w, "ext:ResolvedExceptionIdentification", n.resolves);
    identification(w, "ext:CourtOrderIdentification", n.covering_order);
    w.close();
  }
  if (n.county_fips.empty())
    w.leaf("ext:CountyUnknownIndicator", "true");
  else
    w.leaf("ext:CountyFIPSCode", n.county_fips);
  identification(w, "ext:ClaimIdentification", c.claim_id);
  w.open("nc:Person");
  if (!c.birth_date.empty()) {
    w.open("nc:PersonBirthDate");
    w.leaf("nc:Date", c.birth_date);
    w.close();
  }
  if (!c.given_name.empty() || !c.surname.empty()) {
    w.open("nc:PersonName");
    w.leaf("nc:PersonGivenName", c.given_name);
    w.leaf("nc:PersonSurName", c.surname);
    w.close();
  }
  w.open("ext:PersonAugmentation");
  identification(w, "ext:PersonChildWelfareClientIdentification", n.client_id);
  identification(w, "ext:PersonMedicaidIdentification", c.medicaid_id);
  w.close();
  w.open("hs:PersonAugmentation");
  w.open("hs:HealthDetails");
  w.open("hs:MedicationUse");
  w.open("hs:Medication");
  w.leaf("nc:ItemName", c.drug_name);
  w.leaf("nc:ItemQuantity", c.quantity);
  w.leaf("nc:SubstanceFormText", c.dose_form);
  w.leaf("nc:DrugDaysSupplyQuantity", c.days_supply);
  w.leaf("nc:DrugStrengthText", c.strength);
  w.open("ext:DrugAugmentation");
  w.leaf("ext:DrugNDCCode", c.ndc);
  w.leaf("ext:DrugTherapeuticClassText", c.therapeutic_class);
  w.leaf("ext:DrugPsychotropicIndicator", "true");
  w.leaf("ext:DrugSubstanceUseDisorderTreatmentIndicator", c.sud ? "true" : "false");
  w.close();
  w.close();
  if (!c.prescriber_given_name.empty() || !c.prescriber_surname.empty() ||
      !c.prescriber_npi.empty()) {
    w.open("hs:Prescriber");
    w.open("nc:EntityPerson");
    if (!c.prescriber_given_name.empty() || !c.prescriber_surname.empty()) {
      w.open("nc:PersonName");
      w.leaf("nc:PersonGivenName", c.prescriber_given_name);
      w.leaf("nc:PersonSurName", c.prescriber_surname);
      w.close();
    }
    if (!c.prescriber_npi.empty()) {
      w.open("ext:PersonAugmentation");
      identification(w, "hs:NPIIdentification", c.prescriber_npi);
      w.close();
    }
    w.close();
    w.close();
  }
  if (!c.fill_date.empty()) {
    w.open("hs:MedicationDispensingDate");
    w.leaf("nc:Date", c.fill_date);
    w.close();
  }
  w.close();
  w.close();
  w.close();
  w.close();
  if (n.result == outcome::over_maximum_dose) w.leaf("ext:ComputedDailyDoseText", n.v.daily_dose);
  if (n.result == outcome::over_maximum_dose || n.result == outcome::authorization_expired)
    w.leaf("ext:AuthorizedMaximumDailyDoseText", n.v.maximum);
  identification(w, "ext:CourtOrderIdentification", n.v.order_id);
  identification(w, "ext:ApplicationIdentification", n.v.application_id);
  w.close();
  if (problems) *problems = w.problems();
  return w.take();
}

}  // namespace niem::oversight::medication
