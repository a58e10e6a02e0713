// The admin API: health, readiness, metrics and the dashboard's files (routes added to the one
// table, routes.cc).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include "admin/handlers.h"

namespace niem::admin {

namespace {

struct health_handlers : handlers {
  using handlers::handlers;
  response readyz(const call&);
  response static_file(const std::string& name);
  response healthz(const call&) { return json_response(200, json::object{{"status", "ok"}}); }
  response metrics_route(const call&) { return metrics(); }
  response dashboard(const call&) { return static_file("index.html"); }
  response static_route(const call& c) { return static_file(c.params[0]); }
};

}  // namespace

response health_handlers::readyz(const call&) {
  bool bound = h.listener_bound && h.listener_bound();
  // The store's database answers, the schemas are loaded (the pipeline exists), the listener
  // is bound.
  auto db = st.check();
  if (!bound || !db.reachable) {
    json::object o{{"status", "not_ready"}, {"listener", bound}, {"store", db.reachable}};
    if (!db.reachable) {
      o["problem"] = db.problem;
      o["code"] =
          base::code_id(db.code == base::errc::ok ? base::errc::store_unavailable : db.code);
    }
    return json_response(503, std::move(o));
  }
  return json_response(
      200,
      json::object{{"status", "ready"}, {"store", true}, {"schemas", true}, {"listener", true}});
}

response health_handlers::static_file(const std::string& name) {
  // Only plain file names from the dashboard folder.
  if (name.empty() || name.size() > 64 || name.find("..") != std::string::npos || !plain(name) ||
      opt.static_dir.empty())
    return error(404, "not_found", "no such file");
  // A regular file, not a directory (".": libstdc++ throws reading one) nor a link.
  auto p = std::filesystem::path(opt.static_dir) / name;
  std::error_code ec;
  if (name.front() == '.' ||
      !std::filesystem::is_regular_file(std::filesystem::symlink_status(p, ec)))
    return error(404, "not_found", "no such file");
  std::ifstream in(p, std::ios::binary);
  if (!in) return error(404, "not_found", "no such file");
  std::string body{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return {200, content_type_of(name), std::move(body)};
}

void add_health_routes(std::vector<route>& table) {
  using h = health_handlers;
  table.insert(
      table.end(),
      {
          {"GET", "/", access::page, &bind<h, &h::dashboard>, "the dashboard"},
          {"GET", "/index.html", access::page, &bind<h, &h::dashboard>, "the dashboard"},
          {"GET", "/static/{file}", access::page, &bind<h, &h::static_route>,
           "the dashboard's files"},
          {"GET", "/healthz", access::health, &bind<h, &h::healthz>, "the process answers"},
          {"GET", "/readyz", access::health, &bind<h, &h::readyz>,
           "ready: store reachable, schemas loaded, listener bound (503 and why otherwise)"},
          {"GET", "/metrics", access::health, &bind<h, &h::metrics_route>, "Prometheus text"},
      });
}

}  // namespace niem::admin
