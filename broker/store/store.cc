#include "store/store.h"

#include <fmt/format.h>

#include "store/sqlite/sqlite_store.h"

namespace niem::store {

backend backend_of(std::string_view locator) {
  return locator.starts_with("postgresql://") || locator.starts_with("postgres://")
             ? backend::postgres
             : backend::sqlite;
}

std::string redact(std::string_view locator) {
  if (backend_of(locator) != backend::postgres) return std::string(locator);
  // postgresql://user:password@host/...: the password goes; so does a password= parameter.
  std::string out(locator);
  auto scheme = out.find("://") + 3;
  auto at = out.find('@', scheme);
  auto colon = out.find(':', scheme);
  if (at != std::string::npos && colon != std::string::npos && colon < at)
    out.replace(colon + 1, at - colon - 1, "***");
  for (std::size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 1)) {
    auto end = out.find('&', p);
    out.replace(p + 9, (end == std::string::npos ? out.size() : end) - p - 9, "***");
  }
  return out;
}

base::result<std::unique_ptr<store>> store::open(const options& opt, const base::clock& clk) {
  if (backend_of(opt.locator) == backend::postgres) {
    base::diagnostic d;
    d.code = base::errc::io_error;
    d.where = redact(opt.locator);
    d.message = "this build has no PostgreSQL store";
    return std::vector<base::diagnostic>{d};
  }
  return sqlite::open(opt, clk);
}

}  // namespace niem::store
