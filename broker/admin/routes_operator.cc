// The admin API: who the caller is, the rules in force, and reloading them (routes added to the one
// table, routes.cc).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "admin/handlers.h"
#include "base/text.h"

namespace niem::admin {

namespace {

struct operator_handlers : handlers {
  using handlers::handlers;
  response whoami(const call& c);
  response config_route(const call&);
  response reload_route(const call& c);
};

}  // namespace

response operator_handlers::whoami(const call& c) {
  return json_response(200, json::object{{"name", c.tok->name}, {"role", role_name(c.tok->r)}});
}

// The rules records are decided under now: each mapping and agreement file with its version
// (the content hash the audit trail names), their generation and when they were loaded.
response operator_handlers::config_route(const call&) {
  auto r = pl.current();
  json::array files;
  for (const auto& m : r->lib->mappings())
    files.push_back(json::object{{"kind", "mapping"},
                                 {"file", m->file()},
                                 {"version", m->version()},
                                 {"agency", m->agency()},
                                 {"record_type", m->record_type()},
                                 {"exchange", m->exchange()}});
  for (const auto& a : r->agreements)
    files.push_back(json::object{{"kind", "agreement"},
                                 {"file", a->file},
                                 {"version", a->content_version},
                                 {"agreement", a->label()}});
  // With other brokers sharing the store: what each reported after the last reload.
  json::array replicas;
  for (const auto& [key, value] : ops.settings(std::string(k_reload_result))) {
    auto w = base::split(value, ' ');
    if (w.size() < 6) continue;
    replicas.push_back(json::object{{"replica", key.substr(k_reload_result.size())},
                                    {"content_hash", w[0]},
                                    {"generation", w[1]},
                                    {"outcome", w[2]},
                                    {"after_reload_of", w[3]},
                                    {"same_as_announced", w[0] == w[4]},
                                    {"at", iso(to_id(w[5]).value_or(0))}});
  }
  return json_response(200, json::object{{"generation", r->generation},
                                         {"loaded_at", iso(r->loaded_ms)},
                                         {"content_hash", pipeline::content_hash(*r)},
                                         {"replica", st.replica_id()},
                                         {"replicas", std::move(replicas)},
                                         {"files", std::move(files)}});
}

response operator_handlers::reload_route(const call& c) {
  if (!h.reload) return error(503, "unavailable", "this broker cannot reload");
  auto r = h.reload("admin:" + c.tok->name);
  json::array changed, restart, files, errors;
  for (const auto& s : r.changed) changed.push_back(json::string(s));
  for (const auto& s : r.restart_required) restart.push_back(json::string(s));
  for (const auto& f : r.files)
    files.push_back(json::object{{"kind", f.kind}, {"file", f.file}, {"version", f.version}});
  for (const auto& d : r.errors)
    errors.push_back(json::object{{"code", base::code_id(d.code)},
                                  {"file", d.where},
                                  {"line", d.line},
                                  {"column", d.column},
                                  {"message", d.message},
                                  {"text", base::format(d)}});
  json::object o{{"status", r.ok ? "reloaded" : "refused"},
                 {"generation", r.generation},
                 {"changed", std::move(changed)},
                 {"restart_required", std::move(restart)},
                 {"files", std::move(files)},
                 {"errors", std::move(errors)}};
  if (!r.ok) {
    auto code = r.errors.empty() ? base::errc::config_invalid : r.errors.front().code;
    o["error"] =
        json::object{{"code", base::code_id(code)},
                     {"message", fmt::format("{} problem{}; nothing changed", r.errors.size(),
                                             r.errors.size() == 1 ? "" : "s")}};
  }
  // 422: the files were refused; 503: the store could not record the reload, so nothing
  // changed and a later try may succeed.
  bool store_down =
      !r.ok && !r.errors.empty() && r.errors.front().code == base::errc::store_unavailable;
  return json_response(r.ok ? 200 : store_down ? 503 : 422, o);
}

void add_operator_routes(std::vector<route>& table) {
  using h = operator_handlers;
  table.insert(
      table.end(),
      {
          {"GET", "/api/whoami", access::viewer, &bind<h, &h::whoami>, "the token's name and role"},
          {"GET", "/api/config", access::viewer, &bind<h, &h::config_route>,
           "the rules in force: each mapping and agreement file with its version (content hash), "
           "their generation and when they were loaded"},
          {"POST", "/api/reload", access::operator_, &bind<h, &h::reload_route>,
           "re-read mappings, agreements, subscriptions and tokens; all or nothing (audited)"},
      });
}

}  // namespace niem::admin
