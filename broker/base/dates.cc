#include "base/dates.h"

#include <fmt/format.h>

namespace niem::base {

bool valid_ymd(int y, int m, int d) {
  static constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= k_days[m - 1] + (m == 2 && leap ? 1 : 0);
}

// H. Hinnant's days_from_civil and civil_from_days.
std::optional<long> day_number(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (!valid_ymd(y, m, d)) return std::nullopt;
  y -= m <= 2;
  const long era = y / 400;  // y >= 0 here
  const long yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::string iso_date(long z) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const long doe = z - era * 146097;
  const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long y = yoe + era * 400;
  const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long mp = (5 * doy + 2) / 153;
  const long d = doy - (153 * mp + 2) / 5 + 1;
  const long m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2;
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

std::optional<std::int64_t> parse_time_ms(std::string_view s) {
  auto day = day_number(s.substr(0, 10));
  if (!day) return std::nullopt;
  std::int64_t ms = static_cast<std::int64_t>(*day) * 86'400'000;
  if (s.size() == 10) return ms;
  auto digits = [&](std::size_t at, std::size_t n) -> int {
    if (at + n > s.size()) return -1;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  int h = digits(11, 2), mi = digits(14, 2), sec = digits(17, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return std::nullopt;
  ms += (h * 3600 + mi * 60 + sec) * 1000LL;
  std::size_t at = 19;
  if (s[at] == '.') {
    std::size_t start = ++at;
    int frac = 0, n = 0;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
      if (n < 3) frac = frac * 10 + (s[at] - '0'), ++n;
      ++at;
    }
    if (at == start) return std::nullopt;
    while (n < 3) frac *= 10, ++n;
    ms += frac;
  }
  if (at + 1 == s.size() && s[at] == 'Z') return ms;
  if (at + 6 != s.size() || (s[at] != '+' && s[at] != '-') || s[at + 3] != ':') return std::nullopt;
  int oh = digits(at + 1, 2), om = digits(at + 4, 2);
  if (oh < 0 || oh > 14 || om < 0 || om > 59 || (oh == 14 && om > 0)) return std::nullopt;
  std::int64_t off = (oh * 60 + om) * 60'000LL;
  return s[at] == '+' ? ms - off : ms + off;
}

}  // namespace niem::base
