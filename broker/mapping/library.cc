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

base::result<std::shared_ptr<mapping_library>> mapping_library::load(
    const std::vector<std::string>& files, const std::string& mapping_schema,
    const std::vector<written_exchange>& written) {
  std::vector<diagnostic> errs;
  auto lang = validation::schema_set::load({{mapping_schema}, "", {}});
  if (!lang) return lang.errors();

  struct parsed {
    std::string file, version;
    std::unique_ptr<ast> root;
  };
  std::vector<parsed> asts;
  std::vector<std::string> schema_files;
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
    auto schema = (fs::path(f).parent_path() / b.root->get("schema")).lexically_normal().string();
    if (std::find(schema_files.begin(), schema_files.end(), schema) == schema_files.end())
      schema_files.push_back(schema);
    asts.push_back({f, base::content_version(*bytes), std::move(b.root)});
  }
  if (!errs.empty()) return errs;

  auto lib = std::make_shared<mapping_library>();
  for (const auto& w : written)
    if (std::find(schema_files.begin(), schema_files.end(), w.schema) == schema_files.end())
      schema_files.push_back(w.schema);
  auto schemas = validation::schema_set::load({schema_files, "", {}});
  if (!schemas) return schemas.errors();
  lib->schemas_ = schemas.value();
  lib->warnings_ = lib->schemas_->warnings();  // imports read other than as written
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
    detail::compile(*p.root, lib->schemas_->model(), *im, merrs, lib->warnings_);
    if (!merrs.empty()) {
      errs.insert(errs.end(), merrs.begin(), merrs.end());
      continue;
    }
    auto cm = std::make_shared<compiled_mapping>(std::move(im));
    cm->agency_ = p.root->get("agency");
    cm->record_type_ = p.root->get("record-type");
    cm->exchange_ = p.root->get("exchange");
    cm->file_ = p.file;
    cm->version_ = p.version;
    cm->format_ = cm->impl_->format;
    if (cm->impl_->root.element >= 0)
      cm->root_ = lib->schemas_->model().elements()[cm->impl_->root.element].name;
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
  for (const auto& m : mappings_) out.push_back({m->exchange(), m->root()});
  for (const auto& w : written_) out.push_back({w.exchange, w.root});
  return out;
}

const compiled_mapping* mapping_library::find(std::string_view agency,
                                              std::string_view record_type) const {
  for (const auto& m : mappings_)
    if (m->agency() == agency && m->record_type() == record_type) return m.get();
  return nullptr;
}

// ---- converter ----

converter::converter(std::shared_ptr<const mapping_library> lib, record_limits rl,
                     validation::limits vl)
    : lib_(std::move(lib)), rl_(rl), validator_(lib_->schemas(), vl) {}

base::result<conversion> converter::convert(const compiled_mapping& m, std::string_view record,
                                            std::string_view where) {
  auto c = m.map(record, where, rl_);
  if (!c) return c;
  auto rep = validator_.validate(c->document, where);
  if (rep.valid) return c;
  // Name the native field behind each invalid element where the writer recorded one.
  for (auto& d : rep.diagnostics) {
    d.where = std::string(where);
    if (d.line < c->line_sources.size() && c->line_sources[d.line])
      d.field = *c->line_sources[d.line] + " -> " + d.field;
  }
  return rep.diagnostics;
}

}  // namespace niem::mapping
