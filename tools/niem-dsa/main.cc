// niem-dsa: the tool for the people who write data-sharing agreements and answer for them.
//   check         lint agreement files against the exchange schemas
//   explain       what one recipient would receive of a document, and why each element went;
//                 or, for a claim, which orders and applications covered it and why
//   audit-verify  verify the audit trail's hash chain in a broker store
//   disclosures   the accounting of disclosures for one child
//   report        an aggregate agreement's report for any period, on demand
//   archive       move the audit entries of closed years to signed files
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "archive/archive.h"
#include "base/clock.h"
#include "base/home.h"
#include "base/text.h"
#include "mapping/mapping.h"
#include "oversight/medication_check.h"
#include "report/report.h"
#include "routing/agreement.h"
#include "routing/policy.h"
#include "store/store.h"

using namespace niem;
namespace fs = std::filesystem;

namespace {

const char* k_usage = R"(usage: niem-dsa COMMAND [OPTIONS]

Commands:
  check AGREEMENT...                         check agreement files against the exchange schemas
  explain --agreement FILE [--exchange X] [--pseudonym-key-file F] DOCUMENT
                                             print what the recipient would receive and, for
                                             every element removed, the rule that removed it
  explain --store STORE --claim CLAIM-ID     the medication check's outcome for a claim and, for
                                             every order and application known for the child,
                                             why it did or did not cover the claim
  audit-verify --store STORE [--key-file F] [--archive DIR]
                                             verify the audit trail's hash chain; with --archive,
                                             from its start in the archive files across into the
                                             store
  disclosures --store STORE --person ID [--since YYYY-MM-DD] [--format table|csv|json]
              [--archive DIR --key-file F]   the accounting of disclosures for one child (client
                                             number or Medicaid id; default: the past six years),
                                             archived ones included with --archive
  archive --store STORE --key-file F --before YYYY-MM-DD --out DIR [--min-age-days N]
                                             move the audit entries recorded before the date to
                                             signed, compressed files in DIR (never entries younger
                                             than N days, default 2192: six years); they leave the
                                             store only once written and verified, and the chain
                                             records the archive. SQLite: stop the broker first.
  report --store STORE --agreement FILE --period 2026-Q3|FROM..TO [--format xml|table|json]
                                             an aggregate agreement's report (DSA-009) from what
                                             the broker counted, small counts suppressed; xml is
                                             the aggregate-report document, schema-checked

STORE is a broker store's directory (SQLite) or a postgresql:// URI; with --password-file F the
database password is read from F (never give it in the URI). The store is only read, except by
archive. F is the broker's audit key file (<audit key-file>).

Exit codes: 0 fine, 1 problems found (invalid agreement, broken chain), 2 usage or I/O error.
Environment: NIEM_HOME is the project root holding mappings/ and schemas/ (default: the source tree).
)";

int usage(const char* why) {
  std::fprintf(stderr, "niem-dsa: %s\n\n%s", why, k_usage);
  return 2;
}

std::string home() {
  return niem::base::default_home(NIEM_DEFAULT_HOME);
}

// The exchange schemas and roots, from every mapping under the project's mappings/ and the
// exchange of the medication check's notices (the schema under schemas/exchange/ that declares
// their root).
struct exchanges {
  std::shared_ptr<mapping::mapping_library> lib;
  std::vector<routing::exchange_root> roots;
};

bool load_exchanges(exchanges& out) {
  std::vector<std::string> files;
  for (auto& e : fs::recursive_directory_iterator(home() + "/mappings"))
    if (e.path().filename() == "mapping.xml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<mapping::written_exchange> written;
  if (auto x = oversight::medication::exception_exchange_in(home() + "/schemas/exchange"))
    written.push_back(
        {*x, home() + "/schemas/exchange/" + *x + ".xsd", oversight::medication::exception_root()});
  auto lib =
      mapping::mapping_library::load(files, home() + "/schemas/mapping/mapping.xsd", written);
  if (!lib) {
    for (const auto& d : lib.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return false;
  }
  out.lib = *lib;
  out.roots = out.lib->exchanges();
  return true;
}

// Agreements that pseudonymize need their secret: --pseudonym-key-file applies to every file
// given (check uses a stand-in, since it only lints).
base::result<std::vector<std::shared_ptr<const routing::agreement>>> load(
    const exchanges& ex, const std::vector<std::string>& files, const std::string& key = {}) {
  std::map<std::string, std::string> keys;
  for (const auto& f : files) keys[f] = key.empty() ? std::string(64, 'k') : key;
  return routing::load_agreements(files, home() + "/schemas/agreement/agreement.xsd",
                                  *ex.lib->schemas(), ex.roots, keys);
}

std::string read_key(const std::string& file, int& rc);

int cmd_check(const std::vector<std::string>& args) {
  if (args.empty()) return usage("check needs agreement files");
  exchanges ex;
  if (!load_exchanges(ex)) return 2;
  auto r = load(ex, args);
  if (!r) {
    for (const auto& d : r.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    std::fprintf(stderr, "%zu problem(s)\n", r.errors().size());
    return 1;
  }
  for (const auto& a : *r) {
    std::string ex_names;
    for (const auto& t : a->exchanges) ex_names += (ex_names.empty() ? "" : ", ") + t.exchange;
    std::printf("%s  %s v%s: %s -> %s, %s, %s, %s to %s\n", a->file.c_str(), a->id.c_str(),
                a->version.c_str(), fmt::format("{}", fmt::join(a->providers, "+")).c_str(),
                a->recipient.c_str(), ex_names.c_str(),
                std::string(routing::level_name(a->level)).c_str(), a->effective_from.c_str(),
                a->effective_to.empty() ? "(open)" : a->effective_to.c_str());
  }
  return 0;
}

int cmd_explain(const std::vector<std::string>& args) {
  std::string file, exchange, doc_path, key_file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--agreement" && i + 1 < args.size())
      file = args[++i];
    else if (args[i] == "--pseudonym-key-file" && i + 1 < args.size())
      key_file = args[++i];
    else if (args[i] == "--exchange" && i + 1 < args.size())
      exchange = args[++i];
    else if (!args[i].starts_with("--"))
      doc_path = args[i];
    else
      return usage(("unknown option " + args[i]).c_str());
  }
  if (file.empty() || doc_path.empty()) return usage("explain needs --agreement FILE and DOCUMENT");
  exchanges ex;
  if (!load_exchanges(ex)) return 2;
  int krc = 0;
  auto key = read_key(key_file, krc);
  if (krc) return krc;
  auto r = load(ex, {file}, key);
  if (!r) {
    for (const auto& d : r.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 1;
  }
  const auto& a = *r->front();
  auto doc = validation::read_file(doc_path, 16 << 20);
  if (!doc) {
    for (const auto& d : doc.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 2;
  }
  // The terms for the document's exchange: named, or found by the document's root element.
  const routing::exchange_terms* terms = nullptr;
  for (const auto& t : a.exchanges) {
    if (!exchange.empty() ? t.exchange == exchange
                          : doc->find(":" + t.root.local) != std::string::npos)
      terms = &t;
  }
  if (!terms) {
    std::fprintf(stderr, "niem-dsa: %s covers no exchange of this document (use --exchange)\n",
                 a.id.c_str());
    return 2;
  }
  validation::validator validator(ex.lib->schemas_for(terms->exchange));
  auto rep = validator.validate(*doc, doc_path);
  if (!rep.valid) {
    std::fprintf(stderr, "niem-dsa: %s is not a valid %s document:\n", doc_path.c_str(),
                 terms->exchange.c_str());
    for (const auto& d : rep.diagnostics) std::fprintf(stderr, "  %s\n", base::format(d).c_str());
    return 2;
  }
  auto fr = routing::apply_filter(*terms, *doc, true);
  if (!fr.ok) {
    std::fprintf(stderr, "niem-dsa: %s\n", fr.error.c_str());
    return 2;
  }
  std::printf("%s", fr.document.c_str());
  std::fprintf(stderr, "\n== %s v%s (%s -> %s, %s, purposes:", a.id.c_str(), a.version.c_str(),
               fmt::format("{}", fmt::join(a.providers, "+")).c_str(), a.recipient.c_str(),
               terms->exchange.c_str());
  for (const auto& p : a.purposes) std::fprintf(stderr, " %s", p.c_str());
  std::fprintf(stderr, ", %s)\n", std::string(routing::level_name(a.level)).c_str());
  std::vector<const routing::path*> paths;
  for (const auto& c : terms->conditions) paths.push_back(&c.at);
  for (const auto& c : terms->consents)
    if (c.when) paths.push_back(&c.when->at);
  std::vector<std::vector<std::string>> values;
  routing::values_at(*doc, paths, values);
  std::size_t vi = 0;
  for (const auto& c : terms->conditions) {
    const auto& v = values[vi++];
    bool holds = c.equals == "*" ? std::any_of(v.begin(), v.end(),
                                               [](const std::string& s) { return !s.empty(); })
                                 : std::find(v.begin(), v.end(), c.equals) != v.end();
    std::fprintf(stderr, "condition %s = %s: %s\n", c.label.c_str(), c.equals.c_str(),
                 holds ? "holds" : "FAILS: the record is withheld (NIEM-505)");
  }
  for (const auto& c : terms->consents) {
    bool applies = true;
    if (c.when) {
      const auto& v = values[vi++];
      applies = std::find(v.begin(), v.end(), c.when->equals) != v.end();
    }
    std::fprintf(stderr, "consent %s for %s, purpose %s, categories %s: %s\n",
                 c.subject_kind.c_str(), a.recipient.c_str(), c.purpose.c_str(),
                 fmt::format("{}", fmt::join(c.categories, " ")).c_str(),
                 applies ? "required for this record (checked by the broker's registry)"
                         : "does not apply to this record");
  }
  if (a.level == routing::sharing_level::aggregate)
    std::fprintf(stderr, "level aggregate: no record flows; the broker withholds (NIEM-510)\n");
  if (a.level == routing::sharing_level::deidentified && key_file.empty())
    std::fprintf(stderr,
                 "pseudonyms computed with a stand-in secret (give --pseudonym-key-file)\n");
  std::fprintf(stderr, "kept (include paths that matched):\n");
  for (const auto& p : fr.disclosed) std::fprintf(stderr, "  %s\n", p.c_str());
  std::fprintf(stderr, "removed (no include covers them: default deny):\n");
  for (const auto& r2 : fr.removed)
    std::fprintf(stderr, "  line %u: %s\n", r2.line, r2.path.c_str());
  return 0;
}

std::string read_key(const std::string& file, int& rc) {
  if (file.empty()) return {};
  auto k = validation::read_file(file, 4096);
  if (!k) {
    for (const auto& d : k.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    rc = 2;
    return {};
  }
  return std::string(base::trim(*k));
}

// Takes --store and --password-file out of args.
struct store_args {
  std::string locator, password_file;
  bool take(const std::vector<std::string>& args, std::size_t& i) {
    if (args[i] == "--store" && i + 1 < args.size()) {
      locator = args[++i];
      return true;
    }
    if (args[i] == "--password-file" && i + 1 < args.size()) {
      password_file = args[++i];
      return true;
    }
    return false;
  }
};

// Opens the store for reading (or, with the audit key, for writing: the archive appends to the
// chain); reports why not (and sets rc) when it cannot.
std::unique_ptr<store::store> open_store(const store_args& a, int& rc,
                                         const std::string& writer_key = {}) {
  store::options o;
  o.locator = a.locator;
  o.read_only = writer_key.empty();
  o.audit_key = writer_key;
  o.group_commit_max = 1;
  if (!a.password_file.empty()) {
    o.password = read_key(a.password_file, rc);
    if (rc) return nullptr;
  }
  auto s = store::store::open(o, base::default_clock());
  if (!s) {
    for (const auto& d : s.errors())
      std::fprintf(stderr, "niem-dsa: %s\n", base::format(d).c_str());
    rc = 2;
    return nullptr;
  }
  return std::move(s.value());
}

// The medication check's decision on a claim, rebuilt from the store's facts as the broker
// rebuilds it at start-up: every order and application known for the child, and why each did or
// did not cover the claim.
int cmd_explain_claim(const std::vector<std::string>& args) {
  store_args sa;
  std::string claim_id;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (sa.take(args, i))
      continue;
    else if (args[i] == "--claim" && i + 1 < args.size())
      claim_id = args[++i];
    else
      return usage(("unknown option " + args[i]).c_str());
  }
  if (sa.locator.empty() || claim_id.empty())
    return usage("explain --claim needs --store STORE and --claim CLAIM-ID");
  int rc = 0;
  auto st = open_store(sa, rc);
  if (!st) return rc;
  namespace med = oversight::medication;
  med::check ck({});
  std::vector<med::check_fact> facts;
  for (auto& f : st->facts()) facts.push_back({f.kind, f.key, f.value});
  ck.restore(facts);
  auto s = ck.status(claim_id);
  if (!s) {
    std::fprintf(stderr,
                 "niem-dsa: the medication check never decided claim %s (not a paid "
                 "psychotropic claim, or not received)\n",
                 claim_id.c_str());
    return 1;
  }
  std::printf("claim %s filled %s: %s %s, %s x %s for %s days\n", claim_id.c_str(),
              s->c.fill_date.c_str(), s->c.drug_name.c_str(), s->c.ndc.c_str(),
              s->c.strength.c_str(), s->c.quantity.c_str(), s->c.days_supply.c_str());
  std::printf("outcome %s", std::string(med::outcome_name(s->last)).c_str());
  for (const auto& a : s->alerts)
    std::printf("; alert %s raised %s%s", med::alert_id(claim_id, a.result).c_str(), a.day.c_str(),
                a.resolved ? " (resolved)" : "");
  std::puts("\n");
  auto why = ck.explain(claim_id);
  if (why.empty()) std::puts("no order or application is known for the child");
  for (const auto& k : why)
    std::printf("%-11s %-20s %-24s %-9s %s\n", k.kind.c_str(), k.id.c_str(),
                k.medication.empty() ? "-" : k.medication.c_str(),
                k.covers ? (k.kind == "order" ? "COVERS" : "PENDING") : "does not", k.why.c_str());
  return 0;
}

int cmd_audit_verify(const std::vector<std::string>& args) {
  store_args sa;
  std::string key_file, archive_dir;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (sa.take(args, i))
      continue;
    else if (args[i] == "--key-file" && i + 1 < args.size())
      key_file = args[++i];
    else if (args[i] == "--archive" && i + 1 < args.size())
      archive_dir = args[++i];
    else
      return usage(("unknown option " + args[i]).c_str());
  }
  if (sa.locator.empty()) return usage("audit-verify needs --store STORE");
  int rc = 0;
  auto key = read_key(key_file, rc);
  if (rc) return rc;
  auto st = open_store(sa, rc);
  if (!st) return rc;
  auto start = st->audit_start();
  if (!start) {
    for (const auto& d : start.errors())
      std::fprintf(stderr, "niem-dsa: %s\n", base::format(d).c_str());
    return 2;
  }
  // The archived part first: from the chain's start, across the files, to where the store's
  // part begins.
  std::uint64_t archived = 0;
  if (!archive_dir.empty()) {
    auto a = archive::verify(archive_dir, key, *start);
    if (!a.ok) {
      std::printf("audit archive BROKEN: %s\n", a.problem.c_str());
      return 1;
    }
    archived = a.entries;
  }
  auto v = st->verify_audit(key);
  if (v.ok) {
    if (!archive_dir.empty())
      std::printf("audit trail intact: %llu entries in %s, %llu in the store\n",
                  static_cast<unsigned long long>(archived), archive_dir.c_str(),
                  static_cast<unsigned long long>(v.entries));
    else if (start->last_seq > 0)
      std::printf(
          "audit trail intact: %llu entries in the store, after entry %lld (entries "
          "before it are archived: give --archive DIR to verify them too)\n",
          static_cast<unsigned long long>(v.entries), static_cast<long long>(start->last_seq));
    else
      std::printf("audit trail intact: %llu entries\n", static_cast<unsigned long long>(v.entries));
    return 0;
  }
  if (v.first_bad_seq == 0) {
    std::fprintf(stderr, "niem-dsa: %s\n", v.problem.c_str());
    return 2;
  }
  std::printf("audit trail BROKEN at entry %lld: %s\n", static_cast<long long>(v.first_bad_seq),
              v.problem.c_str());
  return 1;
}

std::int64_t parse_date_ms(const std::string& d) {
  std::tm tm{};
  if (!strptime(d.c_str(), "%Y-%m-%d", &tm)) return -1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

std::string iso_time(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string csv(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

int cmd_disclosures(const std::vector<std::string>& args) {
  store_args sa;
  std::string person, since, format = "table", archive_dir, key_file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (sa.take(args, i))
      continue;
    else if (args[i] == "--archive" && i + 1 < args.size())
      archive_dir = args[++i];
    else if (args[i] == "--key-file" && i + 1 < args.size())
      key_file = args[++i];
    else if (args[i] == "--person" && i + 1 < args.size())
      person = args[++i];
    else if (args[i] == "--since" && i + 1 < args.size())
      since = args[++i];
    else if (args[i] == "--format" && i + 1 < args.size())
      format = args[++i];
    else
      return usage(("unknown option " + args[i]).c_str());
  }
  if (sa.locator.empty() || person.empty())
    return usage("disclosures needs --store STORE and --person ID");
  if (format != "table" && format != "csv" && format != "json")
    return usage("--format is table, csv or json");
  if (!archive_dir.empty() && key_file.empty())
    return usage("--archive needs --key-file (the archive files are verified with the audit key)");
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  // HIPAA 164.528: the accounting covers the six years before the request.
  std::int64_t since_ms = now_ms - std::int64_t{6} * 365 * 24 * 3600 * 1000 - 2LL * 86400000;
  if (!since.empty() && (since_ms = parse_date_ms(since)) < 0)
    return usage("--since is YYYY-MM-DD");
  int rc = 0;
  auto st = open_store(sa, rc);
  if (!st) return rc;
  auto r = st->disclosures(person, since_ms);
  if (!r) {
    for (const auto& d : r.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 2;
  }
  if (!archive_dir.empty()) {
    // The archived disclosures come first (older); the same tests as the store's query.
    auto key = read_key(key_file, rc);
    if (rc) return rc;
    auto archived = archive::read_entries(archive_dir, key);
    if (!archived) {
      for (const auto& d : archived.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
      return 1;
    }
    std::vector<store::audit_entry> merged;
    for (auto& e : *archived) {
      auto words = base::split(e.subjects, ' ');
      if (e.decision == "deliver" && e.at_ms >= since_ms &&
          std::find(words.begin(), words.end(), person) != words.end())
        merged.push_back(std::move(e));
    }
    merged.insert(merged.end(), r->begin(), r->end());
    *r = std::move(merged);
  }
  if (format == "json") {
    std::printf("[");
    bool first = true;
    for (const auto& e : *r) {
      std::printf(
          "%s\n  {\"date\":\"%s\",\"recipient\":\"%s\",\"purpose\":\"%s\",\"agreement\":\"%s\","
          "\"provider\":\"%s\",\"exchange\":\"%s\",\"record_key\":\"%s\",\"message_id\":\"%s\","
          "\"consent\":\"%s\",\"disclosed\":\"%s\",\"digest\":\"%s\","
          "\"agreement_version\":\"%s\",\"mapping_version\":\"%s\"}",
          first ? "" : ",", iso_time(e.at_ms).c_str(), base::json_escape(e.recipient).c_str(),
          base::json_escape(e.purpose).c_str(), base::json_escape(e.agreement).c_str(),
          base::json_escape(e.provider).c_str(), base::json_escape(e.exchange).c_str(),
          base::json_escape(e.record_key).c_str(), base::json_escape(e.message_id).c_str(),
          base::json_escape(e.consent).c_str(), base::json_escape(e.paths).c_str(),
          e.digest.c_str(), base::json_escape(e.agreement_version).c_str(),
          base::json_escape(e.mapping_version).c_str());
      first = false;
    }
    std::printf("%s]\n", r->empty() ? "" : "\n");
  } else if (format == "csv") {
    std::printf(
        "date,recipient,purpose,agreement,agreement_version,provider,exchange,record_key,"
        "consent,disclosed\n");
    for (const auto& e : *r)
      std::printf("%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", iso_time(e.at_ms).c_str(),
                  csv(e.recipient).c_str(), csv(e.purpose).c_str(), csv(e.agreement).c_str(),
                  csv(e.agreement_version).c_str(), csv(e.provider).c_str(),
                  csv(e.exchange).c_str(), csv(e.record_key).c_str(), csv(e.consent).c_str(),
                  csv(e.paths).c_str());
  } else {
    std::printf("Accounting of disclosures for %s since %s: %zu\n\n", person.c_str(),
                iso_time(since_ms).substr(0, 10).c_str(), r->size());
    std::printf("%-20s  %-10s  %-18s  %-10s  %-22s  %s\n", "date", "recipient", "purpose",
                "agreement", "exchange", "record");
    for (const auto& e : *r) {
      std::printf("%-20s  %-10s  %-18s  %-10s  %-22s  %s\n", iso_time(e.at_ms).c_str(),
                  e.recipient.c_str(), e.purpose.c_str(), e.agreement.c_str(), e.exchange.c_str(),
                  e.record_key.c_str());
      std::printf("%20s  disclosed: %s\n", "", e.paths.c_str());
      // The agreement file's content hash: which text of the agreement allowed it.
      if (!e.agreement_version.empty())
        std::printf("%20s  agreement version: %s\n", "", e.agreement_version.c_str());
    }
  }
  return 0;
}

}  // namespace

int cmd_report(const std::vector<std::string>& args) {
  store_args sa;
  std::string file, period_text, format = "xml";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (sa.take(args, i))
      continue;
    else if (args[i] == "--agreement" && i + 1 < args.size())
      file = args[++i];
    else if (args[i] == "--period" && i + 1 < args.size())
      period_text = args[++i];
    else if (args[i] == "--format" && i + 1 < args.size())
      format = args[++i];
    else
      return usage(("unknown option " + args[i]).c_str());
  }
  if (sa.locator.empty() || file.empty() || period_text.empty())
    return usage("report needs --store STORE, --agreement FILE and --period");
  if (format != "xml" && format != "table" && format != "json")
    return usage("--format is xml, table or json");
  auto p = report::parse_period(period_text);
  if (!p) return usage("--period is YYYY-Qn or YYYY-MM-DD..YYYY-MM-DD");
  int rc = 0;
  auto st = open_store(sa, rc);
  if (!st) return rc;
  exchanges ex;
  if (!load_exchanges(ex)) return 2;
  auto r = load(ex, {file});
  if (!r) {
    for (const auto& d : r.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 1;
  }
  const auto& a = *r->front();
  if (a.level != routing::sharing_level::aggregate || !a.report) {
    std::fprintf(stderr, "niem-dsa: %s is %s: only aggregate agreements have a report\n",
                 a.id.c_str(), std::string(routing::level_name(a.level)).c_str());
    return 1;
  }
  auto t = report::build(*st, a, *p);
  if (!t) {
    for (const auto& d : t.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 2;
  }
  if (format == "table") {
    std::fputs(report::format_text(*t).c_str(), stdout);
    return 0;
  }
  if (format == "json") {
    std::fputs(report::format_json(*t).c_str(), stdout);
    return 0;
  }
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto doc = report::write_document(*t, a.label() + "/" + p->label, routing::utc_date(now));
  auto schema =
      validation::schema_set::load({{home() + "/schemas/exchange/aggregate-report.xsd"}, "", {}});
  if (!schema) {
    for (const auto& d : schema.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 2;
  }
  validation::validator v(*schema);
  auto rep = v.validate(doc, "report");
  if (!rep.valid) {
    for (const auto& d : rep.diagnostics) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 1;
  }
  std::fputs(doc.c_str(), stdout);
  return 0;
}

namespace {

int cmd_archive(const std::vector<std::string>& args) {
  store_args sa;
  std::string key_file, before, out;
  std::int64_t min_age_days = archive::k_min_age_days_default;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (sa.take(args, i))
      continue;
    else if (args[i] == "--key-file" && i + 1 < args.size())
      key_file = args[++i];
    else if (args[i] == "--before" && i + 1 < args.size())
      before = args[++i];
    else if (args[i] == "--out" && i + 1 < args.size())
      out = args[++i];
    else if (args[i] == "--min-age-days" && i + 1 < args.size())
      min_age_days = std::atoll(args[++i].c_str());
    else
      return usage(("unknown option " + args[i]).c_str());
  }
  if (sa.locator.empty() || key_file.empty() || before.empty() || out.empty())
    return usage("archive needs --store STORE --key-file F --before YYYY-MM-DD --out DIR");
  if (min_age_days < 1) return usage("--min-age-days is a number of days");
  archive::options opt;
  opt.dir = out;
  opt.before_ms = parse_date_ms(before);
  if (opt.before_ms < 0) return usage("--before is YYYY-MM-DD");
  opt.now_ms = base::default_clock().now_ms();
  opt.min_age_days = min_age_days;
  int rc = 0;
  opt.key = read_key(key_file, rc);
  if (rc) return rc;
  if (opt.key.empty()) return usage("the key file is empty");
  auto st = open_store(sa, rc, opt.key);
  if (!st) return rc;
  const auto started = std::chrono::steady_clock::now();
  auto r = archive::archive(*st, opt);
  if (!r) {
    for (const auto& d : r.errors())
      std::fprintf(stderr, "niem-dsa: %s\n", base::format(d).c_str());
    return 1;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  if (r->completed_earlier) std::printf("completed an interrupted archive's files\n");
  std::printf(
      "archived %llu entries in %zu file(s) to %s in %lld ms; the store's chain now "
      "begins after entry %lld\n",
      static_cast<unsigned long long>(r->entries), r->files.size(), out.c_str(),
      static_cast<long long>(ms), static_cast<long long>(r->last_seq));
  for (const auto& f : r->files) std::printf("  %s\n", f.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(k_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  std::string cmd = argv[1];
  if (cmd == "check") return cmd_check(args);
  if (cmd == "explain")
    return std::find(args.begin(), args.end(), "--claim") != args.end() ? cmd_explain_claim(args)
                                                                        : cmd_explain(args);
  if (cmd == "audit-verify") return cmd_audit_verify(args);
  if (cmd == "disclosures") return cmd_disclosures(args);
  if (cmd == "report") return cmd_report(args);
  if (cmd == "archive") return cmd_archive(args);
  return usage(("unknown command '" + cmd + "'").c_str());
}
