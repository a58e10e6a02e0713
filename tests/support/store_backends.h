#pragma once
// Runs a test on both store implementations: `STORE_TEST(fn, "title") { ... f.open(clk) ... }`
// defines "sqlite: title" and "postgres: title" (tagged [postgres], run once the throwaway
// cluster of the ctest fixture `pg` is up; each case gets a database of its own, dropped at the
// end).
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "store/store.h"
#include "support/temp_dir.h"

namespace niem::testing {

// The cluster's admin URI; fails the test when no cluster runs.
std::string pg_admin_uri();

class store_fixture {
 public:
  explicit store_fixture(store::backend kind);
  ~store_fixture();
  store_fixture(const store_fixture&) = delete;
  store_fixture& operator=(const store_fixture&) = delete;

  store::backend kind() const { return kind_; }
  const std::string& locator() const { return locator_; }
  std::unique_ptr<store::store> open(
      const base::clock& clk, std::uint32_t group = 64,
      std::string audit_key = "store-test-audit-key-0123456789abcdef");
  // Opened as the tools open it.
  std::unique_ptr<store::store> open_read_only();
  // Straight at the database (the store closed or not), for checks and tampering: one integer
  // (-1 when no row), or a statement.
  std::int64_t scalar(const std::string& sql);
  bool exec(const std::string& sql);
  // A copy of the (closed) store, as another fixture.
  std::unique_ptr<store_fixture> copy();

 private:
  store_fixture(store::backend kind, bool empty);
  store::backend kind_;
  std::optional<temp_dir> dir_;
  std::string db_name_;  // PostgreSQL
  std::string locator_;
};

}  // namespace niem::testing

#define NIEM_STORE_CAT2(a, b) a##b
#define NIEM_STORE_CAT(a, b) NIEM_STORE_CAT2(a, b)
#define STORE_TEST(fn, title)                                                                  \
  static void fn(niem::testing::store_fixture& f);                                             \
  TEST_CASE("sqlite: " title) {                                                                \
    niem::testing::store_fixture NIEM_STORE_CAT(fx, __LINE__)(niem::store::backend::sqlite);   \
    fn(NIEM_STORE_CAT(fx, __LINE__));                                                          \
  }                                                                                            \
  TEST_CASE("postgres: " title, "[postgres]") {                                                \
    niem::testing::store_fixture NIEM_STORE_CAT(fx, __LINE__)(niem::store::backend::postgres); \
    fn(NIEM_STORE_CAT(fx, __LINE__));                                                          \
  }                                                                                            \
  static void fn([[maybe_unused]] niem::testing::store_fixture& f)
