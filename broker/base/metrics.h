#pragma once
// Metrics for the Prometheus exposition (/metrics). Each module keeps its own (a `probe`, like
// Redpanda's probe.h: transport/probe.h, pipeline/probe.h, ...) and registers them here; the admin
// server renders the registry, the one place that writes the text format.
//
// Counters: a family is created once (a probe is a process-wide static) and its series on first
// use. An increment finds its series under a shared lock (taken exclusively only to add a new
// series) and adds atomically; histograms are lock-free.
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace niem::base {

class counter_family {
 public:
  counter_family(std::string name, std::string help, std::vector<std::string> labels);
  // Adds `n` to the series with these label values (in the family's label order). No
  // allocation once the series exists (the per-message path calls these).
  void add(std::initializer_list<std::string_view> values, std::uint64_t n = 1);
  void inc(std::string_view value) { add({value}); }
  std::uint64_t value(std::initializer_list<std::string_view> values) const;
  void render(std::string& out) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  mutable std::shared_mutex mu_;
  // Keyed by the label values joined with \x1f.
  std::map<std::string, std::unique_ptr<std::atomic<std::uint64_t>>, std::less<>> series_;
};

// A histogram of durations in seconds with fixed buckets.
class histogram {
 public:
  histogram(std::string name, std::string help, std::vector<double> bounds);
  void observe(double seconds);
  void render(std::string& out) const;
  std::uint64_t count() const { return count_.load(); }
  const std::string& name() const { return name_; }

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bound, not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

// A gauge read when /metrics is scraped (queue depth, connections): the values are the owner's,
// the text is written here.
struct gauge_sample {
  std::vector<std::pair<std::string_view, std::string>> labels;  // name, value
  double value = 0;
};
void render_gauge(std::string& out, std::string_view name, std::string_view help,
                  const std::vector<gauge_sample>& samples);
// A counter kept by its owner (the store's commits) rendered the same way.
void render_counter(std::string& out, std::string_view name, std::string_view help,
                    std::uint64_t value);

// What /metrics renders: collectors, each a module's probe or an instance's gauges, in the order
// they registered.
class metrics_registry {
 public:
  using collector = std::function<void(std::string& out)>;

  // Removes its collector when destroyed (an instance's gauges end with the instance).
  class registration {
   public:
    registration() = default;
    registration(metrics_registry* r, std::uint64_t id) : reg_(r), id_(id) {}
    registration(registration&& o) noexcept : reg_(std::exchange(o.reg_, nullptr)), id_(o.id_) {}
    registration& operator=(registration&& o) noexcept;
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    ~registration();

   private:
    metrics_registry* reg_ = nullptr;
    std::uint64_t id_ = 0;
  };

  // `name` says whose metrics these are (for a test to list them).
  [[nodiscard]] registration add(std::string name, collector c);
  // Families that live as long as the process (a probe's): never removed.
  void add_static(std::string name, collector c);
  void render(std::string& out) const;
  std::vector<std::string> names() const;

 private:
  void remove(std::uint64_t id);
  mutable std::mutex mu_;
  std::uint64_t next_ = 1;
  std::vector<std::pair<std::uint64_t, std::pair<std::string, collector>>> collectors_;
};

metrics_registry& registry();

// Registers a probe's families with the registry once (its constructor calls this).
template <class... F>
void register_families(std::string name, const F&... families) {
  registry().add_static(std::move(name),
                        [&families...](std::string& out) { (families.render(out), ...); });
}

// Prometheus text format helpers.
std::string prometheus_escape(std::string_view label_value);

}  // namespace niem::base
