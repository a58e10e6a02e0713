#include "mapping/transforms.h"

#include "base/dates.h"
#include "base/text.h"

namespace niem::mapping {

namespace {

bool digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// Parses `v` by a pattern of YYYY, MM, DD and literal characters into YYYY-MM-DD.
bool parse_date(std::string_view fmt, std::string_view v, std::string& out) {
  std::string_view y, m, d;
  std::size_t i = 0, j = 0;
  while (i < fmt.size()) {
    auto take = [&](std::size_t n, std::string_view& dst) {
      if (j + n > v.size() || !digits(v.substr(j, n))) return false;
      dst = v.substr(j, n);
      i += n;
      j += n;
      return true;
    };
    if (fmt.compare(i, 4, "YYYY") == 0) {
      if (!take(4, y)) return false;
    } else if (fmt.compare(i, 2, "MM") == 0) {
      if (!take(2, m)) return false;
    } else if (fmt.compare(i, 2, "DD") == 0) {
      if (!take(2, d)) return false;
    } else {
      if (j >= v.size() || v[j] != fmt[i]) return false;
      ++i;
      ++j;
    }
  }
  if (j != v.size() || y.empty() || m.empty() || d.empty()) return false;
  if (!base::valid_ymd(num(y), num(m), num(d))) return false;
  out.assign(y);
  out += '-';
  out += m;
  out += '-';
  out += d;
  return true;
}

// An RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)) that xs:dateTime can also
// carry, rewritten in XSD's spelling (T and Z upper case). What RFC 3339 allows and XSD does not is
// refused, naming the part: a leap second (:60) and an offset beyond +-14:00. Empty when valid,
// else why not.
std::string check_datetime(std::string& v) {
  const std::string shape = "not an RFC 3339 date-time with offset";
  std::string ignored;
  if (v.size() < 20 || !parse_date("YYYY-MM-DD", std::string_view(v).substr(0, 10), ignored))
    return v.size() >= 10 && digits(v.substr(0, 4)) && v[4] == '-' && v[7] == '-'
               ? "not a real date: " + shape
               : shape;
  if (v[10] != 'T' && v[10] != 't') return shape;
  auto two = [&](std::size_t at) { return digits(std::string_view(v).substr(at, 2)); };
  auto at = [&](std::size_t i) { return num(std::string_view(v).substr(i, 2)); };
  if (!two(11) || v[13] != ':' || !two(14) || v[16] != ':' || !two(17)) return shape;
  if (at(11) > 23) return "the hour must be 00 to 23";
  if (at(14) > 59) return "the minute must be 00 to 59";
  if (at(17) == 60) return "a leap second (:60) cannot be written as xs:dateTime";
  if (at(17) > 59) return "the second must be 00 to 59";
  std::size_t i = 19;
  if (i < v.size() && v[i] == '.') {
    ++i;
    std::size_t start = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    if (i == start) return shape;
  }
  v[10] = 'T';
  if (i < v.size() && (v[i] == 'Z' || v[i] == 'z')) {
    v[i] = 'Z';
    return i + 1 == v.size() ? "" : shape;
  }
  if (i + 6 != v.size() || (v[i] != '+' && v[i] != '-') || !two(i + 1) || v[i + 3] != ':' ||
      !two(i + 4))
    return shape;
  if (at(i + 4) > 59) return "the offset's minutes must be 00 to 59";
  if (at(i + 1) > 14 || (at(i + 1) == 14 && at(i + 4) != 0))
    return "the offset must lie within -14:00 and +14:00 (xs:dateTime)";
  return "";
}

}  // namespace

std::optional<transform> parse_transform(std::string_view spec) {
  using k = transform::kind;
  if (spec == "trim") return transform{k::trim, {}};
  if (spec == "upper") return transform{k::upper, {}};
  if (spec == "lower") return transform{k::lower, {}};
  if (spec == "datetime") return transform{k::datetime, {}};
  if (spec == "name-last") return transform{k::name_last, {}};
  if (spec == "name-first") return transform{k::name_first, {}};
  if (spec == "yn") return transform{k::yn, {}};
  if (spec.rfind("date:", 0) == 0) {
    auto f = spec.substr(5);
    if (f.find("YYYY") == std::string_view::npos || f.find("MM") == std::string_view::npos ||
        f.find("DD") == std::string_view::npos)
      return std::nullopt;
    return transform{k::date, std::string(f)};
  }
  return std::nullopt;
}

transform_result apply_transform(const transform& t, std::string& v) {
  using k = transform::kind;
  switch (t.k) {
    case k::trim:
      v = std::string(base::trim(v));
      return {};
    case k::upper:
      v = base::to_upper_ascii(v);
      return {};
    case k::lower:
      v = base::to_lower_ascii(v);
      return {};
    case k::date: {
      if (v.empty()) return {};
      std::string out;
      if (!parse_date(t.format, v, out))
        return {false, base::errc::record_bad_date, "not a valid date in the form " + t.format};
      v = std::move(out);
      return {};
    }
    case k::datetime:
      if (v.empty()) return {};
      if (auto why = check_datetime(v); !why.empty())
        return {false, base::errc::record_bad_date, std::move(why)};
      return {};
    case k::name_last:
    case k::name_first: {
      auto comma = v.find(',');
      if (comma == std::string::npos) {
        if (t.k == k::name_first) v.clear();
        v = std::string(base::trim(v));
        return {};
      }
      v = std::string(base::trim(t.k == k::name_last ? std::string_view(v).substr(0, comma)
                                                     : std::string_view(v).substr(comma + 1)));
      return {};
    }
    case k::yn:
      if (v == "Y" || v == "y") {
        v = "true";
      } else if (v == "N" || v == "n") {
        v = "false";
      } else if (!v.empty()) {
        return {false, base::errc::record_unknown_code, "expected Y or N"};
      }
      return {};
  }
  return {};
}

}  // namespace niem::mapping
