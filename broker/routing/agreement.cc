#include "routing/agreement.h"
// The agreements' loader: each agreement file read against schemas/agreement/agreement.xsd and
// checked against the exchange schemas' model; the filter that applies their terms is filter.cc.

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "base/digest.h"
#include "base/text.h"
#include "routing/xml_stream.h"
#include "validation/vocabulary.h"

namespace niem::routing {

namespace {

constexpr std::string_view k_ns = "urn:niem-broker:agreement:1";

base::diagnostic problem(const std::string& file, std::uint32_t line, std::string msg) {
  base::diagnostic d;
  d.code = base::errc::agreement_invalid;
  d.where = fmt::format("{}:{}", file, line);
  d.line = line;
  d.message = std::move(msg);
  return d;
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    auto j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Builds agreements from the (already schema-valid) file's events.
class reader final : public validation::xml_event_handler {
 public:
  reader(std::string file, std::vector<base::diagnostic>& errors)
      : file_(std::move(file)), errors_(errors) {}

  agreement result;

  void start_prefix(const std::string& prefix, const std::string& uri) override {
    prefixes_[prefix].push_back(uri);
  }
  void end_prefix(const std::string& prefix) override {
    auto it = prefixes_.find(prefix);
    if (it != prefixes_.end() && !it->second.empty()) it->second.pop_back();
  }
  void text(std::string_view chars) override {
    if (in_title_) result.title += chars;
  }
  void end_element(const validation::qname& n) override {
    if (n.ns == k_ns && n.local == "title") in_title_ = false;
  }
  void start_element(const validation::qname& n,
                     const std::vector<validation::xml_attribute>& attrs, std::uint32_t line,
                     std::uint32_t) override {
    if (n.ns != k_ns) return;
    auto attr = [&](std::string_view name) -> std::string {
      for (const auto& a : attrs)
        if (a.name.ns.empty() && a.name.local == name) return a.value;
      return {};
    };
    const auto& l = n.local;
    if (l == "agreement") {
      result.id = attr("id");
      result.version = attr("version");
      auto level = attr("level");
      result.level = level == "de-identified" ? sharing_level::deidentified
                     : level == "aggregate"   ? sharing_level::aggregate
                                              : sharing_level::identifiable;
    } else if (l == "title") {
      in_title_ = true;
    } else if (l == "provider") {
      result.providers.push_back(attr("agency"));
    } else if (l == "recipient") {
      result.recipient = attr("agency");
    } else if (l == "purpose") {
      result.purposes.push_back(attr("code"));
    } else if (l == "effective") {
      result.effective_from = attr("from");
      result.effective_to = attr("to");
    } else if (l == "report") {
      report_spec rs;
      rs.kind = attr("kind");
      rs.period = attr("period");
      rs.minimum_count = static_cast<std::uint32_t>(std::stoul("0" + attr("minimum-count")));
      rs.after_days = static_cast<std::uint32_t>(std::stoul("0" + attr("after-days")));
      result.report = rs;
      report_line_ = line;
    } else if (l == "terms") {
      exchange_terms t;
      t.exchange = attr("exchange");
      result.exchanges.push_back(std::move(t));
      term_lines_.push_back(line);
    } else if (!result.exchanges.empty()) {
      auto& t = result.exchanges.back();
      if (l == "condition") {
        path_condition c;
        c.label = attr("path");
        c.at = parse_path(c.label, line);
        c.equals = attr("equals");
        c.line = line;
        t.conditions.push_back(std::move(c));
      } else if (l == "consent") {
        consent_rule r;
        r.line = line;
        r.subject = parse_path(attr("subject"), line);
        r.subject_kind = attr("subject-kind");
        r.purpose = attr("purpose");
        r.categories = split_words(attr("categories"));
        if (auto w = attr("when-path"); !w.empty())
          r.when = path_condition{parse_path(w, line), w, attr("when-equals"), line};
        t.consents.push_back(std::move(r));
      } else if (l == "count") {
        auto text = attr("path");
        t.counts.push_back({attr("as"), parse_path(text, line), text, line});
      } else if (l == "include") {
        auto text = attr("path");
        t.includes.push_back(parse_path(text, line));
        include_labels_.push_back({result.exchanges.size() - 1, t.includes.size() - 1, text, line});
      } else if (l == "transform") {
        auto text = attr("path");
        auto action = attr("action");
        transforms_.push_back({result.exchanges.size() - 1, parse_path(text, line), text,
                               action == "year"   ? transform_action::year
                               : action == "zip3" ? transform_action::zip3
                                                  : transform_action::pseudonym,
                               line});
      }
    }
  }

  struct include_label {
    std::size_t terms;
    std::size_t index;  // in the terms' includes
    std::string text;
    std::uint32_t line;
  };
  const std::vector<include_label>& include_labels() const { return include_labels_; }
  struct transform_rule {
    std::size_t terms;
    path at;
    std::string text;
    transform_action action;
    std::uint32_t line;
  };
  const std::vector<transform_rule>& transforms() const { return transforms_; }
  const std::vector<std::uint32_t>& term_lines() const { return term_lines_; }
  std::uint32_t report_line() const { return report_line_; }

 private:
  path parse_path(const std::string& text, std::uint32_t line) {
    path p;
    for (const auto& step : split_path(text)) {
      auto colon = step.find(':');
      if (colon == std::string::npos) {
        errors_.push_back(problem(
            file_, line, fmt::format("'{}' in path '{}' has no namespace prefix", step, text)));
        return {};
      }
      auto prefix = step.substr(0, colon);
      auto it = prefixes_.find(prefix);
      if (it == prefixes_.end() || it->second.empty()) {
        errors_.push_back(problem(
            file_, line, fmt::format("prefix '{}' in path '{}' is not declared", prefix, text)));
        return {};
      }
      p.push_back({it->second.back(), step.substr(colon + 1)});
    }
    return p;
  }
  static std::vector<std::string> split_path(const std::string& text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i <= text.size()) {
      auto j = text.find('/', i);
      if (j == std::string::npos) j = text.size();
      if (j > i) out.push_back(text.substr(i, j - i));
      i = j + 1;
    }
    return out;
  }

  std::string file_;
  std::vector<base::diagnostic>& errors_;
  std::map<std::string, std::vector<std::string>> prefixes_;
  std::vector<include_label> include_labels_;
  std::vector<transform_rule> transforms_;
  std::vector<std::uint32_t> term_lines_;
  std::uint32_t report_line_ = 0;
  bool in_title_ = false;
};

std::string show(const validation::qname& q) {
  return q.local;
}

// Resolves `p` below `root_element` in the schema; the element index of each step, or the
// diagnostic text for the first step the schema does not allow.
std::optional<std::string> resolve(const validation::schema_model& m, int root_element,
                                   const path& p, std::vector<int>& steps) {
  int cur = root_element;
  std::string where = show(m.elements()[root_element].name);
  for (const auto& q : p) {
    int type = m.elements()[cur].type;
    auto slot = type < 0 ? std::nullopt : m.child(type, q);
    if (!slot) return fmt::format("the exchange schema has no {} inside {}", q.local, where);
    cur = slot->element;
    steps.push_back(cur);
    where += "/" + q.local;
  }
  return std::nullopt;
}

filter_node* child_of(filter_node& n, const validation::qname& q) {
  for (auto& c : n.children)
    if (c.name == q) return &c;
  return nullptr;
}

// Every element the schema requires inside a written container must be written too.
void check_required(const validation::schema_model& m, filter_node& node, int element,
                    const std::string& where, const std::string& file, std::uint32_t line,
                    std::vector<base::diagnostic>& errors) {
  if (node.include) return;
  int type = m.elements()[element].type;
  if (type < 0) return;
  for (const auto& p : m.types()[type].children) {
    if (p.min == 0) continue;
    const auto& req = m.elements()[p.element];
    bool kept = false;
    for (auto& c : node.children) {
      bool same = c.name == req.name;
      for (int s : req.substitutes) same |= m.elements()[s].name == c.name;
      if (!same) continue;
      kept = true;
      if (!c.include) c.always = true;  // written wherever it occurs; checked below in turn
    }
    if (!kept)
      errors.push_back(problem(
          file, line,
          fmt::format("the filter keeps {} but removes its required element {}: the recipient's "
                      "document would not be schema-valid (include {}/{} or drop {})",
                      where, req.name.local, where, req.name.local, where)));
  }
  for (auto& c : node.children) {
    if (c.include) continue;
    int type_of_node = m.elements()[element].type;
    auto slot = type_of_node < 0 ? std::nullopt : m.child(type_of_node, c.name);
    if (slot) check_required(m, c, slot->element, where + "/" + c.name.local, file, line, errors);
  }
}

// A report needs its counts: psychotropic-by-county counts events (person, date, class) and
// places children by their placements (client or person, county, begin).
void check_report(const agreement& a, const std::string& file, std::uint32_t report_line,
                  std::vector<base::diagnostic>& errs) {
  bool aggregate = a.level == sharing_level::aggregate;
  if (!aggregate) {
    if (a.report)
      errs.push_back(problem(file, report_line, "report belongs to aggregate agreements only"));
    return;
  }
  if (!a.report) {
    errs.push_back(problem(file, 1,
                           "an aggregate agreement needs a report: what the recipient receives "
                           "instead of records"));
    return;
  }
  auto has = [](const exchange_terms& t, std::string_view role) {
    return std::any_of(t.counts.begin(), t.counts.end(),
                       [&](const count_field& c) { return c.role == role; });
  };
  bool events = false, placements = false;
  for (const auto& t : a.exchanges) {
    events |= has(t, "person") && has(t, "date") && has(t, "class");
    placements |= (has(t, "client") || has(t, "person")) && has(t, "county") && has(t, "begin");
  }
  if (!events)
    errs.push_back(problem(file, report_line,
                           "a psychotropic-by-county report needs terms that count person, date "
                           "and class (the claims)"));
  if (!placements)
    errs.push_back(problem(file, report_line,
                           "a psychotropic-by-county report needs terms that count client or "
                           "person, county and begin (the placements)"));
}

}  // namespace

std::string_view level_name(sharing_level l) {
  switch (l) {
    case sharing_level::identifiable:
      return "identifiable";
    case sharing_level::deidentified:
      return "de-identified";
    case sharing_level::aggregate:
      return "aggregate";
  }
  return "identifiable";
}

const filter_node* filter_node::child(std::string_view ns, std::string_view local) const {
  for (const auto& c : children)
    if (c.name.local == local && c.name.ns == ns) return &c;
  return nullptr;
}

const exchange_terms* agreement::terms(std::string_view exchange) const {
  for (const auto& t : exchanges)
    if (t.exchange == exchange) return &t;
  return nullptr;
}

bool agreement::provided_by(std::string_view agency) const {
  return std::find(providers.begin(), providers.end(), agency) != providers.end();
}

agreement_status agreement::status_on(std::string_view day) const {
  // YYYY-MM-DD: text order is date order.
  if (!effective_from.empty() && day < effective_from) return agreement_status::not_yet_effective;
  if (!effective_to.empty() && day > effective_to) return agreement_status::expired;
  return agreement_status::in_effect;
}

std::string_view status_name(agreement_status s) {
  switch (s) {
    case agreement_status::not_yet_effective:
      return "not_yet_effective";
    case agreement_status::expired:
      return "expired";
    case agreement_status::in_effect:
      break;
  }
  return "in_effect";
}

namespace {

// One agreement's terms for one exchange, checked against the exchange schemas' model and
// compiled into its filter: what flows (includes), what is transformed, what is counted.
class terms_compiler {
 public:
  terms_compiler(const validation::schema_model& model, const reader& r, const agreement& a,
                 const std::string& file, const std::map<std::string, std::string>& keys,
                 std::vector<base::diagnostic>& errs)
      : shared_(model), r_(r), a_(a), file_(file), keys_(keys), errs_(errs) {}

  void compile(exchange_terms& t, std::size_t ti, const std::vector<exchange_root>& exchanges) {
    auto line = r_.term_lines()[ti];
    auto er = std::find_if(exchanges.begin(), exchanges.end(),
                           [&](const exchange_root& e) { return e.exchange == t.exchange; });
    if (er == exchanges.end()) {
      errs_.push_back(
          problem(file_, line, fmt::format("no mapping produces exchange '{}'", t.exchange)));
      return;
    }
    t.root = er->root;
    model_ = er->model ? er->model : &shared_;
    auto root = model_->element(t.root);
    if (!root) {
      errs_.push_back(
          problem(file_, line, fmt::format("the exchange schemas have no root {}", t.root.local)));
      return;
    }
    root_ = *root;
    t.filter.name = t.root;
    check_conditions(t);
    auto first_line = add_includes(t, ti, line);
    check_counts(t);
    check_level(t, line, first_line);
    t.deidentified = a_.level == sharing_level::deidentified;
    add_transforms(t, ti);
  }

 private:
  bool check_path(const path& p, std::uint32_t at) {
    std::vector<int> steps;
    if (p.empty()) return false;
    if (auto bad = resolve(*model_, root_, p, steps)) {
      errs_.push_back(problem(file_, at, *bad));
      return false;
    }
    return true;
  }

  // The element a path names, when it holds a simple value (what counts and transforms need).
  const validation::element_info* simple_at(const path& p, std::uint32_t at, std::string_view label,
                                            std::string_view what) {
    std::vector<int> steps;
    if (auto bad = resolve(*model_, root_, p, steps)) {
      errs_.push_back(problem(file_, at, *bad));
      return nullptr;
    }
    const auto& el = model_->elements()[steps.back()];
    if (el.type < 0 || !model_->types()[el.type].simple_content) {
      errs_.push_back(problem(file_, at, fmt::format("{} has no simple value to {}", label, what)));
      return nullptr;
    }
    return &el;
  }

  void check_conditions(const exchange_terms& t) {
    for (const auto& c : t.conditions) check_path(c.at, c.line);
    for (const auto& c : t.consents) {
      check_path(c.subject, c.line);
      if (c.when) check_path(c.when->at, c.line);
      if (std::find(a_.purposes.begin(), a_.purposes.end(), c.purpose) == a_.purposes.end())
        errs_.push_back(problem(
            file_, c.line,
            fmt::format("consent purpose {} is not a purpose of the agreement", c.purpose)));
    }
  }

  // Each include marks its path in the filter's tree (a shorter path already kept whole wins);
  // the line of the last one, for the required elements' check.
  std::uint32_t add_includes(exchange_terms& t, std::size_t ti, std::uint32_t line) {
    std::uint32_t last = line;
    for (const auto& il : r_.include_labels()) {
      if (il.terms != ti) continue;
      last = std::max(last, il.line);
      const auto& p = t.includes[il.index];
      if (!check_path(p, il.line)) continue;
      filter_node* n = &t.filter;
      for (const auto& q : p) {
        if (n->include) break;  // already kept whole by a shorter path
        auto* c = child_of(*n, q);
        if (!c) {
          n->children.push_back({q, false, false, transform_action::none, {}, {}});
          c = &n->children.back();
        }
        n = c;
      }
      if (!n->include) {
        n->include = true;
        n->label = il.text;
        n->children.clear();  // the whole subtree flows
      }
    }
    return last;
  }

  void check_counts(const exchange_terms& t) {
    const bool aggregate = a_.level == sharing_level::aggregate;
    for (const auto& c : t.counts) {
      if (!aggregate) {
        errs_.push_back(problem(file_, c.line, "count belongs to aggregate agreements only"));
        continue;
      }
      if (!c.at.empty()) simple_at(c.at, c.line, c.label, "count");
    }
  }

  void check_level(exchange_terms& t, std::uint32_t line, std::uint32_t first_line) {
    if (a_.level == sharing_level::aggregate) {
      // Aggregate agreements receive counts, never records.
      if (!t.includes.empty())
        errs_.push_back(problem(file_, line,
                                "an aggregate agreement lets no record flow: it counts (use "
                                "count, not include)"));
      if (t.counts.empty())
        errs_.push_back(problem(file_, line, "terms of an aggregate agreement need a count"));
    } else if (t.includes.empty()) {
      errs_.push_back(problem(file_, line, "terms without any include let nothing flow"));
    } else {
      check_required(*model_, t.filter, root_, t.root.local, file_, first_line, errs_);
    }
  }

  // Transforms mark elements inside included subtrees.
  void add_transforms(exchange_terms& t, std::size_t ti) {
    for (const auto& tr : r_.transforms()) {
      if (tr.terms != ti || tr.at.empty()) continue;
      const auto* el = simple_at(tr.at, tr.line, tr.text, "transform");
      if (!el || !transform_fits(tr, *el)) continue;
      filter_node* n = &t.filter;
      bool under_include = false;
      for (const auto& q : tr.at) {
        under_include |= n->include;
        auto* c = child_of(*n, q);
        if (!c) {
          if (!under_include) break;
          n->children.push_back({q, false, false, transform_action::none, {}, {}});
          c = &n->children.back();
        }
        n = c;
      }
      under_include |= n->include;
      if (!under_include || n->name != tr.at.back()) {
        errs_.push_back(
            problem(file_, tr.line,
                    fmt::format("{} is not inside an include: nothing to transform", tr.text)));
        continue;
      }
      n->transform = tr.action;
      if (tr.action == transform_action::pseudonym) {
        auto key = keys_.find(file_);
        if (key == keys_.end() || key->second.size() < 32)
          errs_.push_back(problem(file_, tr.line,
                                  "pseudonyms need the agreement's secret: give <agreement "
                                  "pseudonym-key-file> (32 characters or more) in the "
                                  "configuration"));
        else
          t.pseudonym_key = key->second;
      }
    }
  }

  // 'year' keeps the year of a date: it applies to nc:Date and nc:DateTime, and the schemas must
  // declare nc:YearDate to write it.
  template <class T>
  bool transform_fits(const T& tr, const validation::element_info& el) {
    if (tr.action != transform_action::year) return true;
    // nc:Date and nc:DateTime of whichever NIEM release the exchange is on: niem-core is the
    // namespace that declares YearDate beside them.
    if (!((el.name.local == "Date" || el.name.local == "DateTime") &&
          model_->element({el.name.ns, "YearDate"}))) {
      errs_.push_back(
          problem(file_, tr.line,
                  fmt::format("'year' applies to nc:Date or nc:DateTime, not {}", el.name.local)));
      return false;
    }
    return true;
  }

  const validation::schema_model& shared_;
  const validation::schema_model* model_ = &shared_;  // the exchange's, while compiling its terms
  const reader& r_;
  const agreement& a_;
  const std::string& file_;
  const std::map<std::string, std::string>& keys_;
  std::vector<base::diagnostic>& errs_;
  int root_ = -1;
};

// One agreement file: read against agreement.xsd, then its terms compiled; null with `errs`.
std::shared_ptr<agreement> load_one(const std::string& file, const validation::schema_set& xsd,
                                    const validation::schema_model& model,
                                    const std::vector<exchange_root>& exchanges,
                                    const std::map<std::string, std::string>& pseudonym_keys,
                                    std::map<std::string, std::string>& ids,
                                    std::vector<base::diagnostic>& errs) {
  auto bytes = validation::read_file(file, 4 << 20);
  if (!bytes) {
    for (auto d : bytes.errors()) {
      d.code = base::errc::agreement_invalid;
      errs.push_back(std::move(d));
    }
    return nullptr;
  }
  reader r(file, errs);
  auto diags = validation::read_xml(*bytes, file, r, &xsd);
  for (auto& d : diags) d.code = base::errc::agreement_invalid;
  errs.insert(errs.begin(), diags.begin(), diags.end());
  if (!diags.empty()) return nullptr;
  auto a = std::make_shared<agreement>(std::move(r.result));
  a->file = file;
  a->content_version = base::content_version(*bytes);
  if (auto [it, fresh] = ids.emplace(a->id, file); !fresh)
    errs.push_back(
        problem(file, 1, fmt::format("agreement {} is also defined in {}", a->id, it->second)));
  if (!a->effective_to.empty() && a->effective_to < a->effective_from)
    errs.push_back(problem(file, 1, "the agreement ends before it begins"));
  terms_compiler tc(model, r, *a, file, pseudonym_keys, errs);
  for (std::size_t ti = 0; ti < a->exchanges.size(); ++ti)
    tc.compile(a->exchanges[ti], ti, exchanges);
  check_report(*a, file, r.report_line(), errs);
  return errs.empty() ? a : nullptr;
}

}  // namespace

base::result<std::vector<std::shared_ptr<const agreement>>> load_agreements(
    const std::vector<std::string>& files, const std::string& agreement_xsd,
    const validation::schema_set& exchange_schemas, const std::vector<exchange_root>& exchanges,
    const std::map<std::string, std::string>& pseudonym_keys) {
  auto xsd = validation::schema_set::load({{agreement_xsd}, "", {}});
  if (!xsd) return xsd.errors();
  std::vector<base::diagnostic> errors;
  std::vector<std::shared_ptr<const agreement>> out;
  std::map<std::string, std::string> ids;  // id -> file
  for (const auto& file : files) {
    std::vector<base::diagnostic> errs;
    auto a =
        load_one(file, *xsd->get(), exchange_schemas.model(), exchanges, pseudonym_keys, ids, errs);
    errors.insert(errors.end(), errs.begin(), errs.end());
    if (a) out.push_back(std::move(a));
  }
  if (!errors.empty()) return errors;
  return out;
}
}  // namespace niem::routing
