#include "base/error.h"

#include <algorithm>

#include <fmt/format.h>

namespace niem::base {

namespace {
// "NIEM-" #number: the id is spelled from the same token as the enumerator's value.
const std::vector<error_info> k_catalogue = {
    {errc::ok, "NIEM-000", "ok", "no error", "no error"},
#define NIEM_ERROR(e, number, name, summary, meaning) \
  {errc::e, "NIEM-" #number, name, summary, meaning},
#include "base/errors.inc"
#undef NIEM_ERROR
};
}  // namespace

const std::vector<error_info>& catalogue() {
  return k_catalogue;
}

const error_info& info(errc code) {
  auto find = [](errc c) {
    return std::find_if(k_catalogue.begin(), k_catalogue.end(),
                        [c](const error_info& e) { return e.code == c; });
  };
  auto it = find(code);
  return it == k_catalogue.end() ? *find(errc::internal) : *it;
}

std::string catalogue_markdown() {
  std::string out = "| code | name | meaning |\n| --- | --- | --- |\n";
  for (const auto& e : k_catalogue)
    if (e.code != errc::ok) out += fmt::format("| {} | {} | {} |\n", e.id, e.name, e.meaning);
  return out;
}

errc parse_code(std::string_view id) {
  for (const auto& e : k_catalogue)
    if (e.id == id) return e.code;
  return errc::internal;
}

std::string_view code_id(errc code) {
  return info(code).id;
}

std::string format(const diagnostic& d) {
  std::string out;
  if (!d.where.empty()) out += fmt::format("{}: ", d.where);
  out += fmt::format("{} {}", code_id(d.code), d.message);
  if (!d.field.empty()) out += fmt::format(" [{}]", d.field);
  return out;
}

}  // namespace niem::base
