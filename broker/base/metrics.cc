#include "base/metrics.h"

#include <fmt/format.h>

namespace niem::base {

std::string prometheus_escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

counter_family::counter_family(std::string name, std::string help, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}

namespace {

std::string_view join(std::initializer_list<std::string_view> values) {
  thread_local std::string key;
  key.clear();
  bool first = true;
  for (auto v : values) {
    if (!first) key += '\x1f';
    first = false;
    key += v;
  }
  return key;
}

}  // namespace

void counter_family::add(std::initializer_list<std::string_view> values, std::uint64_t n) {
  auto key = join(values);
  std::lock_guard lk(mu_);
  auto it = series_.find(key);
  if (it == series_.end())
    it = series_.emplace(std::string(key), std::make_unique<std::atomic<std::uint64_t>>(0)).first;
  it->second->fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t counter_family::value(std::initializer_list<std::string_view> values) const {
  auto key = join(values);
  std::lock_guard lk(mu_);
  auto it = series_.find(key);
  return it == series_.end() ? 0 : it->second->load();
}

void counter_family::render(std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name_, help_, name_);
  std::lock_guard lk(mu_);
  for (const auto& [key, c] : series_) {
    std::string labels;
    std::size_t i = 0, at = 0;
    while (i < labels_.size()) {
      auto sep = key.find('\x1f', at);
      auto v =
          std::string_view(key).substr(at, sep == std::string::npos ? std::string::npos : sep - at);
      labels += fmt::format("{}{}=\"{}\"", i ? "," : "", labels_[i], prometheus_escape(v));
      ++i;
      if (sep == std::string::npos) break;
      at = sep + 1;
    }
    out += fmt::format("{}{{{}}} {}\n", name_, labels, c->load());
  }
}

histogram::histogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      bounds_(std::move(bounds)),
      buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void histogram::observe(double seconds) {
  if (seconds < 0) seconds = 0;
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void histogram::render(std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name_, help_, name_);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load();
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name_, bounds_[i], cumulative);
  }
  cumulative += buckets_[bounds_.size()].load();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name_, cumulative);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name_,
                     static_cast<double>(sum_micros_.load()) / 1e6, name_, cumulative);
}

broker_metrics& metrics() {
  static broker_metrics m;
  return m;
}

}  // namespace niem::base
