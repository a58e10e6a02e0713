#pragma once
// The batch file adapter: publishes an NDJSON file or an MMIS extract record by record, waits for
// each record's outcome, and keeps a checkpoint so that an interrupted run resumes where it
// stopped.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iosfwd>
#include <optional>
#include <string>

#include "client/client.h"

namespace niem::adapters {

enum class file_format { ndjson, mmis };

// One record of the file: its 1-based line number, its body as published, and the byte offset
// just past its line (where a resumed run starts).
struct file_record {
  std::uint64_t line = 0;
  std::string body;
  std::uint64_t end_offset = 0;
};

// Reads records line by line with their offsets: LF or CRLF, blank lines skipped, a UTF-8 byte
// order mark dropped; for an MMIS extract the header line is kept and sent before each record.
class record_reader {
 public:
  record_reader(const std::string& path, file_format f);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // Continues after a checkpoint: the next record read is the one after `line`/`offset`.
  bool seek(std::uint64_t offset, std::uint64_t line);
  std::optional<file_record> next();
  const std::string& header() const { return header_; }

 private:
  bool read_line(std::string& out);
  std::ifstream in_;
  file_format format_;
  std::string header_, error_;
  std::uint64_t offset_ = 0, line_ = 0, data_start_ = 0;
};

// Where a file's run stands: the contiguous prefix of records whose outcome is known.
struct checkpoint {
  std::string file;  // the file's name, for the reader of the checkpoint
  std::string
      fingerprint;  // hash of the file's first bytes: a checkpoint never resumes another file
  std::uint64_t offset = 0, line = 0;
  std::uint64_t accepted = 0, rejected = 0;
  bool complete = false;
};
std::string file_fingerprint(const std::string& path);
// Loads a checkpoint; nullopt if the file does not exist, an error string if it is unreadable.
std::optional<checkpoint> load_checkpoint(const std::string& path, std::string& error);
// Replaces the checkpoint atomically (write, then rename), so a crash leaves the old or the new
// one.
bool save_checkpoint(const std::string& path, const checkpoint& c);

struct batch_options {
  std::string file, checkpoint_path, rejects_path;
  file_format format = file_format::ndjson;
  std::string agency, record_type;
  std::size_t window = 1;  // records awaiting their outcome at once; 1 = strictly one by one
  std::chrono::milliseconds give_up_after{60000};  // retrying an unreachable broker
  bool restart = false;                            // ignore an existing checkpoint
};

// Exit codes, for scripts.
enum exit_code : int {
  exit_ok = 0,           // every record accepted
  exit_rejected = 1,     // done, but some records were rejected (see the report)
  exit_usage = 2,        // bad arguments, unreadable file or checkpoint
  exit_unreachable = 3,  // the broker stayed unreachable; run again to resume
  exit_not_allowed = 4,  // the broker refused the address (unknown or not authorized)
};

// Runs the batch through `pub`, writing a line per rejected record and a summary to `report`.
int run_batch(const batch_options& opt, client::publisher& pub, std::ostream& report);

}  // namespace niem::adapters
