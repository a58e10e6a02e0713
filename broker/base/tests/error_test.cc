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

TEST_CASE("docs/ERRORS.md's table is the one generated from errors.inc") {
  std::ifstream in(std::string(NIEM_SOURCE_ROOT) + "/docs/ERRORS.md");
  std::string doc((std::istreambuf_iterator<char>(in)), {});
  auto begin = doc.find("<!-- BEGIN GENERATED");
  auto end = doc.find("<!-- END GENERATED -->");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  begin = doc.find('\n', begin) + 1;
  INFO("run tools/update-generated-docs.sh after changing broker/base/errors.inc");
  CHECK(doc.substr(begin, end - begin) == catalogue_markdown());
}

TEST_CASE("every code has a name, a summary and a meaning, and its id spells its number") {
  for (const auto& e : catalogue()) {
    INFO(e.id);
    CHECK_FALSE(e.name.empty());
    CHECK_FALSE(e.summary.empty());
    CHECK_FALSE(e.meaning.empty());
    CHECK(parse_code(e.id) == e.code);
    CHECK(info(e.code).id == e.id);
  }
  CHECK(catalogue_markdown().find("| NIEM-115 | record.duplicate_member | ") != std::string::npos);
}
