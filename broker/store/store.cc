#include "store/store.h"

#include <fmt/format.h>

#include "store/postgres/pg_store.h"
#include "store/replay_errors.h"
#include "store/sqlite/sqlite_store.h"

namespace niem::store {

std::string_view routed_status(const record_outcome& r) {
  return r.redecision           ? message_status::replayed
         : r.deliveries.empty() ? message_status::routed_to_none
                                : message_status::routed;
}

std::string_view prune_kind_name(prune_kind k) {
  switch (k) {
    case prune_kind::records:
      return "records";
    case prune_kind::messages:
      return "messages";
    case prune_kind::dead_letters:
      return "dead_letters";
    case prune_kind::observations:
      return "observations";
  }
  return "?";
}

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

namespace {

std::vector<base::diagnostic> replay_error(base::errc code, std::string msg) {
  base::diagnostic d;
  d.code = code;
  d.message = std::move(msg);
  return {d};
}

}  // namespace

std::vector<base::diagnostic> dead_letter_replay_error(base::errc why, std::int64_t id) {
  return replay_error(why, why == base::errc::replay_not_found
                               ? fmt::format("no dead letter {}", id)
                               : fmt::format("dead letter {}: the record is no longer kept", id));
}

std::vector<base::diagnostic> withheld_replay_error(base::errc why, const std::string& message_id,
                                                    const std::string& recipient) {
  return replay_error(
      why, why == base::errc::replay_not_found
               ? fmt::format("message {} was not withheld from {}", message_id, recipient)
               : fmt::format("message {}: the record is no longer kept", message_id));
}

base::result<std::unique_ptr<store>> store::open(const options& opt, const base::clock& clk) {
  if (backend_of(opt.locator) == backend::sqlite) return sqlite::open(opt, clk);
  if (redact(opt.locator) != opt.locator) {
    // A password in the URI would end up on command lines, in process lists and logs.
    base::diagnostic d;
    d.code = base::errc::config_invalid;
    d.where = redact(opt.locator);
    d.message = "the store's URI holds a password: give it in a file (<store password-file>)";
    return std::vector<base::diagnostic>{d};
  }
  return postgres::open(opt, clk);
}

}  // namespace niem::store
