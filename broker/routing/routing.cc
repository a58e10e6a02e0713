#include "routing/routing.h"

#include <algorithm>

namespace niem::routing {

subscription_router::subscription_router(std::vector<subscription> subs) : subs_(std::move(subs)) {}

std::vector<decision> subscription_router::route(const routed_document& doc,
                                                 std::vector<fact>*) const {
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
