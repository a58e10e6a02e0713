#pragma once
// Exact decimal numbers as XSD's xs:decimal spells them (optional sign, digits, optional fraction;
// no exponent), compared and multiplied without floating point: a mapping's range checks and the
// medication check's dose arithmetic (1 MG x 120 / 30 is exactly 4 mg, never 4.0000000001).
#include <optional>
#include <string>
#include <string_view>

namespace niem::base {

struct decimal {
  bool negative = false;
  std::string integer;   // without leading zeros ("" for zero)
  std::string fraction;  // without trailing zeros
};

std::optional<decimal> parse_decimal(std::string_view text);
// -1, 0 or 1 as a is below, equal to or above b.
int compare(const decimal& a, const decimal& b);
decimal multiply(const decimal& a, const decimal& b);
// a x 10^places (places may be negative).
decimal shift(const decimal& a, int places);
// a / b rounded half away from zero to `places` fraction digits, trailing zeros dropped ("3.333",
// "4"); for messages and documents, never for comparisons. b must not be zero.
std::string divide_rounded(const decimal& a, const decimal& b, int places);
// The canonical spelling: "-12.5", "0", "0.001".
std::string to_string(const decimal& d);

}  // namespace niem::base
