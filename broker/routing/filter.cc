// An agreement's filter over the broker's own documents, streamed: what each recipient's terms
// keep, transform and remove, for every recipient's terms in one pass over the tokens.
#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "base/digest.h"
#include "base/text.h"
#include "routing/agreement.h"
#include "routing/xml_stream.h"

namespace niem::routing {

bool values_at(std::string_view doc, const std::vector<const path*>& paths,
               std::vector<std::vector<std::string>>& out) {
  out.assign(paths.size(), {});
  xml_stream x(doc);
  std::vector<xml_name> stack;         // below the root
  std::vector<std::string_view> runs;  // the current element's text as written, decoded if wanted
  bool root_seen = false;
  for (;;) {
    switch (x.next()) {
      case xml_stream::kind::start:
        if (!root_seen) {
          root_seen = true;
          break;
        }
        stack.push_back(x.name());
        runs.clear();
        break;
      case xml_stream::kind::text:
        runs.push_back(x.raw());
        break;
      case xml_stream::kind::end: {
        if (stack.empty()) break;  // the root closes
        std::optional<std::string> text;
        for (std::size_t i = 0; i < paths.size(); ++i) {
          const auto& p = *paths[i];
          if (p.size() != stack.size()) continue;
          bool same = true;
          for (std::size_t k = 0; k < p.size() && same; ++k)
            same = p[k].local == stack[k].local && p[k].ns == stack[k].ns;
          if (!same) continue;
          if (!text) {
            text.emplace();
            for (auto r : runs) *text += xml_text(r);
          }
          out[i].push_back(*text);
        }
        stack.pop_back();
        runs.clear();
        break;
      }
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
      write_start(x.raw());
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
        write_start(x.raw());
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
          write_start(x.raw());
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
    if (!references_kept()) return;
    r.document += '\n';
    for (const auto* n : disclosed_) r.disclosed.push_back(n->label);
    std::sort(r.disclosed.begin(), r.disclosed.end());
    r.ok = true;
  }
  void fail(std::string why, base::errc code = base::errc::internal) {
    failed = true;
    r.error = std::move(why);
    r.code = code;
  }

 private:
  enum class state { container, kept, dropped, transforming };
  struct frame {
    const filter_node* node;
    state st;
    bool written;
    std::string_view start;
  };

  // The value of attribute `name` in a start tag as written ("" if absent). The broker's writers
  // put NIEM's structures under the prefix `structures`, whatever the release.
  static std::string_view attribute(std::string_view start_tag, std::string_view name) {
    for (std::size_t at = start_tag.find(name); at != std::string_view::npos;
         at = start_tag.find(name, at + 1)) {
      const char before = at ? start_tag[at - 1] : '<';
      const std::size_t v = at + name.size();
      if ((before == ' ' || before == '\t' || before == '\n' || before == '\r') &&
          start_tag.substr(v, 2) == "=\"") {
        auto end = start_tag.find('"', v + 2);
        if (end != std::string_view::npos) return start_tag.substr(v + 2, end - v - 2);
      }
    }
    return {};
  }

  // Every reference the recipient receives points at an object it receives: a filter that kept
  // a reference and removed its object would deliver a document naming what it does not hold.
  // Read from the start tags as they are written (write_start, note_ids), not from a second
  // reading of the result.
  bool references_kept() {
    for (auto ref : refs_)
      if (std::find(ids_.begin(), ids_.end(), ref) == ids_.end()) {
        fail(fmt::format("the filter keeps a reference to '{}' but removes the object it points "
                         "at",
                         ref),
             base::errc::route_reference_removed);
        return false;
      }
    return true;
  }

  // A start tag written as the input has it.
  void write_start(std::string_view tag) {
    r.document += tag;
    note_ids(tag);
  }
  // The structures:id and structures:ref a written start tag carries (views into the input,
  // which outlives the run).
  void note_ids(std::string_view tag) {
    if (tag.find("structures:") == std::string_view::npos) return;
    if (auto id = attribute(tag, "structures:id"); !id.empty()) ids_.push_back(id);
    if (auto ref = attribute(tag, "structures:ref"); !ref.empty()) refs_.push_back(ref);
  }

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
        note_ids(f.start);
        base::append_xml_escaped(r.document, value.substr(0, 3));
        break;
      case transform_action::pseudonym:
        r.document += open_tag(f.start);
        note_ids(f.start);
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
      write_start(f.start);
      f.written = true;
    }
  }

  const exchange_terms& terms_;
  std::string_view doc_;
  bool explain_;
  std::vector<frame> frames_;
  std::vector<const filter_node*> disclosed_;
  std::vector<std::string_view> names_;       // qualified names of the open elements below the root
  std::vector<std::string_view> ids_, refs_;  // of the start tags written
  std::string value_;                         // the text of the element being transformed
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
