#pragma once
// The audit trail's archive: the entries of closed years moved from the store to files, with the
// chain verifiable across the boundary (README, "The audit archive").
//
// Each file holds a run of consecutive entries as JSON lines, gzip-compressed
// (audit-FIRST-LAST.jsonl.gz), beside a manifest (audit-FIRST-LAST.manifest.json) that gives the
// file's SHA-256, its entry count, the hash the run links to and the hash it ends with, signed
// with the audit key (HMAC-SHA-256). Entries leave the store only after their file is written,
// synced, read back and verified, in one transaction that records the archive in the chain
// itself; a run interrupted between the two is completed by the next.
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace niem::archive {

// Entries younger than this are never archived (the accounting of disclosures: six years).
inline constexpr std::int64_t k_min_age_days_default = 6 * 365 + 2;

struct options {
  std::string dir;             // where the files go (created if missing)
  std::int64_t before_ms = 0;  // entries recorded before this are archived
  std::int64_t now_ms = 0;     // today, for the minimum age
  std::int64_t min_age_days = k_min_age_days_default;
  std::string key;  // the audit key: the chain's and the manifests' HMAC
  std::uint32_t per_file = 100'000;
  std::string by = "niem-dsa";  // who archived, in the chain's record
  // For tests: return after the files are written and verified, before the store changes (as if
  // the run had been interrupted there).
  bool stop_before_delete = false;
};

struct outcome {
  std::uint64_t entries = 0;       // removed from the store by this run
  std::vector<std::string> files;  // written (or completed) by this run
  std::int64_t last_seq = 0;       // the store's chain now begins after it
  bool completed_earlier = false;  // an interrupted run's files were found and completed
};

base::result<outcome> archive(store::audit_archive& st, const options& opt);

struct check {
  bool ok = false;
  std::uint64_t entries = 0;  // read from the files
  std::int64_t last_seq = 0;
  std::string last_hash;
  std::vector<std::string> files;
  std::string problem;  // the first thing wrong, naming the file
};

// Every archive in `dir`: each manifest's signature, its file's checksum, every entry's hash, and
// the chain from its start across the files; then that the store's chain begins where the last
// file ends (`store_start`, from store::audit_start).
check verify(const std::string& dir, const std::string& key,
             const store::audit_boundary& store_start);

// The archived entries, verified as `verify` does (without the store), oldest first.
base::result<std::vector<store::audit_entry>> read_entries(const std::string& dir,
                                                           const std::string& key);

}  // namespace niem::archive
