#pragma once
// The audit trail's hash chain, defined once for both implementations: what an entry's HMAC
// covers, and the verification that names the first entry altered, removed or inserted.
#include <cstdint>
#include <string>
#include <string_view>

#include "store/store.h"

namespace niem::store {

inline constexpr std::string_view k_genesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The entry's hash over the previous hash and its own fields.
std::string chain_hash(std::string_view key, std::string_view prev, const audit_entry& e);

// Fed the entries in sequence order, then the highest sequence number the store ever handed
// out; the result names the first bad entry.
class chain_verifier {
 public:
  explicit chain_verifier(std::string_view key) : key_(key) {}
  // The chain read from here on continues after entry `seq` whose hash is `hash` (entries
  // archived before it; none: seq 0 and the genesis).
  void start_after(std::int64_t seq, std::string hash) {
    last_seq_ = seq;
    prev_ = std::move(hash);
  }
  // False once an entry is bad (stop reading).
  bool add(const audit_entry& e);
  // Entries removed from the end leave the chain whole; the store's high-water mark of the
  // sequence numbers shows them.
  void finish(std::int64_t high_water);
  // The store could not be read to the end.
  void read_failed(std::string problem);
  const audit_check& result() const { return r_; }

 private:
  std::string key_;
  std::string prev_ = std::string(k_genesis);
  std::int64_t last_seq_ = 0;
  audit_check r_{true, 0, 0, {}};
};

}  // namespace niem::store
