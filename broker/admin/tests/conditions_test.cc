// The broker's last hour (history.h) and the alert conditions evaluated over it (conditions.h):
// the same verdicts at the same times as Prometheus gives on deploy/prometheus/alerts_test.yml's
// cases, and alerts.yml generated from the one table.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "admin/conditions.h"
#include "admin/history.h"

using namespace niem::admin;

namespace {

constexpr std::int64_t k_minute = 60'000;

// A ring of samples one minute apart, each from its own exposition text.
std::vector<history::sample> ring_of(const std::vector<std::string>& expositions) {
  history h(24 * 3600 * 1000);
  for (std::size_t i = 0; i < expositions.size(); ++i)
    h.add(static_cast<std::int64_t>(i) * k_minute, expositions[i]);
  return h.samples();
}

std::vector<condition_state> named(const std::vector<condition_state>& all, std::string_view name) {
  std::vector<condition_state> out;
  for (const auto& c : all)
    if (c.c->name == name) out.push_back(c);
  return out;
}

}  // namespace

TEST_CASE("history: exposition lines are read with their labels, escapes and values") {
  auto kv = parse_sample_line("niem_queue_depth{queue=\"a b\",code=\"x\\\"y\"} 12.5");
  REQUIRE(kv);
  CHECK(kv->first == "niem_queue_depth{queue=\"a b\",code=\"x\\\"y\"}");
  CHECK(kv->second == 12.5);
  auto k = split_series(kv->first);
  CHECK(k.name == "niem_queue_depth");
  CHECK(k.labels.at("queue") == "a b");
  CHECK(k.labels.at("code") == "x\"y");
  CHECK(parse_sample_line("niem_up 1")->second == 1);
  CHECK_FALSE(parse_sample_line("# TYPE niem_up gauge"));
  CHECK_FALSE(parse_sample_line(""));
  CHECK_FALSE(parse_sample_line("niem_up"));
  CHECK_FALSE(parse_sample_line("niem_up x"));
}

TEST_CASE("history: keeps the last hour and drops what is older") {
  history h;  // an hour
  for (int i = 0; i <= 120; ++i) h.add(i * k_minute, fmt::format("niem_up {}\n", i));
  auto s = h.samples();
  REQUIRE(s.size() == 61);
  CHECK(s.front().at_ms == 60 * k_minute);
  CHECK(s.back().values.at("niem_up") == 120);
}

TEST_CASE("history: increase sums by a label, within the window, and survives a reset") {
  auto ring = ring_of({
      "c{code=\"A\",q=\"1\"} 0\nc{code=\"A\",q=\"2\"} 0\nc{code=\"B\"} 5\n",
      "c{code=\"A\",q=\"1\"} 4\nc{code=\"A\",q=\"2\"} 1\nc{code=\"B\"} 5\n",
      "c{code=\"A\",q=\"1\"} 10\nc{code=\"A\",q=\"2\"} 1\nc{code=\"B\"} 2\n",
  });
  auto all = increase(ring, "c", "code", 10 * k_minute);
  CHECK(all.at("A") == 11);
  CHECK(all.at("B") == 2);  // went down: counted from zero
  auto last = increase(ring, "c", "code", k_minute);
  CHECK(last.at("A") == 6);
  CHECK(increase(ring, "c", "", 10 * k_minute).at("") == 11 + 2);
  CHECK(increase(std::span(ring).first(1), "c", "code", k_minute).empty());
}

TEST_CASE("history: quantiles between two samples interpolate within a bucket") {
  auto ring = ring_of({
      "h_bucket{le=\"1\"} 0\nh_bucket{le=\"10\"} 0\nh_bucket{le=\"+Inf\"} 0\n",
      "h_bucket{le=\"1\"} 50\nh_bucket{le=\"10\"} 100\nh_bucket{le=\"+Inf\"} 100\n",
      "h_bucket{le=\"1\"} 50\nh_bucket{le=\"10\"} 100\nh_bucket{le=\"+Inf\"} 100\n",
  });
  CHECK(*quantile_between(ring[0], ring[1], "h", 0.5) == Approx(1.0));
  CHECK(*quantile_between(ring[0], ring[1], "h", 0.99) == Approx(1 + 9 * 0.98));
  CHECK(*quantile_between(ring[0], ring[1], "h", 0.25) == Approx(0.5));
  CHECK_FALSE(quantile_between(ring[1], ring[2], "h", 0.5));  // nothing observed
}

TEST_CASE(
    "conditions: a stalled queue is pending after 30 minutes and fires 5 minutes later, "
    "as alerts_test.yml expects of Prometheus") {
  std::vector<std::string> text;
  for (int i = 0; i <= 10; ++i)
    text.push_back(
        fmt::format("niem_queue_oldest_age_seconds{{queue=\"cws\"}} {}\n"
                    "niem_queue_oldest_age_seconds{{queue=\"phn\"}} 0\n",
                    i * 600));
  auto ring = ring_of(text);
  auto at = [&](int minute) {
    return named(evaluate(std::vector(ring.begin(), ring.begin() + minute + 1)),
                 "NiemQueueStalled");
  };
  CHECK(at(3).empty());  // 1800 is not over 1800
  REQUIRE(at(4).size() == 1);
  CHECK_FALSE(at(4)[0].firing);
  CHECK_FALSE(at(8)[0].firing);
  auto nine = at(9);
  REQUIRE(nine.size() == 1);
  CHECK(nine[0].firing);
  CHECK(nine[0].group == "cws");
  CHECK(nine[0].value == 5400);
  CHECK(nine[0].since_ms == 4 * k_minute);
}

TEST_CASE("conditions: dead letters raise one condition per code and end after the window") {
  std::vector<std::string> text;
  for (int i = 0; i <= 20; ++i)
    text.push_back(
        fmt::format("niem_dead_lettered_total{{code=\"NIEM-105\"}} {}\n"
                    "niem_dead_lettered_total{{code=\"NIEM-602\"}} 0\n",
                    i == 0 ? 0 : 80));
  auto ring = ring_of(text);
  auto three = named(evaluate(std::vector(ring.begin(), ring.begin() + 4)), "NiemDeadLetters");
  REQUIRE(three.size() == 1);
  CHECK(three[0].group == "NIEM-105");
  CHECK(three[0].firing);  // no `for`: at once
  CHECK(three[0].value == 80);
  CHECK(named(evaluate(ring), "NiemDeadLetters").empty());  // 19 minutes on
}

TEST_CASE("conditions: the store refusing, not ready and a failed verification hold at once") {
  auto ring = ring_of({
      "niem_ready 1\nniem_audit_verified 1\n",
      "niem_ready 0\nniem_store_refusing{code=\"NIEM-306\"} 1\nniem_audit_verified 0\n",
      "niem_ready 0\nniem_store_refusing{code=\"NIEM-306\"} 1\nniem_audit_verified 0\n",
  });
  auto now = evaluate(ring);
  auto refusing = named(now, "NiemStoreRefusingRecords");
  REQUIRE(refusing.size() == 1);
  CHECK(refusing[0].group == "NIEM-306");
  CHECK(refusing[0].firing);  // held for a minute
  auto ready = named(now, "NiemBrokerNotReady");
  REQUIRE(ready.size() == 1);
  CHECK_FALSE(ready[0].firing);  // two minutes needed
  CHECK(named(now, "NiemAuditVerificationFailed").size() == 1);
  CHECK(named(now, "NiemBrokerDown").empty());  // only Prometheus sees that
}

TEST_CASE("deploy/prometheus/alerts.yml is the one generated from the table of conditions") {
  std::ifstream in(std::string(NIEM_SOURCE_ROOT) + "/deploy/prometheus/alerts.yml");
  REQUIRE(in);
  std::string file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  INFO("run tools/update-generated-docs.sh after changing broker/admin/conditions.cc");
  CHECK(file == alert_rules_yaml());
  // Every condition is in it, with its PromQL.
  for (const auto& c : conditions()) {
    CHECK(file.find(fmt::format("- alert: {}\n        expr: {}\n", c.name, promql(c))) !=
          std::string::npos);
  }
}
