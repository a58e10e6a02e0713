#pragma once
// The last hour of the broker's metrics, kept in the broker: every `interval` the registry is
// rendered (what a Prometheus scrape would read) and its samples kept in a ring. The dashboard's
// charts read it (/api/history), and the alert conditions are evaluated over it (/api/conditions)
// the way Prometheus evaluates the same rules (deploy/prometheus/alerts.yml).
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace niem::admin {

// One series: its name and labels as rendered (`name{a="x",b="y"}`), split.
struct series_key {
  std::string name;
  std::map<std::string, std::string> labels;
};
// `niem_x{a="1"} 5` -> key and value; nullopt for comments, blank or malformed lines.
std::optional<std::pair<std::string, double>> parse_sample_line(std::string_view line);
series_key split_series(std::string_view key);

class history {
 public:
  struct sample {
    std::int64_t at_ms = 0;
    std::map<std::string, double, std::less<>> values;  // by series key as rendered
  };

  // Keeps samples no older than `keep_ms` behind the newest.
  explicit history(std::int64_t keep_ms = 3600 * 1000) : keep_ms_(keep_ms) {}

  // Parses one exposition (Prometheus text) taken at `at_ms` and keeps it.
  void add(std::int64_t at_ms, std::string_view exposition);

  // The samples, oldest first (a copy: the ring moves on while a request reads it).
  std::vector<sample> samples() const;
  std::size_t size() const;

 private:
  std::int64_t keep_ms_;
  mutable std::mutex mu_;
  std::deque<sample> ring_;
};

// Reads of a ring of samples, as PromQL reads a range.
// The value of every series of `name` in `s`, grouped by the label `by` (summed; "" sums all).
std::map<std::string, double> sum_by(const history::sample& s, std::string_view name,
                                     std::string_view by);
// How much counter `name` grew (summed by `by`) from the sample nearest `window_ms` before the
// newest to the newest; a counter that went down (a restart) counts from zero.
std::map<std::string, double> increase(std::span<const history::sample> ring, std::string_view name,
                                       std::string_view by, std::int64_t window_ms);
// The `q` quantile (0..1) of histogram `name`'s observations between two samples, in seconds
// (linear within a bucket, as histogram_quantile does); nullopt when nothing was observed.
std::optional<double> quantile_between(const history::sample& from, const history::sample& to,
                                       std::string_view name, double q);

}  // namespace niem::admin
