#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "base/error.h"

using namespace niem::base;

TEST_CASE("error catalogue ids are unique and follow the NIEM-nnn form") {
  std::set<std::string> ids, names;
  for (const auto& e : catalogue()) {
    CHECK(ids.insert(std::string(e.id)).second);
    CHECK(names.insert(std::string(e.name)).second);
    REQUIRE(e.id.size() == 8);
    CHECK(e.id.substr(0, 5) == "NIEM-");
    CHECK(std::stoi(std::string(e.id.substr(5))) == static_cast<int>(e.code));
  }
}

TEST_CASE("diagnostics format with location, code and field") {
  diagnostic d{errc::record_bad_date, "not a date: '2026-13-01'", "line 3", "child.birth_date"};
  CHECK(format(d) == "line 3: NIEM-105 not a date: '2026-13-01' [child.birth_date]");
  CHECK(code_id(static_cast<errc>(9999)) == "NIEM-399");
}

TEST_CASE("docs/ERRORS.md lists every code of the catalogue, with its name") {
  std::ifstream in(std::string(NIEM_SOURCE_ROOT) + "/docs/ERRORS.md");
  std::string doc((std::istreambuf_iterator<char>(in)), {});
  REQUIRE_FALSE(doc.empty());
  for (const auto& e : catalogue()) {
    if (e.code == errc::ok) continue;  // not a reason anything is refused
    INFO(e.id);
    CHECK(doc.find("| " + std::string(e.id) + " | " + std::string(e.name) + " |") !=
          std::string::npos);
  }
}
