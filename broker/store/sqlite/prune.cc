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
// The message log: the batch's ids, then what hangs on them, then the rows. A record's key goes
// with the message that first carried it (the same key sent after that is a new record).
constexpr const char* k_prune_messages =
    "DELETE FROM temp.prune_batch;"
    "INSERT INTO temp.prune_batch SELECT message_id, received_ms FROM messages WHERE received_ms "
    "< ?1 ORDER BY received_ms LIMIT ?2;"
    "DELETE FROM message_index WHERE (term, received_ms, message_id) IN (SELECT 'recipient:' || "
    "a.recipient, b.received_ms, b.message_id FROM temp.prune_batch b JOIN audit a ON "
    "a.message_id = b.message_id WHERE a.decision IN ('deliver', 'withhold'));"
    "DELETE FROM receipts WHERE message_id IN (SELECT message_id FROM temp.prune_batch);"
    "DELETE FROM record_keys WHERE (agency, record_type, record_key, message_id) IN (SELECT "
    "m.agency, m.record_type, m.record_key, m.message_id FROM temp.prune_batch b JOIN messages m "
    "ON m.message_id = b.message_id WHERE m.record_key IS NOT NULL);"
    "DELETE FROM messages WHERE message_id IN (SELECT message_id FROM temp.prune_batch);";

}  // namespace

void sqlite_store::prune(prune_kind kind, std::int64_t cutoff_ms, std::uint32_t batch,
                         std::function<void(bool, std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  eng_.push({[this, n, kind, cutoff_ms, batch] {
               *n = 0;
               if (kind == prune_kind::messages) {
                 // Several statements: prepared and run one after another on the same bindings.
                 const char* sql = k_prune_messages;
                 while (*sql) {
                   sqlite3_stmt* s = nullptr;
                   const char* rest = nullptr;
                   if (sqlite3_prepare_v2(db_, sql, -1, &s, &rest) != SQLITE_OK) return false;
                   if (sqlite3_bind_parameter_count(s) >= 1) sqlite3_bind_int64(s, 1, cutoff_ms);
                   if (sqlite3_bind_parameter_count(s) >= 2) sqlite3_bind_int64(s, 2, batch);
                   int rc = sqlite3_step(s);
                   sqlite3_finalize(s);
                   if (rc != SQLITE_DONE) return false;
                   if (std::string_view(sql).starts_with("INSERT INTO temp.prune_batch"))
                     *n = static_cast<std::uint64_t>(sqlite3_changes(db_));
                   sql = rest;
                 }
                 return true;
               }
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
