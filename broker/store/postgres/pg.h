#pragma once
// Thin RAII over libpq: a connection, a result, and a parameter list. Text parameters unless
// marked binary (bytea); readers accept a column in either format.
#include <libpq-fe.h>

#include <cstdint>
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

// Parameters of one statement. Text and bytea values are referred to, not copied (they must
// outlive the statement's send); numbers and arrays are held here. Safe to copy and move: the
// pointers libpq reads are resolved when it asks for them.
class params {
 public:
  params() = default;
  params(const params& o) : e_(o.e_), owned_(o.owned_) {}
  params(params&& o) noexcept : e_(std::move(o.e_)), owned_(std::move(o.owned_)) {}
  params& operator=(const params& o) {
    e_ = o.e_;
    owned_ = o.owned_;
    resolved_ = false;
    return *this;
  }
  params& operator=(params&& o) noexcept {
    e_ = std::move(o.e_);
    owned_ = std::move(o.owned_);
    resolved_ = false;
    return *this;
  }

  params& text(std::string_view v) { return add(v.data() ? v.data() : "", v.size(), 0, -1); }
  params& binary(std::string_view v) { return add(v.data() ? v.data() : "", v.size(), 1, -1); }
  params& num(std::int64_t v) { return own(std::to_string(v)); }
  // Empty text is stored as NULL (optional columns: key, exchange, code).
  params& opt(std::string_view v) { return v.empty() ? add(nullptr, 0, 0, -1) : text(v); }
  // A text[] or bigint[] literal ({"a","b"}), for unnest().
  params& array(const std::vector<std::string_view>& v);
  // The same, an empty value as NULL (optional columns).
  params& array_opt(const std::vector<std::string_view>& v);
  params& array(const std::vector<std::int64_t>& v);
  // A bytea[] in the binary format (the bytes copied once, not escaped).
  params& bytea_array(const std::vector<std::string_view>& v);

  int size() const { return static_cast<int>(e_.size()); }
  const char* const* values() const {
    resolve();
    return values_.data();
  }
  const int* lengths() const {
    resolve();
    return lengths_.data();
  }
  const int* formats() const {
    resolve();
    return formats_.data();
  }

 private:
  struct entry {
    const char* p;
    std::size_t n;
    int format;
    int owned;  // index into owned_, or -1
  };
  params& add(const char* p, std::size_t n, int format, int owned) {
    e_.push_back({p, n, format, owned});
    resolved_ = false;
    return *this;
  }
  params& own(std::string s, int format = 0) {
    owned_.push_back(std::move(s));
    return add(nullptr, 0, format, static_cast<int>(owned_.size() - 1));
  }
  void resolve() const {
    if (resolved_) return;
    values_.clear();
    lengths_.clear();
    formats_.clear();
    for (const auto& e : e_) {
      const auto* o = e.owned >= 0 ? &owned_[static_cast<std::size_t>(e.owned)] : nullptr;
      values_.push_back(o ? o->c_str() : e.p);
      lengths_.push_back(static_cast<int>(o ? o->size() : e.n));
      formats_.push_back(e.format);
    }
    resolved_ = true;
  }
  std::vector<entry> e_;
  std::vector<std::string> owned_;
  mutable std::vector<const char*> values_;
  mutable std::vector<int> lengths_, formats_;
  mutable bool resolved_ = false;
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

  // Pipeline mode: statements sent without waiting for each other's results; `collect` sends
  // the sync and returns one result per statement sent since the last collect, in order (a
  // statement after a failed one reports PGRES_PIPELINE_ABORTED). Kept short by the caller so
  // that neither side's socket buffer fills while the other is not reading.
  bool enter_pipeline();
  void exit_pipeline();
  // `sql` set: sent with its text, planned for these parameters (PQsendQueryParams).
  bool send(const char* name, const params& p, bool binary_result = false,
            const char* sql = nullptr);
  std::vector<result> collect(std::size_t sent);

 private:
  PGconn* c_ = nullptr;
};

}  // namespace niem::store::postgres
