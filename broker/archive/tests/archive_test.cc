#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>

#include <fmt/format.h>

#include "archive/archive.h"
#include "base/dates.h"
#include "support/store_backends.h"
#include "support/temp_dir.h"

using namespace niem;
namespace fs = std::filesystem;

namespace {

const std::string k_key = "store-test-audit-key-0123456789abcdef";
constexpr std::int64_t k_hour = 3'600'000;

std::int64_t at(const char* iso) {
  auto t = base::parse_time_ms(iso);
  REQUIRE(t);
  return *t;
}

// `n` decisions, an hour apart from `start` (the clock is left after the last).
void decisions(store::store& st, base::manual_clock& clk, std::int64_t start, int n,
               const std::string& tag) {
  clk.set_ms(start);
  for (int i = 0; i < n; ++i) {
    store::audit_entry e;
    e.message_id = fmt::format("{}-{}", tag, i);
    e.record_key = e.message_id;
    e.provider = "cws";
    e.exchange = "placement-notification";
    e.recipient = "medicaid";
    e.decision = "deliver";
    e.subjects = "CWS-1 9555A";
    std::promise<bool> done;
    st.audit(e, [&](bool ok) { done.set_value(ok); });
    REQUIRE(done.get_future().get());
    clk.advance_ms(k_hour);
  }
}

archive::options options_for(const fs::path& dir, std::int64_t before, std::int64_t now) {
  archive::options o;
  o.dir = dir.string();
  o.before_ms = before;
  o.now_ms = now;
  o.key = k_key;
  o.per_file = 100;
  return o;
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().string().ends_with(suffix)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

STORE_TEST(archive_1, "entries before a date move to signed files and the chain verifies across") {
  base::manual_clock clk(0);
  testing::temp_dir out("niem-archive-test");
  auto st = f.open(clk);
  decisions(*st, clk, at("2018-03-01T00:00:00Z"), 250, "old");
  decisions(*st, clk, at("2026-11-01T00:00:00Z"), 5, "new");
  const auto now = at("2026-12-07T00:00:00Z");
  clk.set_ms(now);

  auto r = archive::archive(*st, options_for(out.path, at("2019-01-01T00:00:00Z"), now));
  REQUIRE(r.ok());
  CHECK(r->entries == 250);
  CHECK(r->files.size() == 3);  // 100, 100 and 50 entries
  CHECK(r->last_seq == 250);
  CHECK(files_in(out.path, ".manifest.json").size() == 3);
  CHECK(files_in(out.path, ".tmp").empty());

  // The store keeps the 5 recent decisions and the archive's entries (one per file), chained to
  // the files.
  auto start = st->audit_start();
  REQUIRE(start.ok());
  CHECK(start->last_seq == 250);
  CHECK(start->archived == 250);
  auto kept = st->verify_audit(k_key);
  INFO(kept.problem);
  CHECK(kept.ok);
  CHECK(kept.entries == 8);
  auto files = archive::verify(out.path.string(), k_key, *start);
  INFO(files.problem);
  CHECK(files.ok);
  CHECK(files.entries == 250);
  auto all = archive::read_entries(out.path.string(), k_key);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 250);
  CHECK(all->front().message_id == "old-0");
  CHECK(all->back().message_id == "old-249");

  // The chain goes on after the archive, and a second archive continues from the first.
  decisions(*st, clk, now, 2, "later");
  CHECK(st->verify_audit(k_key).ok);
  auto again = archive::archive(*st, options_for(out.path, at("2019-01-01T00:00:00Z"), now));
  REQUIRE(again.ok());
  CHECK(again->entries == 0);
  CHECK(again->files.empty());
}

STORE_TEST(archive_2, "a tampered, missing or foreign-signed archive file fails verification") {
  base::manual_clock clk(0);
  testing::temp_dir out("niem-archive-test");
  auto st = f.open(clk);
  decisions(*st, clk, at("2018-03-01T00:00:00Z"), 250, "old");
  const auto now = at("2026-12-07T00:00:00Z");
  clk.set_ms(now);
  REQUIRE(archive::archive(*st, options_for(out.path, at("2019-01-01T00:00:00Z"), now)).ok());
  auto start = st->audit_start();
  REQUIRE(start.ok());
  REQUIRE(archive::verify(out.path.string(), k_key, *start).ok);

  auto data = files_in(out.path, ".jsonl.gz");
  REQUIRE(data.size() == 3);
  {
    // One byte of the second file changed.
    std::string bytes;
    {
      std::ifstream in(data[1], std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    bytes[bytes.size() / 2] ^= 0x20;
    std::ofstream(data[1], std::ios::binary | std::ios::trunc) << bytes;
    auto c = archive::verify(out.path.string(), k_key, *start);
    CHECK_FALSE(c.ok);
    CHECK(c.problem.find(data[1].filename().string()) != std::string::npos);
    CHECK(c.problem.find("checksum") != std::string::npos);
  }
  // The first file and its manifest gone: the chain has a hole at its start.
  fs::remove(data[0]);
  fs::remove(files_in(out.path, ".manifest.json")[0]);
  auto c = archive::verify(out.path.string(), k_key, *start);
  CHECK_FALSE(c.ok);
  CHECK(c.problem.find("entries 1 to 100 are missing") != std::string::npos);
  // Signed with another key.
  CHECK_FALSE(archive::verify(out.path.string(), "another-key", *start).ok);
  // A manifest whose numbers are not integers is refused, not a crash.
  std::ofstream(out.path / "audit-000000000900-000000000901.manifest.json")
      << R"({"format":"niem-broker-audit-archive/1","file":"x","sha256":"0","entries":1.5,)"
      << R"("first_seq":900,"last_seq":901,"first_prev":"0","last_hash":"0","created_at":"",)"
      << R"("signature":"0"})";
  auto odd = archive::verify(out.path.string(), k_key, *start);
  CHECK_FALSE(odd.ok);
  CHECK(odd.problem.find("not an audit archive manifest") != std::string::npos);
}

STORE_TEST(archive_3,
           "an archive interrupted after its files were written loses nothing and the next run "
           "completes it") {
  base::manual_clock clk(0);
  testing::temp_dir out("niem-archive-test");
  auto st = f.open(clk);
  decisions(*st, clk, at("2018-03-01T00:00:00Z"), 150, "old");
  const auto now = at("2026-12-07T00:00:00Z");
  clk.set_ms(now);
  auto opt = options_for(out.path, at("2019-01-01T00:00:00Z"), now);
  opt.stop_before_delete = true;
  auto first = archive::archive(*st, opt);
  REQUIRE(first.ok());
  CHECK(first->entries == 0);
  CHECK(first->files.size() == 1);  // written, then "interrupted"
  auto start = st->audit_start();
  REQUIRE(start.ok());
  CHECK(start->last_seq == 0);  // nothing left the store
  CHECK(st->verify_audit(k_key).entries == 150);
  CHECK(archive::verify(out.path.string(), k_key, *start).ok);  // the pending file is not counted

  opt.stop_before_delete = false;
  auto second = archive::archive(*st, opt);
  REQUIRE(second.ok());
  CHECK(second->completed_earlier);
  CHECK(second->entries == 150);
  CHECK(files_in(out.path, ".manifest.json").size() == 2);  // the earlier file kept, one more
  start = st->audit_start();
  REQUIRE(start.ok());
  CHECK(start->last_seq == 150);
  CHECK(archive::verify(out.path.string(), k_key, *start).ok);
  CHECK(st->verify_audit(k_key).ok);
}

STORE_TEST(archive_4,
           "entries younger than six years are never archived, and a stale archive is refused by "
           "the store") {
  base::manual_clock clk(0);
  testing::temp_dir out("niem-archive-test");
  auto st = f.open(clk);
  decisions(*st, clk, at("2021-03-01T00:00:00Z"), 10, "recent");
  const auto now = at("2026-12-07T00:00:00Z");
  clk.set_ms(now);
  auto r = archive::archive(*st, options_for(out.path, at("2022-01-01T00:00:00Z"), now));
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors().front().message.find("never archived") != std::string::npos);
  CHECK(files_in(out.path, ".gz").empty());

  // The store removes nothing unless its chain still begins where the files say.
  store::audit_boundary stale;
  stale.last_seq = 3;
  stale.last_hash = "0000";
  auto refused = st->archive_audit(stale, 5, "x", 2, "f", store::audit_entry{});
  CHECK_FALSE(refused.ok());
  CHECK(st->verify_audit(k_key).entries == 10);
}
