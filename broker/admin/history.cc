#include "admin/history.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace niem::admin {

std::optional<std::pair<std::string, double>> parse_sample_line(std::string_view line) {
  if (line.empty() || line.front() == '#') return std::nullopt;
  // The value follows the last space (label values are escaped; a space in one is inside quotes,
  // before the closing brace).
  auto close = line.rfind('}');
  auto sp = line.find(' ', close == std::string_view::npos ? 0 : close);
  if (sp == std::string_view::npos || sp == 0) return std::nullopt;
  auto value = line.substr(sp + 1);
  std::string v(value);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str()) return std::nullopt;
  return std::pair<std::string, double>{std::string(line.substr(0, sp)), d};
}

series_key split_series(std::string_view key) {
  series_key out;
  auto brace = key.find('{');
  out.name = std::string(key.substr(0, brace));
  if (brace == std::string_view::npos) return out;
  std::size_t i = brace + 1;
  while (i < key.size() && key[i] != '}') {
    auto eq = key.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= key.size() || key[eq + 1] != '"') break;
    std::string label(key.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 2;
    for (; j < key.size() && key[j] != '"'; ++j) {
      if (key[j] == '\\' && j + 1 < key.size()) {
        ++j;
        value += key[j] == 'n' ? '\n' : key[j];
      } else {
        value += key[j];
      }
    }
    out.labels.emplace(std::move(label), std::move(value));
    i = j + 1;
    if (i < key.size() && key[i] == ',') ++i;
  }
  return out;
}

void history::add(std::int64_t at_ms, std::string_view exposition) {
  sample s;
  s.at_ms = at_ms;
  std::size_t at = 0;
  while (at < exposition.size()) {
    auto nl = exposition.find('\n', at);
    auto line = exposition.substr(at, nl == std::string_view::npos ? nl : nl - at);
    if (auto kv = parse_sample_line(line)) s.values.insert(std::move(*kv));
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  std::lock_guard lk(mu_);
  ring_.push_back(std::move(s));
  while (!ring_.empty() && ring_.front().at_ms < at_ms - keep_ms_) ring_.pop_front();
}

std::vector<history::sample> history::samples() const {
  std::lock_guard lk(mu_);
  return {ring_.begin(), ring_.end()};
}

std::size_t history::size() const {
  std::lock_guard lk(mu_);
  return ring_.size();
}

namespace {

bool series_of(std::string_view key, std::string_view name) {
  return key.starts_with(name) && (key.size() == name.size() || key[name.size()] == '{');
}

}  // namespace

std::map<std::string, double> sum_by(const history::sample& s, std::string_view name,
                                     std::string_view by) {
  std::map<std::string, double> out;
  // Series keys sort by name first: start at the name.
  for (auto it = s.values.lower_bound(name); it != s.values.end() && it->first.starts_with(name);
       ++it) {
    if (!series_of(it->first, name)) continue;
    std::string group;
    if (!by.empty()) {
      auto k = split_series(it->first);
      auto l = k.labels.find(std::string(by));
      group = l == k.labels.end() ? std::string() : l->second;
    }
    out[group] += it->second;
  }
  return out;
}

std::map<std::string, double> increase(std::span<const history::sample> ring, std::string_view name,
                                       std::string_view by, std::int64_t window_ms) {
  std::map<std::string, double> out;
  if (ring.size() < 2) return out;
  const auto& last = ring.back();
  // The oldest sample within the window (at least one interval back).
  std::size_t from = ring.size() - 2;
  while (from > 0 && ring[from - 1].at_ms >= last.at_ms - window_ms) --from;
  const auto& first = ring[from];
  // Per series, then summed (as sum(increase(...)) does): one series' reset is its own.
  for (auto it = last.values.lower_bound(name);
       it != last.values.end() && it->first.starts_with(name); ++it) {
    if (!series_of(it->first, name)) continue;
    auto was_it = first.values.find(it->first);
    double was = was_it == first.values.end() ? 0 : was_it->second;
    double grew = it->second >= was ? it->second - was : it->second;
    std::string group;
    if (!by.empty()) {
      auto k = split_series(it->first);
      auto l = k.labels.find(std::string(by));
      group = l == k.labels.end() ? std::string() : l->second;
    }
    out[group] += grew;
  }
  return out;
}

std::optional<double> quantile_between(const history::sample& from, const history::sample& to,
                                       std::string_view name, double q) {
  // Cumulative bucket counts by upper bound, as differences between the two samples.
  std::string bucket = std::string(name) + "_bucket";
  std::vector<std::pair<double, double>> buckets;  // le, count
  auto was = sum_by(from, bucket, "le");
  for (const auto& [le, now] : sum_by(to, bucket, "le")) {
    auto it = was.find(le);
    double d = now - (it == was.end() ? 0 : it->second);
    double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
    buckets.emplace_back(bound, std::max(0.0, d));
  }
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0) return std::nullopt;
  double total = buckets.back().second;
  double rank = q * total;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(bound)) return lower;  // beyond the last finite bound: its value
      double in = count - below;
      return in <= 0 ? bound : lower + (bound - lower) * (rank - below) / in;
    }
    lower = bound;
    below = count;
  }
  return lower;
}

}  // namespace niem::admin
