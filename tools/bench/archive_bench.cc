// niem-archive-bench: the time to archive N audit entries (niem-dsa archive) and to verify the
// chain across the archive files into the store. The entries are appended seven years in the past
// (an injected clock), a second apart, with the fields a routing decision fills, then archived
// whole.
//   niem-archive-bench [--store LOCATOR] [--entries N] [--out DIR]
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "archive/archive.h"
#include "base/clock.h"
#include "base/dates.h"
#include "store/store.h"

using namespace niem;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string locator, out;
  std::int64_t n = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--store" && i + 1 < argc)
      locator = argv[++i];
    else if (a == "--entries" && i + 1 < argc)
      n = std::atoll(argv[++i]);
    else if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: niem-archive-bench [--store LOCATOR] [--entries N] [--out DIR]\n");
      return 2;
    }
  }
  const auto tmp = fs::temp_directory_path() / fmt::format("niem-archive-bench-{}", ::getpid());
  if (locator.empty()) locator = (tmp / "store").string();
  if (out.empty()) out = (tmp / "archive").string();
  const std::string key = "archive-bench-audit-key-0123456789abcdef";
  const auto old = *base::parse_time_ms("2018-01-01T00:00:00Z");
  base::manual_clock clk(old);
  store::options o;
  o.locator = locator;
  o.audit_key = key;
  o.group_commit_max = 1024;
  auto opened = store::store::open(o, clk);
  if (!opened) {
    std::fprintf(stderr, "cannot open the store: %s\n", opened.errors().front().message.c_str());
    return 2;
  }
  auto& st = **opened;

  auto t0 = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> failed{0};
  for (std::int64_t i = 0; i < n; ++i) {
    store::audit_entry e;
    e.message_id = fmt::format("M{:09}", i);
    e.record_key = fmt::format("CWS-EVT-{:09}", i);
    e.provider = "cws";
    e.exchange = "placement-notification";
    e.recipient = "medicaid";
    e.agreement = "DSA-001@1";
    e.purpose = "CARE_COORDINATION";
    e.decision = "deliver";
    e.paths = "ext:SourceRecordIdentification nc:Person/nc:PersonName hs:Placement/nc:ActivityDate";
    e.digest = "5f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    e.subjects = fmt::format("CWS-{:04}-{:04} 9555{:04}A", i % 9973, i % 7919, i % 9973);
    e.mapping_version = "0123456789abcdef";
    e.agreement_version = "fedcba9876543210";
    clk.set_ms(old + i * 1000);
    st.audit(std::move(e), [&failed](bool ok) {
      if (!ok) ++failed;
    });
  }
  st.flush();
  const double fill_s = seconds_since(t0);
  if (failed) {
    std::fprintf(stderr, "%lld entries failed to append\n", static_cast<long long>(failed.load()));
    return 1;
  }

  archive::options ao;
  ao.dir = out;
  ao.now_ms = *base::parse_time_ms("2026-12-07T00:00:00Z");
  ao.before_ms = *base::parse_time_ms("2019-01-01T00:00:00Z");
  ao.key = key;
  clk.set_ms(ao.now_ms);
  t0 = std::chrono::steady_clock::now();
  auto r = archive::archive(st, ao);
  const double archive_s = seconds_since(t0);
  if (!r) {
    std::fprintf(stderr, "archive failed: %s\n", r.errors().front().message.c_str());
    return 1;
  }
  std::uintmax_t bytes = 0;
  for (const auto& e : fs::directory_iterator(out)) bytes += e.file_size();

  t0 = std::chrono::steady_clock::now();
  auto start = st.audit_start();
  auto files = start ? archive::verify(out, key, *start) : archive::check{};
  auto kept = st.verify_audit(key);
  const double verify_s = seconds_since(t0);
  std::printf(
      "{\"entries\": %lld, \"archived\": %llu, \"files\": %zu, \"archive_bytes\": %llu, "
      "\"fill_s\": %.2f, \"archive_s\": %.2f, \"verify_s\": %.2f, \"archive_ok\": %s, "
      "\"store_ok\": %s, \"kept\": %llu}\n",
      static_cast<long long>(n), static_cast<unsigned long long>(r->entries), r->files.size(),
      static_cast<unsigned long long>(bytes), fill_s, archive_s, verify_s,
      files.ok ? "true" : "false", kept.ok ? "true" : "false",
      static_cast<unsigned long long>(kept.entries));
  opened->reset();
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return files.ok && kept.ok ? 0 : 1;
}
