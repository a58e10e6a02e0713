#pragma once
// Native records for tests that drive the pipeline: an MMIS pharmacy claim (header line and one
// record line) of one child, Medicaid id 95557001Q.
#include <string>

namespace niem::testing {

inline const std::string k_mmis_header =
    "CLAIM_ID|MEDICAID_ID|MEMBER_LAST_NAME|MEMBER_FIRST_NAME|MEMBER_DOB|MEMBER_SEX|FILL_DATE|NDC|"
    "DRUG_NAME|STRENGTH|DOSE_FORM|QUANTITY|DAYS_SUPPLY|PRESCRIBER_NPI|PRESCRIBER_NAME|PHARMACY_NPI|"
    "THERAPEUTIC_CLASS|PSYCHOTROPIC|SUD_TREATMENT|CLAIM_STATUS\n";

// A PAID psychotropic (ADHD agent) claim; `fill` as the extract writes it (YYYYMMDD), or
// anything else to make the record invalid.
inline std::string test_claim(const std::string& id, const std::string& fill = "20261101") {
  return k_mmis_header + id + "|95557001Q|DOE|JO|20140101|F|" + fill +
         "|65162-0627-10|GUANFACINE ER|1 MG|TABLET|30|30|1234567893|KIM, DANIEL|1987654321|"
         "ADHD AGENT|Y|N|PAID\n";
}

}  // namespace niem::testing
