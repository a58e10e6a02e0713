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
  {
    std::shared_lock lk(mu_);
    if (auto it = series_.find(key); it != series_.end()) {
      it->second->fetch_add(n, std::memory_order_relaxed);
      return;
    }
  }
  std::unique_lock lk(mu_);
  auto it = series_.find(key);
  if (it == series_.end())
    it = series_.emplace(std::string(key), std::make_unique<std::atomic<std::uint64_t>>(0)).first;
  it->second->fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t counter_family::value(std::initializer_list<std::string_view> values) const {
  auto key = join(values);
  std::shared_lock lk(mu_);
  auto it = series_.find(key);
  return it == series_.end() ? 0 : it->second->load();
}

void counter_family::render(std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name_, help_, name_);
  std::shared_lock lk(mu_);
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
    if (labels.empty())
      out += fmt::format("{} {}\n", name_, c->load());
    else
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

void render_gauge(std::string& out, std::string_view name, std::string_view help,
                  const std::vector<gauge_sample>& samples) {
  out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
  for (const auto& g : samples) {
    out += name;
    if (!g.labels.empty()) {
      out += '{';
      bool first = true;
      for (const auto& [label, value] : g.labels) {
        out += fmt::format("{}{}=\"{}\"", first ? "" : ",", label, prometheus_escape(value));
        first = false;
      }
      out += '}';
    }
    out += fmt::format(" {}\n", g.value);
  }
}

void render_counter(std::string& out, std::string_view name, std::string_view help,
                    std::uint64_t value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, value);
}

metrics_registry::registration& metrics_registry::registration::operator=(
    registration&& o) noexcept {
  if (this != &o) {
    if (reg_) reg_->remove(id_);
    reg_ = std::exchange(o.reg_, nullptr);
    id_ = o.id_;
  }
  return *this;
}

metrics_registry::registration::~registration() {
  if (reg_) reg_->remove(id_);
}

metrics_registry::registration metrics_registry::add(std::string name, collector c) {
  std::lock_guard lk(mu_);
  auto id = next_++;
  collectors_.push_back({id, {std::move(name), std::move(c)}});
  return {this, id};
}

void metrics_registry::add_static(std::string name, collector c) {
  std::lock_guard lk(mu_);
  collectors_.push_back({next_++, {std::move(name), std::move(c)}});
}

void metrics_registry::remove(std::uint64_t id) {
  std::lock_guard lk(mu_);
  std::erase_if(collectors_, [id](const auto& e) { return e.first == id; });
}

void metrics_registry::render(std::string& out) const {
  // Held while rendering: an instance's registration cannot end (and its instance go) meanwhile.
  std::lock_guard lk(mu_);
  for (const auto& [id, c] : collectors_) c.second(out);
}

std::vector<std::string> metrics_registry::names() const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& [id, c] : collectors_) out.push_back(c.first);
  return out;
}

metrics_registry& registry() {
  static metrics_registry r;
  return r;
}

}  // namespace niem::base
