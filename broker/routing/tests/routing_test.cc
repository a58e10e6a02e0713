#include <catch2/catch.hpp>

#include "routing/routing.h"

using namespace niem::routing;

TEST_CASE("subscriptions route by exchange type and share one document") {
  subscription_router r({{"court", "placement-notification"},
                         {"medicaid", "placement-notification"},
                         {"cws", "pharmacy-claim"},
                         {"court", "pmap-application"}});
  auto doc = std::make_shared<const std::string>("<x/>");
  auto ds = r.route({"M1", "cws", "placement", "E-1", "placement-notification", doc});
  REQUIRE(ds.size() == 2);
  CHECK(ds[0].recipient == "court");
  CHECK(ds[1].recipient == "medicaid");
  for (const auto& d : ds) {
    CHECK(d.deliver);
    CHECK(d.document == doc);
  }
  auto none = r.route({"M2", "cws", "consent", "C-1", "consent-directive", doc});
  REQUIRE(none.size() == 1);
  CHECK_FALSE(none[0].deliver);
  CHECK(none[0].reason == niem::base::errc::route_no_subscriber);
  // The publisher does not get its own record back.
  auto own = r.route({"M3", "cws", "pharmacy_claim", "K", "pharmacy-claim", doc});
  REQUIRE(own.size() == 1);
  CHECK_FALSE(own[0].deliver);
  CHECK(r.recipients() == std::vector<std::string>{"court", "medicaid", "cws"});
}
