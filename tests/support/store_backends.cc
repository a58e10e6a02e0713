#include "support/store_backends.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

namespace niem::testing {

namespace {

// The admin URI with another database name.
std::string with_database(const std::string& admin, const std::string& db) {
  auto slash = admin.rfind('/');
  return admin.substr(0, slash + 1) + db;
}

// Runs one statement on the cluster's admin database.
void admin_exec(const std::string& sql) {
  PGconn* c = PQconnectdb(pg_admin_uri().c_str());
  INFO(PQerrorMessage(c));
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, sql.c_str());
  INFO(PQresultErrorMessage(r));
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  PQfinish(c);
  REQUIRE(ok);
}

std::string fresh_name() {
  static std::atomic<int> n{0};
  return "niem_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

}  // namespace

std::string pg_admin_uri() {
  std::ifstream in(std::string(NIEM_TEST_PG_STATE) + "/uri");
  std::string uri;
  std::getline(in, uri);
  INFO(std::string("no PostgreSQL cluster for the tests: run them with ctest (fixture "
                   "pg_cluster_start), or tests/support/pg_cluster.sh start ") +
       NIEM_TEST_PG_STATE);
  REQUIRE(!uri.empty());
  return uri;
}

store_fixture::store_fixture(store::backend kind) : store_fixture(kind, true) {}

store_fixture::store_fixture(store::backend kind, bool) : kind_(kind) {
  if (kind_ == store::backend::sqlite) {
    dir_.emplace("niem-store");
    locator_ = dir_->path.string();
  } else {
    db_name_ = fresh_name();
    admin_exec("CREATE DATABASE " + db_name_);
    locator_ = with_database(pg_admin_uri(), db_name_);
  }
}

store_fixture::~store_fixture() {
  if (db_name_.empty()) return;
  PGconn* c = PQconnectdb(pg_admin_uri().c_str());
  if (PQstatus(c) == CONNECTION_OK)
    PQclear(PQexec(c, ("DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)").c_str()));
  PQfinish(c);
}

std::unique_ptr<store::store> store_fixture::open(const base::clock& clk, std::uint32_t group,
                                                  std::string audit_key) {
  store::options o;
  o.locator = locator_;
  o.group_commit_max = group;
  o.audit_key = std::move(audit_key);
  auto s = store::store::open(o, clk);
  if (!s) {
    for (const auto& d : s.errors()) UNSCOPED_INFO(d.where << ": " << d.message);
  }
  REQUIRE(s.ok());
  return std::move(s.value());
}

std::unique_ptr<store::store> store_fixture::open_read_only() {
  store::options o;
  o.locator = locator_;
  o.read_only = true;
  auto s = store::store::open(o, base::default_clock());
  if (!s) {
    for (const auto& d : s.errors()) UNSCOPED_INFO(d.where << ": " << d.message);
  }
  REQUIRE(s.ok());
  return std::move(s.value());
}

std::int64_t store_fixture::scalar(const std::string& sql) {
  if (kind_ == store::backend::sqlite) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir_->path / "broker.db").string().c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) == SQLITE_OK);
    std::int64_t v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
  }
  PGconn* c = PQconnectdb(locator_.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, sql.c_str());
  INFO(PQresultErrorMessage(r));
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
  std::int64_t v = PQntuples(r) > 0 ? std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10) : -1;
  PQclear(r);
  PQfinish(c);
  return v;
}

bool store_fixture::exec(const std::string& sql) {
  if (kind_ == store::backend::sqlite) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir_->path / "broker.db").string().c_str(), &db) == SQLITE_OK);
    bool ok = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
  }
  PGconn* c = PQconnectdb(locator_.c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  PQfinish(c);
  return ok;
}

std::unique_ptr<store_fixture> store_fixture::copy() {
  std::unique_ptr<store_fixture> c(new store_fixture(kind_, true));
  if (kind_ == store::backend::sqlite) {
    std::filesystem::remove_all(c->dir_->path);
    std::filesystem::copy(dir_->path, c->dir_->path);
  } else {
    admin_exec("DROP DATABASE " + c->db_name_);
    admin_exec("CREATE DATABASE " + c->db_name_ + " TEMPLATE " + db_name_);
  }
  return c;
}

}  // namespace niem::testing
