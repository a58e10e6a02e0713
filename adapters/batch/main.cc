// niem-batch-adapter: publishes an NDJSON file or an MMIS extract to the broker, record by record.
#include <cstdlib>
#include <iostream>
#include <string>

#include "batch/batch.h"
#include "client/cli.h"

namespace {

const char* k_usage =
    "usage: niem-batch-adapter --agency AGENCY [--record-type TYPE] [--format ndjson|mmis]\n"
    "                          [options] FILE\n"
    "Publishes each record of FILE to ingest/AGENCY/TYPE, waits for the broker's outcome, and\n"
    "keeps a checkpoint so that a run that stopped resumes without sending records again.\n"
    "  --format F           ndjson (one JSON object per line) or mmis (|-delimited extract with a\n"
    "                       header line); default from the extension (.ndjson/.jsonl or "
    ".txt/.csv)\n"
    "  --record-type TYPE   default pharmacy_claim for an MMIS extract; required for NDJSON\n"
    "  --checkpoint PATH    default FILE.checkpoint\n"
    "  --rejects PATH       append one JSON line per rejected record (line, code, reason)\n"
    "  --window N           records awaiting their outcome at once (default 1)\n"
    "  --give-up-after S    stop after the broker was unreachable this long (default 60)\n"
    "  --restart            ignore the checkpoint and send the whole file\n";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace niem;
  adapters::batch_options opt;
  client::options conn;
  std::string format;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "error: " << a << " needs a value\n" << k_usage;
        std::exit(adapters::exit_usage);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << k_usage << client::k_connection_flags_help;
      return 0;
    } else if (client::is_connection_flag(a)) {
      client::apply_connection_flag(a, value(), conn);
    } else if (a == "--agency") {
      opt.agency = value();
    } else if (a == "--record-type") {
      opt.record_type = value();
    } else if (a == "--format") {
      format = value();
    } else if (a == "--checkpoint") {
      opt.checkpoint_path = value();
    } else if (a == "--rejects") {
      opt.rejects_path = value();
    } else if (a == "--window") {
      opt.window = static_cast<std::size_t>(std::strtoul(value().c_str(), nullptr, 10));
    } else if (a == "--give-up-after") {
      opt.give_up_after = std::chrono::milliseconds(
          static_cast<long long>(std::strtod(value().c_str(), nullptr) * 1000));
    } else if (a == "--restart") {
      opt.restart = true;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "error: unknown option " << a << '\n' << k_usage;
      return adapters::exit_usage;
    } else if (opt.file.empty()) {
      opt.file = a;
    } else {
      std::cerr << "error: one file per run\n";
      return adapters::exit_usage;
    }
  }
  std::string problem;
  if (opt.file.empty()) problem = "no file given";
  if (format.empty()) {
    if (ends_with(opt.file, ".ndjson") || ends_with(opt.file, ".jsonl"))
      format = "ndjson";
    else if (ends_with(opt.file, ".txt") || ends_with(opt.file, ".csv"))
      format = "mmis";
  }
  if (format == "ndjson")
    opt.format = adapters::file_format::ndjson;
  else if (format == "mmis")
    opt.format = adapters::file_format::mmis;
  else if (problem.empty())
    problem = "--format must be ndjson or mmis";
  if (opt.record_type.empty() && opt.format == adapters::file_format::mmis)
    opt.record_type = "pharmacy_claim";
  if (problem.empty() && (opt.agency.empty() || opt.record_type.empty()))
    problem = "--agency and --record-type are required";
  if (problem.empty() && opt.window == 0) problem = "--window must be at least 1";
  if (problem.empty()) problem = client::finish_connection_options(conn);
  if (!problem.empty()) {
    std::cerr << "error: " << problem << '\n' << k_usage;
    return adapters::exit_usage;
  }
  if (opt.checkpoint_path.empty()) opt.checkpoint_path = opt.file + ".checkpoint";
  client::publisher pub(conn);
  return adapters::run_batch(opt, pub, std::cout);
}
