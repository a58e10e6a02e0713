// The validation modes of the converter (compiled, full, both) on a small exchange: the same
// verdicts, the compiled checker's naming the native field, and Xerces kept for what the checker
// does not compile.
#include <catch2/catch.hpp>

#include "exchange_fixture.h"

using namespace niem;
using base::errc;
using namespace niem::mapping::test;

const std::string& k_rules = k_checked_rules;

TEST_CASE("each validation mode refuses a value the schema refuses; the compiled one names it") {
  exchange_dir x(k_v5);
  auto lib = x.load(k_rules);
  INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
  REQUIRE(lib.ok());
  const auto* m = lib.value()->find("a", "r");
  REQUIRE(m);
  CHECK(m->checks_complete());
  const std::string good = R"({"id":"k","name":"Ann","code":"X","status":"active"})";
  const std::string bad = R"({"id":"k","name":"Ann","code":"X","status":"lapsed"})";
  for (auto mode : {mapping::validation_mode::compiled, mapping::validation_mode::full,
                    mapping::validation_mode::both}) {
    INFO(to_string(mode));
    mapping::converter conv(lib.value(), {}, {}, mode);
    auto ok = conv.convert(*m, good, "rec");
    INFO((ok.ok() ? std::string() : errors_of(ok.errors())));
    CHECK(ok.ok());
    auto refused = conv.convert(*m, bad, "rec");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.errors().front().code == errc::xml_schema_invalid);
    if (mode != mapping::validation_mode::full) {
      CHECK(refused.errors().front().field == "status -> /t:Report/t:Code@t:status");
      CHECK(refused.errors().front().message.find("lapsed") == std::string::npos);
    }
  }
  // The policy's exchange setting overrides the fallback.
  mapping::validation_policy policy(mapping::validation_mode::compiled);
  policy.by_exchange["report"] = mapping::validation_mode::full;
  CHECK(policy.of("report") == mapping::validation_mode::full);
  CHECK(policy.of("other") == mapping::validation_mode::compiled);
  CHECK(mapping::parse_validation_mode("both") == mapping::validation_mode::both);
  CHECK_FALSE(mapping::parse_validation_mode("fast"));
}

TEST_CASE("a mapping the checker does not fully compile is validated by Xerces in every mode") {
  exchange_dir x(k_v5);
  auto lib = x.load(k_rules + R"(
  <map:value target="t:Fixed" source="fixed"/>)");
  INFO((lib.ok() ? std::string() : errors_of(lib.errors())));
  REQUIRE(lib.ok());
  const auto* m = lib.value()->find("a", "r");
  REQUIRE(m);
  CHECK_FALSE(m->checks_complete());
  CHECK(m->unchecked_because().find("t:Fixed: a fixed or default value") != std::string::npos);
  // A value other than the fixed one: only Xerces sees it, and it is refused in compiled mode too.
  mapping::converter conv(lib.value(), {}, {}, mapping::validation_mode::compiled);
  auto r = conv.convert(*m, R"({"id":"k","name":"Ann","fixed":"G"})", "rec");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors().front().code == errc::xml_schema_invalid);
  CHECK(conv.convert(*m, R"({"id":"k","name":"Ann","fixed":"F"})", "rec").ok());
  auto written = m->map(R"({"id":"k","name":"Ann","fixed":"G"})", "rec", {}, nullptr, true);
  REQUIRE(written.ok());
  CHECK_FALSE(written->checked);
}
