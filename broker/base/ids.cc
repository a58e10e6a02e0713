#include "base/ids.h"

#include <chrono>
#include <random>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "base/clock.h"

namespace niem::base {

namespace {
constexpr char k_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

std::uint64_t random64() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  return gen();
}
}  // namespace

const clock& default_clock() {
  static const system_clock c;
  return c;
}

std::string new_message_id(std::int64_t now_ms) {
  std::string id(26, '0');
  auto t = static_cast<std::uint64_t>(now_ms) & ((1ULL << 48) - 1);
  for (int i = 9; i >= 0; --i) {  // 10 characters of time (50 bits, top 2 zero)
    id[i] = k_alphabet[t & 31];
    t >>= 5;
  }
  std::uint64_t hi = random64(), lo = random64();
  for (int i = 0; i < 16; ++i) {  // 16 characters of randomness (80 bits)
    std::uint64_t& src = i < 8 ? hi : lo;
    id[10 + i] = k_alphabet[src & 31];
    src >>= 5;
  }
  return id;
}

bool valid_message_id(std::string_view id) {
  if (id.size() != 26) return false;
  for (char c : id)
    if (std::string_view(k_alphabet).find(c) == std::string_view::npos) return false;
  return true;
}

std::string format_time_ms(std::int64_t ms) {
  // fmt 9 drops sub-second digits of a time_point, so the milliseconds are appended by hand.
  auto secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  std::chrono::sys_seconds tp{std::chrono::seconds(secs)};
  return fmt::format("{:%FT%T}.{:03}Z", tp, ms - secs * 1000);
}

}  // namespace niem::base
