#pragma once
// What the admin API's handlers share (admin's own header): the JSON answers, the request's
// target, the context the handlers read (the broker's parts and the state the API keeps), and
// the one table of routes, to which each concern's file (routes_*.cc) adds its own.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "admin/admin.h"
#include "admin/history.h"

namespace niem::admin {

namespace json = boost::json;

response json_response(unsigned status, const json::value& v);
// Errors have a stable code (NIEM-7xx for the admin's own, HTTP-level ones by name).
response error(unsigned status, std::string_view code, std::string_view message);
std::string iso(std::int64_t ms);  // "" for 0

// Who may call a route: anyone (the dashboard's page and files), anyone unless health endpoints
// are protected, a viewer's or an operator's token.
enum class access { page, health, viewer, operator_ };
std::string_view access_name(access a);
std::string_view role_name(role r);

struct target {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
  std::string get(const std::string& k) const {
    auto it = query.find(k);
    return it == query.end() ? std::string() : it->second;
  }
};
target parse_target(std::string_view t);
// A positive decimal id; nullopt otherwise.
std::optional<std::int64_t> to_id(std::string_view s);
// Names the API may echo: ids, agencies, codes (anything else is refused before a query).
bool plain(std::string_view s, std::size_t max = 128);
json::object audit_json(const store::audit_entry& a);
json::object dead_letter_json(const store::dead_letter& d, bool detail);
std::string content_type_of(const std::string& file);

// What the handlers read and keep: one per server.
struct context {
  context(options o, store::queries& q, store::operations& op, pipeline::pipeline& p, hooks hk,
          const base::clock& c)
      : opt(std::move(o)), st(q), ops(op), pl(p), h(std::move(hk)), clk(c) {}
  options opt;
  store::queries& st;      // what the API shows
  store::operations& ops;  // settings and operators' actions in the audit trail
  pipeline::pipeline& pl;
  hooks h;
  const base::clock& clk;
  // The last hour of the metrics, sampled on a worker (the socket thread only sets the timer).
  history hist;
  // The last audit verification: -1 none yet, 0 failed, 1 verified; and when (ms).
  std::atomic<int> audit_verified{-1};
  std::atomic<std::int64_t> audit_verified_ms{0};
};

// What a handler gets: the request, its target, the path's {parameters} in order, and the
// token (null on an open route).
struct call {
  const request& req;
  const target& t;
  std::vector<std::string> params;
  const token* tok;
};
using handler = response (*)(context&, const call&);
struct route {
  std::string_view method, path;
  access need;
  handler fn;
  std::string_view summary;
};
// Every path the server answers, in the order they are matched (docs/ADMIN-API.md is generated
// from it; a test checks).
const std::vector<route>& routes();

// The base of each concern's handlers: the context's parts under the names the handlers use,
// and what several concerns share.
struct handlers {
  explicit handlers(context& c)
      : cx(c),
        opt(c.opt),
        st(c.st),
        ops(c.ops),
        pl(c.pl),
        h(c.h),
        clk(c.clk),
        hist(c.hist),
        audit_verified(c.audit_verified),
        audit_verified_ms(c.audit_verified_ms) {}
  context& cx;
  const options& opt;
  store::queries& st;
  store::operations& ops;
  pipeline::pipeline& pl;
  const hooks& h;
  const base::clock& clk;
  history& hist;
  std::atomic<int>& audit_verified;
  std::atomic<std::int64_t>& audit_verified_ms;

  // The agreements and the consent registry of the rules records are decided under now.
  std::vector<std::shared_ptr<const routing::agreement>> agreements() const;
  std::shared_ptr<const routing::policy_router> policy() const;
  bool ready() const;
  response metrics();
  bool audit_action(const token& who, std::string_view action, std::string message_id,
                    std::string record_key, std::string recipient, std::string reason);
  response replay(const token& who, store::replay_source src, std::string what);
  json::value medication_status(const std::string& claim_id);
};

// A concern's member handler as a route's handler.
template <class H, response (H::*F)(const call&)>
response bind(context& c, const call& k) {
  return (H(c).*F)(k);
}

void add_health_routes(std::vector<route>& table);
void add_queue_routes(std::vector<route>& table);
void add_message_routes(std::vector<route>& table);
void add_agreement_routes(std::vector<route>& table);
void add_medication_routes(std::vector<route>& table);
void add_history_routes(std::vector<route>& table);
void add_operator_routes(std::vector<route>& table);

}  // namespace niem::admin
