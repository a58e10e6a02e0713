// The admin HTTP request path without a socket: Beast's parser with the server's limits, then
// routing, token checks and the handlers, on a broker rig whose store holds a few records. Input:
// raw request bytes (seeds carry the rig's viewer and operator tokens). Checked beyond "no crash":
// every JSON answer parses, /api/ answers nothing but 401 without a valid token, and no answer
// is a 500.
#include <boost/json.hpp>

#include <cstdint>

#include "admin/admin.h"
#include "fuzz_rig.h"
#include "support/records.h"

using namespace niem;

namespace {

struct admin_rig : fuzz::broker_rig {
  std::unique_ptr<admin::server> srv;
  admin_rig() {
    for (int i = 0; i < 3; ++i)
      run({.agency = "medicaid",
           .record_type = "pharmacy_claim",
           .content_type = "text/plain",
           .body = testing::test_claim("FZ-" + std::to_string(i))});
    admin::options o;
    o.port = 0;
    o.tokens = {{"ops-viewer", std::string(32, 'v'), admin::role::viewer},
                {"ops-operator", std::string(32, 'o'), admin::role::operator_}};
    o.audit_key = "fuzz-audit-key";
    o.static_dir = testing::source_root() + "/broker/admin/static";
    admin::hooks h;
    h.listener_bound = [] { return true; };
    h.recipients = [this] { return router->recipients(); };
    h.offer = [](std::vector<store::queue_entry>) {};
    h.counts_of = [](const std::string&) { return admin::queue_counts{1, 1, 1, 0, 0}; };
    h.pause = [](const std::string&, bool) { return true; };
    h.paused = [] { return std::vector<std::string>{}; };
    srv = std::make_unique<admin::server>(o, *st, *st, *pl, h, clk);
    // Two samples, so that /api/history and /api/conditions have something to read.
    srv->sample_history();
    clk.advance_ms(10'000);
    srv->sample_history();
  }
};

bool valid_token(std::string_view auth) {
  return auth == "Bearer " + std::string(32, 'v') || auth == "Bearer " + std::string(32, 'o');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static admin_rig rig;
  auto req = admin::parse_request({reinterpret_cast<const char*>(data), size});
  if (!req) return 0;
  req->remote = "127.0.0.1";
  rig.clk.advance_ms(3'600'000);  // past any lockout an earlier input's bad tokens caused
  auto res = rig.srv->handle(*req);
  if (res.status >= 500 && res.status != 503)
    fuzz::defect("status " + std::to_string(res.status) + " for " + req->method + " " +
                 req->target + ": " + res.body);
  if (res.content_type.starts_with("application/json")) {
    boost::system::error_code ec;
    boost::json::parse(res.body, ec);
    if (ec) fuzz::defect("a JSON answer that does not parse: " + res.body);
  }
  if (req->target.starts_with("/api/") && !valid_token(req->authorization) && res.status != 401 &&
      res.status != 404 && res.status != 405 && res.status != 400)
    fuzz::defect("/api/ answered " + std::to_string(res.status) +
                 " without a valid token: " + req->method + " " + req->target);
  return 0;
}
