#pragma once
// The catalogue of stable error codes. Every reason a record is rejected, dead-lettered or withheld
// has one code; the same string appears in logs, metrics, dead-letter properties and the audit
// trail, so codes are never renamed or reused (add new ones at the end of their group).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace niem::base {

enum class errc : std::uint16_t {
  ok = 0,
  // Input record (native format) problems: NIEM-1xx.
  record_too_large = 100,
  record_malformed_json = 101,
  record_bad_column_count = 102,
  record_bad_header = 103,
  record_missing_field = 104,
  record_bad_date = 105,
  record_unknown_code = 106,
  record_bad_value = 107,
  record_invalid_utf8 = 108,
  record_too_deep = 109,
  record_wrong_type = 110,
  record_no_mapping = 111,
  record_bad_content_type = 112,
  record_duplicate_key = 113,
  record_empty = 114,
  record_duplicate_member = 115,
  record_out_of_range = 116,
  // Produced or received XML problems: NIEM-2xx.
  xml_not_well_formed = 200,
  xml_doctype_forbidden = 201,
  xml_schema_invalid = 202,
  xml_too_large = 203,
  xml_too_deep = 204,
  xml_too_many_elements = 205,
  xml_too_many_attributes = 206,
  xml_text_too_large = 207,
  xml_external_entity = 208,
  xml_no_grammar = 209,
  xml_encoding_not_utf8 = 210,
  // Configuration and authoring problems (mapping files, schemas): NIEM-3xx.
  config_invalid = 300,
  mapping_invalid = 301,
  schema_load_failed = 302,
  io_error = 303,
  agreement_invalid = 304,
  store_unavailable = 305,
  internal = 399,
  // Delivery to a subscriber: NIEM-4xx (dead-letter reasons).
  delivery_rejected = 400,
  delivery_max_attempts = 401,
  delivery_expired = 402,
  // Routing decisions: NIEM-5xx (withheld reasons; agreements add theirs here).
  route_no_subscriber = 500,
  route_no_agreement = 501,
  route_agreement_not_effective = 502,
  route_agreement_expired = 503,
  route_purpose_not_allowed = 504,
  route_condition_not_met = 505,
  route_no_consent = 506,
  route_consent_revoked = 507,
  route_consent_expired = 508,
  route_category_not_consented = 509,
  route_aggregate_only = 510,
  // Connections and links: NIEM-6xx.
  auth_unauthorized_address = 600,
  auth_unknown_identity = 601,
  link_message_too_large = 602,
  // Operations (replay, admin requests): NIEM-7xx.
  replay_not_found = 700,
  replay_not_retained = 701,
};

struct error_info {
  errc code;
  std::string_view id;       // stable string id, e.g. "NIEM-105"
  std::string_view name;     // short machine name, e.g. "record.bad_date"
  std::string_view summary;  // one line for people
};

// Looks up the catalogue entry for a code (never fails: unknown codes map to `internal`).
const error_info& info(errc code);
std::string_view code_id(errc code);
// The code of a stable id ("NIEM-105"); `internal` for an unknown one.
errc parse_code(std::string_view id);
// The whole catalogue, in code order (for docs and for the catalogue test).
const std::vector<error_info>& catalogue();

// A diagnostic: one problem with where it was found. `where` is a human locator (file:line:col,
// record index, element path) and `field` names the source field or NIEM path involved.
struct diagnostic {
  errc code = errc::internal;
  std::string message;
  std::string where;
  std::string field;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

std::string format(const diagnostic& d);

}  // namespace niem::base
