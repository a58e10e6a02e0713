#pragma once
// Thin RAII over libpq: a connection, a result, and a parameter list. Text parameters unless
// marked binary (bytea); readers accept a column in either format.
#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace niem::store::postgres {

class result {
 public:
  result() = default;
  explicit result(PGresult* r) : r_(r) {}
  result(result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  result& operator=(result&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  ~result() { PQclear(r_); }
  // A command or query that succeeded.
  bool ok() const {
    auto s = r_ ? PQresultStatus(r_) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  int rows() const { return r_ ? PQntuples(r_) : 0; }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col); }
  std::int64_t i64(int row, int col) const;
  std::string text(int row, int col) const;  // bytea columns are returned as their bytes
  std::uint64_t affected() const;            // rows a command changed
  // The SQLSTATE of a failure ("" when none), and its message.
  std::string state() const;
  std::string message() const;

 private:
  PGresult* r_ = nullptr;
};

class params {
 public:
  params& text(std::string_view v) {
    add(v.data(), v.size(), 0);
    return *this;
  }
  params& binary(std::string_view v) {
    add(v.data(), v.size(), 1);
    return *this;
  }
  params& num(std::int64_t v) {
    auto& s = owned_.emplace_back(std::to_string(v));
    add(s.data(), s.size(), 0);
    return *this;
  }
  // Empty text is stored as NULL (optional columns: key, exchange, code).
  params& opt(std::string_view v) {
    if (v.empty()) {
      values_.push_back(nullptr);
      lengths_.push_back(0);
      formats_.push_back(0);
      return *this;
    }
    return text(v);
  }
  // A text[] literal of the values ({"a","b"}), for unnest().
  params& array(const std::vector<std::string_view>& v);
  params& array(const std::vector<std::int64_t>& v);

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  void add(const char* p, std::size_t n, int format) {
    values_.push_back(p ? p : "");
    lengths_.push_back(static_cast<int>(n));
    formats_.push_back(format);
  }
  std::vector<const char*> values_;
  std::vector<int> lengths_, formats_;
  std::deque<std::string> owned_;  // stable addresses
};

class connection {
 public:
  connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { close(); }

  // Connects to the URI (libpq's own syntax and parameters), with the password apart.
  bool open(const std::string& uri, const std::string& password, std::string& error);
  void close() {
    if (c_) PQfinish(c_);
    c_ = nullptr;
  }
  bool good() const { return c_ && PQstatus(c_) == CONNECTION_OK; }
  PGconn* raw() const { return c_; }
  std::string error() const;

  result exec(const char* sql);
  result exec(const char* sql, const params& p, bool binary_result = false);
  bool prepare(const char* name, const char* sql);
  result run(const char* name, const params& p, bool binary_result = false);

 private:
  PGconn* c_ = nullptr;
};

}  // namespace niem::store::postgres
