// niem-amqp-bench: end-to-end records per second and latency of 1 KiB records delivered to two
// subscribers, with the same clients and messages against three targets:
//   niem    niem-broker: publish to ingest/cws/placement, receive at deliver/medicaid and
//           deliver/court (durable store, mapping and validation on the way)
//   queues  a plain AMQP broker (e.g. Proton's example broker): publish each record to two
//           queues, receive from both
//   rabbitmq  RabbitMQ's AMQP 1.0 plugin as a durable pass-through: publish each record, marked
//           durable, to two durable queues (/queue/bench-q1 and -q2, declared by the links'
//           durable termini), each settled only once RabbitMQ confirms it; receive from both
//   direct  peer to peer: this program listens twice and the publisher sends each record to both
// A record is complete when both subscribers have it. Latency is per delivery, from the send
// to the subscriber's receipt. --rate paces the publisher (records per second); 0 sends as fast
// as credit and --window allow. --publish-only skips the subscribers (for a backlog).
// Prints one JSON line of results.
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/listen_handler.hpp>
#include <proton/listener.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/source_options.hpp>
#include <proton/target_options.hpp>
#include <proton/tracker.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

namespace {

using steady = std::chrono::steady_clock;
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
      .count();
}

struct config {
  std::string mode = "niem", url = "127.0.0.1:5672", record_file;
  std::size_t count = 20000, size = 1024, window = 2000, credit = 1000;
  double rate = 0;
  bool publish_only = false;
  bool durable = false;  // rabbitmq: durable termini and messages
  int timeout_s = 900;
  std::string key_prefix;
};

// The 1 KiB record: a placement event padded with a field the mapping ignores; the record key
// holds the sequence number in a fixed-width slot so that every message has the same size.
struct record_template {
  std::string body;
  std::size_t seq_at = 0;
  static constexpr std::size_t k_digits = 10;

  // `prefix` (letters and digits) keeps the keys of clients publishing side by side apart.
  static record_template make(const std::string& source_json, std::size_t size,
                              const std::string& prefix = {}) {
    namespace json = boost::json;
    auto o = json::parse(source_json).as_object();
    auto head = "BENCH" + prefix + "-";
    o["event_id"] = head + std::string(k_digits, '0');
    o["bench_padding"] = "";
    auto s = json::serialize(o);
    if (s.size() < size) {
      o["bench_padding"] = std::string(size - s.size(), 'x');
      s = json::serialize(o);
    }
    record_template t;
    t.body = s;
    t.seq_at = s.find(head) + head.size();
    return t;
  }
  std::string with_seq(std::size_t seq) const {
    std::string b = body;
    auto digits = std::to_string(seq);
    b.replace(seq_at + k_digits - digits.size(), digits.size(), digits);
    return b;
  }
};

struct shared_state {
  explicit shared_state(std::size_t n, std::size_t copies)
      : sent_ns(n), got(n), copies_needed(copies) {}
  std::vector<std::atomic<std::int64_t>> sent_ns;
  std::vector<std::atomic<std::uint8_t>> got;
  std::size_t copies_needed;
  std::atomic<std::size_t> completed{0}, rejected{0}, accepted{0};
  std::atomic<std::int64_t> first_send{0}, last_done{0};
  std::promise<void> done;
  std::atomic<bool> done_set{false};
  void finish() {
    bool expected = false;
    if (done_set.compare_exchange_strong(expected, true)) done.set_value();
  }
};

// Each sender ("lane") carries one copy of every record and is driven only by the events of its
// own connection: Proton writes a connection's output only while handling that connection's
// events, so sending on one connection from another's handler would stall.
class publisher : public proton::messaging_handler {
 public:
  publisher(const config& c, shared_state& st, record_template t, std::vector<std::string> urls,
            std::vector<std::string> addresses)
      : cfg_(c),
        st_(st),
        tmpl_(std::move(t)),
        urls_(std::move(urls)),
        addrs_(std::move(addresses)) {}

  void on_container_start(proton::container& c) override {
    std::map<std::string, proton::connection> conns;  // one connection per peer
    lanes_.resize(addrs_.size());
    for (std::size_t i = 0; i < addrs_.size(); ++i) {
      auto& url = urls_.size() == 1 ? urls_[0] : urls_[i];
      auto it = conns.find(url);
      if (it == conns.end()) it = conns.emplace(url, c.connect(url)).first;
      auto so = proton::sender_options().delivery_mode(proton::delivery_mode::AT_LEAST_ONCE);
      if (cfg_.durable)
        so.target(proton::target_options().durability_mode(proton::terminus::CONFIGURATION));
      lanes_[i].s = it->second.open_sender(addrs_[i], so);
    }
  }

  void on_sender_open(proton::sender& s) override {
    lane_of(s).open = true;
    if (++open_ == lanes_.size()) {
      start_ns_ = now_ns();
      st_.first_send = start_ns_;
      // Each lane starts in its own connection's context, where its output gets written.
      for (auto& l : lanes_)
        l.s.work_queue().add([this, &l] {
          if (cfg_.rate > 0) tick(l);
          pump(l);
        });
    }
  }
  void on_sendable(proton::sender& s) override { pump(lane_of(s)); }
  void on_tracker_accept(proton::tracker& t) override {
    ++st_.accepted;
    settled(t);
  }
  void on_tracker_reject(proton::tracker& t) override {
    ++st_.rejected;
    settled(t);
  }
  void on_tracker_release(proton::tracker& t) override {
    ++st_.rejected;
    settled(t);
  }
  void on_error(const proton::error_condition& e) override {
    if (!st_.done_set) std::cerr << "publisher error: " << e.what() << '\n';
    st_.finish();
  }

 private:
  struct lane {
    proton::sender s;
    bool open = false;
    std::size_t next = 0, settled = 0;
    std::vector<bool> seen;  // by delivery tag (Proton numbers a link's deliveries from 1)
  };
  lane& lane_of(const proton::sender& s) {
    for (auto& l : lanes_)
      if (l.s == s) return l;
    return lanes_.front();
  }

  // RabbitMQ may report a delivery's outcome twice (seen with 3.10's AMQP 1.0 plugin): each is
  // counted once, by the tag Proton gave it, or the lane would count more settled than it sent
  // and stop sending.
  void settled(proton::tracker& t) {
    auto& l = lane_of(t.sender());
    auto tag = t.tag();
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < tag.size() && i < 8; ++i)
      n |= static_cast<std::uint64_t>(static_cast<unsigned char>(tag[i])) << (8 * i);
    if (n >= l.seen.size()) l.seen.resize(std::max<std::size_t>(n + 1, 2 * l.seen.size()));
    if (l.seen[n]) return;
    l.seen[n] = true;
    ++l.settled;
    if (cfg_.publish_only && ++settled_total_ == cfg_.count * lanes_.size()) {
      st_.last_done = now_ns();
      st_.finish();
      return;
    }
    pump(l);
  }

  void tick(lane& l) {
    if (l.next >= cfg_.count) return;
    pump(l);
    l.s.work_queue().schedule(proton::duration(1), [this, &l] { tick(l); });
  }

  void pump(lane& l) {
    if (open_ < lanes_.size()) return;
    std::size_t allowed = cfg_.count;
    if (cfg_.rate > 0) {
      auto elapsed = static_cast<double>(now_ns() - start_ns_) / 1e9;
      allowed =
          std::min<std::size_t>(cfg_.count, static_cast<std::size_t>(elapsed * cfg_.rate) + 1);
    }
    while (l.next < allowed && l.next - l.settled < cfg_.window && l.s.credit() > 0) {
      proton::message m;
      m.body(proton::binary(tmpl_.with_seq(l.next)));
      m.inferred(true);
      m.content_type("application/json");
      if (cfg_.durable) m.durable(true);
      m.properties().put("bench-seq", static_cast<std::int64_t>(l.next));
      std::int64_t zero = 0;  // latency counts from the first copy's send
      st_.sent_ns[l.next].compare_exchange_strong(zero, now_ns());
      l.s.send(m);
      ++l.next;
    }
  }

  const config& cfg_;
  shared_state& st_;
  record_template tmpl_;
  std::vector<std::string> urls_, addrs_;
  std::vector<lane> lanes_;
  std::size_t open_ = 0, settled_total_ = 0;
  std::int64_t start_ns_ = 0;
};

class subscriber : public proton::messaging_handler {
 public:
  subscriber(const config& c, shared_state& st) : cfg_(c), st_(st) {}
  void on_message(proton::delivery&, proton::message& m) override {
    auto t = now_ns();
    std::int64_t seq = -1;
    auto& p = m.properties();
    if (p.exists("niem-record-key")) {
      auto key = proton::get<std::string>(p.get("niem-record-key"));
      seq = std::strtoll(key.c_str() + key.rfind('-') + 1, nullptr, 10);
    } else if (p.exists("bench-seq")) {
      seq = proton::coerce<std::int64_t>(p.get("bench-seq"));
    }
    if (seq < 0 || static_cast<std::size_t>(seq) >= cfg_.count) return;
    latencies.push_back(t - st_.sent_ns[seq].load());
    if (++st_.got[seq] == st_.copies_needed) {
      if (++st_.completed == cfg_.count) {
        st_.last_done = t;
        st_.finish();
      }
    }
  }
  void on_error(const proton::error_condition& e) override {
    if (!st_.done_set) std::cerr << "subscriber error: " << e.what() << '\n';
  }
  std::vector<std::int64_t> latencies;

 private:
  const config& cfg_;
  shared_state& st_;
};

// Opens the subscribers' receivers once the container starts.
class subscriber_starter : public proton::messaging_handler {
 public:
  subscriber_starter(const config& c, std::vector<subscriber*> subs, std::vector<std::string> addrs)
      : cfg_(c), subs_(std::move(subs)), addrs_(std::move(addrs)) {}
  void on_container_start(proton::container& cont) override {
    for (std::size_t i = 0; i < addrs_.size(); ++i) {
      auto ro = proton::receiver_options().credit_window(static_cast<int>(cfg_.credit));
      if (cfg_.durable)
        ro.source(proton::source_options().durability_mode(proton::terminus::CONFIGURATION));
      proton::connection conn =
          cont.connect(cfg_.url, proton::connection_options().handler(*subs_[i]));
      conn.open_receiver(addrs_[i], ro);
    }
  }

 private:
  const config& cfg_;
  std::vector<subscriber*> subs_;
  std::vector<std::string> addrs_;
};

// Peer-to-peer: each subscriber listens on its own ephemeral port.
class direct_listener : public proton::listen_handler {
 public:
  explicit direct_listener(subscriber& s, int credit) : sub_(s), credit_(credit) {}
  proton::connection_options on_accept(proton::listener&) override {
    return proton::connection_options().handler(sub_);
  }
  void on_open(proton::listener& l) override { port.set_value(l.port()); }
  void on_error(proton::listener&, const std::string& e) override {
    std::cerr << "listen error: " << e << '\n';
  }
  std::promise<int> port;

 private:
  subscriber& sub_;
  [[maybe_unused]] int credit_;
};

std::int64_t percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

const char* k_usage =
    "usage: niem-amqp-bench --mode niem|queues|rabbitmq|direct --record FILE [--url HOST:PORT]\n"
    "                       [--count N] [--rate R] [--window W] [--size BYTES] [--publish-only]\n"
    "                       [--key-prefix P]   (letters and digits: keys apart from another "
    "client's)\n"
    "                       [--subscribers A,B,...]   (niem: the recipients; default "
    "medicaid,court)\n";

}  // namespace

// The command line into `cfg`; an exit code when it cannot run.
std::optional<int> parse_args(int argc, char** argv, config& cfg, std::string& subscribers_arg) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto v = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << k_usage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--mode")
      cfg.mode = v();
    else if (a == "--url")
      cfg.url = v();
    else if (a == "--record")
      cfg.record_file = v();
    else if (a == "--count")
      cfg.count = std::stoul(v());
    else if (a == "--rate")
      cfg.rate = std::stod(v());
    else if (a == "--window")
      cfg.window = std::stoul(v());
    else if (a == "--size")
      cfg.size = std::stoul(v());
    else if (a == "--timeout")
      cfg.timeout_s = std::stoi(v());
    else if (a == "--publish-only")
      cfg.publish_only = true;
    else if (a == "--key-prefix")
      cfg.key_prefix = v();
    else if (a == "--subscribers")
      subscribers_arg = v();
    else {
      std::cerr << "unknown argument " << a << '\n' << k_usage;
      return 2;
    }
  }
  if (cfg.record_file.empty() || cfg.count == 0 || cfg.window == 0) {
    std::cerr << k_usage;
    return 2;
  }
  return std::nullopt;
}

// The run's figures as one JSON line.
void print_result(const config& cfg, const record_template& tmpl, shared_state& st,
                  const std::vector<std::unique_ptr<subscriber>>& subs, bool ok) {
  double secs = static_cast<double>(st.last_done - st.first_send) / 1e9;
  std::vector<std::int64_t> lat;
  for (const auto& s : subs) lat.insert(lat.end(), s->latencies.begin(), s->latencies.end());
  auto ms = [](std::int64_t ns) { return static_cast<double>(ns) / 1e6; };
  boost::json::object out{
      {"mode", cfg.mode},
      {"count", cfg.count},
      {"record_bytes", tmpl.body.size()},
      {"target_rate", cfg.rate},
      {"complete", ok && st.last_done > 0},
      {"records_completed", cfg.publish_only ? st.accepted.load() : st.completed.load()},
      {"rejected", st.rejected.load()},
      {"seconds", secs},
      {"records_per_s", secs > 0 ? static_cast<double>(cfg.count) / secs : 0.0},
  };
  if (!cfg.publish_only) {
    out["p50_ms"] = ms(percentile(lat, 0.50));
    out["p99_ms"] = ms(percentile(lat, 0.99));
    out["max_ms"] = ms(percentile(lat, 1.0));
  }
  std::cout << boost::json::serialize(out) << std::endl;
}

int main(int argc, char** argv) {
  config cfg;
  std::string subscribers_arg = "medicaid,court";
  if (auto rc = parse_args(argc, argv, cfg, subscribers_arg)) return *rc;
  std::ifstream in(cfg.record_file);
  std::string line;
  std::getline(in, line);
  if (line.empty()) {
    std::cerr << "no record in " << cfg.record_file << '\n';
    return 2;
  }
  auto tmpl = record_template::make(line, cfg.size, cfg.key_prefix);

  std::vector<std::string> pub_urls{cfg.url}, pub_addrs, sub_addrs;
  if (cfg.mode == "niem") {
    pub_addrs = {"ingest/cws/placement"};
    std::stringstream names(subscribers_arg);
    for (std::string n; std::getline(names, n, ',');)
      if (!n.empty()) sub_addrs.push_back("deliver/" + n);
  } else if (cfg.mode == "queues") {
    pub_addrs = {"bench-q1", "bench-q2"};
    sub_addrs = pub_addrs;
  } else if (cfg.mode == "rabbitmq") {
    pub_addrs = {"/queue/bench-q1", "/queue/bench-q2"};
    sub_addrs = pub_addrs;
    cfg.durable = true;
  } else if (cfg.mode == "direct") {
    pub_addrs = {"s1", "s2"};
  } else {
    std::cerr << k_usage;
    return 2;
  }

  // A record counts when every subscriber has it.
  auto copies = cfg.mode == "niem" ? sub_addrs.size() : std::size_t{2};
  if (copies == 0) {
    std::cerr << k_usage;
    return 2;
  }
  shared_state st(cfg.count, copies);
  std::vector<std::unique_ptr<subscriber>> subs;
  std::vector<subscriber*> sub_ptrs;
  for (std::size_t i = 0; i < copies; ++i) {
    subs.push_back(std::make_unique<subscriber>(cfg, st));
    sub_ptrs.push_back(subs.back().get());
  }
  std::unique_ptr<subscriber_starter> starter;
  std::unique_ptr<proton::container> sub_container;
  std::vector<std::unique_ptr<direct_listener>> listeners;
  std::thread sub_thread;
  std::vector<std::unique_ptr<proton::container>> direct_containers;
  std::vector<std::thread> direct_threads;
  if (!cfg.publish_only) {
    if (cfg.mode == "direct") {
      // Two subscribers are two AMQP containers (two processes in real life), each listening.
      pub_urls.clear();
      int i = 0;
      for (auto* s : sub_ptrs) {
        listeners.push_back(std::make_unique<direct_listener>(*s, static_cast<int>(cfg.credit)));
        auto& c = direct_containers.emplace_back(
            std::make_unique<proton::container>("bench-subscriber-" + std::to_string(++i)));
        c->receiver_options(proton::receiver_options().credit_window(static_cast<int>(cfg.credit)));
        c->listen("127.0.0.1:0", *listeners.back());
        direct_threads.emplace_back([cp = c.get()] { cp->run(); });
      }
      for (auto& l : listeners)
        pub_urls.push_back("127.0.0.1:" + std::to_string(l->port.get_future().get()));
    } else {
      starter = std::make_unique<subscriber_starter>(cfg, sub_ptrs, sub_addrs);
      sub_container = std::make_unique<proton::container>(*starter, "bench-subscribers");
      sub_thread = std::thread([&] { sub_container->run(); });
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // receivers attach first
    }
  }
  publisher pub(cfg, st, tmpl, pub_urls, pub_addrs);
  proton::container pub_container(pub, "bench-publisher");
  std::thread pub_thread([&] {
    try {
      pub_container.run();
    } catch (const std::exception& e) {
      std::cerr << "publisher: " << e.what() << '\n';
      st.finish();
    }
  });
  auto ok = st.done.get_future().wait_for(std::chrono::seconds(cfg.timeout_s)) ==
            std::future_status::ready;
  pub_container.stop();
  pub_thread.join();
  if (sub_container) {
    sub_container->stop();
    sub_thread.join();
  }
  for (auto& c : direct_containers) c->stop();
  for (auto& t : direct_threads) t.join();
  print_result(cfg, tmpl, st, subs, ok);
  return ok && st.rejected == 0 ? 0 : 1;
}
