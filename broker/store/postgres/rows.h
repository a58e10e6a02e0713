#pragma once
// Column lists and row readers shared by the PostgreSQL queries.
#include "store/postgres/pg.h"
#include "store/store.h"

namespace niem::store::postgres {

inline constexpr const char* k_audit_columns =
    "seq, at_ms, message_id, record_key, provider, exchange, recipient, agreement, purpose, "
    "consent, decision, reason, paths, digest, subjects, prev, hash, mapping_version, "
    "agreement_version";

inline audit_entry read_entry(const result& r, int i) {
  audit_entry e;
  e.seq = r.i64(i, 0);
  e.at_ms = r.i64(i, 1);
  e.message_id = r.text(i, 2);
  e.record_key = r.text(i, 3);
  e.provider = r.text(i, 4);
  e.exchange = r.text(i, 5);
  e.recipient = r.text(i, 6);
  e.agreement = r.text(i, 7);
  e.purpose = r.text(i, 8);
  e.consent = r.text(i, 9);
  e.decision = r.text(i, 10);
  e.reason = r.text(i, 11);
  e.paths = r.text(i, 12);
  e.digest = r.text(i, 13);
  e.subjects = r.text(i, 14);
  e.prev = r.text(i, 15);
  e.hash = r.text(i, 16);
  e.mapping_version = r.text(i, 17);
  e.agreement_version = r.text(i, 18);
  return e;
}

inline constexpr const char* k_dead_columns =
    "id, message_id, COALESCE(recipient,''), agency, COALESCE(record_type,''), "
    "COALESCE(exchange,''), COALESCE(record_key,''), code, COALESCE(diagnostics,''), "
    "COALESCE(content_type,''), dead_ms, attempts";

inline dead_letter read_dead_letter(const result& r, int i) {
  dead_letter d;
  d.id = r.i64(i, 0);
  d.message_id = r.text(i, 1);
  d.recipient = r.text(i, 2);
  d.agency = r.text(i, 3);
  d.record_type = r.text(i, 4);
  d.exchange = r.text(i, 5);
  d.record_key = r.text(i, 6);
  d.code = r.text(i, 7);
  d.diagnostics_json = r.text(i, 8);
  d.content_type = r.text(i, 9);
  d.dead_ms = r.i64(i, 10);
  d.attempts = static_cast<std::uint32_t>(r.i64(i, 11));
  return d;
}

}  // namespace niem::store::postgres
