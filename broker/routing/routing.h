#pragma once
// Routing: who receives a validated document, and what exactly each recipient receives. The
// pipeline asks a `router` once per document; the decision is per recipient, so a policy layer
// (data-sharing agreements, consent, de-identification) can deliver a filtered document to one
// recipient and withhold it from another with a reason.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace niem::routing {

struct routed_document {
  std::string_view message_id, source_agency, record_type, record_key, exchange;
  std::shared_ptr<const std::string> document;  // the validated NIEM document
};

struct decision {
  std::string recipient;
  bool deliver = false;
  base::errc reason = base::errc::ok;           // why it was withheld
  std::shared_ptr<const std::string> document;  // what the recipient receives, if delivered
  std::string agreement;                        // the covering agreement (id@version), if any
  std::string agreement_version;                // its file's content hash
  std::string purpose;                          // the subscription's purpose
  std::string consent;                          // the consent relied on, if any
  std::vector<std::string> disclosed;           // the agreement's include paths that flowed
  std::string subjects;  // the child's identifiers found in the document (for the accounting)
};

// Implementations are called concurrently from the pipeline's workers.
// Something a document teaches the router for later decisions (a consent directive, the link
// between a child's client number and Medicaid id). Facts are stored with the record, in its
// transaction, and given back to `learn` after the commit and at start-up.
struct fact {
  std::string kind, key, value;
};

// A record counted for an aggregate agreement's report: the record is withheld from the
// recipient (NIEM-510) and these values, by role, are kept for the report.
struct observation {
  std::string agreement;  // the agreement's id
  std::string exchange;
  std::string day;  // YYYY-MM-DD: the "date" role, else "begin" (which period it counts in)
  std::vector<std::pair<std::string, std::string>> fields;  // role, value
};
// Fields as stored: "role=value" lines, with %, = and line breaks percent-encoded.
std::string encode_fields(const std::vector<std::pair<std::string, std::string>>& fields);
std::vector<std::pair<std::string, std::string>> decode_fields(std::string_view s);

class router {
 public:
  virtual ~router() = default;
  // `learned`, if given, receives what the document teaches (read in the same pass); `counted`
  // what aggregate agreements count from it.
  virtual std::vector<decision> route(const routed_document& doc,
                                      std::vector<fact>* learned = nullptr,
                                      std::vector<observation>* counted = nullptr) const = 0;
  // Every recipient this router can ever deliver to (the queues the broker keeps).
  virtual std::vector<std::string> recipients() const = 0;
  // Thread-safe.
  virtual void learn(const std::vector<fact>&) const {}
  // Whether a queued document that relied on consent `consent_id` may still be delivered today:
  // ok, or the reason to withdraw it (NIEM-507/508).
  virtual base::errc still_consented(std::string_view, std::int64_t) const {
    return base::errc::ok;
  }
};

struct subscription {
  std::string recipient, exchange;
};

// Delivers each document, whole, to every subscriber of its exchange type. A document nobody
// subscribes to yields one withheld decision (route.no_subscriber) so that it is accounted for.
class subscription_router final : public router {
 public:
  explicit subscription_router(std::vector<subscription> subs);
  std::vector<decision> route(const routed_document& doc, std::vector<fact>* learned = nullptr,
                              std::vector<observation>* counted = nullptr) const override;
  std::vector<std::string> recipients() const override;

 private:
  std::vector<subscription> subs_;
};

}  // namespace niem::routing
