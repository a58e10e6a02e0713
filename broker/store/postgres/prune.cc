// Retention: removing old rows a batch at a time, each batch one operation of the writer's group
// (records keep committing between batches). PostgreSQL reuses the space itself (autovacuum).
#include "store/postgres/pg_store.h"

namespace niem::store::postgres {

namespace {

// Each statement removes at most $2 rows older than $1, oldest first (see sqlite/prune.cc).
constexpr const char* k_prune_records =
    "DELETE FROM records WHERE message_id IN (SELECT message_id FROM records WHERE received_ms < "
    "$1 ORDER BY received_ms LIMIT $2)";
constexpr const char* k_prune_dead_letters =
    "DELETE FROM dead_letters WHERE id IN (SELECT id FROM (SELECT id, dead_ms FROM dead_letters "
    "ORDER BY id LIMIT $2) o WHERE dead_ms < $1)";
constexpr const char* k_prune_observations =
    "DELETE FROM observations WHERE id IN (SELECT id FROM (SELECT id, day FROM observations "
    "ORDER BY id LIMIT $2) o WHERE day < to_char(to_timestamp($1 / 1000.0) AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD'))";
constexpr const char* k_prune_messages =
    "WITH b AS (SELECT message_id, received_ms, agency, record_type, record_key FROM messages "
    "WHERE received_ms < $1 ORDER BY received_ms LIMIT $2), "
    "t AS (DELETE FROM message_index i USING b, audit a WHERE a.message_id = b.message_id AND "
    "a.decision IN ('deliver', 'withhold') AND i.term = 'recipient:' || a.recipient AND "
    "i.received_ms = b.received_ms AND i.message_id = b.message_id), "
    "r AS (DELETE FROM receipts c USING b WHERE c.message_id = b.message_id), "
    "k AS (DELETE FROM record_keys k USING b WHERE k.agency = b.agency AND k.record_type = "
    "b.record_type AND k.record_key = b.record_key AND k.message_id = b.message_id) "
    "DELETE FROM messages m USING b WHERE m.message_id = b.message_id";

}  // namespace

void pg_store::prune(prune_kind kind, std::int64_t cutoff_ms, std::uint32_t batch,
                     std::function<void(bool, std::uint64_t)> done) {
  auto n = std::make_shared<std::uint64_t>(0);
  eng_.push({[this, n, kind, cutoff_ms, batch] {
               const char* sql = kind == prune_kind::records        ? k_prune_records
                                 : kind == prune_kind::messages     ? k_prune_messages
                                 : kind == prune_kind::dead_letters ? k_prune_dead_letters
                                                                    : k_prune_observations;
               auto d = conn_.exec(sql, params().num(cutoff_ms).num(batch));
               if (!d.ok()) return failed(d, "prune");
               *n = d.affected();
               return true;
             },
             [n, done = std::move(done)](bool ok) {
               if (done) done(ok, ok ? *n : 0);
             }});
}

}  // namespace niem::store::postgres
