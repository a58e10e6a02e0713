// niem-store-bench: the store under a message log of realistic size. Fills a store (SQLite in a
// temporary directory, or --store postgresql://...) with N records as the pipeline commits them
// (three decisions each, two deliveries sharing a document, acknowledged as they commit; 2% dead
// letters, 1% duplicates; 50,000 children), then times message searches (store::find_messages,
// each on a reader connection of its own, as the admin API runs them) of every shape the API
// allows, R variants each. Usage:
//   niem-store-bench [--store LOCATOR] [--messages N] [--queries R] [--json FILE]
//                    [--prune] [--rate RECORDS_PER_S]
// With --prune it then measures the commit latency of new records arriving at --rate (default
// 1,000/s), first for 10 s alone, then while retention (store/retention.h, the broker's
// defaults) prunes every kind older than the fill's last day: about 97% of what was filled.
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
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/ids.h"
#include "store/retention.h"
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

struct bench_args {
  std::string locator, json_out;
  std::uint64_t n = 1'000'000;
  int queries = 20;
  bool prune = false;
  double rate = 1000;
  std::uint32_t prune_batch = store::retention_policy{}.batch;
};

// The command line; an exit code when it cannot run.
std::optional<int> parse_args(int argc, char** argv, bench_args& b) {
  auto& [locator, json_out, n, queries, prune, rate, prune_batch] = b;
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
    else if (a == "--prune")
      prune = true;
    else if (a == "--prune-batch")
      prune_batch = static_cast<std::uint32_t>(std::atoi(value().c_str()));
    else if (a == "--rate")
      rate = std::atof(value().c_str());
    else {
      std::fprintf(stderr,
                   "usage: niem-store-bench [--store LOCATOR] [--messages N] [--queries R] "
                   "[--json FILE] [--prune] [--rate R]\n");
      return 2;
    }
  }
  return std::nullopt;
}

struct fill_result {
  double seconds = 0;
  std::uint64_t failed = 0;
  std::vector<std::string> keys, persons;  // search values, spread over the month
};

// Fill: at most 4096 records in flight, as a busy pipeline keeps the store's queue.
fill_result fill(store::store& st, std::uint64_t n, std::mt19937_64& rng,
                 const std::shared_ptr<const std::string>& doc) {
  fill_result out;
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t in_flight = 0;
  auto& failed = out.failed;
  auto& keys = out.keys;
  auto& persons = out.persons;
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
  out.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  return out;
}

// Each search shape `queries` times, timed.
std::vector<timing> search(store::store& st, const fill_result& filled, int queries, bool& all_ok) {
  const auto& keys = filled.keys;
  const auto& persons = filled.persons;
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
  return timings;
}

void print_searches(const std::vector<timing>& timings) {
  std::printf("\n%-34s %9s %9s %9s %9s\n", "search (limit 50 unless said)", "p50 ms", "p95 ms",
              "max ms", "results");
  for (const auto& t : timings)
    std::printf(
        "%-34s %9.2f %9.2f %9.2f %9.1f\n", t.name.c_str(), percentile(t.ms, 0.5),
        percentile(t.ms, 0.95), percentile(t.ms, 1.0),
        t.ms.empty() ? 0.0 : static_cast<double>(t.results) / static_cast<double>(t.ms.size()));
}

struct latency {
  std::vector<double> ms;
  double seconds = 0;
};
struct prune_result {
  latency alone, pruning;
  std::map<store::prune_kind, std::uint64_t> pruned;
  double seconds = 0;
};

// Ingest at `rate` for ten seconds alone, then while a retention pass prunes the month.
prune_result ingest_while_pruning(store::store& st, const bench_args& args, std::mt19937_64& rng,
                                  const std::shared_ptr<const std::string>& doc,
                                  const base::clock& clk) {
  prune_result res;
  const auto n = args.n;
  const auto rate = args.rate;
  const auto prune_batch = args.prune_batch;
  auto& alone = res.alone;
  auto& pruning = res.pruning;
  auto& pruned = res.pruned;
  auto& prune_s = res.seconds;
  std::uint64_t next = n;
  auto ingest = [&](const std::function<bool()>& more) {
    latency out;
    std::mutex lmu;
    std::atomic<int> pending{0};
    auto start = steady::now();
    std::uint64_t sent = 0;
    while (more()) {
      auto due = start + std::chrono::microseconds(
                             static_cast<std::int64_t>(static_cast<double>(sent) * 1e6 / rate));
      std::this_thread::sleep_until(due);
      auto g = make_record(next, n, rng, doc);
      ++next;
      g.rec.received_ms = clk.now_ms();
      g.rec.message_id = base::new_message_id(g.rec.received_ms);
      for (auto& e : g.rec.audit) e.message_id = g.rec.message_id;
      auto t = steady::now();
      ++pending;
      st.commit_record(std::move(g.rec), [&, t](store::commit_result c) {
        for (const auto& e : c.enqueued) st.ack(e.id);
        std::lock_guard lk(lmu);
        out.ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t).count());
        --pending;
      });
      ++sent;
    }
    st.flush();
    while (pending > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    out.seconds = std::chrono::duration<double>(steady::now() - start).count();
    return out;
  };
  auto until = steady::now() + std::chrono::seconds(10);
  alone = ingest([&] { return steady::now() < until; });
  store::retention_policy rp;  // the broker's defaults but for the ages
  auto keep =
      static_cast<std::uint64_t>((clk.now_ms() - (k_start_ms + k_span_ms - 86'400'000)) / 1000);
  for (auto kind : store::k_prune_kinds) rp.keep_seconds[kind] = keep;
  rp.batch = prune_batch;
  store::retention ret(st, rp, clk);
  std::atomic<bool> done{false};
  auto p0 = steady::now();
  std::thread pruner([&] {
    pruned = ret.run_pass();
    prune_s = std::chrono::duration<double>(steady::now() - p0).count();
    done = true;
  });
  pruning = ingest([&] { return !done.load(); });
  pruner.join();
  std::uint64_t total = 0;
  for (const auto& [k, c] : pruned) total += c;
  std::printf("\nretention pass: %.1f s, %llu rows (", prune_s,
              static_cast<unsigned long long>(total));
  for (const auto& [k, c] : pruned)
    std::printf(" %s %llu", std::string(store::prune_kind_name(k)).c_str(),
                static_cast<unsigned long long>(c));
  std::printf(" ); store now %.0f MB\n", static_cast<double>(st.size_bytes()) / 1e6);
  std::printf("%-34s %9s %9s %9s %9s %9s\n", "commit latency at the rate", "records", "p50 ms",
              "p99 ms", "p99.9 ms", "max ms");
  for (auto [name, l] : {std::pair{"alone", &alone}, {"while pruning", &pruning}})
    std::printf("%-34s %9zu %9.2f %9.2f %9.2f %9.2f\n", name, l->ms.size(), percentile(l->ms, 0.5),
                percentile(l->ms, 0.99), percentile(l->ms, 0.999), percentile(l->ms, 1.0));
  return res;
}

void write_json(const bench_args& args, store::store& st, const fill_result& filled,
                const std::vector<timing>& timings, const prune_result& pr) {
  const auto& json_out = args.json_out;
  const auto n = args.n;
  const auto fill_s = filled.seconds;
  const auto prune = args.prune;
  const auto rate = args.rate;
  const auto& alone = pr.alone;
  const auto& pruning = pr.pruning;
  const auto prune_s = pr.seconds;
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
  out << "]";
  if (prune)
    out << fmt::format(
        R"(,"prune":{{"seconds":{:.2f},"rate":{},"alone_p99_ms":{:.2f},"pruning_p99_ms":{:.2f},)"
        R"("alone_max_ms":{:.2f},"pruning_max_ms":{:.2f}}})",
        prune_s, rate, percentile(alone.ms, 0.99), percentile(pruning.ms, 0.99),
        percentile(alone.ms, 1.0), percentile(pruning.ms, 1.0));
  out << "}\n";
}

}  // namespace

int main(int argc, char** argv) {
  bench_args args;
  if (auto rc = parse_args(argc, argv, args)) return *rc;
  fs::path tmp;
  if (args.locator.empty()) {
    tmp = fs::temp_directory_path() / fmt::format("niem-store-bench-{}", ::getpid());
    args.locator = tmp.string();
  }
  base::system_clock clk;
  auto opened = store::store::open({.locator = args.locator,
                                    .group_commit_max = 1024,
                                    .audit_key = "bench-audit-key-0123456789"},
                                   clk);
  if (!opened.ok()) {
    std::fprintf(stderr, "niem-store-bench: %s\n", opened.errors()[0].message.c_str());
    return 1;
  }
  auto& st = *opened.value();
  std::mt19937_64 rng(42);
  auto doc = std::make_shared<const std::string>(std::string(1500, 'x'));
  auto filled = fill(st, args.n, rng, doc);
  std::printf("filled %llu records in %.1f s (%.0f records/s, %llu failed); store %.0f MB\n",
              static_cast<unsigned long long>(args.n), filled.seconds,
              static_cast<double>(args.n) / filled.seconds,
              static_cast<unsigned long long>(filled.failed),
              static_cast<double>(st.size_bytes()) / 1e6);
  bool all_ok = true;
  auto timings = search(st, filled, args.queries, all_ok);
  print_searches(timings);
  prune_result pr;
  if (args.prune) pr = ingest_while_pruning(st, args, rng, doc, clk);
  std::printf("\npeak RSS %ld MB\n", peak_rss_kb() / 1024);
  if (!args.json_out.empty()) write_json(args, st, filled, timings, pr);
  opened.value().reset();
  if (!tmp.empty()) fs::remove_all(tmp);
  return all_ok && filled.failed == 0 ? 0 : 1;
}
