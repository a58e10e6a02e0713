#pragma once
// Message search (store::find_messages), shared by both implementations: the terms a record's
// outcome adds to message_index when it is committed, and the query a search runs, built from
// the filters given. Both dialects take the same SQL but for their placeholders.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "store/store.h"

namespace niem::store::search {

// The index terms of one record's decisions: "person:ID" for each child identifier of a decided
// document, "recipient:AGENCY" for each recipient decided (delivered or withheld); no duplicates.
std::vector<std::string> terms(const record_outcome& r);

struct sql {
  std::string text;
  std::vector<std::variant<std::string, std::int64_t>> args;
};

enum class dialect { sqlite, postgres };

// One page of messages matching q, newest first: columns message_id, agency, record_type,
// record_key, exchange, received_ms, status, code (empty text for NULL).
sql messages(const store::message_query& q, dialect d);

// Folds a result's decision rows (in audit order; operators' entries and other rows are
// ignored) and receipts into it.
void add_decision(store::message_summary& m, std::string recipient, std::string decision,
                  std::string reason);
void add_receipt(store::message_summary& m, const std::string& recipient, std::int64_t accepted_ms);

}  // namespace niem::store::search
