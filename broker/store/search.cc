#include "store/search.h"

#include <algorithm>

#include <fmt/format.h>

namespace niem::store::search {

std::vector<std::string> terms(const record_outcome& r) {
  std::vector<std::string> out;
  auto add = [&](std::string t) {
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  };
  for (const auto& a : r.audit) {
    if (a.decision != "deliver" && a.decision != "withhold") continue;
    if (!a.recipient.empty()) add("recipient:" + a.recipient);
    std::string_view s = a.subjects;
    while (!s.empty()) {
      auto sp = s.find(' ');
      auto word = s.substr(0, sp);
      if (!word.empty()) add("person:" + std::string(word));
      s = sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
    }
  }
  return out;
}

sql messages(const store::message_query& q, dialect d) {
  sql out;
  auto arg = [&](std::variant<std::string, std::int64_t> v) {
    out.args.push_back(std::move(v));
    return d == dialect::sqlite ? std::string("?") : fmt::format("${}", out.args.size());
  };
  // A person or recipient filter drives the search from message_index, whose rows carry the
  // time received: ordering and paging on them walks the index without sorting. Otherwise the
  // messages table drives it, through its index on the column filtered (or on the time).
  const std::string* driver_term = nullptr;
  std::string person_term = q.person.empty() ? "" : "person:" + q.person;
  std::string recipient_term = q.recipient.empty() ? "" : "recipient:" + q.recipient;
  if (!person_term.empty())
    driver_term = &person_term;
  else if (!recipient_term.empty())
    driver_term = &recipient_term;
  std::string t = driver_term ? "t" : "m";  // the table whose received_ms orders the page
  std::string from, where;
  auto cond = [&](std::string c) { where += (where.empty() ? " WHERE " : " AND ") + c; };
  if (driver_term) {
    // SQLite takes a CROSS JOIN's left table as the outer loop: the term's rows, in order.
    from = std::string(" FROM message_index t") + (d == dialect::sqlite ? " CROSS JOIN" : ",") +
           " messages m";
    cond("t.term = " + arg(*driver_term));
    cond("m.message_id = t.message_id");
    if (driver_term == &person_term && !recipient_term.empty())
      // Both: the second term's row has the same key but for its term (a primary-key probe).
      cond("EXISTS (SELECT 1 FROM message_index r WHERE r.term = " + arg(recipient_term) +
           " AND r.received_ms = t.received_ms AND r.message_id = t.message_id)");
  } else {
    // A record's key names a message or two: its index, whatever else is asked.
    from = std::string(" FROM messages m") +
           (d == dialect::sqlite && !q.key.empty() ? " INDEXED BY messages_by_key" : "");
  }
  if (!q.key.empty()) cond("m.record_key = " + arg(q.key));
  if (!q.exchange.empty()) cond("m.exchange = " + arg(q.exchange));
  if (!q.agency.empty()) cond("m.agency = " + arg(q.agency));
  if (!q.status.empty()) cond("m.status = " + arg(q.status));
  if (q.from_ms > 0) cond(t + ".received_ms >= " + arg(q.from_ms));
  if (q.to_ms > 0) cond(t + ".received_ms < " + arg(q.to_ms));
  if (!q.before.empty())
    cond(
        fmt::format("({0}.received_ms, {0}.message_id) < (SELECT b.received_ms, b.message_id "
                    "FROM messages b WHERE b.message_id = {1})",
                    t, arg(q.before)));
  out.text = fmt::format(
      "SELECT m.message_id, m.agency, m.record_type, COALESCE(m.record_key, ''), "
      "COALESCE(m.exchange, ''), m.received_ms, m.status, COALESCE(m.code, ''){}{} "
      "ORDER BY {}.received_ms DESC, {}.message_id DESC LIMIT {}",
      from, where, t, t, arg(static_cast<std::int64_t>(q.limit)));
  return out;
}

void add_decision(store::message_summary& m, std::string recipient, std::string decision,
                  std::string reason) {
  if (recipient.empty() || (decision != "deliver" && decision != "withhold")) return;
  for (auto& r : m.recipients)
    if (r.name == recipient) {  // a later decision (a replay, a withdrawal) replaces it
      r.decision = std::move(decision);
      r.reason = std::move(reason);
      return;
    }
  m.recipients.push_back({std::move(recipient), std::move(decision), std::move(reason), 0});
}

void add_receipt(store::message_summary& m, const std::string& recipient,
                 std::int64_t accepted_ms) {
  for (auto& r : m.recipients)
    if (r.name == recipient) r.accepted_ms = accepted_ms;
}

}  // namespace niem::store::search
