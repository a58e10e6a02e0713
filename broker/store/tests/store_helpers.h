#pragma once
// What the store's tests share: a routed record, an audited one, and blocking forms of the
// store's asynchronous calls.
#include <catch2/catch.hpp>
#include <future>
#include <string>
#include <vector>

#include "store/store.h"

namespace niem::store_test {

using store::commit_result;

inline store::record_outcome routed(std::string id, std::string key,
                                    std::vector<std::string> recipients) {
  store::record_outcome r;
  r.message_id = std::move(id);
  r.agency = "cws";
  r.record_type = "placement";
  r.content_type = "application/json";
  r.body = R"({"event_id":"x"})";
  r.received_ms = 1000;
  r.mapped = true;
  r.key = std::move(key);
  r.exchange = "placement-notification";
  auto doc = std::make_shared<const std::string>("<doc/>");
  for (auto& rc : recipients) r.deliveries.push_back({rc, doc, ""});
  return r;
}

inline commit_result commit(store::store& s, store::record_outcome r) {
  std::promise<commit_result> p;
  s.commit_record(std::move(r), [&](commit_result c) { p.set_value(std::move(c)); });
  return p.get_future().get();
}

inline std::vector<store::queue_entry> fetch(store::store& s, const std::string& rcpt,
                                             std::int64_t after = 0) {
  std::promise<std::vector<store::queue_entry>> p;
  s.fetch(rcpt, after, 100, [&](std::vector<store::queue_entry> v) { p.set_value(std::move(v)); });
  return p.get_future().get();
}

inline std::int64_t ack(store::store& s, std::int64_t id) {
  std::promise<bool> p;
  s.ack(id, [&](bool ok) { p.set_value(ok); });
  REQUIRE(p.get_future().get());
  return id;
}

inline store::record_outcome audited(std::string id, std::string key, std::string subject) {
  auto r = routed(id, key, {"court"});
  store::audit_entry deliver;
  deliver.message_id = r.message_id;
  deliver.record_key = r.key;
  deliver.provider = r.agency;
  deliver.exchange = r.exchange;
  deliver.recipient = "court";
  deliver.agreement = "DSA-002@1";
  deliver.purpose = "COURT_PROCEEDING";
  deliver.decision = "deliver";
  deliver.paths = "nc:Person/nc:PersonName";
  deliver.digest = "d1";
  deliver.subjects = subject;
  auto withhold = deliver;
  withhold.recipient = "school";
  withhold.agreement = "DSA-008@1";
  withhold.decision = "withhold";
  withhold.reason = "NIEM-503";
  withhold.paths.clear();
  withhold.digest.clear();
  r.audit = {deliver, withhold};
  return r;
}

inline constexpr const char* k_key = "store-test-audit-key-0123456789abcdef";

}  // namespace niem::store_test
