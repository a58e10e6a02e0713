#include "archive/archive.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "base/digest.h"
#include "base/ids.h"
#include "store/audit_chain.h"

namespace niem::archive {

namespace fs = std::filesystem;
namespace json = boost::json;
using base::diagnostic;
using base::errc;

namespace {

constexpr std::string_view k_format = "niem-broker-audit-archive/1";
constexpr std::int64_t k_day_ms = 86'400'000;

diagnostic problem(errc code, std::string where, std::string message) {
  return diagnostic{code, std::move(message), std::move(where), "", 0, 0};
}

std::string stem(std::int64_t first, std::int64_t last) {
  return fmt::format("audit-{:012}-{:012}", first, last);
}

// ---- entries as JSON lines ----

json::object to_json(const store::audit_entry& e) {
  return {{"seq", e.seq},
          {"at_ms", e.at_ms},
          {"message_id", e.message_id},
          {"record_key", e.record_key},
          {"provider", e.provider},
          {"exchange", e.exchange},
          {"recipient", e.recipient},
          {"agreement", e.agreement},
          {"purpose", e.purpose},
          {"consent", e.consent},
          {"decision", e.decision},
          {"reason", e.reason},
          {"paths", e.paths},
          {"digest", e.digest},
          {"subjects", e.subjects},
          {"prev", e.prev},
          {"hash", e.hash},
          {"mapping_version", e.mapping_version},
          {"agreement_version", e.agreement_version}};
}

// The members of an object read from a file, each of the kind wanted (nothing here throws: the
// files are read back from a folder anyone may have written to).
struct fields {
  const json::object* o;
  bool text(const char* k, std::string& out) const {
    const auto* f = o->if_contains(k);
    if (!f || !f->is_string()) return false;
    out = std::string(f->as_string());
    return true;
  }
  bool num(const char* k, std::int64_t& out) const {
    const auto* f = o->if_contains(k);
    if (!f || !f->is_int64()) return false;
    out = f->as_int64();
    return true;
  }
};

bool from_json(const json::value& v, store::audit_entry& e) {
  const auto* o = v.if_object();
  if (!o) return false;
  fields in{o};
  auto text = [&](const char* k, std::string& out) { return in.text(k, out); };
  auto num = [&](const char* k, std::int64_t& out) { return in.num(k, out); };
  return num("seq", e.seq) && num("at_ms", e.at_ms) && text("message_id", e.message_id) &&
         text("record_key", e.record_key) && text("provider", e.provider) &&
         text("exchange", e.exchange) && text("recipient", e.recipient) &&
         text("agreement", e.agreement) && text("purpose", e.purpose) &&
         text("consent", e.consent) && text("decision", e.decision) && text("reason", e.reason) &&
         text("paths", e.paths) && text("digest", e.digest) && text("subjects", e.subjects) &&
         text("prev", e.prev) && text("hash", e.hash) &&
         text("mapping_version", e.mapping_version) &&
         text("agreement_version", e.agreement_version);
}

// ---- files: written whole under a temporary name, synced, renamed, the folder synced ----

bool sync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

base::result<bool> publish(const std::string& tmp, const std::string& final_path) {
  if (!sync_path(tmp) || ::rename(tmp.c_str(), final_path.c_str()) != 0 ||
      !sync_path(fs::path(final_path).parent_path().string()))
    return problem(errc::io_error, final_path,
                   fmt::format("cannot write it durably: {}", std::strerror(errno)));
  return true;
}

base::result<bool> write_gzip(const std::string& path, const std::string& data) {
  auto tmp = path + ".tmp";
  gzFile f = gzopen(tmp.c_str(), "wb9");
  if (!f) return problem(errc::io_error, path, "cannot create it");
  bool ok =
      gzwrite(f, data.data(), static_cast<unsigned>(data.size())) == static_cast<int>(data.size());
  ok = gzclose(f) == Z_OK && ok;
  if (!ok) return problem(errc::io_error, path, "cannot write it");
  return publish(tmp, path);
}

base::result<bool> write_text(const std::string& path, const std::string& data) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out.flush()) return problem(errc::io_error, path, "cannot write it");
  }
  return publish(tmp, path);
}

base::result<std::string> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return problem(errc::io_error, path, "missing or unreadable");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

base::result<std::string> read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return problem(errc::io_error, path, "missing or unreadable");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  int err = 0;
  const char* msg = gzerror(f, &err);
  bool ok = n == 0 && err == Z_OK;
  std::string why = ok ? "" : (msg ? msg : "corrupt");
  gzclose(f);
  if (!ok) return problem(errc::io_error, path, fmt::format("cannot decompress it: {}", why));
  return out;
}

// ---- manifests ----

struct manifest {
  std::string file, sha256, first_prev, last_hash, created_at, signature;
  std::uint64_t entries = 0;
  std::int64_t first_seq = 0, last_seq = 0;
};

std::string signed_text(const manifest& m) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", k_format, m.file, m.sha256, m.entries,
                     m.first_seq, m.last_seq, m.first_prev, m.last_hash, m.created_at);
}

std::string render(const manifest& m) {
  json::object o{{"format", k_format},         {"file", m.file},
                 {"sha256", m.sha256},         {"entries", m.entries},
                 {"first_seq", m.first_seq},   {"last_seq", m.last_seq},
                 {"first_prev", m.first_prev}, {"last_hash", m.last_hash},
                 {"created_at", m.created_at}, {"signature", m.signature}};
  return json::serialize(o) + "\n";
}

base::result<manifest> parse_manifest(const std::string& path, const std::string& key) {
  auto bytes = read_bytes(path);
  if (!bytes) return bytes.errors();
  json::error_code ec;
  auto v = json::parse(*bytes, ec);
  const auto* o = ec ? nullptr : v.if_object();
  manifest m;
  fields in{o};
  auto text = [&](const char* k, std::string& out) { return o && in.text(k, out); };
  auto num = [&](const char* k, std::int64_t& out) { return o && in.num(k, out); };
  std::string format;
  std::int64_t entries = 0;
  if (!o || !text("format", format) || format != k_format || !text("file", m.file) ||
      !text("sha256", m.sha256) || !num("entries", entries) || !num("first_seq", m.first_seq) ||
      !num("last_seq", m.last_seq) || !text("first_prev", m.first_prev) ||
      !text("last_hash", m.last_hash) || !text("created_at", m.created_at) ||
      !text("signature", m.signature))
    return problem(errc::audit_archive_invalid, path, "not an audit archive manifest");
  m.entries = static_cast<std::uint64_t>(entries);
  if (!base::constant_time_equal(m.signature, base::hmac_sha256_hex(key, signed_text(m))))
    return problem(errc::audit_archive_invalid, path,
                   "its signature does not match (altered, or signed with another key)");
  return m;
}

// The archives in `dir`, in chain order.
base::result<std::vector<std::pair<std::string, manifest>>> manifests(const std::string& dir,
                                                                      const std::string& key) {
  std::vector<std::pair<std::string, manifest>> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (!name.starts_with("audit-") || !name.ends_with(".manifest.json")) continue;
    auto m = parse_manifest(e.path().string(), key);
    if (!m) return m.errors();
    out.emplace_back(e.path().string(), std::move(*m));
  }
  if (ec) return problem(errc::io_error, dir, ec.message());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second.first_seq < b.second.first_seq; });
  return out;
}

// One file's entries, checked against its manifest and the chain (from `m.first_prev`).
base::result<std::vector<store::audit_entry>> read_file(const std::string& dir, const manifest& m,
                                                        const std::string& key) {
  const auto path = (fs::path(dir) / m.file).string();
  auto bytes = read_bytes(path);
  if (!bytes) return bytes.errors();
  if (base::sha256_hex(*bytes) != m.sha256)
    return problem(errc::audit_archive_invalid, path,
                   "its checksum does not match its manifest (the file was altered)");
  auto text = read_gzip(path);
  if (!text) return text.errors();
  store::chain_verifier v(key);
  v.start_after(m.first_seq - 1, m.first_prev);
  std::vector<store::audit_entry> out;
  std::size_t at = 0;
  while (at < text->size()) {
    auto nl = text->find('\n', at);
    if (nl == std::string::npos) nl = text->size();
    json::error_code ec;
    auto line = json::parse(std::string_view(*text).substr(at, nl - at), ec);
    store::audit_entry e;
    if (ec || !from_json(line, e))
      return problem(errc::audit_archive_invalid, path,
                     fmt::format("entry {} is not an audit entry", out.size() + 1));
    if (!v.add(e)) return problem(errc::audit_archive_invalid, path, v.result().problem);
    out.push_back(std::move(e));
    at = nl + 1;
  }
  if (out.size() != m.entries || out.empty() || out.back().seq != m.last_seq ||
      out.back().hash != m.last_hash)
    return problem(errc::audit_archive_invalid, path,
                   "its entries do not match its manifest (count, last entry or last hash)");
  return out;
}

// Writes one run of entries (already checked to continue the chain) and reads it back.
base::result<manifest> write_run(const options& opt, const std::vector<store::audit_entry>& run) {
  std::string lines;
  for (const auto& e : run) lines += json::serialize(to_json(e)) + "\n";
  manifest m;
  m.first_seq = run.front().seq;
  m.last_seq = run.back().seq;
  m.entries = run.size();
  m.first_prev = run.front().prev;
  m.last_hash = run.back().hash;
  m.created_at = base::format_time_ms(opt.now_ms);
  auto name = stem(m.first_seq, m.last_seq);
  m.file = name + ".jsonl.gz";
  const auto data_path = (fs::path(opt.dir) / m.file).string();
  if (auto w = write_gzip(data_path, lines); !w) return w.errors();
  auto bytes = read_bytes(data_path);
  if (!bytes) return bytes.errors();
  m.sha256 = base::sha256_hex(*bytes);
  m.signature = base::hmac_sha256_hex(opt.key, signed_text(m));
  if (auto w = write_text((fs::path(opt.dir) / (name + ".manifest.json")).string(), render(m)); !w)
    return w.errors();
  // Read back as a verifier will, before anything leaves the store.
  auto back = read_file(opt.dir, m, opt.key);
  if (!back) return back.errors();
  return m;
}

// Removes the run from the store and records it in the chain.
base::result<bool> complete(store::audit_archive& st, const options& opt,
                            const store::audit_boundary& from, const manifest& m) {
  store::audit_entry record;
  record.provider = opt.by;
  record.decision = "archive";
  record.record_key = fmt::format("entries {} to {}", m.first_seq, m.last_seq);
  record.paths = m.file;
  record.digest = m.sha256;
  record.reason = m.last_hash;
  return st.archive_audit(from, m.last_seq, m.last_hash, m.entries, m.file, std::move(record));
}

}  // namespace

base::result<outcome> archive(store::audit_archive& st, const options& opt) {
  if (opt.key.empty())
    return problem(errc::config_invalid, "", "the audit key is needed to sign the archive");
  const std::int64_t youngest = opt.now_ms - opt.min_age_days * k_day_ms;
  if (opt.before_ms > youngest)
    return problem(errc::config_invalid, "",
                   fmt::format("entries younger than {} days are never archived: the date must "
                               "be {} or earlier",
                               opt.min_age_days, base::format_time_ms(youngest).substr(0, 10)));
  std::error_code ec;
  fs::create_directories(opt.dir, ec);
  if (ec) return problem(errc::io_error, opt.dir, ec.message());
  auto start = st.audit_start();
  if (!start) return start.errors();
  outcome out;

  // Files an interrupted run wrote but did not remove from the store: complete them first.
  auto found = manifests(opt.dir, opt.key);
  if (!found) return found.errors();
  for (const auto& [path, m] : *found) {
    if (m.first_seq <= start->last_seq) continue;  // archived already
    if (m.first_seq != start->last_seq + 1 || m.first_prev != start->last_hash)
      return problem(errc::audit_archive_invalid, path,
                     fmt::format("it does not continue the chain the store begins with (after "
                                 "entry {}): a file is missing",
                                 start->last_seq));
    auto entries = read_file(opt.dir, m, opt.key);
    if (!entries) return entries.errors();
    if (entries->back().at_ms >= youngest)
      return problem(errc::config_invalid, path, "it holds entries younger than the minimum age");
    if (auto c = complete(st, opt, *start, m); !c) return c.errors();
    out.completed_earlier = true;
    out.entries += m.entries;
    out.files.push_back(m.file);
    start->last_seq = m.last_seq;
    start->last_hash = m.last_hash;
  }

  for (;;) {
    auto run = st.audit_entries(start->last_seq, opt.per_file);
    if (!run) return run.errors();
    // The chain is archived from its start: the first entry of the date ends the run.
    auto young = std::find_if(run->begin(), run->end(), [&](const store::audit_entry& e) {
      return e.at_ms >= opt.before_ms;
    });
    const bool last_run = young != run->end();
    run->erase(young, run->end());
    if (run->empty()) break;
    store::chain_verifier v(opt.key);
    v.start_after(start->last_seq, start->last_hash);
    for (const auto& e : *run)
      if (!v.add(e))
        return problem(errc::audit_archive_invalid, "store",
                       fmt::format("the chain is broken, nothing archived from there: {}",
                                   v.result().problem));
    auto m = write_run(opt, *run);
    if (!m) return m.errors();
    out.files.push_back(m->file);
    if (opt.stop_before_delete) break;
    if (auto c = complete(st, opt, *start, *m); !c) return c.errors();
    out.entries += m->entries;
    start->last_seq = m->last_seq;
    start->last_hash = m->last_hash;
    if (last_run) break;
  }
  out.last_seq = start->last_seq;
  return out;
}

check verify(const std::string& dir, const std::string& key,
             const store::audit_boundary& store_start) {
  check c;
  auto fail = [&](const std::vector<diagnostic>& d) {
    c.problem = d.empty() ? "unknown" : fmt::format("{}: {}", d.front().where, d.front().message);
    return c;
  };
  auto found = manifests(dir, key);
  if (!found) return fail(found.errors());
  std::int64_t last_seq = 0;
  std::string last_hash(store::k_genesis);
  for (const auto& [path, m] : *found) {
    if (m.first_seq > store_start.last_seq) continue;  // written, not yet removed from the store
    if (m.first_seq != last_seq + 1 || m.first_prev != last_hash) {
      c.problem = fmt::format("{}: entries {} to {} are missing before it", path, last_seq + 1,
                              m.first_seq - 1);
      return c;
    }
    auto entries = read_file(dir, m, key);
    if (!entries) return fail(entries.errors());
    c.entries += entries->size();
    c.files.push_back(m.file);
    last_seq = m.last_seq;
    last_hash = m.last_hash;
  }
  c.last_seq = last_seq;
  c.last_hash = last_hash;
  if (last_seq != store_start.last_seq || last_hash != store_start.last_hash) {
    c.problem = fmt::format(
        "the store's chain begins after entry {}, the archive files end with entry {}: {}",
        store_start.last_seq, last_seq,
        last_seq < store_start.last_seq ? "files are missing" : "the files do not match it");
    return c;
  }
  c.ok = true;
  return c;
}

base::result<std::vector<store::audit_entry>> read_entries(const std::string& dir,
                                                           const std::string& key) {
  auto found = manifests(dir, key);
  if (!found) return found.errors();
  std::vector<store::audit_entry> out;
  for (const auto& [path, m] : *found) {
    auto entries = read_file(dir, m, key);
    if (!entries) return entries.errors();
    out.insert(out.end(), std::make_move_iterator(entries->begin()),
               std::make_move_iterator(entries->end()));
  }
  return out;
}

}  // namespace niem::archive
