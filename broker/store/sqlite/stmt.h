#pragma once
// A prepared SQLite statement: bind, step, read columns; finalized with the object.
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace niem::store::sqlite {

class stmt {
 public:
  stmt() = default;
  stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
      s_ = nullptr;
  }
  stmt(stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  stmt& operator=(stmt&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~stmt() { sqlite3_finalize(s_); }
  explicit operator bool() const { return s_ != nullptr; }
  stmt& reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return *this;
  }
  stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  stmt& bind_blob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  stmt& bind_null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  // Empty text is stored as NULL (optional columns: key, exchange, code).
  stmt& bind_opt(int i, std::string_view v) { return v.empty() ? bind_null(i) : bind(i, v); }
  int step() { return sqlite3_step(s_); }
  bool run() {
    int rc = step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::string text(int c) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, sqlite3_column_bytes(s_, c)) : std::string();
  }
  std::string blob(int c) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    return p ? std::string(p, sqlite3_column_bytes(s_, c)) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

}  // namespace niem::store::sqlite
