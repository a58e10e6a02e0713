#include "store/postgres/pg.h"

#include <endian.h>

#include <cstring>

namespace niem::store::postgres {

namespace {
constexpr Oid k_bytea = 17;
}

std::int64_t result::i64(int row, int col) const {
  const char* v = PQgetvalue(r_, row, col);
  if (PQfformat(r_, col) == 0) return std::strtoll(v, nullptr, 10);
  switch (PQgetlength(r_, row, col)) {
    case 8: {
      std::uint64_t n;
      std::memcpy(&n, v, 8);
      return static_cast<std::int64_t>(be64toh(n));
    }
    case 4: {
      std::uint32_t n;
      std::memcpy(&n, v, 4);
      return static_cast<std::int32_t>(be32toh(n));
    }
    case 2: {
      std::uint16_t n;
      std::memcpy(&n, v, 2);
      return static_cast<std::int16_t>(be16toh(n));
    }
    default:
      return 0;
  }
}

std::string result::text(int row, int col) const {
  const char* v = PQgetvalue(r_, row, col);
  auto n = static_cast<std::size_t>(PQgetlength(r_, row, col));
  if (PQfformat(r_, col) == 0 && PQftype(r_, col) == k_bytea) {
    std::size_t len = 0;
    unsigned char* b = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &len);
    std::string out(reinterpret_cast<const char*>(b), len);
    PQfreemem(b);
    return out;
  }
  return std::string(v, n);
}

std::uint64_t result::affected() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  return *n ? std::strtoull(n, nullptr, 10) : 0;
}

std::string result::state() const {
  const char* s = r_ ? PQresultErrorField(r_, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

std::string result::message() const {
  const char* s = r_ ? PQresultErrorField(r_, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return s ? s : (r_ ? PQresultErrorMessage(r_) : "no result");
}

namespace {

// One element of an array literal: quoted, with " and \ escaped.
void append_element(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

params& params::array(const std::vector<std::string_view>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    append_element(s, v[i]);
  }
  s += '}';
  return own(std::move(s));
}

params& params::array_opt(const std::vector<std::string_view>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    if (v[i].empty())
      s += "NULL";
    else
      append_element(s, v[i]);
  }
  s += '}';
  return own(std::move(s));
}

params& params::array(const std::vector<std::int64_t>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  s += '}';
  return own(std::move(s));
}

params& params::bytea_array(const std::vector<std::string_view>& v) {
  // array_recv's format: dimensions, has-nulls, element type (bytea, 17), then the one
  // dimension's length and lower bound, then each element's length and bytes; big-endian.
  std::size_t total = 20;
  for (auto e : v) total += 4 + e.size();
  std::string s;
  s.reserve(total);
  auto be32 = [&s](std::uint32_t x) {
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((x >> shift) & 0xff);
  };
  be32(1);
  be32(0);
  be32(17);
  be32(static_cast<std::uint32_t>(v.size()));
  be32(1);
  for (auto e : v) {
    be32(static_cast<std::uint32_t>(e.size()));
    s.append(e);
  }
  return own(std::move(s), 1);
}

bool connection::open(const std::string& uri, const std::string& password, std::string& err) {
  close();
  // dbname holding a URI is expanded by libpq (expand_dbname); the password goes apart so that
  // it is never part of a string that could be logged.
  const char* keys[] = {"dbname", "password", "application_name", "connect_timeout", nullptr};
  const char* vals[] = {uri.c_str(), password.empty() ? nullptr : password.c_str(), "niem-broker",
                        "10", nullptr};
  c_ = PQconnectdbParams(keys, vals, 1);
  if (!good()) {
    err = error();
    close();
    return false;
  }
  return true;
}

std::string connection::error() const {
  if (!c_) return "no connection";
  std::string e = PQerrorMessage(c_);
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e;
}

result connection::exec(const char* sql) {
  return result(PQexec(c_, sql));
}

result connection::exec(const char* sql, const params& p, bool binary_result) {
  return result(PQexecParams(c_, sql, p.size(), nullptr, p.values(), p.lengths(), p.formats(),
                             binary_result ? 1 : 0));
}

bool connection::prepare(const char* name, const char* sql) {
  result r(PQprepare(c_, name, sql, 0, nullptr));
  return r.ok();
}

result connection::run(const char* name, const params& p, bool binary_result) {
  return result(PQexecPrepared(c_, name, p.size(), p.values(), p.lengths(), p.formats(),
                               binary_result ? 1 : 0));
}

bool connection::enter_pipeline() {
  return PQenterPipelineMode(c_) == 1;
}

void connection::exit_pipeline() {
  if (PQpipelineStatus(c_) != PQ_PIPELINE_OFF) PQexitPipelineMode(c_);
}

bool connection::send(const char* name, const params& p, bool binary_result, const char* sql) {
  if (sql)
    return PQsendQueryParams(c_, sql, p.size(), nullptr, p.values(), p.lengths(), p.formats(),
                             binary_result ? 1 : 0) == 1;
  return PQsendQueryPrepared(c_, name, p.size(), p.values(), p.lengths(), p.formats(),
                             binary_result ? 1 : 0) == 1;
}

std::vector<result> connection::collect(std::size_t sent) {
  std::vector<result> out;
  out.reserve(sent);
  if (PQpipelineSync(c_) != 1) {
    out.resize(sent);
    return out;
  }
  // Each statement's result is followed by a null; the sync ends the segment. A broken
  // connection returns nulls only: two in a row with statements outstanding end the wait.
  int nulls = 0;
  for (;;) {
    PGresult* r = PQgetResult(c_);
    if (!r) {
      if (++nulls > 1 && (PQstatus(c_) != CONNECTION_OK || out.size() >= sent)) break;
      continue;
    }
    nulls = 0;
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    if (out.size() < sent)
      out.emplace_back(r);
    else
      PQclear(r);
  }
  out.resize(sent);  // missing results (connection lost) read as failures
  return out;
}

}  // namespace niem::store::postgres
