#pragma once
// Value transforms of the mapping language; each works in place and reports bad input.
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace niem::mapping {

struct transform {
  enum class kind { trim, upper, lower, date, datetime, name_last, name_first, yn } k;
  std::string format;  // for date: e.g. "YYYYMMDD"
};

struct transform_result {
  bool ok = true;
  base::errc code = base::errc::ok;
  std::string message;
};

std::optional<transform> parse_transform(std::string_view spec);
transform_result apply_transform(const transform& t, std::string& value);

// A decimal number as XSD's xs:decimal spells it (optional sign, digits, optional fraction; no
// exponent), compared exactly: no floating point, so 0.1 + nothing is never 0.1000000001.
struct decimal {
  bool negative = false;
  std::string integer;   // without leading zeros ("" for zero)
  std::string fraction;  // without trailing zeros
};
std::optional<decimal> parse_decimal(std::string_view text);
// -1, 0 or 1 as a is below, equal to or above b.
int compare(const decimal& a, const decimal& b);

}  // namespace niem::mapping
