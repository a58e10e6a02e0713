#include "oversight/placements.h"

#include <algorithm>

#include "base/dates.h"

namespace niem::oversight {

void placement_history::add(placement_event e) {
  const auto at = events_.size();
  if (!e.client.empty()) {
    by_child_[e.client].push_back(at);
    if (!e.person.empty() && client_of_.emplace(e.person, e.client).second)
      persons_of_[e.client].insert(e.person);
  } else if (!e.person.empty()) {
    unpaired_[e.person].push_back(at);
  }
  events_.push_back(std::move(e));
}

std::string placement_history::child_of(const std::string& medicaid_id) const {
  auto it = client_of_.find(medicaid_id);
  return it != client_of_.end() ? it->second : "medicaid:" + medicaid_id;
}

std::vector<placement_episode> placement_history::timeline(const std::string& child) const {
  // The child's events in the order received.
  std::vector<std::size_t> at;
  if (child.starts_with("medicaid:")) {
    if (auto it = unpaired_.find(child.substr(9)); it != unpaired_.end()) at = it->second;
  } else {
    if (auto it = by_child_.find(child); it != by_child_.end()) at = it->second;
    if (auto p = persons_of_.find(child); p != persons_of_.end())
      for (const auto& person : p->second)
        if (auto it = unpaired_.find(person); it != unpaired_.end())
          at.insert(at.end(), it->second.begin(), it->second.end());
    std::sort(at.begin(), at.end());
  }
  std::map<std::string, placement_episode> episodes;  // by placement id (or begin)
  for (auto i : at) {
    const auto& e = events_[i];
    auto& ep = episodes[e.placement.empty() ? e.begin : e.placement];
    if (!e.begin.empty() && (ep.begin.empty() || e.begin < ep.begin)) ep.begin = e.begin;
    if (!e.end.empty()) ep.end = e.end;
    if (!e.county.empty()) ep.county = e.county;
  }
  std::vector<placement_episode> v;
  for (auto& [id, ep] : episodes)
    if (!ep.begin.empty()) v.push_back(ep);
  std::stable_sort(v.begin(), v.end(), [](const placement_episode& a, const placement_episode& b) {
    return a.begin < b.begin;
  });
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i].until = v[i].end;
    if (i + 1 < v.size() && v[i + 1].begin > v[i].begin) {
      auto next = base::day_number(v[i + 1].begin);
      auto before_next = next ? base::iso_date(*next - 1) : v[i + 1].begin;
      if (v[i].until.empty() || before_next < v[i].until) v[i].until = before_next;
    }
  }
  return v;
}

std::string placement_history::county_on(const std::string& client, const std::string& medicaid_id,
                                         const std::string& day) const {
  auto child = client.empty() ? child_of(medicaid_id) : client;
  std::string county;
  for (const auto& ep : timeline(child))
    if (ep.begin <= day && (ep.until.empty() || day <= ep.until)) county = ep.county;
  return county;
}

std::map<std::string, std::vector<placement_episode>> placement_history::timelines() const {
  std::map<std::string, std::vector<placement_episode>> out;
  for (const auto& [client, _] : by_child_) out[client] = timeline(client);
  for (const auto& [person, _] : unpaired_) {
    auto child = child_of(person);
    if (!out.contains(child)) out[child] = timeline(child);
  }
  return out;
}

}  // namespace niem::oversight
