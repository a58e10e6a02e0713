#pragma once
// Value transforms of the mapping language; each works in place and reports bad input.
#include <optional>
#include <string>
#include <string_view>

#include "base/decimal.h"
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

// Exact decimals (ranges are checked without floating point): the base library's.
using base::compare;
using base::decimal;
using base::parse_decimal;

}  // namespace niem::mapping
