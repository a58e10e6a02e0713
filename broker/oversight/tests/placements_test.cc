// The child's placement on a day: episodes merged from their events, a new episode ending the one
// before it, children found by client number or by a Medicaid id an event paired with one.
#include "oversight/placements.h"

#include <catch2/catch.hpp>

using namespace niem::oversight;

TEST_CASE("the county on a day is the placement's that covers it, ended by the next one") {
  placement_history h;
  h.add({"C1", "M1", "06075", "PL-1", "2026-01-10", ""});
  h.add({"C1", "", "06001", "PL-2", "2026-03-01", ""});  // ends PL-1 on 2026-02-28
  h.add({"C1", "", "", "PL-2", "", "2026-05-31"});       // PL-2's end, county unchanged
  CHECK(h.county_on("C1", "", "2026-01-09").empty());
  CHECK(h.county_on("C1", "", "2026-01-10") == "06075");
  CHECK(h.county_on("C1", "", "2026-02-28") == "06075");
  CHECK(h.county_on("C1", "", "2026-03-01") == "06001");
  CHECK(h.county_on("C1", "", "2026-05-31") == "06001");
  CHECK(h.county_on("C1", "", "2026-06-01").empty());
  // By Medicaid id, through the event that paired it with C1.
  CHECK(h.county_on("", "M1", "2026-04-01") == "06001");
  CHECK(h.county_on("", "M9", "2026-04-01").empty());
  auto t = h.timelines();
  REQUIRE(t.size() == 1);
  REQUIRE(t["C1"].size() == 2);
  CHECK(t["C1"][0].until == "2026-02-28");
  CHECK(t["C1"][1].until == "2026-05-31");
}

TEST_CASE("an event with only a Medicaid id joins the child it was first paired with") {
  placement_history h;
  h.add({"", "M2", "06019", "PL-9", "2026-02-01", ""});  // before anything pairs M2
  CHECK(h.child_of("M2") == "medicaid:M2");
  CHECK(h.county_on("", "M2", "2026-02-02") == "06019");
  h.add({"C2", "M2", "06019", "PL-8", "2026-01-01", ""});
  h.add({"C3", "M2", "06037", "PL-7", "2025-01-01", ""});  // a second pairing: the first holds
  CHECK(h.child_of("M2") == "C2");
  // C2 now has both episodes: PL-8 ends the day before PL-9 begins.
  CHECK(h.county_on("C2", "", "2026-01-31") == "06019");
  CHECK(h.county_on("", "M2", "2026-02-15") == "06019");
  auto t = h.timelines();
  CHECK(t.count("medicaid:M2") == 0);
  REQUIRE(t["C2"].size() == 2);
  CHECK(t["C2"][0].until == "2026-01-31");
  CHECK(t["C3"].size() == 1);
}
