#include "routing/routing.h"

#include <algorithm>

namespace niem::routing {

std::string encode_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  auto put = [&](std::string_view v) {
    for (char c : v) {
      if (c == '%' || c == '=' || c == '\n' || c == '\r') {
        static constexpr char hex[] = "0123456789ABCDEF";
        out += '%';
        out += hex[(static_cast<unsigned char>(c) >> 4) & 0xF];
        out += hex[static_cast<unsigned char>(c) & 0xF];
      } else {
        out += c;
      }
    }
  };
  for (const auto& [role, value] : fields) {
    put(role);
    out += '=';
    put(value);
    out += '\n';
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> decode_fields(std::string_view s) {
  auto unescape = [](std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '%' && i + 2 < v.size()) {
        auto hexval = [](char c) {
          return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        };
        int hi = hexval(v[i + 1]), lo = hexval(v[i + 2]);
        if (hi >= 0 && lo >= 0) {
          out += static_cast<char>(hi * 16 + lo);
          i += 2;
          continue;
        }
      }
      out += v[i];
    }
    return out;
  };
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto nl = s.find('\n', i);
    if (nl == std::string_view::npos) nl = s.size();
    auto line = s.substr(i, nl - i);
    auto eq = line.find('=');
    if (eq != std::string_view::npos)
      out.emplace_back(unescape(line.substr(0, eq)), unescape(line.substr(eq + 1)));
    i = nl + 1;
  }
  return out;
}

subscription_router::subscription_router(std::vector<subscription> subs) : subs_(std::move(subs)) {}

std::vector<decision> subscription_router::route(const routed_document& doc, std::vector<fact>*,
                                                 std::vector<observation>*) const {
  std::vector<decision> out;
  for (const auto& s : subs_) {
    if (s.exchange != doc.exchange) continue;
    // A source agency never receives its own record back through a subscription.
    if (s.recipient == doc.source_agency) continue;
    decision d;
    d.recipient = s.recipient;
    d.deliver = true;
    d.document = doc.document;
    out.push_back(std::move(d));
  }
  if (out.empty()) {
    decision d;
    d.reason = base::errc::route_no_subscriber;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<std::string> subscription_router::recipients() const {
  std::vector<std::string> out;
  for (const auto& s : subs_)
    if (std::find(out.begin(), out.end(), s.recipient) == out.end()) out.push_back(s.recipient);
  return out;
}

}  // namespace niem::routing
