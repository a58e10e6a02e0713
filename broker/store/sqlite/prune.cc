// Retention: removing old rows a batch at a time, each batch one operation of the writer's group
// (records keep committing between batches), and giving the free pages back to the file system.
#include "store/sqlite/sqlite_store.h"

namespace niem::store::sqlite {

namespace {

// Each statement removes at most ?2 rows older than ?1, oldest first, walking an index (or the
// ids, which grow with time) from the oldest: a batch costs the same however large the table.
constexpr const char* k_prune_records =
    "DELETE FROM records WHERE message_id IN (SELECT message_id FROM records WHERE received_ms < "
    "?1 ORDER BY received_ms LIMIT ?2)";
// Dead letters and observations carry no time index: their ids grow with time, so the oldest
// `batch` ids are examined and those old enough go (a younger one among them ends the pass).
constexpr const char* k_prune_dead_letters =
    "DELETE FROM dead_letters WHERE id IN (SELECT id FROM (SELECT id, dead_ms FROM dead_letters "
    "ORDER BY id LIMIT ?2) WHERE dead_ms < ?1)";
constexpr const char* k_prune_observations =
    "DELETE FROM observations WHERE id IN (SELECT id FROM (SELECT id, day FROM observations "
    "ORDER BY id LIMIT ?2) WHERE day < strftime('%Y-%m-%d', ?1 / 1000, 'unixepoch'))";
}  // namespace

void sqlite_store::prune(prune_kind kind, std::int64_t cutoff_ms, std::uint32_t batch,
                         std::function<void(bool, std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  eng_.push({[this, n, kind, cutoff_ms, batch] {
               *n = 0;
               if (kind == prune_kind::messages) return prune_messages(cutoff_ms, batch, *n);
               const char* sql = kind == prune_kind::records        ? k_prune_records
                                 : kind == prune_kind::dead_letters ? k_prune_dead_letters
                                                                    : k_prune_observations;
               stmt d(db_, sql);
               if (!d) return false;
               d.bind(1, cutoff_ms).bind(2, static_cast<std::int64_t>(batch));
               if (!d.run()) return false;
               *n = static_cast<std::uint64_t>(sqlite3_changes(db_));
               return true;
             },
             [n, done = std::move(done)](bool ok) {
               if (done) done(ok, ok ? *n : 0);
             }});
}

// The message log: the batch's messages, oldest first, then for each what hangs on it, each row
// by its whole key (statements that join a batch to a large table would let the planner, with
// no statistics for the batch, walk the large one). A record's key goes with the message that
// first carried it: the same key sent after that is a new record.
bool sqlite_store::prune_messages(std::int64_t cutoff_ms, std::uint32_t batch, std::uint64_t& n) {
  stmt pick(db_,
            "SELECT message_id, received_ms, agency, record_type, record_key FROM messages WHERE "
            "received_ms < ? ORDER BY received_ms LIMIT ?");
  stmt decided(db_,
               "SELECT DISTINCT recipient FROM audit WHERE message_id = ? AND decision IN "
               "('deliver', 'withhold')");
  stmt del_term(db_,
                "DELETE FROM message_index WHERE term = 'recipient:' || ? AND received_ms = ? AND "
                "message_id = ?");
  stmt del_receipts(db_, "DELETE FROM receipts WHERE message_id = ?");
  stmt del_key(db_,
               "DELETE FROM record_keys WHERE agency = ? AND record_type = ? AND record_key = ? "
               "AND message_id = ?");
  stmt del_message(db_, "DELETE FROM messages WHERE message_id = ?");
  if (!pick || !decided || !del_term || !del_receipts || !del_key || !del_message) return false;
  struct row {
    std::string id, agency, type, key;
    std::int64_t received = 0;
  };
  std::vector<row> rows;
  pick.bind(1, cutoff_ms).bind(2, static_cast<std::int64_t>(batch));
  int rc;
  while ((rc = pick.step()) == SQLITE_ROW)
    rows.push_back({pick.text(0), pick.text(2), pick.text(3), pick.text(4), pick.i64(1)});
  if (rc != SQLITE_DONE) return false;
  for (const auto& r : rows) {
    std::vector<std::string> recipients;
    decided.reset().bind(1, r.id);
    while ((rc = decided.step()) == SQLITE_ROW) recipients.push_back(decided.text(0));
    if (rc != SQLITE_DONE) return false;
    for (const auto& rcpt : recipients)
      if (!del_term.reset().bind(1, rcpt).bind(2, r.received).bind(3, r.id).run()) return false;
    if (!del_receipts.reset().bind(1, r.id).run()) return false;
    if (!r.key.empty() &&
        !del_key.reset().bind(1, r.agency).bind(2, r.type).bind(3, r.key).bind(4, r.id).run())
      return false;
    if (!del_message.reset().bind(1, r.id).run()) return false;
  }
  n = rows.size();
  return true;
}

void sqlite_store::reclaim(std::uint32_t pages, std::function<void(std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  eng_.push({[this, n, pages] {
               auto free_pages = [&] {
                 stmt f(db_, "PRAGMA freelist_count");
                 return f && f.step() == SQLITE_ROW ? f.i64(0) : 0;
               };
               auto before = free_pages();
               stmt v(db_, ("PRAGMA incremental_vacuum(" + std::to_string(pages) + ")").c_str());
               if (v)
                 while (v.step() == SQLITE_ROW) {
                 }
               auto after = free_pages();
               *n = before > after ? static_cast<std::uint64_t>(before - after) : 0;
               return true;
             },
             [n, done = std::move(done)](bool) {
               if (done) done(*n);
             }});
}

}  // namespace niem::store::sqlite
