#include "routing/agreement.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "base/digest.h"
#include "base/text.h"
#include "routing/xml_stream.h"

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

base::result<std::vector<std::shared_ptr<const agreement>>> load_agreements(
    const std::vector<std::string>& files, const std::string& agreement_xsd,
    const validation::schema_set& exchange_schemas, const std::vector<exchange_root>& exchanges,
    const std::map<std::string, std::string>& pseudonym_keys) {
  std::vector<base::diagnostic> errors;
  auto xsd = validation::schema_set::load({{agreement_xsd}, "", {}});
  if (!xsd) return xsd.errors();
  const auto& model = exchange_schemas.model();
  std::vector<std::shared_ptr<const agreement>> out;
  std::map<std::string, std::string> ids;  // id -> file
  for (const auto& file : files) {
    auto bytes = validation::read_file(file, 4 << 20);
    if (!bytes) {
      for (auto d : bytes.errors()) {
        d.code = base::errc::agreement_invalid;
        errors.push_back(std::move(d));
      }
      continue;
    }
    std::vector<base::diagnostic> errs;
    reader r(file, errs);
    auto diags = validation::read_xml(*bytes, file, r, xsd->get());
    for (auto& d : diags) d.code = base::errc::agreement_invalid;
    errs.insert(errs.begin(), diags.begin(), diags.end());
    if (!diags.empty()) {
      errors.insert(errors.end(), errs.begin(), errs.end());
      continue;
    }
    auto a = std::make_shared<agreement>(std::move(r.result));
    a->file = file;
    a->content_version = base::content_version(*bytes);
    if (auto [it, fresh] = ids.emplace(a->id, file); !fresh)
      errs.push_back(
          problem(file, 1, fmt::format("agreement {} is also defined in {}", a->id, it->second)));
    if (!a->effective_to.empty() && a->effective_to < a->effective_from)
      errs.push_back(problem(file, 1, "the agreement ends before it begins"));
    for (std::size_t ti = 0; ti < a->exchanges.size(); ++ti) {
      auto& t = a->exchanges[ti];
      auto line = r.term_lines()[ti];
      auto er = std::find_if(exchanges.begin(), exchanges.end(),
                             [&](const exchange_root& e) { return e.exchange == t.exchange; });
      if (er == exchanges.end()) {
        errs.push_back(
            problem(file, line, fmt::format("no mapping produces exchange '{}'", t.exchange)));
        continue;
      }
      t.root = er->root;
      auto root = model.element(t.root);
      if (!root) {
        errs.push_back(
            problem(file, line, fmt::format("the exchange schemas have no root {}", t.root.local)));
        continue;
      }
      t.filter.name = t.root;
      auto check_path = [&](const path& p, std::uint32_t at) {
        std::vector<int> steps;
        if (p.empty()) return false;
        if (auto bad = resolve(model, *root, p, steps)) {
          errs.push_back(problem(file, at, *bad));
          return false;
        }
        return true;
      };
      for (const auto& c : t.conditions) check_path(c.at, c.line);
      for (const auto& c : t.consents) {
        check_path(c.subject, c.line);
        if (c.when) check_path(c.when->at, c.line);
        if (std::find(a->purposes.begin(), a->purposes.end(), c.purpose) == a->purposes.end())
          errs.push_back(problem(file, c.line,
                                 fmt::format("consent purpose {} is not a purpose "
                                             "of the agreement",
                                             c.purpose)));
      }
      std::uint32_t first_line = line;
      for (const auto& il : r.include_labels()) {
        if (il.terms != ti) continue;
        first_line = std::max(first_line, il.line);
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
      const bool aggregate = a->level == sharing_level::aggregate;
      for (const auto& c : t.counts) {
        std::vector<int> steps;
        if (!aggregate) {
          errs.push_back(problem(file, c.line, "count belongs to aggregate agreements only"));
          continue;
        }
        if (c.at.empty()) continue;
        if (auto bad = resolve(model, *root, c.at, steps)) {
          errs.push_back(problem(file, c.line, *bad));
          continue;
        }
        const auto& el = model.elements()[steps.back()];
        if (el.type < 0 || !model.types()[el.type].simple_content)
          errs.push_back(
              problem(file, c.line, fmt::format("{} has no simple value to count", c.label)));
      }
      if (aggregate) {
        // Aggregate agreements receive counts, never records.
        if (!t.includes.empty())
          errs.push_back(problem(file, line,
                                 "an aggregate agreement lets no record flow: it counts (use "
                                 "count, not include)"));
        if (t.counts.empty())
          errs.push_back(problem(file, line, "terms of an aggregate agreement need a count"));
      } else if (t.includes.empty()) {
        errs.push_back(problem(file, line, "terms without any include let nothing flow"));
      } else {
        check_required(model, t.filter, *root, t.root.local, file, first_line, errs);
      }
      t.deidentified = a->level == sharing_level::deidentified;
      // Transforms mark elements inside included subtrees.
      for (const auto& tr : r.transforms()) {
        if (tr.terms != ti) continue;
        std::vector<int> steps;
        if (tr.at.empty()) continue;
        if (auto bad = resolve(model, *root, tr.at, steps)) {
          errs.push_back(problem(file, tr.line, *bad));
          continue;
        }
        const auto& el = model.elements()[steps.back()];
        const auto* ty = el.type >= 0 ? &model.types()[el.type] : nullptr;
        if (!ty || !ty->simple_content) {
          errs.push_back(
              problem(file, tr.line, fmt::format("{} has no simple value to transform", tr.text)));
          continue;
        }
        if (tr.action == transform_action::year &&
            !(el.name.ns == "http://release.niem.gov/niem/niem-core/5.0/" &&
              (el.name.local == "Date" || el.name.local == "DateTime"))) {
          errs.push_back(problem(
              file, tr.line,
              fmt::format("'year' applies to nc:Date or nc:DateTime, not {}", el.name.local)));
          continue;
        }
        if (tr.action == transform_action::year && !model.element({el.name.ns, "YearDate"})) {
          errs.push_back(problem(file, tr.line, "the exchange schemas lack nc:YearDate"));
          continue;
        }
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
          errs.push_back(
              problem(file, tr.line,
                      fmt::format("{} is not inside an include: nothing to transform", tr.text)));
          continue;
        }
        n->transform = tr.action;
        if (tr.action == transform_action::pseudonym) {
          auto key = pseudonym_keys.find(file);
          if (key == pseudonym_keys.end() || key->second.size() < 32)
            errs.push_back(problem(file, tr.line,
                                   "pseudonyms need the agreement's secret: give <agreement "
                                   "pseudonym-key-file> (32 characters or more) in the "
                                   "configuration"));
          else
            t.pseudonym_key = key->second;
        }
      }
    }
    check_report(*a, file, r.report_line(), errs);
    errors.insert(errors.end(), errs.begin(), errs.end());
    if (errs.empty()) out.push_back(std::move(a));
  }
  if (!errors.empty()) return errors;
  return out;
}

bool values_at(std::string_view doc, const std::vector<const path*>& paths,
               std::vector<std::vector<std::string>>& out) {
  out.assign(paths.size(), {});
  xml_stream x(doc);
  std::vector<xml_name> stack;  // below the root
  std::string text;
  bool root_seen = false;
  for (;;) {
    switch (x.next()) {
      case xml_stream::kind::start:
        if (!root_seen) {
          root_seen = true;
          break;
        }
        stack.push_back(x.name());
        text.clear();
        break;
      case xml_stream::kind::text:
        text += x.text();
        break;
      case xml_stream::kind::end:
        if (stack.empty()) break;  // the root closes
        for (std::size_t i = 0; i < paths.size(); ++i) {
          const auto& p = *paths[i];
          if (p.size() != stack.size()) continue;
          bool same = true;
          for (std::size_t k = 0; k < p.size() && same; ++k)
            same = p[k].local == stack[k].local && p[k].ns == stack[k].ns;
          if (same) out[i].push_back(text);
        }
        stack.pop_back();
        text.clear();
        break;
      case xml_stream::kind::other:
        break;
      case xml_stream::kind::done:
        return root_seen;
      case xml_stream::kind::error:
        return false;
    }
  }
}

namespace {

// One recipient's filter over the shared token stream: what it keeps, what it writes.
class filter_run {
 public:
  filter_run(const exchange_terms& terms, std::string_view doc, bool explain)
      : terms_(terms), doc_(doc), explain_(explain) {
    r.document.reserve(doc.size());
  }

  filter_result r;
  bool failed = false;

  void other(const xml_stream& x) {
    if (frames_.empty() && x.raw().starts_with("<?xml")) r.document += x.raw();
  }
  void text(const xml_stream& x) {
    if (frames_.empty()) return;
    if (frames_.back().st == state::transforming) {
      value_ += x.raw();
    } else if (frames_.back().st == state::kept) {
      if (terms_.deidentified && has_full_date(x.raw()))
        return fail(
            "a full date would flow under a de-identified agreement (add a 'year' "
            "transform for it)");
      r.document += x.raw();
    }
  }
  void start(const xml_stream& x) {
    if (frames_.empty()) {
      if (x.name().local != terms_.root.local || x.name().ns != terms_.root.ns)
        return fail("the document's root is not the exchange's root");
      if (r.document.size()) r.document += '\n';
      r.document += x.raw();
      frames_.push_back({&terms_.filter, state::container, true, {}});
      return;
    }
    if (explain_) {
      auto q = x.raw().substr(1);
      names_.push_back(q.substr(0, q.find_first_of(" \t\r\n/>")));
    }
    auto& parent = frames_.back();
    if (parent.st == state::dropped || parent.st == state::transforming) {
      frames_.push_back({nullptr, state::dropped, false, {}});
    } else if (parent.st == state::kept) {
      // Inside a kept subtree the tree only marks transforms.
      const auto* c = parent.node ? parent.node->child(x.name().ns, x.name().local) : nullptr;
      if (c && c->transform != transform_action::none) {
        value_.clear();
        frames_.push_back({c, state::transforming, true, x.raw()});
        if (x.empty_element()) value_.clear();
      } else {
        r.document += x.raw();
        frames_.push_back({c, state::kept, true, {}});
      }
    } else {
      const auto* c = parent.node->child(x.name().ns, x.name().local);
      if (!c) {
        note_removed(x.offset());
        frames_.push_back({nullptr, state::dropped, false, {}});
      } else if (c->include) {
        flush();
        indent(frames_.size());
        if (std::find(disclosed_.begin(), disclosed_.end(), c) == disclosed_.end())
          disclosed_.push_back(c);
        if (c->transform != transform_action::none) {
          value_.clear();
          frames_.push_back({c, state::transforming, true, x.raw()});
        } else {
          r.document += x.raw();
          frames_.push_back({c, state::kept, true, {}});
        }
      } else {
        frames_.push_back({c, state::container, false, x.raw()});
        if (c->always) flush();  // required where it stands: written even if it stays empty
      }
    }
  }
  void end(const xml_stream& x) {
    if (frames_.empty()) return fail("unbalanced document");
    auto f = frames_.back();
    frames_.pop_back();
    if (explain_ && !names_.empty() && !frames_.empty()) names_.pop_back();
    if (f.st == state::transforming) {
      transformed(f, x.raw());
    } else if (f.st == state::kept) {
      r.document += x.raw();
    } else if (f.st == state::container && f.written && !x.raw().empty()) {
      indent(frames_.size());
      r.document += x.raw();
    }
  }
  void finish() {
    r.document += '\n';
    for (const auto* n : disclosed_) r.disclosed.push_back(n->label);
    std::sort(r.disclosed.begin(), r.disclosed.end());
    r.ok = true;
  }
  void fail(std::string why) {
    failed = true;
    r.error = std::move(why);
  }

 private:
  enum class state { container, kept, dropped, transforming };
  struct frame {
    const filter_node* node;
    state st;
    bool written;
    std::string_view start;
  };

  static bool has_full_date(std::string_view s) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    for (std::size_t i = 0; i + 10 <= s.size(); ++i)
      if (digit(s[i]) && digit(s[i + 1]) && digit(s[i + 2]) && digit(s[i + 3]) && s[i + 4] == '-' &&
          digit(s[i + 5]) && digit(s[i + 6]) && s[i + 7] == '-' && digit(s[i + 8]) &&
          digit(s[i + 9]))
        return true;
    return false;
  }

  // A start tag that can take content (an empty-element tag opened up).
  static std::string open_tag(std::string_view start) {
    std::string s(start);
    if (s.ends_with("/>")) {
      s.resize(s.size() - 2);
      s += '>';
    }
    return s;
  }

  // Writes a transformed element in place of the original.
  void transformed(const frame& f, std::string_view end_tag) {
    auto value = xml_unescape(base::trim(value_));
    auto tag = f.start.substr(1);
    auto qname = tag.substr(0, tag.find_first_of(" \t\r\n/>"));
    auto colon = qname.find(':');
    auto prefix = colon == std::string_view::npos ? std::string_view() : qname.substr(0, colon + 1);
    switch (f.node->transform) {
      case transform_action::year: {
        if (value.size() < 4 || !std::all_of(value.begin(), value.begin() + 4,
                                             [](char c) { return c >= '0' && c <= '9'; }))
          return fail("a date to generalize has no year");
        r.document +=
            fmt::format("<{}YearDate>{}</{}YearDate>", prefix, value.substr(0, 4), prefix);
        return;
      }
      case transform_action::zip3:
        r.document += open_tag(f.start);
        base::append_xml_escaped(r.document, value.substr(0, 3));
        break;
      case transform_action::pseudonym:
        r.document += open_tag(f.start);
        r.document += "PSN-" + base::hmac_sha256_hex(terms_.pseudonym_key, value).substr(0, 24);
        break;
      case transform_action::none:
        break;
    }
    r.document += end_tag.empty() ? fmt::format("</{}>", qname) : std::string(end_tag);
  }
  void note_removed(std::size_t at) {
    if (!explain_) return;
    removed_element e;
    for (const auto& n : names_) {
      if (!e.path.empty()) e.path += '/';
      e.path += n;
    }
    e.line = 1 + static_cast<std::uint32_t>(std::count(doc_.begin(), doc_.begin() + at, '\n'));
    r.removed.push_back(std::move(e));
  }
  void indent(std::size_t depth) {
    r.document += '\n';
    r.document.append(depth * 2, ' ');
  }
  // Writes the start tags of the containers above a kept element, once.
  void flush() {
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      auto& f = frames_[i];
      if (f.written) continue;
      indent(i);
      r.document += f.start;
      f.written = true;
    }
  }

  const exchange_terms& terms_;
  std::string_view doc_;
  bool explain_;
  std::vector<frame> frames_;
  std::vector<const filter_node*> disclosed_;
  std::vector<std::string_view> names_;  // qualified names of the open elements below the root
  std::string value_;                    // the text of the element being transformed
};

}  // namespace

std::vector<filter_result> apply_filters(const std::vector<const exchange_terms*>& terms,
                                         std::string_view doc, bool explain) {
  std::vector<filter_run> runs;
  runs.reserve(terms.size());
  for (const auto* t : terms) runs.emplace_back(*t, doc, explain);
  xml_stream x(doc);
  std::string error;
  for (;;) {
    auto k = x.next();
    if (k == xml_stream::kind::done) break;
    if (k == xml_stream::kind::error) {
      error = x.error();
      break;
    }
    for (auto& run : runs) {
      if (run.failed) continue;
      switch (k) {
        case xml_stream::kind::other:
          run.other(x);
          break;
        case xml_stream::kind::text:
          run.text(x);
          break;
        case xml_stream::kind::start:
          run.start(x);
          break;
        default:
          run.end(x);
          break;
      }
    }
  }
  std::vector<filter_result> out;
  out.reserve(runs.size());
  for (auto& run : runs) {
    if (!error.empty()) run.fail(error);
    if (!run.failed) run.finish();
    out.push_back(std::move(run.r));
  }
  return out;
}

filter_result apply_filter(const exchange_terms& terms, std::string_view doc, bool explain) {
  return std::move(apply_filters({&terms}, doc, explain).front());
}

}  // namespace niem::routing
