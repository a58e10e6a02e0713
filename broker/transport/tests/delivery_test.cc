// The delivery unit driven without a socket: a subscriber on an in-memory AMQP connection, the
// queues in memory, the loop's timers and the store's answers run when the test says so.
#include "transport/delivery.h"

#include <proton/delivery.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/tracker.hpp>

#include <catch2/catch.hpp>

#include "transport/proton_c.h"
#include "transport/tests/loop_harness.h"

using namespace niem;
using namespace niem::transport::testing;
using niem::base::errc;

namespace {

constexpr std::int64_t k_now = 1'780'000'000'000;

// The broker's side of the connection: what server.cc does with a subscriber's events.
struct broker_side : proton::messaging_handler {
  transport::delivery* out = nullptr;
  std::string agency;
  void on_sender_open(proton::sender& s) override { out->open_sender(s, agency, 1); }
  void on_sender_close(proton::sender& s) override { out->detach_consumer(s); }
  void on_sendable(proton::sender& s) override { out->sendable(s); }
  void on_tracker_accept(proton::tracker& t) override { out->accept(t); }
  void on_tracker_reject(proton::tracker& t) override { out->reject(t); }
  void on_tracker_release(proton::tracker& t) override { out->release(t); }
};

// A subscriber that settles nothing by itself.
struct subscriber : proton::messaging_handler {
  std::vector<proton::delivery> deliveries;
  std::vector<proton::message> messages;
  std::string refused;  // the condition its link was closed with
  void on_message(proton::delivery& d, proton::message& m) override {
    deliveries.push_back(d);
    messages.push_back(m);
  }
  void on_receiver_close(proton::receiver& r) override { refused = r.error().name(); }
  void on_receiver_error(proton::receiver& r) override { refused = r.error().name(); }
  std::string body(std::size_t i) const {
    auto b = proton::get<proton::binary>(messages.at(i).body());
    return {b.begin(), b.end()};
  }
};

// One delivery unit with the queues of cws and mmis, a subscriber connected as `agency`.
struct fixture {
  base::manual_clock clock{k_now};
  fake_loop loop;
  memory_queues queues;
  transport::options opt;
  std::set<std::string> paused;
  std::set<std::string> revoked;  // consents the gate says no longer hold
  std::unique_ptr<transport::delivery> out;
  broker_side broker;
  subscriber client;
  std::unique_ptr<memory_link> link;

  explicit fixture(std::string agency = "cws", std::uint32_t max_attempts = 5) {
    opt.recipients = {"cws", "mmis"};
    opt.max_attempts = max_attempts;
    opt.ttl_ms = 60'000;
    opt.consent_gate = [this](std::string_view consent) {
      return revoked.count(std::string(consent)) ? errc::route_consent_revoked : errc::ok;
    };
    out = std::make_unique<transport::delivery>(
        opt, queues, clock, loop,
        [this](store::completions c) {
          for (auto& fn : c) queues.pending.push_back(std::move(fn));
        },
        [this](const std::string& r) { return paused.count(r) > 0; });
    broker.out = out.get();
    broker.agency = std::move(agency);
    link = std::make_unique<memory_link>(broker, client);
  }

  void subscribe(const std::string& address, int credit = 10) {
    link->client().open_receiver(
        address, proton::receiver_options().auto_accept(false).credit_window(credit));
    settle();
  }
  // Until the connection, the store's answers and the timers are all quiet.
  void settle() {
    for (int i = 0; i < 100; ++i) {
      link->settle_down();
      if (queues.run() == 0 && loop.run_timers() == 0) {
        link->settle_down();
        return;
      }
    }
    FAIL("the unit never went quiet");
  }
};

void modify_as_failed(proton::delivery& d) {
  auto* pd = transport::pc::delivery(d);
  pn_disposition_set_failed(pn_delivery_local(pd), true);
  pn_delivery_update(pd, PN_MODIFIED);
  pn_delivery_settle(pd);
}

}  // namespace

TEST_CASE("a subscriber receives its queue in order, and what it accepts leaves the store",
          "[transport][delivery]") {
  fixture f;
  f.queues.add("cws", "<a/>", k_now);
  f.queues.add("mmis", "<not-for-cws/>", k_now);
  f.queues.add("cws", "<b/>", k_now);
  f.subscribe("deliver/cws");
  REQUIRE(f.client.messages.size() == 2);
  CHECK(f.client.body(0) == "<a/>");
  CHECK(f.client.body(1) == "<b/>");
  CHECK(f.client.messages[0].properties().get("niem-recipient") == proton::value("cws"));
  CHECK(proton::get<std::string>(f.client.messages[0].id()) == "m1");
  CHECK(f.queues.acked.empty());

  f.client.deliveries[1].accept();
  f.settle();
  CHECK(f.queues.acked == std::vector<std::int64_t>{3});
  CHECK(f.queues.entries.count(1) == 1);  // not accepted yet: still queued
  CHECK(f.queues.entries.count(2) == 1);  // mmis's
}

TEST_CASE("an accepted document is settled only once its removal is committed",
          "[transport][delivery]") {
  fixture f;
  f.queues.add("cws", "<a/>", k_now);
  f.subscribe("deliver/cws");
  REQUIRE(f.client.deliveries.size() == 1);
  // Accepted without settling (the subscriber waits for ours: receiver-settle-mode second).
  auto* pd = transport::pc::delivery(f.client.deliveries[0]);
  pn_delivery_update(pd, PN_ACCEPTED);
  f.queues.ack_fails = true;
  f.link->settle_down();
  f.queues.run();
  f.link->settle_down();
  CHECK(f.queues.acked.empty());
  CHECK_FALSE(pn_delivery_settled(pd));  // the removal failed: not settled

  f.queues.ack_fails = false;
  CHECK(f.loop.run_timers() == 1);  // the removal is tried again
  f.settle();
  CHECK(f.queues.acked == std::vector<std::int64_t>{1});
  CHECK(pn_delivery_settled(pd));
}

TEST_CASE("an agency receives only its own deliveries, from deliver/<agency> only",
          "[transport][delivery]") {
  SECTION("another agency's queue") {
    fixture f("mmis");
    f.queues.add("cws", "<a/>", k_now);
    f.subscribe("deliver/cws");
    CHECK(f.client.refused == transport::k_unauthorized);
    CHECK(f.client.messages.empty());
  }
  SECTION("an address that is no queue") {
    fixture f("cws");
    f.subscribe("ingest/cws/placement");
    CHECK(f.client.refused == transport::k_not_found);
  }
  SECTION("a recipient the broker does not keep") {
    fixture f("");  // an anonymous listener names no agency
    f.subscribe("deliver/nobody");
    CHECK(f.client.refused == transport::k_not_found);
  }
}

TEST_CASE("released goes back without an attempt; failed counts one; the last is dead-lettered",
          "[transport][delivery]") {
  fixture f("cws", /*max_attempts=*/2);
  f.queues.add("cws", "<a/>", k_now);
  f.subscribe("deliver/cws");
  REQUIRE(f.client.deliveries.size() == 1);

  f.client.deliveries[0].release();
  f.settle();
  REQUIRE(f.client.deliveries.size() == 2);  // sent again
  CHECK(f.client.messages[1].delivery_count() == 0);
  CHECK(f.queues.attempts.empty());

  modify_as_failed(f.client.deliveries[1]);
  f.settle();
  REQUIRE(f.client.deliveries.size() == 3);
  CHECK(f.client.messages[2].delivery_count() == 1);
  CHECK_FALSE(f.client.messages[2].first_acquirer());
  CHECK(f.queues.attempts.at(1) == 1);

  modify_as_failed(f.client.deliveries[2]);
  f.settle();
  CHECK(f.client.deliveries.size() == 3);  // not sent a third time
  REQUIRE(f.queues.dead_letters.size() == 1);
  CHECK(f.queues.dead_letters[0].code == errc::delivery_max_attempts);
  CHECK(f.queues.dead_letters[0].detail == R"({"attempts":2})");
}

TEST_CASE("a rejected document is dead-lettered with the subscriber's reason",
          "[transport][delivery]") {
  fixture f;
  f.queues.add("cws", "<a/>", k_now);
  f.subscribe("deliver/cws");
  REQUIRE(f.client.deliveries.size() == 1);
  auto* pd = transport::pc::delivery(f.client.deliveries[0]);
  auto* why = pn_disposition_condition(pn_delivery_local(pd));
  pn_condition_set_name(why, "amqp:invalid-field");
  pn_condition_set_description(why, "schema \"v2\" expected");
  pn_delivery_update(pd, PN_REJECTED);
  pn_delivery_settle(pd);
  f.settle();
  REQUIRE(f.queues.dead_letters.size() == 1);
  CHECK(f.queues.dead_letters[0].code == errc::delivery_rejected);
  CHECK(f.queues.dead_letters[0].detail == R"({"description":"schema \"v2\" expected"})");
  CHECK(f.client.deliveries.size() == 1);
}

TEST_CASE("an expired document is dead-lettered, never sent", "[transport][delivery]") {
  fixture f;
  f.queues.add("cws", "<old/>", k_now - 61'000);
  f.queues.add("cws", "<new/>", k_now);
  f.subscribe("deliver/cws");
  REQUIRE(f.client.messages.size() == 1);
  CHECK(f.client.body(0) == "<new/>");
  REQUIRE(f.queues.dead_letters.size() == 1);
  CHECK(f.queues.dead_letters[0].id == 1);
  CHECK(f.queues.dead_letters[0].code == errc::delivery_expired);

  // Housekeeping finds those nobody loaded.
  f.queues.add("mmis", "<stale/>", k_now);
  f.clock.advance_ms(61'000);
  f.out->expire();
  f.settle();
  REQUIRE(f.queues.dead_letters.size() == 2);
  CHECK(f.queues.dead_letters[1].id == 3);
}

TEST_CASE("a paused subscriber receives nothing until it is resumed", "[transport][delivery]") {
  fixture f;
  f.paused.insert("cws");
  f.queues.add("cws", "<a/>", k_now);
  f.subscribe("deliver/cws");
  CHECK(f.client.messages.empty());
  f.paused.clear();
  f.out->pump("cws");
  f.settle();
  CHECK(f.client.messages.size() == 1);
}

TEST_CASE("a document whose consent no longer holds is withdrawn and audited, not sent",
          "[transport][delivery]") {
  fixture f;
  f.revoked.insert("consent-7");
  f.queues.add("cws", "<relies-on-7/>", k_now, "consent-7");
  f.queues.add("cws", "<relies-on-8/>", k_now, "consent-8");
  f.subscribe("deliver/cws");
  REQUIRE(f.client.messages.size() == 1);
  CHECK(f.client.body(0) == "<relies-on-8/>");
  REQUIRE(f.queues.withdrawn.size() == 1);
  const auto& w = f.queues.withdrawn[0];
  CHECK(w.message_id == "m1");
  CHECK(w.decision == "withhold");
  CHECK(w.consent == "consent-7");
  CHECK(w.reason == base::code_id(errc::route_consent_revoked));
  CHECK(f.queues.entries.count(1) == 0);
}

TEST_CASE("documents in flight on a dropped connection go back as failed attempts",
          "[transport][delivery]") {
  fixture f;
  f.queues.add("cws", "<a/>", k_now);
  f.queues.add("cws", "<b/>", k_now);
  f.subscribe("deliver/cws");
  REQUIRE(f.client.messages.size() == 2);
  f.out->connection_dropped(f.link->broker(), 1);
  CHECK(f.queues.attempts == std::map<std::int64_t, std::uint32_t>{{1, 1}, {2, 1}});
  CHECK(f.queues.entries.size() == 2);  // nothing lost

  // A subscriber on a new connection gets them again first, in order, as second attempts.
  // (and one committed meanwhile, as the pipeline announces it)
  f.out->enqueued(f.queues.entries.at(f.queues.add("cws", "<c/>", k_now)));
  subscriber again;
  memory_link second(f.broker, again);
  second.client().open_receiver("deliver/cws",
                                proton::receiver_options().auto_accept(false).credit_window(10));
  for (int i = 0; i < 5; ++i) {
    second.settle_down();
    f.queues.run();
  }
  REQUIRE(again.messages.size() == 3);
  CHECK(again.body(0) == "<a/>");
  CHECK(again.body(1) == "<b/>");
  CHECK(again.body(2) == "<c/>");
  CHECK(again.messages[0].delivery_count() == 1);
  CHECK(again.messages[2].delivery_count() == 0);
}
