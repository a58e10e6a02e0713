// Message search's plans on SQLite: every shape of search the admin API allows walks an index in
// the order of its results (no sort of the matches, no scan of the table), so that its time
// depends on the page asked for, not on the size of the message log. The timings at 10^6
// messages come from tools/bench/store_bench.cc.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <future>
#include <regex>

#include <fmt/format.h>

#include "store/search.h"
#include "store/store.h"
#include "support/store_backends.h"

using namespace niem;
using q = store::store::message_query;

namespace {

// A few thousand messages like the broker's: three agencies, two exchanges each, three
// decisions a message about one of 300 children, some dead letters.
void fill(store::store& s) {
  std::vector<std::future<store::commit_result>> pending;
  for (int i = 0; i < 3000; ++i) {
    store::record_outcome r;
    r.message_id = fmt::format("M{:06}", i);
    r.agency = i % 3 == 0 ? "cws" : i % 3 == 1 ? "medicaid" : "court";
    r.record_type = "t";
    r.content_type = "application/json";
    r.body = std::string("{}");  // GCC 12 at -O3 warns falsely of an overlap for = "{}"
    r.received_ms = 1'000'000 + i * 1000;
    if (i % 50 == 0) {
      r.code = base::errc::record_malformed_json;
    } else {
      r.mapped = true;
      r.key = fmt::format("K-{}", i);
      r.exchange = fmt::format("{}-{}", r.agency, i % 2);
      for (const char* rc : {"a", "b", "c"}) {
        store::audit_entry e;
        e.message_id = r.message_id;
        e.recipient = rc;
        e.decision = "deliver";
        e.subjects = fmt::format("P{}", i % 300);
        r.audit.push_back(e);
      }
    }
    auto p = std::make_shared<std::promise<store::commit_result>>();
    pending.push_back(p->get_future());
    s.commit_record(std::move(r), [p](store::commit_result c) { p->set_value(std::move(c)); });
  }
  for (auto& f : pending) REQUIRE(f.get().what != store::commit_result::status::failed);
}

std::string plan(sqlite3* db, const q& query) {
  auto sql = store::search::messages(query, store::search::dialect::sqlite);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql.text).c_str(), -1, &st, nullptr) ==
          SQLITE_OK);
  int i = 0;
  for (const auto& a : sql.args) {
    ++i;
    if (const auto* s = std::get_if<std::string>(&a))
      sqlite3_bind_text(st, i, s->c_str(), -1, SQLITE_TRANSIENT);
    else
      sqlite3_bind_int64(st, i, std::get<std::int64_t>(a));
  }
  std::string out;
  while (sqlite3_step(st) == SQLITE_ROW)
    out += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 3))) + "\n";
  sqlite3_finalize(st);
  return out;
}

}  // namespace

TEST_CASE("sqlite: every shape of message search walks an index in its results' order") {
  testing::store_fixture f(store::backend::sqlite);
  base::manual_clock clk(5000);
  fill(*f.open(clk));
  f.open(clk).reset();  // statistics are taken when the store opens
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((f.locator() + "/broker.db").c_str(), &db, SQLITE_OPEN_READONLY,
                          nullptr) == SQLITE_OK);
  std::vector<std::pair<const char*, q>> shapes = {
      {"newest", q{}},
      {"key", q{.key = "K-7"}},
      {"key+agency", q{.key = "K-7", .agency = "medicaid"}},
      {"key+status", q{.key = "K-7", .status = "routed"}},
      {"person", q{.person = "P7"}},
      {"person+recipient", q{.person = "P7", .recipient = "b"}},
      {"person+exchange", q{.person = "P7", .exchange = "cws-1"}},
      {"recipient", q{.recipient = "b"}},
      {"recipient+window", q{.recipient = "b", .from_ms = 1'500'000, .to_ms = 1'600'000}},
      {"exchange", q{.exchange = "cws-1"}},
      {"agency+exchange", q{.exchange = "cws-1", .agency = "cws"}},
      {"status", q{.status = "dead_lettered"}},
      {"agency+window", q{.agency = "cws", .from_ms = 1'500'000, .to_ms = 1'600'000}},
      {"window", q{.from_ms = 1'500'000, .to_ms = 1'600'000}},
      {"exchange, next page", q{.exchange = "cws-1", .before = "M001000"}},
      {"person, next page", q{.person = "P7", .before = "M001000"}},
  };
  // Each loop over m or t is a search on an index, or the walk of the time index from the
  // newest; nothing is sorted afterwards but a key's matches.
  const std::regex ok(
      R"(^(SEARCH (m|t|b|r) USING .*(INDEX|PRIMARY KEY).*|SCAN m USING (COVERING )?INDEX messages_by_time|CORRELATED SCALAR SUBQUERY \d+|CORRELATED SCALAR SUBQUERY|SCALAR SUBQUERY \d+|CORRELATED EXISTS SUBQUERY.*|SCALAR SUBQUERY|REUSE SUBQUERY \d+|USE TEMP B-TREE FOR ORDER BY)$)");
  for (const auto& [name, query] : shapes) {
    auto p = plan(db, query);
    INFO(name << ":\n" << p);
    // (Only a key's few messages may be sorted: the planner sorts them when another column is
    // asked too.)
    if (p.find("messages_by_key") == std::string::npos)
      CHECK(p.find("TEMP B-TREE") == std::string::npos);
    std::size_t start = 0;
    for (auto nl = p.find('\n'); nl != std::string::npos; start = nl + 1, nl = p.find('\n', start))
      CHECK(std::regex_match(p.substr(start, nl - start), ok));
  }
  // The search for a key walks the key's index, whatever else it asks.
  CHECK(plan(db, q{.key = "K-7", .agency = "medicaid"}).find("messages_by_key") !=
        std::string::npos);
  sqlite3_close(db);
}
