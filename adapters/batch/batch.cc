#include "batch/batch.h"

#include <boost/json.hpp>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

namespace niem::adapters {

namespace json = boost::json;

record_reader::record_reader(const std::string& path, file_format f)
    : in_(path, std::ios::binary), format_(f) {
  if (!in_) {
    error_ = "cannot open " + path;
    return;
  }
  if (format_ == file_format::mmis) {
    if (!read_line(header_) || header_.empty()) {
      error_ = "the extract has no header line";
      return;
    }
  }
  data_start_ = offset_;
}

bool record_reader::read_line(std::string& out) {
  if (!std::getline(in_, out)) return false;
  offset_ += out.size() + (in_.eof() ? 0 : 1);
  ++line_;
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (line_ == 1 && out.compare(0, 3, "\xEF\xBB\xBF") == 0) out.erase(0, 3);
  return true;
}

bool record_reader::seek(std::uint64_t offset, std::uint64_t line) {
  if (offset < data_start_) return true;  // nothing of the data was done yet
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(offset));
  if (!in_) {
    error_ = "the checkpoint's offset is beyond the end of the file";
    return false;
  }
  offset_ = offset;
  line_ = line;
  return true;
}

std::optional<file_record> record_reader::next() {
  std::string l;
  while (read_line(l)) {
    if (l.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank, whatever its ends
    file_record r;
    r.line = line_;
    r.end_offset = offset_;
    r.body = format_ == file_format::mmis ? header_ + "\n" + l : std::move(l);
    return r;
  }
  return std::nullopt;
}

std::string file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char buf[4096];
  in.read(buf, sizeof buf);
  auto n = in.gcount();
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: identity, not security
  for (std::streamsize i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(buf[i]);
    h *= 1099511628211ULL;
  }
  std::ostringstream s;
  s << std::hex << std::setw(16) << std::setfill('0') << h << '-' << std::dec << n;
  return s.str();
}

std::optional<checkpoint> load_checkpoint(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  auto v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) {
    error = "the checkpoint " + path + " is not readable JSON";
    return std::nullopt;
  }
  try {
    auto& o = v.as_object();
    checkpoint c;
    c.file = json::value_to<std::string>(o.at("file"));
    c.fingerprint = json::value_to<std::string>(o.at("fingerprint"));
    c.offset = json::value_to<std::uint64_t>(o.at("offset"));
    c.line = json::value_to<std::uint64_t>(o.at("line"));
    c.accepted = json::value_to<std::uint64_t>(o.at("accepted"));
    c.rejected = json::value_to<std::uint64_t>(o.at("rejected"));
    c.complete = o.at("complete").as_bool();
    return c;
  } catch (const std::exception&) {
    error = "the checkpoint " + path + " lacks a field or has one of the wrong type";
    return std::nullopt;
  }
}

bool save_checkpoint(const std::string& path, const checkpoint& c) {
  json::object o{{"file", c.file},        {"fingerprint", c.fingerprint}, {"offset", c.offset},
                 {"line", c.line},        {"accepted", c.accepted},       {"rejected", c.rejected},
                 {"complete", c.complete}};
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << json::serialize(o) << '\n';
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

namespace {

struct slot {
  file_record rec;
  bool done = false;
  int attempts = 0;
};

struct completion {
  std::shared_ptr<slot> s;
  client::publish_result r;
};

// Writes one JSON line per rejected record: the file's line number and the broker's reason.
void report_rejection(std::ostream& report, std::ofstream& rejects, const file_record& rec,
                      const client::publish_result& r) {
  auto code = r.code();
  report << "line " << rec.line << ": rejected " << (code.empty() ? "" : code + " ") << r.condition
         << ": " << r.description << '\n';
  if (rejects) {
    json::object o{{"line", rec.line},
                   {"code", code},
                   {"condition", r.condition},
                   {"description", r.description}};
    rejects << json::serialize(o) << '\n';
    rejects.flush();
  }
}

}  // namespace

namespace {

// Where a run starts: the checkpoint of an earlier run of the same file, if any. An exit code
// when the run must not go on (a checkpoint of another file, unreadable, or already complete).
std::optional<int> resume(const batch_options& opt, record_reader& reader, checkpoint& cp,
                          std::ostream& report) {
  if (opt.restart) return std::nullopt;
  std::string err;
  auto old = load_checkpoint(opt.checkpoint_path, err);
  if (!err.empty()) {
    report << "error: " << err << " (use --restart to ignore it)\n";
    return exit_usage;
  }
  if (!old) return std::nullopt;
  if (old->fingerprint != cp.fingerprint) {
    report << "error: the checkpoint " << opt.checkpoint_path << " belongs to another file ("
           << old->file << "); use --restart to ignore it\n";
    return exit_usage;
  }
  if (old->complete) {
    report << "already complete: " << old->accepted << " accepted, " << old->rejected
           << " rejected (use --restart to send the file again)\n";
    return old->rejected ? exit_rejected : exit_ok;
  }
  cp = *old;
  if (!reader.seek(cp.offset, cp.line)) {
    report << "error: " << reader.error() << '\n';
    return exit_usage;
  }
  report << "resuming after line " << cp.line << '\n';
  return std::nullopt;
}

// One run over the file: a window of records in flight, their outcomes as they come, the
// checkpoint advanced over the prefix whose outcome is known.
struct batch_run {
  const batch_options& opt;
  client::publisher& pub;
  std::ostream& report;
  record_reader& reader;
  checkpoint& cp;  // holds the totals of earlier runs
  std::ofstream rejects;
  std::string address, content_type;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<completion> completed;
  std::deque<std::shared_ptr<slot>> in_flight;  // file order
  std::uint64_t sent = 0, accepted = 0, rejected = 0;
  std::size_t outstanding = 0;  // callbacks still to come: the loop never leaves before them
  int result = exit_ok;
  bool stop = false, eof = false;
  static constexpr auto k_never = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point unreachable_since = k_never;

  batch_run(const batch_options& o, client::publisher& p, std::ostream& r, record_reader& rd,
            checkpoint& c)
      : opt(o), pub(p), report(r), reader(rd), cp(c) {
    if (!opt.rejects_path.empty()) rejects.open(opt.rejects_path, std::ios::app | std::ios::binary);
    address = "ingest/" + opt.agency + "/" + opt.record_type;
    content_type = opt.format == file_format::mmis ? "text/csv" : "application/json";
  }

  void send(const std::shared_ptr<slot>& s) {
    ++s->attempts;
    ++outstanding;
    client::outgoing m{address, s->rec.body, content_type, {}};
    pub.publish_async(std::move(m), [this, s](client::publish_result r) {
      std::lock_guard lk(mu);
      completed.push_back({s, std::move(r)});
      cv.notify_one();
    });
  }

  bool save(bool complete) {
    checkpoint snapshot = cp;
    snapshot.accepted += accepted;
    snapshot.rejected += rejected;
    snapshot.complete = complete;
    return save_checkpoint(opt.checkpoint_path, snapshot);
  }

  void fill_window() {
    const std::size_t window = std::max<std::size_t>(1, opt.window);
    while (!stop && !eof && in_flight.size() < window) {
      auto rec = reader.next();
      if (!rec) {
        eof = true;
        break;
      }
      auto s = std::make_shared<slot>();
      s->rec = std::move(*rec);
      in_flight.push_back(s);
      ++sent;
      send(s);
    }
  }

  void settle(completion& c) {
    --outstanding;
    auto& r = c.r;
    if (r.accepted()) {
      c.s->done = true;
      ++accepted;
      unreachable_since = k_never;
    } else if (r.what == client::status::rejected ||
               (r.what == client::status::refused &&
                r.condition == "amqp:link:message-size-exceeded")) {
      c.s->done = true;
      ++rejected;
      report_rejection(report, rejects, c.s->rec, r);
    } else if (r.what == client::status::refused) {
      if (!stop)
        report << "error: the broker refused " << address << ": " << r.condition << " "
               << r.description << '\n';
      stop = true;
      result = exit_not_allowed;
    } else if (!stop) {
      // Released, unreachable or timed out: the broker drops a record it already holds by its
      // key, so sending it again is safe. Back off while the broker stays away.
      auto now = std::chrono::steady_clock::now();
      if (unreachable_since == k_never) unreachable_since = now;
      if (now - unreachable_since > opt.give_up_after) {
        report << "error: the broker is unreachable (" << client::to_string(r.what) << ": "
               << r.condition << " " << r.description << "); run again to resume\n";
        stop = true;
        result = exit_unreachable;
      } else {
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::min(2000, 100 << std::min(c.s->attempts, 5))));
        send(c.s);
      }
    }
  }

  // Advances the checkpoint over the contiguous prefix whose outcome is known.
  void advance() {
    bool moved = false;
    while (!in_flight.empty() && in_flight.front()->done) {
      cp.offset = in_flight.front()->rec.end_offset;
      cp.line = in_flight.front()->rec.line;
      in_flight.pop_front();
      moved = true;
    }
    if (moved && !save(false)) {
      report << "error: cannot write the checkpoint " << opt.checkpoint_path << '\n';
      stop = true;
      result = exit_usage;
    }
  }

  void run() {
    for (fill_window(); outstanding > 0; fill_window()) {
      std::deque<completion> batch;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return !completed.empty(); });
        batch.swap(completed);
      }
      for (auto& c : batch) settle(c);
      advance();
    }
  }
};

}  // namespace

int run_batch(const batch_options& opt, client::publisher& pub, std::ostream& report) {
  record_reader reader(opt.file, opt.format);
  if (!reader.ok()) {
    report << "error: " << reader.error() << '\n';
    return exit_usage;
  }
  checkpoint cp;
  cp.file = std::filesystem::path(opt.file).filename().string();
  cp.fingerprint = file_fingerprint(opt.file);
  if (auto done = resume(opt, reader, cp, report)) return *done;

  batch_run b(opt, pub, report, reader, cp);
  b.run();
  const bool complete = !b.stop && b.eof && b.in_flight.empty();
  if (!b.save(complete)) {
    report << "error: cannot write the checkpoint " << opt.checkpoint_path << '\n';
    return exit_usage;
  }
  report << "sent " << b.sent << ", accepted " << b.accepted << ", rejected " << b.rejected
         << (complete ? "; complete" : "; stopped after line " + std::to_string(cp.line)) << '\n';
  if (b.result != exit_ok) return b.result;
  return cp.rejected + b.rejected ? exit_rejected : exit_ok;
}

}  // namespace niem::adapters
