#pragma once
// Column lists and row readers shared by the SQLite queries.
#include "store/sqlite/stmt.h"
#include "store/store.h"

namespace niem::store::sqlite {

inline constexpr const char* k_audit_columns =
    "seq, at_ms, message_id, record_key, provider, exchange, recipient, agreement, purpose, "
    "consent, decision, reason, paths, digest, subjects, prev, hash, mapping_version, "
    "agreement_version";

inline audit_entry read_entry(stmt& s) {
  audit_entry e;
  e.seq = s.i64(0);
  e.at_ms = s.i64(1);
  e.message_id = s.text(2);
  e.record_key = s.text(3);
  e.provider = s.text(4);
  e.exchange = s.text(5);
  e.recipient = s.text(6);
  e.agreement = s.text(7);
  e.purpose = s.text(8);
  e.consent = s.text(9);
  e.decision = s.text(10);
  e.reason = s.text(11);
  e.paths = s.text(12);
  e.digest = s.text(13);
  e.subjects = s.text(14);
  e.prev = s.text(15);
  e.hash = s.text(16);
  e.mapping_version = s.text(17);
  e.agreement_version = s.text(18);
  return e;
}

inline constexpr const char* k_dead_columns =
    "id, message_id, COALESCE(recipient,''), agency, COALESCE(record_type,''), "
    "COALESCE(exchange,''), COALESCE(record_key,''), code, COALESCE(diagnostics,''), "
    "COALESCE(content_type,''), dead_ms, attempts";

inline dead_letter read_dead_letter(stmt& s) {
  dead_letter d;
  d.id = s.i64(0);
  d.message_id = s.text(1);
  d.recipient = s.text(2);
  d.agency = s.text(3);
  d.record_type = s.text(4);
  d.exchange = s.text(5);
  d.record_key = s.text(6);
  d.code = s.text(7);
  d.diagnostics_json = s.text(8);
  d.content_type = s.text(9);
  d.dead_ms = s.i64(10);
  d.attempts = static_cast<std::uint32_t>(s.i64(11));
  return d;
}

}  // namespace niem::store::sqlite
