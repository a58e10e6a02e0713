#include "base/decimal.h"

#include <algorithm>
#include <vector>

namespace niem::base {
namespace {

// Non-negative integers as decimal digit strings without leading zeros ("" is zero).
using digits = std::string;

digits strip(digits d) {
  auto nz = d.find_first_not_of('0');
  return nz == std::string::npos ? digits() : d.substr(nz);
}

int compare_digits(const digits& a, const digits& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

digits times(const digits& a, const digits& b) {
  if (a.empty() || b.empty()) return {};
  std::vector<int> r(a.size() + b.size(), 0);
  for (std::size_t i = a.size(); i-- > 0;)
    for (std::size_t j = b.size(); j-- > 0;) r[i + j + 1] += (a[i] - '0') * (b[j] - '0');
  for (std::size_t k = r.size(); k-- > 1;) {
    r[k - 1] += r[k] / 10;
    r[k] %= 10;
  }
  digits out;
  for (int v : r) out += static_cast<char>('0' + v);
  return strip(out);
}

// a - b, a >= b.
digits minus(const digits& a, const digits& b) {
  digits out(a);
  int borrow = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::size_t ai = out.size() - 1 - i;
    int bv = i < b.size() ? b[b.size() - 1 - i] - '0' : 0;
    int v = out[ai] - '0' - bv - borrow;
    borrow = v < 0;
    out[ai] = static_cast<char>('0' + (v + 10) % 10);
  }
  return strip(out);
}

// a / b (b > 0), the quotient only: schoolbook long division.
digits quotient(const digits& a, const digits& b) {
  digits q, rem;
  for (char c : a) {
    rem = strip(rem + c);
    int n = 0;
    while (compare_digits(rem, b) >= 0) {
      rem = minus(rem, b);
      ++n;
    }
    q += static_cast<char>('0' + n);
  }
  return strip(q);
}

// The unscaled digits and the number of fraction digits.
std::pair<digits, int> unscaled(const decimal& d) {
  return {strip(d.integer + d.fraction), static_cast<int>(d.fraction.size())};
}

decimal from_unscaled(bool negative, const digits& u, int scale) {
  decimal d;
  digits s = u;
  if (scale > 0) {
    if (static_cast<int>(s.size()) < scale)
      s.insert(0, static_cast<std::size_t>(scale) - s.size(), '0');
    d.integer = strip(s.substr(0, s.size() - static_cast<std::size_t>(scale)));
    d.fraction = s.substr(s.size() - static_cast<std::size_t>(scale));
  } else {
    d.integer = s.empty() ? s : strip(s + std::string(static_cast<std::size_t>(-scale), '0'));
  }
  while (!d.fraction.empty() && d.fraction.back() == '0') d.fraction.pop_back();
  d.negative = negative && !(d.integer.empty() && d.fraction.empty());
  return d;
}

}  // namespace

std::optional<decimal> parse_decimal(std::string_view t) {
  decimal d;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    d.negative = t[0] == '-';
    t.remove_prefix(1);
  }
  auto dot = t.find('.');
  auto whole = t.substr(0, dot);
  auto frac = dot == std::string_view::npos ? std::string_view() : t.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  for (auto part : {whole, frac})
    for (char c : part)
      if (c < '0' || c > '9') return std::nullopt;
  while (!whole.empty() && whole.front() == '0') whole.remove_prefix(1);
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  d.integer = whole;
  d.fraction = frac;
  if (d.integer.empty() && d.fraction.empty()) d.negative = false;  // -0 is 0
  return d;
}

int compare(const decimal& a, const decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  int magnitude = 0;
  if (a.integer.size() != b.integer.size()) {
    magnitude = a.integer.size() < b.integer.size() ? -1 : 1;
  } else if (int c = a.integer.compare(b.integer); c != 0) {
    magnitude = c < 0 ? -1 : 1;
  } else if (int f = a.fraction.compare(b.fraction); f != 0) {
    // Trailing zeros are gone, so plain string order is numeric order.
    magnitude = f < 0 ? -1 : 1;
  }
  return a.negative ? -magnitude : magnitude;
}

decimal multiply(const decimal& a, const decimal& b) {
  auto [ua, sa] = unscaled(a);
  auto [ub, sb] = unscaled(b);
  return from_unscaled(a.negative != b.negative, times(ua, ub), sa + sb);
}

decimal shift(const decimal& a, int places) {
  auto [u, s] = unscaled(a);
  return from_unscaled(a.negative, u, s - places);
}

std::string divide_rounded(const decimal& a, const decimal& b, int places) {
  auto [ua, sa] = unscaled(a);
  auto [ub, sb] = unscaled(b);
  if (ub.empty()) return "NaN";
  // a / b = (ua / ub) x 10^(sb - sa); one more digit than asked, for rounding.
  int up = places + 1 + sb - sa;
  digits n = ua, d = ub;
  if (up >= 0)
    n = n.empty() ? n : n + std::string(static_cast<std::size_t>(up), '0');
  else
    d = d + std::string(static_cast<std::size_t>(-up), '0');
  digits q = quotient(n, d);
  // Round half away from zero on the extra digit.
  int last = q.empty() ? 0 : q.back() - '0';
  q = q.empty() ? q : strip(q.substr(0, q.size() - 1));
  if (last >= 5) {
    // q + 1
    digits r(q.empty() ? "0" : q);
    int carry = 1;
    for (std::size_t i = r.size(); i-- > 0 && carry;) {
      int v = r[i] - '0' + carry;
      r[i] = static_cast<char>('0' + v % 10);
      carry = v / 10;
    }
    if (carry) r.insert(r.begin(), '1');
    q = strip(r);
  }
  return to_string(from_unscaled(a.negative != b.negative, q, places));
}

std::string to_string(const decimal& d) {
  std::string out = d.negative ? "-" : "";
  out += d.integer.empty() ? "0" : d.integer;
  if (!d.fraction.empty()) out += "." + d.fraction;
  return out;
}

}  // namespace niem::base
