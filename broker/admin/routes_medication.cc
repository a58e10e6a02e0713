// The admin API: the medication check's open alerts (a claim's status is in its trace) (routes
// added to the one table, routes.cc).
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "admin/handlers.h"

namespace niem::admin {

namespace {

struct medication_handlers : handlers {
  using handlers::handlers;
  response alerts(const call& c);
};

}  // namespace

// The medication check's unresolved alerts, oldest first; filtered by county and outcome. No
// name, Medicaid id or drug: a viewer may list them; the trace of the claim leads further.
response medication_handlers::alerts(const call& c) {
  const auto& t = c.t;
  auto county = t.get("county"), outcome = t.get("outcome");
  if (!plain(county) || !plain(outcome))
    return error(400, "bad_request", "county is a FIPS code, outcome an alert's outcome");
  json::array arr;
  if (h.medication) {
    auto open = h.medication->open_alerts();
    std::stable_sort(open.begin(), open.end(), [](const auto& a, const auto& b) {
      return std::tie(a.raised, a.id) < std::tie(b.raised, b.id);
    });
    for (const auto& a : open) {
      auto name = oversight::medication::outcome_name(a.result);
      if (!county.empty() && a.county != county) continue;
      if (!outcome.empty() && name != outcome) continue;
      arr.push_back(
          json::object{{"alert", a.id},
                       {"claim", a.claim_id},
                       {"outcome", name},
                       {"county", a.county.empty() ? json::value(nullptr) : json::value(a.county)},
                       {"fill_date", a.fill_date},
                       {"raised", a.raised}});
    }
  }
  return json_response(
      200, json::object{{"configured", h.medication != nullptr}, {"alerts", std::move(arr)}});
}

void add_medication_routes(std::vector<route>& table) {
  using h = medication_handlers;
  table.insert(table.end(), {
                                {"GET", "/api/alerts", access::viewer, &bind<h, &h::alerts>,
                                 "open medication alerts: ?county=&outcome="},
                            });
}

}  // namespace niem::admin
