// The admin API on a real store, pipeline and policy router: status codes, authorization
// (no token 401, viewer replay 403, operator replay 200 and audited), the dead-letter queue,
// traces, agreements, and /metrics in the Prometheus text format. Also one round trip over HTTP.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "admin/admin.h"
#include "admin/conditions.h"
#include "admin/probe.h"
#include "base/ids.h"
#include "base/metrics.h"
#include "pipeline/probe.h"
#include "support/agreements.h"
#include "support/records.h"

using namespace niem;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::int64_t k_now = 1'795'348'800'000;  // 2026-11-22T12:00:00Z

std::string claim(const std::string& id, const std::string& fill = "20261101") {
  return testing::test_claim(id, fill);
}

struct rig {
  testing::temp_dir dir{"niem-admin"};
  base::manual_clock clk{k_now};
  std::shared_ptr<mapping::mapping_library> lib = testing::load_project_mappings();
  std::unique_ptr<store::store> st;
  std::vector<std::shared_ptr<const routing::agreement>> agreements;
  std::shared_ptr<routing::policy_router> router;
  std::unique_ptr<pipeline::pipeline> pl;
  std::unique_ptr<admin::server> srv;
  std::vector<store::queue_entry> offered;
  int n = 0;
  rig() {
    REQUIRE(lib);
    agreements = testing::load_shipped_agreements(*lib);
    REQUIRE(agreements.size() == testing::shipped_agreement_files());
    auto s = store::store::open({.locator = dir.path.string(),
                                 .group_commit_max = 256,
                                 .audit_key = "admin-test-audit-key"},
                                clk);
    REQUIRE(s.ok());
    st = std::move(s.value());
    router = std::make_shared<routing::policy_router>(
        std::vector<routing::policy_subscription>{
            {"phn", "pharmacy-claim", "CARE_COORDINATION"},
            {"cws", "pharmacy-claim", "OVERSIGHT"},
            {"school", "placement-notification", "EDUCATION_STABILITY"}},
        agreements, clk, std::make_shared<routing::consent_registry>());
    pl = std::make_unique<pipeline::pipeline>(lib, router, *st, [] {
      pipeline::options o;
      o.workers = 2;
      return o;
    }());
    admin::options o;
    o.port = 0;
    o.tokens = {{"ops-viewer", std::string(32, 'v'), admin::role::viewer},
                {"ops-operator", std::string(32, 'o'), admin::role::operator_}};
    o.audit_key = "admin-test-audit-key";
    o.static_dir = testing::source_root() + "/broker/admin/static";
    admin::hooks h;
    h.listener_bound = [] { return true; };
    h.recipients = [this] { return router->recipients(); };
    h.offer = [this](std::vector<store::queue_entry> e) {
      offered.insert(offered.end(), e.begin(), e.end());
    };
    srv = std::make_unique<admin::server>(o, *st, *st, *pl, h, clk);
  }
  pipeline::outcome run(std::string agency, std::string type, std::string ct, std::string body) {
    pipeline::job j;
    j.message_id = base::new_message_id(clk.now_ms());
    j.agency = std::move(agency);
    j.record_type = std::move(type);
    j.content_type = std::move(ct);
    j.body = std::move(body);
    j.received_ms = clk.now_ms();
    std::promise<pipeline::outcome> p;
    pl->submit(std::move(j), [&](pipeline::outcome o) { p.set_value(std::move(o)); });
    return p.get_future().get();
  }
  admin::response call(std::string method, std::string target, std::string token = {},
                       std::string remote = "127.0.0.1") {
    admin::request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.remote = std::move(remote);
    if (!token.empty()) r.authorization = "Bearer " + token;
    return srv->handle(r);
  }
  const std::string viewer = std::string(32, 'v');
  const std::string op = std::string(32, 'o');
};

json::value body(const admin::response& r) {
  return json::parse(r.body);
}

namespace http = boost::beast::http;

// A live server of its own, with one viewer token.
const std::string k_live_token(32, 'x');
admin::options live_options() {
  admin::options o;
  o.port = 0;
  o.tokens = {{"t", k_live_token, admin::role::viewer}};
  return o;
}

// One request over a real connection.
struct http_client {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket sock{ioc};
  void send(std::uint16_t port, const char* target, const std::string& token = {}) {
    sock.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "localhost");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    http::write(sock, req);
  }
  http::response<http::string_body> receive() {
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(sock, buf, res);
    return res;
  }
};

}  // namespace

TEST_CASE("admin: health is open, the API needs a token, and roles limit what a token may do") {
  rig r;
  CHECK(r.call("GET", "/healthz").status == 200);
  CHECK(r.call("GET", "/readyz").status == 200);
  CHECK(r.call("GET", "/metrics").status == 200);
  auto no = r.call("GET", "/api/queues");
  CHECK(no.status == 401);
  CHECK(body(no).at("error").at("code") == "unauthorized");
  CHECK(r.call("GET", "/api/queues", "not-a-token").status == 401);
  CHECK(r.call("GET", "/api/queues", r.viewer).status == 200);
  CHECK(r.call("GET", "/api/nothing", r.viewer).status == 404);
  CHECK(r.call("GET", "/api/dlq/abc", r.viewer).status == 404);
  CHECK(r.call("GET", "/api/dlq?code=NIEM-105%27%3B", r.viewer).status == 400);
  auto me = body(r.call("GET", "/api/whoami", r.op));
  CHECK(me.at("role") == "operator");
}

TEST_CASE("admin: each route answers its methods only, and an operator's route refuses a viewer") {
  rig r;
  auto wrong = r.call("GET", "/api/dlq/replay", r.viewer);
  // GET /api/dlq/{id} with id "replay": not a number.
  CHECK(wrong.status == 404);
  auto put = r.call("PUT", "/api/queues", r.viewer);
  CHECK(put.status == 405);
  CHECK(body(put).at("error").at("message") == "use GET");
  auto dlq = r.call("PATCH", "/api/dlq/7", r.viewer);
  CHECK(dlq.status == 405);
  CHECK(body(dlq).at("error").at("message") == "use GET, DELETE");
  CHECK(r.call("POST", "/healthz").status == 401);  // a known path, another method, no token
  CHECK(r.call("POST", "/healthz", r.viewer).status == 405);
  CHECK(r.call("GET", "/nothing").status == 404);
  CHECK(r.call("GET", "/api/nothing").status == 401);
  auto pause = r.call("POST", "/api/queues/cws/pause", r.viewer);
  CHECK(pause.status == 403);
  CHECK(body(pause).at("error").at("code") == "forbidden");
  CHECK(r.call("POST", "/api/queues/nobody/pause", r.op).status == 404);
  CHECK(r.call("GET", "/api/whoami", r.viewer).status == 200);
  CHECK(body(r.call("GET", "/api/whoami", r.viewer)).at("role") == "viewer");
}

TEST_CASE("docs/ADMIN-API.md's table is the one generated from the table of routes") {
  std::ifstream in(std::string(NIEM_SOURCE_ROOT) + "/docs/ADMIN-API.md");
  REQUIRE(in);
  std::string doc{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto begin = doc.find("<!-- BEGIN GENERATED");
  auto end = doc.find("<!-- END GENERATED -->");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  begin = doc.find('\n', begin) + 1;
  INFO("run tools/update-generated-docs.sh after changing the admin server's routes");
  CHECK(doc.substr(begin, end - begin) == admin::api_reference());
}

TEST_CASE("admin: an address that keeps presenting wrong tokens is refused for a minute") {
  rig r;
  const std::string guesser = "192.0.2.7", other = "192.0.2.8";
  const auto before = admin::probe().auth_failures.value({"wrong_token"});
  for (int i = 0; i < 9; ++i)
    CHECK(r.call("GET", "/api/queues", "guess-" + std::to_string(i), guesser).status == 401);
  // No token at all is not a guess, and another address is not held for this one's failures.
  CHECK(r.call("GET", "/api/queues", "", guesser).status == 401);
  CHECK(r.call("GET", "/api/queues", "wrong", other).status == 401);
  CHECK(r.call("GET", "/api/queues", r.viewer, guesser).status == 200);
  CHECK(r.call("GET", "/api/queues", "guess-9", guesser).status == 401);  // the tenth
  // Locked out: even the right token, even health, until the minute has passed.
  auto locked = r.call("GET", "/api/queues", r.viewer, guesser);
  CHECK(locked.status == 429);
  CHECK(body(locked).at("error").at("code") == "too_many_requests");
  CHECK(locked.retry_after_seconds == 60);
  CHECK(r.call("GET", "/metrics", "", guesser).status == 429);
  CHECK(r.call("GET", "/api/queues", r.viewer, other).status == 200);
  CHECK(admin::probe().auth_failures.value({"wrong_token"}) == before + 11);
  CHECK(admin::probe().auth_failures.value({"locked_out"}) >= 2);
  r.clk.advance_ms(30'000);
  auto later = r.call("GET", "/api/queues", r.viewer, guesser);
  CHECK(later.status == 429);
  CHECK(later.retry_after_seconds == 30);
  r.clk.advance_ms(30'000);
  CHECK(r.call("GET", "/api/queues", r.viewer, guesser).status == 200);
  // Failures spread over more than a minute never add up to a lockout.
  for (int i = 0; i < 30; ++i) {
    CHECK(r.call("GET", "/api/queues", "slow-guess", other).status == 401);
    r.clk.advance_ms(7'000);
  }
  CHECK(r.call("GET", "/api/queues", r.viewer, other).status == 200);
}

TEST_CASE("admin: a dead letter is listed with its reason, replayed by an operator, and audited") {
  rig r;
  auto bad = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-A1", "2026-11-01"));
  REQUIRE(bad.what == pipeline::outcome::status::dead_lettered);
  auto list = body(r.call("GET", "/api/dlq?code=NIEM-105", r.viewer));
  REQUIRE(list.at("dead_letters").as_array().size() == 1);
  auto dl = list.at("dead_letters").at(0);
  CHECK(dl.at("message_id").as_string() == bad.message_id);
  CHECK(dl.at("code") == "NIEM-105");
  CHECK(list.at("by_code").at("NIEM-105") == 1);
  CHECK(body(r.call("GET", "/api/dlq?code=NIEM-999", r.viewer))
            .at("dead_letters")
            .as_array()
            .empty());
  auto id = std::to_string(dl.at("id").as_int64());
  auto detail = body(r.call("GET", "/api/dlq/" + id, r.viewer));
  REQUIRE(detail.at("diagnostics").as_array().size() >= 1);
  CHECK(detail.at("diagnostics").at(0).at("code") == "NIEM-105");
  // No record content, even in the detail.
  CHECK(r.call("GET", "/api/dlq/" + id, r.viewer).body.find("DOE") == std::string::npos);

  // A viewer may not replay; an operator may (here it fails again: the record is still bad).
  CHECK(r.call("POST", "/api/dlq/" + id + "/replay", r.viewer).status == 403);
  auto again = r.call("POST", "/api/dlq/" + id + "/replay", r.op);
  REQUIRE(again.status == 200);
  CHECK(body(again).at("outcome") == "dead_lettered");
  CHECK(body(again).at("code") == "NIEM-105");
  // Purge: gone from the queue; a second purge finds nothing.
  auto latest = body(r.call("GET", "/api/dlq", r.viewer)).at("dead_letters").at(0);
  auto id2 = std::to_string(latest.at("id").as_int64());
  CHECK(r.call("DELETE", "/api/dlq/" + id2, r.viewer).status == 403);
  CHECK(r.call("DELETE", "/api/dlq/" + id2, r.op).status == 200);
  CHECK(r.call("DELETE", "/api/dlq/" + id2, r.op).status == 404);
  CHECK(body(r.call("GET", "/api/queues", r.viewer)).at("dead_letters") == 0);

  // By filter: a filter is required; the matching ones are replayed, then purged.
  r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-A2", "2026-11-02"));
  r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-A3", "2026-11-03"));
  CHECK(r.call("POST", "/api/dlq/replay", r.op).status == 400);
  CHECK(r.call("POST", "/api/dlq/replay?code=NIEM-105", r.viewer).status == 403);
  auto all = body(r.call("POST", "/api/dlq/replay?code=NIEM-105", r.op));
  CHECK(all.at("replayed") == 2);
  CHECK(all.at("accepted") == 0);  // still bad: dead-lettered again
  CHECK(r.call("DELETE", "/api/dlq?agency=nobody", r.op).status == 200);
  CHECK(body(r.call("GET", "/api/queues", r.viewer)).at("dead_letters") == 2);
  CHECK(body(r.call("DELETE", "/api/dlq?code=NIEM-105", r.op)).at("purged") == 2);
  CHECK(body(r.call("GET", "/api/queues", r.viewer)).at("dead_letters") == 0);

  // The operator's actions are in the audit trail with the token's name, and it verifies.
  auto trace = body(r.call("GET", "/api/messages/" + bad.message_id + "/trace", r.viewer));
  int replays = 0, purges = 0;
  for (const auto& d : trace.at("decisions").as_array()) {
    if (d.at("provider") == "admin:ops-operator" && d.at("decision") == "replay") ++replays;
    if (d.at("provider") == "admin:ops-operator" && d.at("decision") == "purge") ++purges;
  }
  CHECK(replays == 1);
  CHECK(purges == 1);
  CHECK(body(r.call("GET", "/api/audit/verify", r.viewer)).at("ok") == true);
}

TEST_CASE(
    "admin: messages are found by key, person, recipient, status and time, a page at a time, "
    "without their content") {
  rig r;
  auto first = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-S1"));
  REQUIRE(first.what == pipeline::outcome::status::accepted);
  r.clk.advance_ms(60'000);
  auto second = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-S2"));
  REQUIRE(second.what == pipeline::outcome::status::accepted);
  r.clk.advance_ms(60'000);
  auto bad = r.run("medicaid", "pharmacy_claim", "text/plain", "not a claim extract");
  REQUIRE(bad.what == pipeline::outcome::status::dead_lettered);
  r.st->flush();
  auto ids_of = [&](const std::string& query) {
    auto res = r.call("GET", "/api/messages" + query, r.viewer);
    INFO(query << " -> " << res.body);
    REQUIRE(res.status == 200);
    std::vector<std::string> out;
    auto b = body(res);
    for (const auto& m : b.at("messages").as_array())
      out.push_back(std::string(m.at("message_id").as_string()));
    return out;
  };
  using ids = std::vector<std::string>;
  CHECK(ids_of("") == ids{bad.message_id, second.message_id, first.message_id});
  CHECK(ids_of("?key=RX-S1") == ids{first.message_id});
  CHECK(ids_of("?person=95557001Q") == ids{second.message_id, first.message_id});
  CHECK(ids_of("?person=95557001Q&recipient=phn") == ids{second.message_id, first.message_id});
  CHECK(ids_of("?recipient=school").empty());
  CHECK(ids_of("?status=dead_lettered") == ids{bad.message_id});
  CHECK(ids_of("?agency=cws").empty());
  CHECK(ids_of("?exchange=pharmacy-claim&status=routed") ==
        ids{second.message_id, first.message_id});
  // 2026-11-22T12:00:00Z is k_now; the second came a minute later; a date `to` is its whole day.
  CHECK(ids_of("?from=2026-11-22T12:00:30Z&to=2026-11-22T12:01:30Z") == ids{second.message_id});
  CHECK(ids_of("?from=2026-11-22T07:00:30-05:00&to=2026-11-22T12:01:30%2B00:00") ==
        ids{second.message_id});
  CHECK(ids_of("?to=2026-11-22").size() == 3);
  CHECK(ids_of("?to=2026-11-21").empty());

  // What became of it, for each recipient; the trace it leads to; nothing it held.
  auto res = r.call("GET", "/api/messages?key=RX-S1", r.viewer);
  auto m = body(res).at("messages").at(0);
  CHECK(m.at("status") == "routed");
  CHECK(m.at("record_key") == "RX-S1");
  CHECK(m.at("received_at") == "2026-11-22T12:00:00.000Z");
  CHECK(m.at("trace").as_string() == "/api/messages/" + first.message_id + "/trace");
  CHECK(r.call("GET", std::string(m.at("trace").as_string()), r.viewer).status == 200);
  std::map<std::string, std::string> fate;
  for (const auto& d : m.at("recipients").as_array())
    fate[std::string(d.at("recipient").as_string())] =
        std::string(d.at("decision").as_string()) + " " + std::string(d.at("code").as_string());
  CHECK(fate["cws"] == "delivered ");
  CHECK(fate["phn"].starts_with("withheld NIEM-5"));
  for (auto content : {"95557001Q", "GUANFACINE", "DOE", "KIM"}) {
    INFO(content);
    CHECK(res.body.find(content) == std::string::npos);
  }

  // A page at a time: next_before leads on, and the last page has none.
  auto page = body(r.call("GET", "/api/messages?limit=2", r.viewer));
  REQUIRE(page.at("messages").as_array().size() == 2);
  REQUIRE(page.at("next_before").as_string() == second.message_id);
  auto rest = body(r.call("GET", "/api/messages?limit=2&before=" + second.message_id, r.viewer));
  REQUIRE(rest.at("messages").as_array().size() == 1);
  CHECK(rest.at("messages").at(0).at("message_id").as_string() == first.message_id);
  CHECK(rest.at("next_before").is_null());

  // A filter that is misspelt, malformed or unknown is refused, not ignored; a token is needed.
  for (auto q : {"?persn=95557001Q", "?status=lost", "?from=2026-11-22T12:00:00",
                 "?from=2026-11-22&to=2026-11-21", "?limit=0", "?limit=1001", "?before=junk",
                 "?person=a%20b", "?key=a%0Ab"}) {
    INFO(q);
    auto e = r.call("GET", std::string("/api/messages") + q, r.viewer);
    CHECK(e.status == 400);
    CHECK(body(e).at("error").at("code") == "bad_request");
  }
  CHECK(r.call("GET", "/api/messages").status == 401);
}

TEST_CASE("admin: a withheld decision replayed after the consent arrives reaches the recipient") {
  rig r;
  auto o = r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-B1"));
  REQUIRE(o.what == pipeline::outcome::status::accepted);
  auto trace = body(r.call("GET", "/api/messages/" + o.message_id + "/trace", r.viewer));
  CHECK(trace.at("recipients").at("phn") == "withheld");
  CHECK(trace.at("recipients").at("cws") == "queued");
  CHECK(trace.at("record_key").as_string() == "RX-B1");
  // Nothing to replay for a recipient that was not withheld; replay needs a recipient.
  CHECK(r.call("POST", "/api/messages/" + o.message_id + "/replay?recipient=cws", r.op).status ==
        404);
  CHECK(r.call("POST", "/api/messages/" + o.message_id + "/replay", r.op).status == 400);
  REQUIRE(
      r.run(
           "cws", "consent", "application/json",
           R"({"record_type":"consent","consent_id":"CNS-A1","record_id":"CNS-A1-1",)"
           R"("status":"ACTIVE","subject":{"client_id":"CWS-7001-0001","medicaid_id":"95557001Q"},)"
           R"("grantor":{"role":"PARENT","name":"P"},"recipient":"phn",)"
           R"("purposes":["CARE_COORDINATION"],"data_categories":["MEDICATION"],)"
           R"("effective_date":"2026-01-01","expiration_date":"2099-12-31",)"
           R"("disclosure_acknowledged":true})")
          .what == pipeline::outcome::status::accepted);
  auto rep = r.call("POST", "/api/messages/" + o.message_id + "/replay?recipient=phn", r.op);
  REQUIRE(rep.status == 200);
  CHECK(body(rep).at("outcome") == "accepted");
  CHECK(body(rep).at("queued").at(0) == "phn");
  REQUIRE(r.offered.size() == 1);  // handed to the transport for delivery
  CHECK(r.offered[0].recipient == "phn");
  auto after = body(r.call("GET", "/api/messages/" + o.message_id + "/trace", r.viewer));
  CHECK(after.at("recipients").at("phn") == "queued");
  // Consents and agreements summaries.
  auto cs = body(r.call("GET", "/api/consents?person=95557001Q", r.viewer));
  REQUIRE(cs.at("consents").as_array().size() == 1);
  CHECK(cs.at("consents").at(0).at("holds_today") == true);
  auto ag = body(r.call("GET", "/api/agreements", r.viewer));
  std::map<std::string, std::string> status;
  for (const auto& a : ag.at("agreements").as_array())
    status[std::string(a.at("id").as_string())] = std::string(a.at("status").as_string());
  CHECK(status.size() == testing::shipped_agreement_files());
  CHECK(status["DSA-008"] == "expired");
  CHECK(status["DSA-001"] == "in_effect");
  auto dis = body(r.call("GET", "/api/disclosures?person=95557001Q", r.viewer));
  CHECK(dis.at("disclosures").as_array().size() == 2);  // cws at first, phn on replay
}

TEST_CASE(
    "admin: withholdings say why each recipient was withheld records, by code and agreement") {
  rig r;
  for (auto id : {"RX-W1", "RX-W2"})
    REQUIRE(r.run("medicaid", "pharmacy_claim", "text/plain", claim(id)).what ==
            pipeline::outcome::status::accepted);
  std::ifstream in(testing::source_root() + "/mappings/cws-placement/examples/placements.ndjson");
  std::string placement;
  REQUIRE(std::getline(in, placement));
  REQUIRE(r.run("cws", "placement", "application/json", placement).what ==
          pipeline::outcome::status::accepted);

  auto all = r.call("GET", "/api/withholdings", r.viewer);
  REQUIRE(all.status == 200);
  auto w = body(all).at("withholdings").as_array();
  REQUIRE(w.size() == 2);
  CHECK(w[0].at("recipient") == "phn");
  CHECK(w[0].at("count") == 2);
  CHECK(w[0].at("code") == "NIEM-506");
  CHECK(w[0].at("name") == "route.no_consent");
  CHECK(w[0].at("agreement") == "DSA-004@1");
  CHECK(w[0].at("agreement_status") == "in_effect");
  CHECK(w[0].at("why") ==
        "agreement DSA-004@1: the agreement requires a consent and none holds for this child");
  CHECK(w[1].at("recipient") == "school");
  CHECK(w[1].at("count") == 1);
  CHECK(w[1].at("code") == "NIEM-503");
  CHECK(w[1].at("why") == "agreement DSA-008@1 expired 2025-12-31");

  auto school = body(r.call("GET", "/api/withholdings?recipient=school", r.viewer));
  REQUIRE(school.at("withholdings").as_array().size() == 1);
  CHECK(school.at("withholdings").at(0).at("recipient") == "school");
  // Older than the hours asked for: nothing.
  r.clk.advance_ms(2 * 3600 * 1000);
  CHECK(body(r.call("GET", "/api/withholdings?hours=1", r.viewer))
            .at("withholdings")
            .as_array()
            .empty());
  CHECK(r.call("GET", "/api/withholdings?hours=x", r.viewer).status == 400);
  CHECK(r.call("GET", "/api/withholdings?recipient=a%20b", r.viewer).status == 400);
  CHECK(r.call("GET", "/api/withholdings").status == 401);
}

TEST_CASE("admin: /metrics is Prometheus text with the queues, dead letters and decisions") {
  rig r;
  r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-C1"));
  r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-C2", "bad"));
  auto m = r.call("GET", "/metrics");
  CHECK(m.content_type.starts_with("text/plain; version=0.0.4"));
  // Every sample line is NAME{labels} VALUE; every family has HELP and TYPE.
  std::map<std::string, double> samples;
  std::set<std::string> typed;
  std::istringstream in(m.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("# TYPE ")) {
      auto rest = line.substr(7);
      typed.insert(rest.substr(0, rest.find(' ')));
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    REQUIRE(sp != std::string::npos);
    samples[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    auto name = line.substr(0, line.find_first_of("{ "));
    bool known = typed.count(name) > 0;
    for (auto suffix : {"_bucket", "_sum", "_count"})
      if (name.ends_with(suffix))
        known |= typed.count(name.substr(0, name.size() - std::strlen(suffix))) > 0;
    CHECK(known);
  }
  CHECK(samples["niem_queue_depth{queue=\"cws\"}"] == 1);
  CHECK(samples["niem_queue_depth{queue=\"phn\"}"] == 0);
  CHECK(samples["niem_dead_letter_depth{code=\"NIEM-105\"}"] == 1);
  CHECK(samples["niem_withheld_total{recipient=\"phn\",code=\"NIEM-506\"}"] >= 1);
  CHECK(samples["niem_record_rejected_total{code=\"NIEM-105\"}"] >= 1);
  CHECK(samples["niem_store_bytes"] > 0);
  CHECK(samples.count("niem_admin_auth_failures_total{outcome=\"wrong_token\"}") == 0);
}

TEST_CASE(
    "admin: /metrics renders what each module registered, and an instance's gauges end "
    "with it") {
  rig r;
  base::counter_family probe_family{"niem_test_probe_total", "A test module's probe.", {"kind"}};
  probe_family.add({"a"}, 3);
  auto reg = std::make_unique<base::metrics_registry::registration>(
      base::registry().add("test", [&](std::string& out) {
        probe_family.render(out);
        base::render_gauge(out, "niem_test_gauge", "A test instance's gauge.",
                           {{{{"queue", "q\"1"}}, 2.5}});
      }));
  auto body = r.call("GET", "/metrics").body;
  CHECK(body.find("# TYPE niem_test_probe_total counter\nniem_test_probe_total{kind=\"a\"} 3\n") !=
        std::string::npos);
  CHECK(body.find("# TYPE niem_test_gauge gauge\nniem_test_gauge{queue=\"q\\\"1\"} 2.5\n") !=
        std::string::npos);
  reg.reset();
  body = r.call("GET", "/metrics").body;
  CHECK(body.find("niem_test_probe_total") == std::string::npos);
  CHECK(body.find("niem_test_gauge") == std::string::npos);
  // The store's gauges are the admin server's own registration: there while it is.
  CHECK(body.find("# TYPE niem_store_up gauge") != std::string::npos);
}

TEST_CASE("admin: the last hour's rates and the conditions that hold come from sampled metrics") {
  rig r;
  auto before = body(r.call("GET", "/api/conditions", r.viewer));
  CHECK(before.at("samples") == 0);
  CHECK(before.at("holding").as_array().empty());
  CHECK(before.at("conditions").as_array().size() == admin::conditions().size());
  r.srv->sample_history();
  r.clk.advance_ms(10'000);
  // The pipeline alone does not count receipts (the transport does); dead letters it counts.
  const auto dead_before = pipeline::probe().dead_lettered.value({"NIEM-105"});
  const auto sampled_before = pipeline::probe().sampled.value({"pharmacy-claim"});
  r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-H1"));
  r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-H2", "bad"));
  r.run("medicaid", "pharmacy_claim", "text/plain", claim("RX-H3", "bad"));
  REQUIRE(pipeline::probe().dead_lettered.value({"NIEM-105"}) == dead_before + 2);
  // The oracle samples the first document of each worker's (one or two of the three).
  r.pl->settle_samples();
  const auto sampled = pipeline::probe().sampled.value({"pharmacy-claim"}) - sampled_before;
  CHECK(sampled >= 1);
  r.srv->sample_history();
  auto h = body(r.call("GET", "/api/history", r.viewer));
  REQUIRE(h.at("t").as_array().size() == 1);
  CHECK(h.at("t").at(0).to_number<double>() == k_now / 1000.0 + 10);
  CHECK(h.at("dead_letters").at("NIEM-105").at(0).to_number<double>() == 2);
  CHECK(h.at("depth").at("cws").at(0).to_number<double>() == 1);
  CHECK(h.at("latency_p99_seconds").at(0).is_null());  // nothing accepted in between
  CHECK(h.at("validation_sampled").at(0).to_number<double>() == static_cast<double>(sampled));
  CHECK(h.at("validation_disagreements").at(0).to_number<double>() == 0);
  auto now = body(r.call("GET", "/api/conditions", r.viewer));
  CHECK(now.at("samples") == 2);
  bool dead_letters = false;
  for (const auto& c : now.at("holding").as_array())
    if (c.at("name") == "NiemDeadLetters" && c.at("group") == "NIEM-105") {
      dead_letters = true;
      CHECK(c.at("state") == "firing");
      CHECK(c.at("value").to_number<double>() == 2);
      CHECK(c.at("summary").as_string().find("NIEM-105") != json::string::npos);
    }
  CHECK(dead_letters);
  CHECK(r.call("GET", "/api/conditions").status == 401);
}

TEST_CASE("admin: one request over HTTP, with the security headers") {
  rig r;
  std::string err;
  // A second server on a free port (the rig's is not started).
  admin::hooks h;
  h.listener_bound = [] { return true; };
  admin::server live(live_options(), *r.st, *r.st, *r.pl, h, r.clk);
  auto port = live.start(err);
  REQUIRE(port != 0);
  http_client c;
  c.send(port, "/api/queues");
  auto res = c.receive();
  CHECK(res.result_int() == 401);
  CHECK(res[http::field::www_authenticate] == "Bearer");
  CHECK(res["X-Content-Type-Options"] == "nosniff");
  CHECK(res.body().find("unauthorized") != std::string::npos);
  live.stop();
}

TEST_CASE("admin: a slow request does not hold the health check or other requests") {
  rig r;
  std::string err;
  admin::hooks h;
  h.listener_bound = [] { return true; };
  // /api/queues asks for the recipients: this one waits until the test lets it go, like a replay
  // waiting for the pipeline.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  h.recipients = [released] {
    released.wait();
    return std::vector<std::string>{"court"};
  };
  admin::server live(live_options(), *r.st, *r.st, *r.pl, h, r.clk);
  auto port = live.start(err);
  REQUIRE(port != 0);
  http_client slow, quick;
  slow.send(port, "/api/queues", k_live_token);
  quick.send(port, "/healthz");
  auto health = quick.receive();  // answered while /api/queues is still waiting
  CHECK(health.result_int() == 200);
  release.set_value();
  auto queues = slow.receive();
  CHECK(queues.result_int() == 200);
  CHECK(queues.body().find("court") != std::string::npos);
  live.stop();
}

TEST_CASE("requests are read from bytes with the server's limits: headers, token, body",
          "[admin]") {
  auto r = admin::parse_request(
      "POST /api/dlq/replay?code=NIEM-106 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\n"
      "Content-Length: 2\r\n\r\n{}");
  REQUIRE(r);
  CHECK(r->method == "POST");
  CHECK(r->target == "/api/dlq/replay?code=NIEM-106");
  CHECK(r->authorization == "Bearer abc");
  CHECK(r->body == "{}");
  CHECK_FALSE(admin::parse_request("GET / HTTP/1.1\r\nHost: x\r\n"));  // headers never end
  CHECK_FALSE(admin::parse_request("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab"));
  CHECK_FALSE(admin::parse_request("POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n" +
                                   std::string(70000, 'a')));  // body over 64 KiB
  CHECK_FALSE(admin::parse_request("GET / HTTP/1.1\r\nX: " + std::string(20000, 'h') +
                                   "\r\n\r\n"));  // headers over 16 KiB
  CHECK_FALSE(admin::parse_request("NOT HTTP\r\n\r\n"));
}

// Found by fuzz_admin_http: GET /static/. read the dashboard's directory as a file, and
// libstdc++ threw from the request path.
TEST_CASE("admin: the dashboard serves its files and nothing else under /static/") {
  rig r;
  auto page = r.call("GET", "/");
  CHECK(page.status == 200);
  CHECK(page.body.find("<html") != std::string::npos);
  CHECK(r.call("GET", "/static/app.js").status == 200);
  for (const char* bad : {"/static/.", "/static/..", "/static/%2e", "/static/.hidden",
                          "/static/../admin.cc", "/static/%2E%2E", "/static/no-such.js"}) {
    INFO(bad);
    CHECK(r.call("GET", bad).status == 404);
  }
}
