// niem-store-bench: the store under a message log of realistic size. Fills a store (SQLite in a
// temporary directory, or --store postgresql://...) with N records as the pipeline commits them
// (three decisions each, two deliveries sharing a document, acknowledged as they commit; 2% dead
// letters, 1% duplicates; 50,000 children), then times message searches (store::find_messages,
// each on a reader connection of its own, as the admin API runs them) of every shape the API
// allows, R variants each. Usage:
//   niem-store-bench [--store LOCATOR] [--messages N] [--queries R] [--json FILE]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/ids.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace niem;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::int64_t k_start_ms = 1'793'491'200'000;  // 2026-11-01T00:00:00Z
constexpr std::int64_t k_span_ms = 30LL * 86'400'000;   // a month of traffic
constexpr int k_children = 50'000;
const char* const k_agencies[] = {"cws", "medicaid", "court"};
const char* const k_exchanges[][2] = {{"placement-notification", "consent-directive"},
                                      {"pharmacy-claim", "pmap-application"},
                                      {"court-order", "court-order"}};
const char* const k_recipients[] = {"cws", "medicaid", "court", "phn", "school", "research"};

struct generated {
  store::record_outcome rec;
  std::string person;
};

std::string client_id(int child) {
  return fmt::format("CWS-{:04}-{:04}", child / 10000, child % 10000);
}
std::string medicaid_id(int child) {
  return fmt::format("9555{:05}Q", child);
}

generated make_record(std::uint64_t i, std::uint64_t n, std::mt19937_64& rng,
                      const std::shared_ptr<const std::string>& doc) {
  generated g;
  auto& r = g.rec;
  r.received_ms = k_start_ms + static_cast<std::int64_t>(i * k_span_ms / n);
  r.message_id = base::new_message_id(r.received_ms);
  int a = static_cast<int>(i % 3);
  r.agency = k_agencies[a];
  r.record_type = a == 0 ? "placement" : a == 1 ? "pharmacy_claim" : "court_order";
  r.content_type = a == 1 ? "text/plain" : "application/json";
  r.body = std::string(600, 'r');
  int child = static_cast<int>(rng() % k_children);
  g.person = medicaid_id(child);
  if (rng() % 100 < 2) {  // a record that did not map
    r.code = base::errc::record_malformed_json;
    r.diagnostics_json = R"([{"code":"NIEM-101"}])";
    return g;
  }
  r.mapped = true;
  // 1%: the key of a record the same agency sent a little earlier (a duplicate).
  r.key = fmt::format("K-{}", rng() % 100 == 0 && i > 999 ? i - 999 : i);
  r.exchange = k_exchanges[a][rng() % 2];
  int first = static_cast<int>(rng() % 6);
  for (int k = 0; k < 3; ++k) {
    std::string rcpt = k_recipients[(first + k) % 6];
    store::audit_entry e;
    e.message_id = r.message_id;
    e.record_key = r.key;
    e.provider = r.agency;
    e.exchange = r.exchange;
    e.recipient = rcpt;
    e.agreement = "DSA-00" + std::to_string(k + 1) + "@1";
    e.purpose = "CARE_COORDINATION";
    e.subjects = client_id(child) + " " + medicaid_id(child);
    if (k < 2) {
      e.decision = "deliver";
      e.paths = "nc:Person nc:Activity";
      e.digest = std::string(64, 'd');
      r.deliveries.push_back({rcpt, doc, ""});
    } else {
      e.decision = "withhold";
      e.reason = "NIEM-503";
    }
    r.audit.push_back(std::move(e));
  }
  return g;
}

struct timing {
  std::string name;
  std::vector<double> ms;
  std::size_t results = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(at, v.size() - 1)];
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  std::string locator, json_out;
  std::uint64_t n = 1'000'000;
  int queries = 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "niem-store-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--store")
      locator = value();
    else if (a == "--messages")
      n = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--queries")
      queries = std::atoi(value().c_str());
    else if (a == "--json")
      json_out = value();
    else {
      std::fprintf(stderr,
                   "usage: niem-store-bench [--store LOCATOR] [--messages N] [--queries R] "
                   "[--json FILE]\n");
      return 2;
    }
  }
  fs::path tmp;
  if (locator.empty()) {
    tmp = fs::temp_directory_path() / fmt::format("niem-store-bench-{}", ::getpid());
    locator = tmp.string();
  }
  base::system_clock clk;
  auto opened = store::store::open(
      {.locator = locator, .group_commit_max = 1024, .audit_key = "bench-audit-key-0123456789"},
      clk);
  if (!opened.ok()) {
    std::fprintf(stderr, "niem-store-bench: %s\n", opened.errors()[0].message.c_str());
    return 1;
  }
  auto& st = *opened.value();

  // Fill: at most 4096 records in flight, as a busy pipeline keeps the store's queue.
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t in_flight = 0, failed = 0;
  std::mt19937_64 rng(42);
  auto doc = std::make_shared<const std::string>(std::string(1500, 'x'));
  std::vector<std::string> keys, persons;
  auto t0 = steady::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    auto g = make_record(i, n, rng, doc);
    if (i % (n / 1000 + 1) == 0) {  // search values, spread over the month
      if (!g.rec.key.empty()) keys.push_back(g.rec.key);
      persons.push_back(g.person);
    }
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return in_flight < 4096; });
      ++in_flight;
    }
    st.commit_record(std::move(g.rec), [&](store::commit_result c) {
      for (const auto& e : c.enqueued) st.ack(e.id);
      std::lock_guard lk(mu);
      if (c.what == store::commit_result::status::failed) ++failed;
      --in_flight;
      cv.notify_all();
    });
  }
  st.flush();
  st.flush();  // the acknowledgements queued by the last completions
  double fill_s = std::chrono::duration<double>(steady::now() - t0).count();
  std::printf("filled %llu records in %.1f s (%.0f records/s, %llu failed); store %.0f MB\n",
              static_cast<unsigned long long>(n), fill_s, static_cast<double>(n) / fill_s,
              static_cast<unsigned long long>(failed), static_cast<double>(st.size_bytes()) / 1e6);

  // Searches.
  using q = store::store::message_query;
  std::mt19937_64 pick(7);
  auto any = [&](const std::vector<std::string>& v) { return v[pick() % v.size()]; };
  auto some_time = [&] {
    return k_start_ms + static_cast<std::int64_t>(pick() % static_cast<std::uint64_t>(k_span_ms));
  };
  auto some_recipient = [&] { return std::string(k_recipients[pick() % 6]); };
  auto some_agency = [&] { return static_cast<int>(pick() % 3); };
  // A message id from the middle of the log, to page on from.
  auto middle = [&] {
    auto t = some_time();
    auto r = st.find_messages(q{.from_ms = t, .limit = 1});
    return r.ok() && !r->empty() ? r->front().message_id : std::string();
  };
  struct shape {
    const char* name;
    std::function<q()> make;
  };
  std::vector<shape> shapes = {
      {"newest", [&] { return q{}; }},
      {"key", [&] { return q{.key = any(keys)}; }},
      {"person", [&] { return q{.person = any(persons)}; }},
      {"person+recipient",
       [&] { return q{.person = any(persons), .recipient = some_recipient()}; }},
      {"recipient", [&] { return q{.recipient = some_recipient()}; }},
      {"exchange", [&] { return q{.exchange = k_exchanges[some_agency()][0]}; }},
      {"agency+exchange",
       [&] {
         int a = some_agency();
         return q{.exchange = k_exchanges[a][1], .agency = k_agencies[a]};
       }},
      {"key+agency", [&] { return q{.key = any(keys), .agency = k_agencies[some_agency()]}; }},
      {"person+exchange",
       [&] { return q{.person = any(persons), .exchange = k_exchanges[some_agency()][0]}; }},
      {"status=dead_lettered", [&] { return q{.status = "dead_lettered"}; }},
      {"exchange+status=dead_lettered",
       [&] { return q{.exchange = k_exchanges[some_agency()][0], .status = "dead_lettered"}; }},
      {"agency+status=duplicate",
       [&] { return q{.agency = k_agencies[some_agency()], .status = "duplicate"}; }},
      {"hour window",
       [&] {
         auto t = some_time();
         return q{.from_ms = t, .to_ms = t + 3'600'000};
       }},
      {"recipient+day window",
       [&] {
         auto t = some_time();
         return q{.recipient = some_recipient(), .from_ms = t, .to_ms = t + 86'400'000};
       }},
      {"exchange, page from the middle",
       [&] { return q{.exchange = k_exchanges[some_agency()][0], .before = middle()}; }},
      {"recipient, page from the middle",
       [&] { return q{.recipient = some_recipient(), .before = middle()}; }},
      {"limit 1000", [&] { return q{.limit = 1000}; }},
  };
  std::vector<timing> timings;
  bool all_ok = true;
  for (const auto& s : shapes) {
    timing t{s.name, {}, 0};
    for (int k = 0; k < queries; ++k) {
      auto query = s.make();
      auto a = steady::now();
      auto r = st.find_messages(query);
      t.ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - a).count());
      if (!r.ok()) {
        std::fprintf(stderr, "niem-store-bench: %s: %s\n", s.name, r.errors()[0].message.c_str());
        all_ok = false;
        break;
      }
      t.results += r->size();
    }
    timings.push_back(std::move(t));
  }
  std::printf("\n%-34s %9s %9s %9s %9s\n", "search (limit 50 unless said)", "p50 ms", "p95 ms",
              "max ms", "results");
  for (const auto& t : timings)
    std::printf(
        "%-34s %9.2f %9.2f %9.2f %9.1f\n", t.name.c_str(), percentile(t.ms, 0.5),
        percentile(t.ms, 0.95), percentile(t.ms, 1.0),
        t.ms.empty() ? 0.0 : static_cast<double>(t.results) / static_cast<double>(t.ms.size()));
  std::printf("\npeak RSS %ld MB\n", peak_rss_kb() / 1024);
  if (!json_out.empty()) {
    std::ofstream out(json_out);
    out << fmt::format(R"({{"backend":"{}","messages":{},"fill_seconds":{:.2f},"store_bytes":{},)",
                       st.kind() == store::backend::sqlite ? "sqlite" : "postgres", n, fill_s,
                       st.size_bytes())
        << R"("searches":[)";
    for (std::size_t i = 0; i < timings.size(); ++i)
      out << (i ? "," : "")
          << fmt::format(R"({{"shape":"{}","p50_ms":{:.2f},"p95_ms":{:.2f},"max_ms":{:.2f}}})",
                         timings[i].name, percentile(timings[i].ms, 0.5),
                         percentile(timings[i].ms, 0.95), percentile(timings[i].ms, 1.0));
    out << "]}\n";
  }
  opened.value().reset();
  if (!tmp.empty()) fs::remove_all(tmp);
  return all_ok && failed == 0 ? 0 : 1;
}
