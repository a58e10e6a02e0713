#include "base/error.h"

#include <algorithm>

#include <fmt/format.h>

namespace niem::base {

namespace {
const std::vector<error_info> k_catalogue = {
    {errc::ok, "NIEM-000", "ok", "no error"},
    {errc::record_too_large, "NIEM-100", "record.too_large", "record exceeds the size limit"},
    {errc::record_malformed_json, "NIEM-101", "record.malformed_json", "record is not valid JSON"},
    {errc::record_bad_column_count, "NIEM-102", "record.bad_column_count",
     "delimited row has the wrong number of fields"},
    {errc::record_bad_header, "NIEM-103", "record.bad_header",
     "delimited header row does not match the mapping"},
    {errc::record_missing_field, "NIEM-104", "record.missing_field", "a required field is missing"},
    {errc::record_bad_date, "NIEM-105", "record.bad_date", "a date is malformed or impossible"},
    {errc::record_unknown_code, "NIEM-106", "record.unknown_code",
     "a code is not in the mapping's code table"},
    {errc::record_bad_value, "NIEM-107", "record.bad_value", "a value is malformed"},
    {errc::record_invalid_utf8, "NIEM-108", "record.invalid_utf8", "record is not valid UTF-8"},
    {errc::record_too_deep, "NIEM-109", "record.too_deep", "record nesting exceeds the limit"},
    {errc::record_wrong_type, "NIEM-110", "record.wrong_type", "a field has the wrong JSON type"},
    {errc::record_no_mapping, "NIEM-111", "record.no_mapping",
     "no mapping for the agency and record type"},
    {errc::record_bad_content_type, "NIEM-112", "record.bad_content_type",
     "message content type does not match the record type's format"},
    {errc::record_duplicate_key, "NIEM-113", "record.duplicate_key",
     "a record with this key was already accepted; not processed again"},
    {errc::record_empty, "NIEM-114", "record.empty", "message carries no record"},
    {errc::record_duplicate_member, "NIEM-115", "record.duplicate_member",
     "a JSON object names a member twice: the record could mean two things"},
    {errc::record_out_of_range, "NIEM-116", "record.out_of_range",
     "a number is outside the range the specification allows"},
    {errc::xml_not_well_formed, "NIEM-200", "xml.not_well_formed", "XML is not well-formed"},
    {errc::xml_doctype_forbidden, "NIEM-201", "xml.doctype_forbidden", "a DOCTYPE is not accepted"},
    {errc::xml_schema_invalid, "NIEM-202", "xml.schema_invalid", "document is not schema-valid"},
    {errc::xml_too_large, "NIEM-203", "xml.too_large", "document exceeds the size limit"},
    {errc::xml_too_deep, "NIEM-204", "xml.too_deep", "element nesting exceeds the limit"},
    {errc::xml_too_many_elements, "NIEM-205", "xml.too_many_elements",
     "element count exceeds the limit"},
    {errc::xml_too_many_attributes, "NIEM-206", "xml.too_many_attributes",
     "attribute count exceeds the limit"},
    {errc::xml_text_too_large, "NIEM-207", "xml.text_too_large",
     "text or attribute value exceeds the limit"},
    {errc::xml_external_entity, "NIEM-208", "xml.external_entity",
     "an external entity or resource was requested"},
    {errc::xml_no_grammar, "NIEM-209", "xml.no_grammar",
     "no schema is loaded for the document's root namespace"},
    {errc::xml_encoding_not_utf8, "NIEM-210", "xml.encoding_not_utf8",
     "the document is not in UTF-8 (another encoding declared, or a UTF-16/32 byte order mark)"},
    {errc::config_invalid, "NIEM-300", "config.invalid", "configuration is invalid"},
    {errc::mapping_invalid, "NIEM-301", "mapping.invalid", "mapping file is invalid"},
    {errc::schema_load_failed, "NIEM-302", "schema.load_failed", "schema set failed to load"},
    {errc::io_error, "NIEM-303", "io.error", "file could not be read or written"},
    {errc::agreement_invalid, "NIEM-304", "agreement.invalid",
     "data-sharing agreement file is invalid or would let an invalid document flow"},
    {errc::store_unavailable, "NIEM-305", "store.unavailable",
     "the store could not commit (its database unreachable, restarting, full or read-only): "
     "nothing was stored; the record was released to its publisher"},
    {errc::internal, "NIEM-399", "internal", "internal error"},
    {errc::delivery_rejected, "NIEM-400", "delivery.rejected",
     "the subscriber rejected the document"},
    {errc::delivery_max_attempts, "NIEM-401", "delivery.max_attempts",
     "delivery failed more often than the configured maximum"},
    {errc::delivery_expired, "NIEM-402", "delivery.expired",
     "the document waited longer than the queue's time-to-live"},
    {errc::route_no_subscriber, "NIEM-500", "route.no_subscriber",
     "no subscription covers the exchange; delivered to nobody"},
    {errc::route_no_agreement, "NIEM-501", "route.no_agreement",
     "no data-sharing agreement covers this provider, recipient and exchange"},
    {errc::route_agreement_not_effective, "NIEM-502", "route.agreement_not_effective",
     "the covering agreement is not yet in effect"},
    {errc::route_agreement_expired, "NIEM-503", "route.agreement_expired",
     "the covering agreement has expired"},
    {errc::route_purpose_not_allowed, "NIEM-504", "route.purpose_not_allowed",
     "the recipient's purpose is not one the agreement allows"},
    {errc::route_condition_not_met, "NIEM-505", "route.condition_not_met",
     "the record does not meet a condition of the agreement"},
    {errc::route_no_consent, "NIEM-506", "route.no_consent",
     "the agreement requires a consent and none holds for this child"},
    {errc::route_consent_revoked, "NIEM-507", "route.consent_revoked",
     "the consent the agreement requires was revoked"},
    {errc::route_consent_expired, "NIEM-508", "route.consent_expired",
     "the consent the agreement requires has expired or is not yet in effect"},
    {errc::route_category_not_consented, "NIEM-509", "route.category_not_consented",
     "a consent holds, but not for this data category (e.g. substance use disorder records)"},
    {errc::route_aggregate_only, "NIEM-510", "route.aggregate_only",
     "the agreement is aggregate: the record is counted for the recipient's report and never "
     "flows itself"},
    {errc::auth_unauthorized_address, "NIEM-600", "auth.unauthorized_address",
     "the agency may not attach to this address"},
    {errc::auth_unknown_identity, "NIEM-601", "auth.unknown_identity",
     "the connection's identity maps to no configured agency"},
    {errc::link_message_too_large, "NIEM-602", "link.message_too_large",
     "message exceeds the configured maximum size"},
    {errc::replay_not_found, "NIEM-700", "replay.not_found",
     "no dead letter, or no withheld decision for that recipient, has this id"},
    {errc::replay_not_retained, "NIEM-701", "replay.not_retained",
     "the record is no longer retained (records are kept for the delivery time-to-live)"},
};
}  // namespace

const std::vector<error_info>& catalogue() {
  return k_catalogue;
}

const error_info& info(errc code) {
  auto find = [](errc c) {
    return std::find_if(k_catalogue.begin(), k_catalogue.end(),
                        [c](const error_info& e) { return e.code == c; });
  };
  auto it = find(code);
  return it == k_catalogue.end() ? *find(errc::internal) : *it;
}

errc parse_code(std::string_view id) {
  for (const auto& e : k_catalogue)
    if (e.id == id) return e.code;
  return errc::internal;
}

std::string_view code_id(errc code) {
  return info(code).id;
}

std::string format(const diagnostic& d) {
  std::string out;
  if (!d.where.empty()) out += fmt::format("{}: ", d.where);
  out += fmt::format("{} {}", code_id(d.code), d.message);
  if (!d.field.empty()) out += fmt::format(" [{}]", d.field);
  return out;
}

}  // namespace niem::base
