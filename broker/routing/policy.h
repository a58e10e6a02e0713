#pragma once
// The policy router: for every subscriber of a document's exchange, the covering data-sharing
// agreement decides: deliver the document filtered to what the agreement lists, or withhold it
// with a stable reason (NIEM-50x). Default deny: no agreement, no delivery.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "routing/agreement.h"
#include "routing/routing.h"

namespace niem::routing {

// ---- Consents ----

struct consent {
  std::string consent_id, record_id, status;  // status: ACTIVE or REVOKED
  std::string client_id, medicaid_id;         // the child
  std::string recipient;
  std::vector<std::string> purposes, categories;
  std::string effective_date, expiration_date;  // YYYY-MM-DD, inclusive
  std::string revoked_at;                       // RFC 3339, for REVOKED
  bool acknowledged = false;
};

struct consent_query {
  std::string_view subject_kind;  // "client" or "medicaid"
  std::string_view subject_id;
  std::string_view recipient, purpose;
  const std::vector<std::string>* categories = nullptr;
  std::string_view date;  // YYYY-MM-DD: the day of the decision
};

struct consent_answer {
  base::errc reason = base::errc::ok;  // ok: a consent holds
  std::string consent_id;              // the one that holds (or the closest one that did not)
};

// The consents in force, in memory (they are few: one per child and recipient). Thread-safe:
// workers read while consent directives are applied.
class consent_registry {
 public:
  // A directive (grant or revocation) for its consent_id; a revocation keeps the grant's terms.
  void apply(consent c);
  consent_answer check(const consent_query& q) const;
  std::optional<consent> find(const std::string& consent_id) const;
  std::vector<consent> all() const;
  // The same child under both numbers (from a placement): a consent recorded by client number
  // then covers the claims that carry only the Medicaid id.
  void link(const std::string& client_id, const std::string& medicaid_id);
  // ok while the consent still holds on `date`; else why not (revoked, expired).
  base::errc holds(const std::string& consent_id, std::string_view date) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, consent> by_id_;
  std::map<std::string, std::vector<std::string>> clients_of_medicaid_;
};

// Applies what documents taught (consent directives, identity links) to a registry.
void learn(consent_registry& consents, const std::vector<fact>& facts);

// Facts as stored: a consent in one line of fields.
std::string encode_consent(const consent& c);
std::optional<consent> decode_consent(std::string_view s);

// Reads a consent directive document (exchange consent-directive) into a consent.
std::optional<consent> consent_from_document(std::string_view doc);

// ---- The router ----

struct policy_subscription {
  std::string recipient, exchange, purpose;
};

class policy_router final : public router {
 public:
  policy_router(std::vector<policy_subscription> subs,
                std::vector<std::shared_ptr<const agreement>> agreements, const base::clock& clk,
                std::shared_ptr<consent_registry> consents);
  std::vector<decision> route(const routed_document& doc, std::vector<fact>* learned = nullptr,
                              std::vector<observation>* counted = nullptr) const override;
  std::vector<std::string> recipients() const override;
  void learn(const std::vector<fact>& facts) const override;
  base::errc still_consented(std::string_view consent_id, std::int64_t now_ms) const override;

  const std::vector<std::shared_ptr<const agreement>>& agreements() const { return agreements_; }
  consent_registry& consents() const { return *consents_; }

 private:
  std::vector<policy_subscription> subs_;
  std::vector<std::shared_ptr<const agreement>> agreements_;
  const base::clock& clk_;
  std::shared_ptr<consent_registry> consents_;
  std::map<std::string, std::vector<const path*>, std::less<>> wanted_;  // "" for any other
};

// YYYY-MM-DD of a time in milliseconds since the epoch (UTC).
std::string utc_date(std::int64_t ms);

}  // namespace niem::routing
