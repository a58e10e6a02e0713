// The mapping library: reads a directory's mapping files, loads their exchange schemas once and
// compiles each mapping; and the converter that maps and validates.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "base/digest.h"
#include "mapping/compiled.h"

namespace fs = std::filesystem;

namespace niem::mapping {

using base::diagnostic;
using base::errc;
using namespace detail;

// ---- mapping_library ----

namespace {

bool has_schema_set(const ast& root) {
  return std::any_of(root.kids.begin(), root.kids.end(),
                     [](const auto& k) { return k->tag == "schema-set"; });
}

// The schemas a mapping names: its `schema` file, or its `schema-set` (files, an IEPD's XML
// catalog, folders whose schemas resolve imports by namespace), each relative to the mapping.
std::optional<validation::schema_source> schema_source_of(const ast& root, const std::string& file,
                                                          std::vector<diagnostic>& errs) {
  const auto dir = fs::path(file).parent_path();
  auto at = [&](const std::string& p) { return (dir / p).lexically_normal().string(); };
  validation::schema_source src;
  const ast* set = nullptr;
  for (const auto& k : root.kids)
    if (k->tag == "schema-set") set = k.get();
  auto problem = [&](const ast& where, std::string msg) {
    errs.push_back({errc::mapping_invalid, std::move(msg),
                    fmt::format("{}:{}:{}", file, where.line, where.column), "", where.line,
                    where.column});
  };
  if (set && root.attr("schema")) {
    problem(root, "a mapping names its schemas once: a schema attribute or a schema-set");
    return std::nullopt;
  }
  if (!set) {
    if (!root.attr("schema")) {
      problem(root, "a mapping names its exchange's schemas: a schema attribute or a schema-set");
      return std::nullopt;
    }
    src.files.push_back(at(root.get("schema")));
    return src;
  }
  for (const auto& k : set->kids) {
    if (k->tag == "file") src.files.push_back(at(k->get("path")));
    if (k->tag == "folder") src.search_dirs.push_back(at(k->get("path")));
    if (k->tag == "catalog") src.catalog = at(k->get("path"));
  }
  for (const auto& d : src.search_dirs)
    if (std::error_code ec; !fs::is_directory(d, ec)) problem(*set, "no folder " + d);
  if (src.files.empty()) problem(*set, "a schema-set names at least one exchange schema file");
  if (src.files.empty()) return std::nullopt;
  return src;
}

}  // namespace

base::result<std::shared_ptr<mapping_library>> mapping_library::load(
    const std::vector<std::string>& files, const std::string& mapping_schema,
    const std::vector<written_exchange>& written) {
  std::vector<diagnostic> errs;
  auto lang = validation::schema_set::load({{mapping_schema}, "", {}});
  if (!lang) return lang.errors();

  struct parsed {
    std::string file, version;
    std::unique_ptr<ast> root;
    int set = 0;  // index into `sources`: 0 is the shared set
  };
  std::vector<parsed> asts;
  // The shared set: every mapping that names one `schema` file, and the written exchanges. Each
  // distinct `schema-set` is loaded apart (an IEPD's subset of niem-core shares its namespace
  // with others).
  std::vector<validation::schema_source> sources(1);
  for (const auto& f : files) {
    auto bytes = validation::read_file(f, 4 << 20);
    if (!bytes) {
      errs.insert(errs.end(), bytes.errors().begin(), bytes.errors().end());
      continue;
    }
    ast_builder b;
    auto diags = validation::read_xml(*bytes, f, b, lang->get());
    if (!diags.empty() || !b.root) {
      for (auto& d : diags) d.code = errc::mapping_invalid;
      errs.insert(errs.end(), diags.begin(), diags.end());
      continue;
    }
    auto set = schema_source_of(*b.root, f, errs);
    if (!set) continue;
    int index = 0;
    if (!has_schema_set(*b.root)) {
      auto& shared = sources[0].files;
      if (std::find(shared.begin(), shared.end(), set->files[0]) == shared.end())
        shared.push_back(set->files[0]);
    } else {
      auto same = std::find_if(sources.begin() + 1, sources.end(), [&](const auto& s) {
        return s.files == set->files && s.catalog == set->catalog &&
               s.search_dirs == set->search_dirs;
      });
      index = static_cast<int>(same - sources.begin());
      if (same == sources.end()) sources.push_back(std::move(*set));
    }
    asts.push_back({f, base::content_version(*bytes), std::move(b.root), index});
  }
  if (!errs.empty()) return errs;

  auto lib = std::make_shared<mapping_library>();
  auto& shared_files = sources[0].files;
  for (const auto& w : written)
    if (std::find(shared_files.begin(), shared_files.end(), w.schema) == shared_files.end())
      shared_files.push_back(w.schema);
  std::vector<std::shared_ptr<const validation::schema_set>> sets(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].files.empty()) continue;  // no mapping uses the shared set
    auto loaded = validation::schema_set::load(sources[i]);
    if (!loaded) {
      errs.insert(errs.end(), loaded.errors().begin(), loaded.errors().end());
      continue;
    }
    sets[i] = loaded.value();
    lib->sets_.push_back(sets[i]);
    // Imports read other than as written.
    lib->warnings_.insert(lib->warnings_.end(), sets[i]->warnings().begin(),
                          sets[i]->warnings().end());
  }
  if (!errs.empty()) return errs;
  lib->schemas_ = sets[0] ? sets[0] : (lib->sets_.empty() ? nullptr : lib->sets_.front());
  for (const auto& w : written)
    if (!lib->schemas_->model().element(w.root))
      errs.push_back({errc::mapping_invalid,
                      fmt::format("the schema of exchange '{}' declares no element {{{}}}{}",
                                  w.exchange, w.root.ns, w.root.local),
                      w.schema, "", 0, 0});
  lib->written_ = written;

  for (auto& p : asts) {
    auto im = std::make_unique<compiled_mapping::impl>();
    im->file = p.file;
    std::vector<diagnostic> merrs;
    const auto& set = sets[static_cast<std::size_t>(p.set)];
    detail::compile(*p.root, set->model(), *im, merrs, lib->warnings_);
    if (!merrs.empty()) {
      errs.insert(errs.end(), merrs.begin(), merrs.end());
      continue;
    }
    detail::attach_checks(*im, set->model(), set->checks());
    auto cm = std::make_shared<compiled_mapping>(std::move(im));
    cm->agency_ = p.root->get("agency");
    cm->record_type_ = p.root->get("record-type");
    cm->exchange_ = p.root->get("exchange");
    cm->file_ = p.file;
    cm->version_ = p.version;
    cm->format_ = cm->impl_->format;
    cm->schemas_ = set;
    if (cm->impl_->root.element >= 0)
      cm->root_ = set->model().elements()[cm->impl_->root.element].name;
    for (const auto& k : p.root->kids)
      if (k->tag == "columns") cm->delimiter_ = k->get("delimiter", "|")[0];
    if (lib->find(cm->agency_, cm->record_type_))
      errs.push_back({errc::mapping_invalid,
                      fmt::format("a second mapping for agency '{}' and record type '{}'",
                                  cm->agency_, cm->record_type_),
                      p.file, "", 0, 0});
    lib->mappings_.push_back(std::move(cm));
  }
  if (!errs.empty()) return errs;
  return lib;
}

std::vector<exchange_root> mapping_library::exchanges() const {
  std::vector<exchange_root> out;
  for (const auto& m : mappings_) out.push_back({m->exchange(), m->root(), &m->schemas()->model()});
  for (const auto& w : written_) out.push_back({w.exchange, w.root, &schemas_->model()});
  return out;
}

std::shared_ptr<const validation::schema_set> mapping_library::schemas_for(
    std::string_view exchange) const {
  for (const auto& m : mappings_)
    if (m->exchange() == exchange) return m->schemas();
  return schemas_;
}

const compiled_mapping* mapping_library::find(std::string_view agency,
                                              std::string_view record_type) const {
  for (const auto& m : mappings_)
    if (m->agency() == agency && m->record_type() == record_type) return m.get();
  return nullptr;
}

// ---- converter ----

std::optional<validation_mode> parse_validation_mode(std::string_view s) {
  if (s == "compiled") return validation_mode::compiled;
  if (s == "full") return validation_mode::full;
  if (s == "both") return validation_mode::both;
  return std::nullopt;
}

std::string_view to_string(validation_mode m) {
  switch (m) {
    case validation_mode::compiled:
      return "compiled";
    case validation_mode::full:
      return "full";
    case validation_mode::both:
      break;
  }
  return "both";
}

converter::converter(std::shared_ptr<const mapping_library> lib, record_limits rl,
                     validation::limits vl, validation_policy policy, oracle_hook hook,
                     const base::clock& clk)
    : lib_(std::move(lib)),
      rl_(rl),
      policy_(std::move(policy)),
      hook_(std::move(hook)),
      clock_(clk),
      first_minute_(policy_.sample_first_ms > 0) {
  for (const auto& set : lib_->schema_sets())
    validators_.emplace_back(set.get(), std::make_unique<validation::validator>(set, vl));
}

// Every document of the rules' first minute, then one in N of each mapping's, the first included.
// The clock is read only until the first minute is over.
bool converter::wants_sample(const compiled_mapping& m) {
  if (!hook_.oracle) return false;
  auto& n = judged_[&m];
  const bool nth = policy_.sample_one_in > 0 && n % policy_.sample_one_in == 0;
  ++n;
  if (first_minute_) {
    if (clock_.now_ms() < hook_.loaded_ms + policy_.sample_first_ms) return true;
    first_minute_ = false;
  }
  return nth;
}

void converter::offer_sample(const compiled_mapping& m, conversion& c, std::string_view tag) {
  oracle_sample s;
  s.schemas = m.schemas();
  s.exchange = m.exchange();
  s.mapping_file = m.file();
  s.mapping_version = m.version();
  s.tag = std::string(tag);
  s.compiled_valid = c.check_errors.empty();
  if (!s.compiled_valid) {
    s.compiled_reason = c.check_errors.front();
    s.document = std::move(c.document);  // the record is refused: its document goes nowhere else
  } else {
    s.document = c.document;
  }
  hook_.oracle->offer(std::move(s));
}

base::result<conversion> converter::convert(const compiled_mapping& m, std::string_view record,
                                            std::string_view where, std::string_view tag) {
  const auto mode = policy_.of(m.exchange());
  auto c = m.map(record, where, rl_, nullptr, mode != validation_mode::full);
  if (!c) return c;
  if (mode == validation_mode::compiled && c->checked) {
    if (wants_sample(m)) offer_sample(m, *c, tag);
    if (c->check_errors.empty()) return c;
    return std::move(c->check_errors);
  }
  if (mode == validation_mode::full || !c->checked) return validate_full(std::move(*c), m, where);
  // both: Xerces judges the same bytes; a different verdict is a defect of one of the two.
  auto compiled_errors = std::move(c->check_errors);
  auto full = validate_full(std::move(*c), m, where);
  if (full.ok() == compiled_errors.empty()) {
    if (full.ok()) return full;
    return compiled_errors;  // the compiled checker's name the native field and element path
  }
  const auto& reason = full.ok() ? compiled_errors.front() : full.errors().front();
  return diagnostic{
      errc::xml_validators_disagree,
      fmt::format("the compiled checker found the document {}, Xerces {} ({}: {})",
                  compiled_errors.empty() ? "valid" : "invalid", full.ok() ? "valid" : "invalid",
                  full.ok() ? "compiled" : "Xerces", reason.message),
      std::string(where),
      reason.field,
      reason.line,
      reason.column};
}

base::result<conversion> converter::validate_full(conversion c, const compiled_mapping& m,
                                                  std::string_view where) {
  auto v = std::find_if(validators_.begin(), validators_.end(),
                        [&](const auto& x) { return x.first == m.schemas().get(); });
  if (v == validators_.end())  // a mapping of another library
    return diagnostic{errc::internal,
                      "the mapping's schemas are not this converter's",
                      std::string(where),
                      "",
                      0,
                      0};
  auto rep = v->second->validate(c.document, where);
  if (rep.valid) return c;
  // Name the native field behind each invalid element where the writer recorded one.
  for (auto& d : rep.diagnostics) {
    d.where = std::string(where);
    if (d.line < c.line_sources.size() && c.line_sources[d.line])
      d.field = *c.line_sources[d.line] + " -> " + d.field;
  }
  return rep.diagnostics;
}

}  // namespace niem::mapping
