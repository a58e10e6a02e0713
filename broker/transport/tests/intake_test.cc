// The intake unit driven without a socket: a publisher on an in-memory AMQP connection, a
// pipeline that answers when the test says so.
#include "transport/intake.h"

#include <proton/delivery.hpp>
#include <proton/message.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/tracker.hpp>

#include <catch2/catch.hpp>

#include "transport/proton_c.h"
#include "transport/tests/loop_harness.h"

using namespace niem;
using namespace niem::transport::testing;
using niem::base::errc;

namespace {

// The broker's side of the connection: what server.cc does with a publisher's events.
struct broker_side : proton::messaging_handler {
  transport::intake* in = nullptr;
  std::string agency;
  void on_receiver_open(proton::receiver& r) override { in->open_receiver(r, agency, 1); }
  void on_receiver_close(proton::receiver& r) override { in->close_receiver(r); }
  void on_message(proton::delivery& d, proton::message& m) override { in->message(d, m, 1); }
};

// A publisher that remembers how each of its records was settled.
struct publisher : proton::messaging_handler {
  std::vector<proton::tracker> sent;
  std::map<std::size_t, std::string> outcome;  // by the index sent: accepted, rejected, ...
  std::map<std::size_t, std::string> why;      // the rejection's condition: name, description
  std::string refused;
  std::size_t index(const proton::tracker& t) const {
    return static_cast<std::size_t>(std::find(sent.begin(), sent.end(), t) - sent.begin());
  }
  void on_tracker_accept(proton::tracker& t) override { outcome[index(t)] = "accepted"; }
  void on_tracker_release(proton::tracker& t) override { outcome[index(t)] = "released"; }
  void on_tracker_reject(proton::tracker& t) override {
    outcome[index(t)] = "rejected";
    auto* d = transport::pc::delivery(t);
    auto* c = pn_disposition_condition(pn_delivery_remote(d));
    why[index(t)] = std::string(pn_condition_get_name(c)) + " " + pn_condition_get_description(c);
  }
  void on_sender_close(proton::sender& s) override { refused = s.error().name(); }
  void on_sender_error(proton::sender& s) override { refused = s.error().name(); }
};

// A pipeline that keeps each job and its completion until the test answers it.
struct held_pipeline : pipeline::submitter {
  std::vector<pipeline::job> jobs;
  std::vector<std::function<void(pipeline::outcome)>> done;
  void submit(pipeline::job j, std::function<void(pipeline::outcome)> d) override {
    jobs.push_back(std::move(j));
    done.push_back(std::move(d));
  }
  void answer(std::size_t i, pipeline::outcome::status what, errc code = errc::ok,
              std::string detail = {}) {
    pipeline::outcome o;
    o.what = what;
    o.code = code;
    o.detail = std::move(detail);
    o.message_id = jobs.at(i).message_id;
    done.at(i)(std::move(o));
  }
};

struct fixture {
  base::manual_clock clock{1'780'000'000'000};
  fake_loop loop;
  memory_queues queues;
  transport::options opt;
  std::shared_ptr<const config::broker_config> parties;
  held_pipeline pl;
  std::unique_ptr<transport::delivery> out;
  std::unique_ptr<transport::intake> in;
  broker_side broker;
  publisher client;
  std::unique_ptr<memory_link> link;
  proton::sender sender;

  explicit fixture(std::string agency, std::uint32_t credit = 8, std::uint32_t max_pending = 64) {
    auto p = std::make_shared<config::broker_config>();
    config::agency_config cws, mmis;
    cws.id = "cws";
    cws.record_types = {"placement"};
    mmis.id = "mmis";
    mmis.record_types = {"claim"};
    p->agencies = {cws, mmis};
    parties = p;
    opt.parties = parties;
    opt.ingest_credit = credit;
    opt.max_pending = max_pending;
    opt.max_message_bytes = 4096;
    out = std::make_unique<transport::delivery>(
        opt, queues, clock, loop, [](store::completions) {},
        [](const std::string&) { return false; });
    in = std::make_unique<transport::intake>(opt, pl, clock, loop, *out, parties);
    broker.in = in.get();
    broker.agency = std::move(agency);
    link = std::make_unique<memory_link>(broker, client);
  }

  void publish_to(const std::string& address) {
    sender = link->client().open_sender(address, proton::sender_options().auto_settle(false));
    link->settle_down();
  }
  void send(std::string body, std::string content_type = "application/json") {
    proton::message m;
    m.body(proton::binary(body));
    m.inferred(true);
    m.content_type(content_type);
    client.sent.push_back(sender.send(m));
    link->settle_down();
  }
};

}  // namespace

TEST_CASE("a publisher publishes only as itself, and only the record types it owns",
          "[transport][intake]") {
  SECTION("as another agency") {
    fixture f("cws");
    f.publish_to("ingest/mmis/claim");
    CHECK(f.client.refused == transport::k_unauthorized);
  }
  SECTION("another agency's record type") {
    fixture f("cws");
    f.publish_to("ingest/cws/claim");
    CHECK(f.client.refused == transport::k_unauthorized);
  }
  SECTION("a record type nobody publishes") {
    fixture f("cws");
    f.publish_to("ingest/cws/sonnet");
    CHECK(f.client.refused == transport::k_not_found);
  }
  SECTION("not an ingest address") {
    fixture f("cws");
    f.publish_to("deliver/cws");
    CHECK(f.client.refused == transport::k_not_found);
  }
  SECTION("its own") {
    fixture f("cws");
    f.publish_to("ingest/cws/placement");
    CHECK(f.client.refused.empty());
    CHECK(f.sender.credit() == 8);
    f.send(R"({"a":1})");
    REQUIRE(f.pl.jobs.size() == 1);
    CHECK(f.pl.jobs[0].agency == "cws");
    CHECK(f.pl.jobs[0].record_type == "placement");
    CHECK(f.pl.jobs[0].content_type == "application/json");
    CHECK(f.pl.jobs[0].body == R"({"a":1})");
    CHECK(f.pl.jobs[0].received_ms == f.clock.now_ms());
  }
}

TEST_CASE("a record is settled with the pipeline's outcome, only once it has one",
          "[transport][intake]") {
  fixture f("cws");
  f.publish_to("ingest/cws/placement");
  for (int i = 0; i < 4; ++i) f.send("{}");
  REQUIRE(f.pl.jobs.size() == 4);
  CHECK(f.client.outcome.empty());  // nothing settled before the pipeline answers

  using status = pipeline::outcome::status;
  f.pl.answer(2, status::dead_lettered, errc::record_malformed_json, "line 1");
  f.pl.answer(0, status::accepted);
  f.pl.answer(1, status::duplicate);
  f.pl.answer(3, status::failed, errc::store_unavailable);
  f.link->settle_down();
  CHECK(f.client.outcome ==
        std::map<std::size_t, std::string>{
            {0, "accepted"}, {1, "accepted"}, {2, "rejected"}, {3, "released"}});
  CHECK(f.client.why.at(2) == "niem:record.malformed_json " +
                                  std::string(base::code_id(errc::record_malformed_json)) +
                                  " line 1");
}

TEST_CASE("a transfer that is no record is rejected with its code, and the credit comes back",
          "[transport][intake]") {
  fixture f("cws", /*credit=*/1);
  f.publish_to("ingest/cws/placement");
  proton::message m;
  m.body(proton::value(std::int32_t{7}));  // an AMQP int: not a record's bytes
  f.client.sent.push_back(f.sender.send(m));
  f.link->settle_down();
  CHECK(f.pl.jobs.empty());
  CHECK(f.client.outcome.at(0) == "rejected");
  CHECK(f.client.why.at(0).starts_with("niem:record.bad_content_type " +
                                       std::string(base::code_id(errc::record_bad_content_type))));
  CHECK(f.sender.credit() == 1);
}

TEST_CASE("while the pipeline holds its limit of records, credit is owed, then paid",
          "[transport][intake]") {
  fixture f("cws", /*credit=*/4, /*max_pending=*/2);
  f.publish_to("ingest/cws/placement");
  for (int i = 0; i < 4; ++i) f.send("{}");
  REQUIRE(f.pl.jobs.size() == 4);
  CHECK(f.sender.credit() == 0);

  using status = pipeline::outcome::status;
  f.pl.answer(0, status::accepted);  // 3 held
  f.pl.answer(1, status::accepted);  // 2 held: still at the limit
  f.link->settle_down();
  CHECK(f.sender.credit() == 0);
  f.pl.answer(2, status::accepted);  // 1 held: the credit owed is paid
  f.link->settle_down();
  CHECK(f.sender.credit() == 3);
}

TEST_CASE("records of a dropped connection are not settled; the publisher sends them again",
          "[transport][intake]") {
  fixture f("cws");
  f.publish_to("ingest/cws/placement");
  f.send("{}");
  REQUIRE(f.pl.jobs.size() == 1);
  f.in->connection_dropped(f.link->broker(), 1);
  f.pl.answer(0, pipeline::outcome::status::accepted);  // the outcome arrives afterwards
  f.link->settle_down();
  CHECK(f.client.outcome.empty());
}
