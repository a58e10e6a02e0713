#include "commands.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "args.h"
#include "base/error.h"
#include "base/text.h"
#include "mapping/mapping.h"
#include "validation/validation.h"

namespace fs = std::filesystem;

namespace niem::tools {

namespace {

void print_diags(const std::vector<base::diagnostic>& ds) {
  for (const auto& d : ds) std::cerr << base::format(d) << "\n";
}

std::vector<std::string> find_mapping_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file() && it->path().filename() == "mapping.xml")
      out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string mapping_schema(const options& o) {
  return o.home + "/schemas/mapping/mapping.xsd";
}

// The mappings under `dir`; those that do not load are reported and counted in `broken`, and the
// others are used. Null when none loads.
std::shared_ptr<mapping::mapping_library> load_library(const options& o, const std::string& dir,
                                                       std::size_t* broken = nullptr) {
  auto files = find_mapping_files(dir);
  if (files.empty()) {
    std::cerr << fmt::format("niem-map: no mapping.xml files under {}\n", dir);
    return nullptr;
  }
  auto lib = mapping::mapping_library::load(files, mapping_schema(o));
  if (lib) return lib.value();
  if (files.size() == 1) {
    print_diags(lib.errors());
    return nullptr;
  }
  // One broken mapping does not stop the others: each is loaded alone to find the broken ones,
  // which are reported, and the rest are loaded together.
  std::vector<std::string> good;
  for (const auto& f : files) {
    auto one = mapping::mapping_library::load({f}, mapping_schema(o));
    if (one) {
      good.push_back(f);
      continue;
    }
    print_diags(one.errors());
    std::cerr << fmt::format("niem-map: {} does not load; going on without it\n", f);
    if (broken) ++*broken;
  }
  if (good.empty()) return nullptr;
  auto rest = mapping::mapping_library::load(good, mapping_schema(o));
  if (!rest) {  // the good ones disagree with each other (one exchange mapped twice, ...)
    print_diags(rest.errors());
    return nullptr;
  }
  std::cerr << fmt::format("niem-map: going on with {} of {} mappings\n", good.size(),
                           files.size());
  return rest.value();
}

// Record keys become file names: only a safe character set, never a path.
bool safe_key(std::string_view k) {
  if (k.empty() || k.size() > 128 || k[0] == '.') return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// Finds the record_type of a JSON record without trusting it to be well-formed.
std::string json_record_type(std::string_view line) {
  boost::system::error_code ec;
  auto v = boost::json::parse(line, ec);
  if (ec || !v.is_object()) return {};
  auto* rt = v.as_object().if_contains("record_type");
  return rt && rt->is_string() ? std::string(rt->get_string()) : std::string();
}

struct convert_stats {
  int ok = 0;
  int failed = 0;
};

const char* k_convert_help =
    R"(usage: niem-map convert --agency ID [--record-type TYPE] [--mappings DIR] [--out DIR]
                        [--validation compiled|full|both] FILE...

Converts every record of each FILE (NDJSON for JSON formats; an extract with its header row for
delimited formats; - reads standard input) to a NIEM document validated against the exchange
schema. Documents are named KEY.xml in --out. Without --out the input must hold one record, whose
document is written to stdout (several documents on one stream would not be XML). Each bad record is
reported on stderr with its line, field and reason; the other records still convert.
The record type is each JSON record's record_type unless given; `niem-map check` lists the
mappings under --mappings with their agencies and record types. A mapping under --mappings that
does not load is reported and the others are used.
--validation: `compiled` checks each document as it is written, `full` parses it with Xerces,
`both` (the default, as in the broker) does the two and refuses a record they disagree on
(NIEM-211).
Exit status: 0 all converted, 1 some record failed, 2 usage error.
)";

}  // namespace

namespace {

// One `niem-map convert` run: the records of its inputs, each converted by its mapping.
struct convert_run {
  std::shared_ptr<mapping::mapping_library> lib;
  std::string agency, forced_type;
  std::optional<std::string> out_dir;
  mapping::converter conv;
  convert_stats st;
  // A delimited agency format is chosen by agency alone when no type is given.
  const mapping::compiled_mapping* delimited = nullptr;
  // Without --out the one document is held until the input is known to hold no other record.
  std::optional<std::string> only_document;
  bool too_many = false;

  convert_run(std::shared_ptr<mapping::mapping_library> l, std::string ag, std::string type,
              mapping::validation_mode mode)
      : lib(l), agency(std::move(ag)), forced_type(std::move(type)), conv(l, {}, {}, mode) {
    for (const auto& m : lib->mappings())
      if (m->agency() == agency && m->format() == mapping::record_format::delimited &&
          (forced_type.empty() || m->record_type() == forced_type))
        delimited = m.get();
  }

  const mapping::compiled_mapping* pick(const std::string& type) const {
    return lib->find(agency, type);
  }

  void emit(base::result<mapping::conversion>&& r) {
    if (!r) {
      ++st.failed;
      print_diags(r.errors());
      return;
    }
    if (out_dir) {
      if (!safe_key(r->key)) {
        ++st.failed;
        std::cerr << fmt::format("{} record key is not usable as a file name\n",
                                 base::code_id(base::errc::record_bad_value));
        return;
      }
      std::ofstream f(fs::path(*out_dir) / (r->key + ".xml"), std::ios::binary);
      f << r->document;
    } else if (only_document) {
      too_many = true;
      return;
    } else {
      only_document = std::move(r->document);
    }
    ++st.ok;
  }

  // The mapping for one JSON line, or null (counted and reported).
  const mapping::compiled_mapping* json_mapping(const std::string& line, const std::string& where) {
    if (!forced_type.empty()) return pick(forced_type);
    auto type = json_record_type(line);
    const auto* m = type.empty() ? nullptr : pick(type);
    if (!m) {
      ++st.failed;
      std::cerr << fmt::format(
          "{}: {} no mapping for agency '{}' and this record's record_type ('{}')\n", where,
          base::code_id(type.empty() ? base::errc::record_malformed_json
                                     : base::errc::record_no_mapping),
          agency, type.empty() ? "unreadable" : type);
    }
    return m;
  }

  // Every record of one input ("-": stdin); false when it cannot be opened.
  bool convert_input(const std::string& name) {
    std::ifstream file_in;
    if (name != "-") {
      file_in.open(name, std::ios::binary);
      if (!file_in) {
        std::cerr << fmt::format("{}: cannot open\n", name);
        return false;
      }
    }
    std::istream& in = name == "-" ? std::cin : file_in;
    const std::string file = name == "-" ? "stdin" : name;
    std::string line;
    std::uint64_t lineno = 0;
    const bool is_delimited =
        delimited && (forced_type.empty() || delimited->record_type() == forced_type);
    if (is_delimited) {
      if (!std::getline(in, line)) return true;
      lineno = 1;
      auto errs = delimited->check_header(line, fmt::format("{}:1", file));
      if (!errs.empty()) {
        print_diags(errs);
        // Without a valid header no row can be read safely: every row is reported as failed.
        while (std::getline(in, line))
          if (!base::trim(line).empty()) ++st.failed;
        return true;
      }
    }
    while (!too_many && std::getline(in, line)) {
      ++lineno;
      if (base::trim(line).empty()) continue;
      std::string where = fmt::format("{}:{}", file, lineno);
      const auto* m = is_delimited ? delimited : json_mapping(line, where);
      if (m) emit(conv.convert(*m, line, where));
    }
    return true;
  }
};

}  // namespace

int cmd_convert(const options& o) {
  auto a = parse(o.args, {"agency", "record-type", "mappings", "out", "validation"});
  if (a.help) {
    std::cout << k_convert_help;
    return 0;
  }
  if (!a.error.empty() || !a.get("agency") || a.positional.empty()) {
    std::cerr << "niem-map convert: "
              << (a.error.empty() ? "--agency and FILE are required" : a.error) << "\n\n"
              << k_convert_help;
    return 2;
  }
  const auto mode = mapping::parse_validation_mode(a.get("validation").value_or("both"));
  if (!mode) {
    std::cerr << "niem-map convert: --validation is compiled, full or both\n\n" << k_convert_help;
    return 2;
  }
  auto lib = load_library(o, a.get("mappings").value_or(o.home + "/mappings"));
  if (!lib) return 2;
  convert_run run(lib, *a.get("agency"), a.get("record-type").value_or(""), *mode);
  run.out_dir = a.get("out");
  if (run.out_dir) fs::create_directories(*run.out_dir);
  if (!run.forced_type.empty() && !run.pick(run.forced_type)) {
    std::cerr << fmt::format("niem-map convert: no mapping for agency '{}' and record type '{}'\n",
                             run.agency, run.forced_type);
    return 2;
  }
  for (const auto& name : a.positional) {
    if (run.too_many) break;
    if (!run.convert_input(name)) return 2;
  }
  if (run.too_many) {
    std::cerr << "niem-map convert: the input holds more than one record; give --out DIR (stdout "
                 "holds one document)\n";
    return 2;
  }
  if (run.only_document) std::cout << *run.only_document;
  std::cerr << fmt::format("niem-map convert: {} converted, {} failed\n", run.st.ok, run.st.failed);
  return run.st.failed ? 1 : 0;
}

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// A small line diff (LCS); golden documents are a few hundred lines at most.
void print_diff(const std::string& expected, const std::string& actual) {
  auto a = lines_of(expected), b = lines_of(actual);
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;)
    for (std::size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      ++i;
      ++j;
    } else if (j < b.size() && (i == a.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
      std::cout << "  + " << b[j++] << "\n";
    } else {
      std::cout << "  - " << a[i++] << "\n";
    }
  }
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Converts a fixture (one record; delimited fixtures carry the header line first).
base::result<mapping::conversion> convert_fixture(mapping::converter& conv,
                                                  const mapping::compiled_mapping& m,
                                                  const fs::path& p) {
  std::string text = slurp(p);
  std::string where = p.filename().string();
  if (m.format() == mapping::record_format::delimited) {
    auto nl = text.find('\n');
    std::string header = text.substr(0, nl);
    auto errs = m.check_header(header, where);
    if (!errs.empty()) return errs;
    text = nl == std::string::npos ? "" : text.substr(nl + 1);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return conv.convert(m, text, where);
}

// Maps (without validating) every record of the mapping's golden inputs and examples, noting the
// code-table entries they reach; returns how many records were read.
int exercise_codes(const mapping::compiled_mapping& m, mapping::code_coverage& cov) {
  const fs::path dir = fs::path(m.file()).parent_path();
  const bool delimited = m.format() == mapping::record_format::delimited;
  int records = 0;
  auto run = [&](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string line;
    bool header = delimited;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (header) {
        header = false;
        continue;
      }
      if (base::trim(line).empty()) continue;
      ++records;
      (void)m.map(line, file.string(), {}, &cov);
    }
  };
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir / "tests", ec))
    if (e.path().filename().string().find(".input.") != std::string::npos)
      files.push_back(e.path());
  for (auto& e : fs::directory_iterator(dir / "examples", ec))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) run(f);
  return records;
}

const char* k_check_help =
    R"(usage: niem-map check [--strict] [--mappings DIR] MAPPING...

Compiles each mapping (those named, and every mapping.xml under --mappings) against its exchange
schema set and reports unknown or misplaced target paths, required elements and attributes the
mapping never writes, elements written more often than the schema allows, attributes the element's
type does not declare, code values the schema does not allow, ids and references that do not
match, unused code tables and templates, and code-table entries that none of the mapping's
examples (examples/) and golden inputs (tests/*.input.*) reaches: an entry no record exercises is
a translation nobody has seen work. For each mapping it prints its agency, record type and
exchange. Exit 0 when all compile, 1 otherwise (with --strict, also when there is any warning).
)";

}  // namespace

int cmd_check(const options& o) {
  std::vector<std::string> args;
  bool strict = false;
  for (const auto& arg : o.args) {
    if (arg == "--strict")
      strict = true;
    else
      args.push_back(arg);
  }
  auto a = parse(args, {"mappings"});
  std::vector<std::string> files = a.positional;
  if (auto dir = a.get("mappings")) {
    auto found = find_mapping_files(*dir);
    files.insert(files.end(), found.begin(), found.end());
  }
  if (a.help || files.empty() || !a.error.empty()) {
    std::cout << k_check_help;
    if (!a.error.empty()) std::cerr << a.error << "\n";
    return a.help ? 0 : 2;
  }
  auto lib = mapping::mapping_library::load(files, mapping_schema(o));
  if (!lib) {
    print_diags(lib.errors());
    std::cerr << fmt::format("niem-map check: {} problem(s)\n", lib.errors().size());
    return 1;
  }
  std::size_t warnings = lib.value()->warnings().size();
  for (const auto& w : lib.value()->warnings()) std::cerr << "warning: " << base::format(w) << "\n";
  for (const auto& m : lib.value()->mappings()) {
    mapping::code_coverage cov;
    const int records = exercise_codes(*m, cov);
    int unexercised = 0;
    const auto entries = m->code_entries();
    for (const auto& e : entries) {
      if (cov.used.count({e.table, e.from})) continue;
      ++unexercised;
      std::cerr << fmt::format(
          "warning: {}:{}:{}: code '{}' of table '{}' is never reached by the examples or golden "
          "inputs\n",
          m->file(), e.line, e.column, e.from, e.table);
    }
    warnings += static_cast<std::size_t>(unexercised);
    if (!m->checks_complete()) {
      ++warnings;
      std::cerr << fmt::format(
          "warning: {}: the compiled checker does not cover {}: its documents are validated by "
          "Xerces in every mode\n",
          m->file(), m->unchecked_because());
    }
    std::cout << fmt::format(
        "{}: ok ({} {} -> {}; {} of {} code entries exercised by {} records)\n", m->file(),
        m->agency(), m->record_type(), m->exchange(),
        entries.size() - static_cast<std::size_t>(unexercised), entries.size(), records);
  }
  return strict && warnings ? 1 : 0;
}

int cmd_test(const options& o) {
  auto a = parse(o.args, {});
  if (a.help) {
    std::cout
        << "usage: niem-map test [DIR]\n\nRuns the golden tests beside each mapping under DIR "
           "(default: the project's mappings/):\n  tests/NAME.input.{json,txt} must convert to "
           "tests/NAME.expected.xml;\n  tests/bad/NAME.{json,txt} must fail with the error "
           "code written in tests/bad/NAME.expect\n  (and, if written after it, naming that "
           "field).\nPrints a diff for each failure. Exit 0 "
           "when all pass.\n";
    return 0;
  }
  std::string dir = a.positional.empty() ? o.home + "/mappings" : a.positional[0];
  std::size_t broken = 0;
  auto lib = load_library(o, dir, &broken);
  if (!lib) return 2;
  mapping::converter conv(lib);
  int passed = 0, failed = static_cast<int>(broken);  // a mapping that does not load fails
  for (const auto& m : lib->mappings()) {
    fs::path tests = fs::path(m->file()).parent_path() / "tests";
    std::vector<fs::path> inputs, bad;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(tests, ec))
      if (e.path().filename().string().find(".input.") != std::string::npos)
        inputs.push_back(e.path());
    for (auto& e : fs::directory_iterator(tests / "bad", ec))
      if (e.path().extension() == ".json" || e.path().extension() == ".txt")
        bad.push_back(e.path());
    std::sort(inputs.begin(), inputs.end());
    std::sort(bad.begin(), bad.end());
    for (const auto& in : inputs) {
      std::string stem = in.filename().string();
      stem = stem.substr(0, stem.find(".input."));
      fs::path expected = tests / (stem + ".expected.xml");
      auto r = convert_fixture(conv, *m, in);
      if (!r) {
        ++failed;
        std::cout << fmt::format("FAIL {}: conversion failed\n", in.string());
        for (const auto& d : r.errors()) std::cout << "  " << base::format(d) << "\n";
        continue;
      }
      if (!fs::exists(expected)) {
        ++failed;
        std::cout << fmt::format("FAIL {}: no {}\n", in.string(), expected.filename().string());
        continue;
      }
      auto want = slurp(expected);
      if (want != r->document) {
        ++failed;
        std::cout << fmt::format("FAIL {}: differs from {}\n", in.string(), expected.string());
        print_diff(want, r->document);
      } else {
        ++passed;
      }
    }
    for (const auto& b : bad) {
      // "NIEM-117" or "NIEM-117 medications.max_daily_dose": the code, and the native field
      // the error must name.
      auto expect_file = fs::path(b).replace_extension(".expect");
      std::string expect(base::trim(slurp(expect_file)));
      auto space = expect.find(' ');
      std::string code = expect.substr(0, space);
      std::string field = space == std::string::npos
                              ? std::string()
                              : std::string(base::trim(expect.substr(space)));
      auto r = convert_fixture(conv, *m, b);
      bool has = false;
      if (!r)
        for (const auto& d : r.errors())
          // A schema error names "native_field -> /element/path".
          has = has || (base::code_id(d.code) == code &&
                        (field.empty() || d.field == field || d.field.starts_with(field + " -> ")));
      if (code.empty() || r || !has) {
        ++failed;
        std::cout << fmt::format("FAIL {}: expected error {}, got {}\n", b.string(),
                                 code.empty() ? "(no .expect file)" : expect,
                                 r ? "a document" : base::format(r.errors().front()));
      } else {
        ++passed;
      }
    }
  }
  std::cout << fmt::format("niem-map test: {} passed, {} failed\n", passed, failed);
  return failed ? 1 : 0;
}

int cmd_validate(const options& o) {
  auto a = parse(o.args, {"schemas", "catalog"});
  if (a.help || !a.error.empty() || !a.get("schemas") || a.positional.empty()) {
    std::cout
        << R"(usage: niem-map validate --schemas DIR|FILE [--schemas ...] [--catalog FILE] DOC...

Validates each DOC against a schema set, with the same hardening as the broker: no DOCTYPE, no
external entities, schema locations in documents ignored. --schemas names a schema file, or a
folder whose top-level *.xsd files are loaded; imports are resolved by namespace through the
catalog, then by schemaLocation, then by searching the given folders. Exit 0 when all are valid.
)";
    if (!a.error.empty()) std::cerr << a.error << "\n";
    return a.help ? 0 : 2;
  }
  validation::schema_source src;
  for (const auto& s : a.flags["schemas"]) {
    if (fs::is_directory(s)) {
      std::vector<std::string> top;
      for (auto& e : fs::directory_iterator(s))
        if (e.is_regular_file() && e.path().extension() == ".xsd") top.push_back(e.path().string());
      std::sort(top.begin(), top.end());
      src.files.insert(src.files.end(), top.begin(), top.end());
      src.search_dirs.push_back(s);
    } else {
      src.files.push_back(s);
      src.search_dirs.push_back(fs::path(s).parent_path().string());
    }
  }
  if (auto c = a.get("catalog")) src.catalog = *c;
  auto set = validation::schema_set::load(src);
  if (!set) {
    print_diags(set.errors());
    std::cerr << "niem-map validate: the schema set did not load\n";
    return 2;
  }
  for (const auto& w : set.value()->warnings()) std::cerr << "warning: " << base::format(w) << "\n";
  validation::validator v(set.value());
  int bad = 0;
  for (const auto& doc : a.positional) {
    auto bytes = validation::read_file(doc, 64 << 20);
    if (!bytes) {
      print_diags(bytes.errors());
      ++bad;
      continue;
    }
    auto rep = v.validate(*bytes, doc);
    if (rep.valid) {
      std::cout << doc << ": valid\n";
    } else {
      ++bad;
      std::cout << doc << ": INVALID\n";
      for (const auto& d : rep.diagnostics) std::cout << "  " << base::format(d) << "\n";
    }
  }
  return bad ? 1 : 0;
}

}  // namespace niem::tools
