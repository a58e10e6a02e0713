#include "store/audit_chain.h"

#include <fmt/format.h>

#include "base/digest.h"

namespace niem::store {

// What an entry's hash covers, in a fixed order, separated by a byte no field contains.
std::string chain_hash(std::string_view key, std::string_view prev, const audit_entry& e) {
  return base::hmac_sha256_hex(
      key, fmt::format("{}\x1e{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}"
                       "\x1f{}\x1f{}",
                       prev, e.at_ms, e.message_id, e.record_key, e.provider, e.exchange,
                       e.recipient, e.agreement, e.purpose, e.consent, e.decision, e.reason,
                       e.paths, e.digest, e.subjects) +
               // Entries written before the versions were recorded keep the hash they were given.
               (e.mapping_version.empty() && e.agreement_version.empty()
                    ? std::string()
                    : fmt::format("\x1f{}\x1f{}", e.mapping_version, e.agreement_version)));
}

bool chain_verifier::add(const audit_entry& e) {
  if (!r_.ok) return false;
  ++r_.entries;
  auto bad = [&](std::string why) {
    r_.ok = false;
    r_.first_bad_seq = e.seq;
    r_.problem = std::move(why);
  };
  // Entries are numbered without gaps (never deleted by the broker).
  if (last_seq_ != 0 && e.seq != last_seq_ + 1)
    bad(fmt::format("entry {} follows entry {}: entries between them were removed", e.seq,
                    last_seq_));
  else if (!base::constant_time_equal(e.prev, prev_))
    bad(fmt::format("entry {} does not link to the entry before it (removed, inserted or altered)",
                    e.seq));
  else if (!base::constant_time_equal(e.hash, chain_hash(key_, e.prev, e)))
    bad(fmt::format("entry {} was altered (its hash does not match its content)", e.seq));
  if (!r_.ok) return false;
  prev_ = e.hash;
  last_seq_ = e.seq;
  return true;
}

void chain_verifier::finish(std::int64_t high_water) {
  if (r_.ok && high_water > last_seq_) {
    r_.ok = false;
    r_.first_bad_seq = last_seq_ + 1;
    r_.problem =
        fmt::format("entries {} to {} were removed from the end", last_seq_ + 1, high_water);
  }
}

void chain_verifier::read_failed(std::string problem) {
  if (!r_.ok) return;
  r_.ok = false;
  r_.problem = std::move(problem);
}

}  // namespace niem::store
