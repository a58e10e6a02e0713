// The runner: applies a compiled mapping to one record, writing the document as a stream into
// one buffer in schema order.
#include <algorithm>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "base/text.h"
#include "mapping/compiled.h"
#include "mapping/json_reader.h"

namespace json = boost::json;

namespace niem::mapping {

using base::diagnostic;
using base::errc;
using namespace detail;

namespace {

// ---- Evaluation ----

struct frame {
  const json::value* item = nullptr;
  int index = 0;
};

struct runner {
  const compiled_mapping::impl& m;
  std::string_view where;
  std::vector<frame> frames;
  std::vector<std::string_view> row;
  std::string out;
  std::vector<const std::string*> line_sources{nullptr};
  std::vector<diagnostic> errs;
  std::string scratch;
  std::string value_buf;
  std::string part_buf;
  code_coverage* coverage = nullptr;
  // Keyed ids written so far and keyed references to check at the end (a few per record).
  std::vector<std::string> keyed_ids;
  struct keyed_reference {
    std::string id, key;
    const node* n;
  };
  std::vector<keyed_reference> keyed_refs;
  // The compiled checks (when asked for and complete): the open elements' automata, every id and
  // reference written, and what they found wrong. They never change what is written, so that
  // Xerces, judging the same bytes, can be compared with them.
  bool checking = false;
  struct open_element {
    const node* n;
    const validation::content_automaton* content;
    std::int32_t state;
  };
  std::vector<open_element> open;
  std::vector<std::string> ids_written;
  std::vector<std::pair<std::string, const node*>> refs_written;
  std::vector<diagnostic> check_errs;
  validation::value_scratch check_scratch;
  std::string why;

  void note_code(const code_table& t, std::string_view from) {
    if (coverage) coverage->used.emplace(t.name, std::string(from));
  }

  void fail(errc code, std::string msg, const std::string& src) {
    errs.push_back({code, std::move(msg), std::string(where), src, 0, 0});
  }

  // A looked-up field: missing, or its text (numbers and booleans in their JSON spelling).
  struct field {
    bool present = false;
    bool scalar = true;
    const json::value* v = nullptr;
    std::string_view text;
  };

  field lookup(const source_path& p) {
    field f;
    if (m.format == record_format::delimited) {
      if (p.column < 0 || static_cast<std::size_t>(p.column) >= row.size()) return f;
      f.text = row[p.column];
      f.present = !f.text.empty();
      return f;
    }
    const json::value* v = frames[std::min<std::size_t>(p.level, frames.size() - 1)].item;
    for (const auto& k : p.keys) {
      const auto* o = v ? v->if_object() : nullptr;
      if (!o) return f;
      auto it = o->find(k);
      if (it == o->end()) return f;
      v = &it->value();
    }
    if (!v || v->is_null()) return f;
    f.present = true;
    f.v = v;
    if (const auto* s = v->if_string()) {
      f.text = *s;
    } else if (v->is_bool()) {
      f.text = v->get_bool() ? "true" : "false";
    } else if (v->is_double()) {
      // The shortest spelling that reads back as the same double, positional where it is short
      // (365.5, not Boost.JSON's 3.655E2, which xs:decimal does not allow).
      scratch = fmt::format("{}", v->get_double());
      f.text = scratch;
    } else if (v->is_number()) {
      scratch = json::serialize(*v);
      f.text = scratch;
    } else {
      f.scalar = false;
    }
    return f;
  }

  bool holds(const condition& c) {
    auto f = lookup(c.field);
    bool r = f.present && f.scalar && !f.text.empty();
    if (r && c.k == condition::kind::equals) r = f.text == c.value;
    if (r && c.k == condition::kind::in_codes) {
      r = c.codes && c.codes->map.count(std::string(f.text));
      if (r) note_code(*c.codes, f.text);
    }
    return c.negate ? !r : r;
  }

  // Evaluates one value source; returns false (and records why) when the record is bad.
  bool eval(const value_src& v, std::string& val) {
    if (v.is_const) {
      val = v.constant;
    } else {
      auto f = lookup(v.path);
      if (!f.present) {
        val.clear();
        return true;
      }
      if (!f.scalar) {
        fail(errc::record_wrong_type, "expected a single value, found an object or array",
             v.path.label);
        return false;
      }
      val.assign(f.text);
    }
    for (const auto& t : v.steps) {
      auto r = apply_transform(t, val);
      if (!r.ok) {
        fail(r.code, fmt::format("{}: '{}'", r.message, val), v.path.label);
        return false;
      }
    }
    if (v.codes && !val.empty()) {
      auto it = v.codes->map.find(val);
      if (it == v.codes->map.end()) {
        fail(errc::record_unknown_code,
             fmt::format("unknown code '{}' (table '{}')", val, v.codes->name), v.path.label);
        return false;
      }
      note_code(*v.codes, val);
      val = it->second;
    }
    return true;
  }

  // A number within the value's range; the record is refused (with the range) otherwise.
  bool in_range(const node& n, const std::string& val) {
    auto d = parse_decimal(val);
    if (!d) {
      fail(errc::record_bad_value, fmt::format("'{}' is not a decimal number", val),
           n.source_label);
      return false;
    }
    // XML Schema obliges every processor to support 18 digits of a decimal and lets each refuse
    // more (libxml2 stops at 24): a longer number is refused rather than written for a
    // recipient's validator to reject.
    if (auto digits = d->integer.size() + d->fraction.size(); digits > 18) {
      fail(errc::record_out_of_range,
           fmt::format("{} has {} digits: at most 18 can be written as an XML Schema decimal", val,
                       digits),
           n.source_label);
      return false;
    }
    bool ok = true;
    if (n.min) {
      int c = compare(*d, *n.min);
      ok = n.min_exclusive ? c > 0 : c >= 0;
    }
    if (ok && n.max) {
      int c = compare(*d, *n.max);
      ok = n.max_exclusive ? c < 0 : c <= 0;
    }
    if (!ok)
      fail(errc::record_out_of_range, fmt::format("{} is out of range: must be {}", val, n.range),
           n.source_label);
    return ok;
  }

  // A value in the sense of require and forbid: not missing, null or empty.
  static bool has_value(const field& f) {
    return f.present && !(f.scalar && f.text.empty()) &&
           !(f.v && f.v->is_array() && f.v->get_array().empty()) &&
           !(f.v && f.v->is_object() && f.v->get_object().empty());
  }

  // A date not before the other field's date (a missing other field is its own rule's concern).
  bool in_order(const node& n, const std::string& val) {
    std::string other;
    const auto mark = errs.size();
    if (!eval(*n.not_before, other)) {
      errs.resize(mark);  // a bad other date is reported by that field's own rule
      return true;
    }
    if (other.empty() || val >= other) return true;
    fail(errc::record_dates_out_of_order,
         fmt::format("{} is before {} ({})", val, n.not_before->path.label, other), n.source_label);
    return false;
  }

  // A field the record must carry, or must not (under the check's conditions, already found to
  // hold).
  void check(const node& n) {
    auto f = lookup(n.required_field);
    const auto& label = n.required_field.label;
    auto because = n.because.empty() ? std::string() : " " + n.because;
    if (n.forbid) {
      if (n.forbidden.k == condition::kind::present) {
        if (has_value(f)) fail(errc::record_field_not_allowed, "not allowed" + because, label);
      } else if (holds(n.forbidden)) {
        fail(errc::record_field_not_allowed, fmt::format("'{}' is not allowed{}", f.text, because),
             label);
      }
      return;
    }
    if (n.array) {
      const auto* arr = f.present && f.v ? f.v->if_array() : nullptr;
      if (f.present && !arr) {
        fail(errc::record_wrong_type, "expected an array", label);
      } else if (!arr && n.min_items == 0) {
        fail(errc::record_missing_field, "required array is missing" + because, label);
      } else if (!arr || arr->size() < n.min_items) {
        fail(errc::record_missing_field,
             fmt::format("needs at least {}{}, found {}",
                         n.min_items == 1 ? std::string("one entry")
                                          : fmt::format("{} entries", n.min_items),
                         because, arr ? arr->size() : 0),
             label);
      }
      return;
    }
    if (!has_value(f))
      fail(errc::record_missing_field, "required field is missing or empty" + because, label);
  }

  // ---- Compiled checks ----

  std::string element_path(const node& n) const {
    std::string p;
    for (const auto& o : open) {
      p += '/';
      p += o.n->tag;
    }
    if (open.empty() || open.back().n != &n) {
      p += '/';
      p += n.tag;
    }
    return p;
  }

  void check_fail(const node& n, std::string msg, const std::string& source,
                  std::string_view suffix = {}) {
    auto path = element_path(n);
    path += suffix;
    if (!source.empty()) path = source + " -> " + path;
    check_errs.push_back(
        {errc::xml_schema_invalid, std::move(msg), std::string(where), std::move(path), 0, 0});
  }

  // The enclosing element's content model takes `n` as its next child.
  void admit(const node& n) {
    if (!checking || open.empty()) return;
    auto& o = open.back();
    if (!o.content || o.state == validation::content_automaton::k_reject) return;
    o.state = o.content->step(o.state, n.element);
    if (o.state == validation::content_automaton::k_reject)
      check_fail(n, fmt::format("{} is not expected at this place inside {}", n.tag, o.n->tag),
                 n.source_label);
  }

  // The element whose children were all written ends: its content model must accept.
  void close(const node& n, const validation::content_automaton* content, std::int32_t state) {
    if (!checking || !content || state == validation::content_automaton::k_reject) return;
    if (!content->accepting(state))
      check_fail(n, fmt::format("{} ends before a child its type requires", n.tag), {});
  }

  // A value (or, with `attr`, that attribute's value) against its type's compiled check; the
  // path's "@tag" is built only for a problem to report.
  void check_value(const node& n, const validation::value_check* c, std::string_view v,
                   const std::string& source, const attribute_rule* attr = nullptr) {
    if (!checking || !c || c->check(v, check_scratch, &why)) return;
    check_fail(n, why, source, attr ? "@" + attr->tag : std::string());
  }

  // Every id once, every reference to one of them (the ids numbered or named in the mapping are
  // checked here; keyed ones also by check_keyed_refs, with the record's own code). The messages
  // name no id: a keyed one carries a record's value.
  void check_ids(const node& root) {
    if (!checking) return;
    auto& ids = ids_written;  // the record's last use of them: sorted in place
    std::sort(ids.begin(), ids.end());
    for (std::size_t i = 1; i < ids.size(); ++i)
      if (ids[i] == ids[i - 1] && (i == 1 || ids[i] != ids[i - 2]))
        check_fail(root, "two elements carry one structures:id", {});
    for (const auto& [ref, n] : refs_written)
      if (!std::binary_search(ids.begin(), ids.end(), ref))
        check_fail(*n, "its structures:ref names no element of the document", {});
  }

  void indent(int depth) { out.append(static_cast<std::size_t>(depth) * 2, ' '); }

  void newline(const std::string* src = nullptr) {
    out += '\n';
    line_sources.push_back(src);
  }

  // Writes a node (all its iterations); true when anything was written.
  bool emit(const node& n, int depth) {
    if (!n.iterates) return emit_one(n, depth);
    auto f = lookup(n.iterate);
    if (!f.present) return false;
    const auto* arr = f.v ? f.v->if_array() : nullptr;
    if (!arr) {
      fail(errc::record_wrong_type, "expected an array", n.iterate.label);
      return false;
    }
    bool any = false;
    int index = 0;
    for (const auto& item : *arr) {
      frames.push_back({&item, ++index});
      any = emit_one(n, depth) || any;
      frames.pop_back();
    }
    return any;
  }

  std::string id_of(const std::string& id, int level) {
    if (level < 0 || static_cast<std::size_t>(level) >= frames.size()) return id;
    return id + std::to_string(frames[level].index);
  }

  // An attribute value: & < > " escaped, and the white space attribute-value normalization
  // would turn into spaces written as character references, so it reads back as it was.
  void append_attribute_value(std::string_view v) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const char c = v[i];
      if (c != '\t' && c != '\n' && c != '\r') continue;
      base::append_xml_escaped(out, v.substr(start, i - start));
      out += c == '\t' ? "&#9;" : c == '\n' ? "&#10;" : "&#13;";
      start = i + 1;
    }
    base::append_xml_escaped(out, v.substr(start));
  }

  // `prefix` + the key's value as an NCName: letters, digits, '.' and '-' as they are, every
  // other byte as _HH (so '_' too), which keeps distinct keys distinct.
  static void append_keyed(std::string& to, const std::string& prefix, std::string_view key) {
    static constexpr char hex[] = "0123456789ABCDEF";
    to += prefix;
    for (unsigned char c : key) {
      const bool ascii_alnum =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (ascii_alnum || c == '.' || c == '-') {
        to += static_cast<char>(c);
      } else {
        to += '_';
        to += hex[c >> 4];
        to += hex[c & 15];
      }
    }
  }

  // A key's text, or the record refused (the field named) when it has none.
  bool key_text(const source_path& key, std::string& text) {
    auto f = lookup(key);
    if (!f.present || !f.scalar || f.text.empty()) {
      fail(errc::record_missing_field, "the key naming this object is missing", key.label);
      return false;
    }
    text.assign(f.text);
    return true;
  }

  // Writes a keyed id; two objects of one kind with one key could each be the one a reference
  // means, so the record is refused.
  bool keyed_id(const node& n) {
    std::string key, id;
    if (!key_text(*n.id_key, key)) return false;
    append_keyed(id, n.id, key);
    if (std::find(keyed_ids.begin(), keyed_ids.end(), id) != keyed_ids.end()) {
      fail(errc::record_ambiguous_reference,
           fmt::format("two {} objects have the key '{}'", n.id, key), n.id_key->label);
      return false;
    }
    out += id;
    keyed_ids.push_back(std::move(id));
    return true;
  }

  // Writes a keyed reference; it is checked against the ids once the document is written.
  bool keyed_ref(const node& n) {
    std::string key, id;
    if (!key_text(*n.ref_key, key)) return false;
    append_keyed(id, n.ref_to, key);
    out += id;
    keyed_refs.push_back({std::move(id), std::move(key), &n});
    return true;
  }

  // Every keyed reference names an object the document holds.
  void check_keyed_refs() {
    for (const auto& r : keyed_refs)
      if (std::find(keyed_ids.begin(), keyed_ids.end(), r.id) == keyed_ids.end())
        fail(errc::record_unresolved_reference,
             fmt::format("no {} with the key '{}' in the record", r.n->ref_to, r.key),
             r.n->ref_key->label);
  }

  // The start tag's attributes after the name: structures:id, structures:ref, then the rules'
  // attributes. False (with the record's errors) when a value is bad or a required one is missing.
  bool attributes(const node& n) {
    if (!n.id.empty()) {
      out += " structures:id=\"";
      const auto from = out.size();
      if (!n.id_key) {
        out += id_of(n.id, n.id_level);
      } else if (!keyed_id(n)) {
        return false;
      }
      if (checking) ids_written.emplace_back(out, from);
      out += '"';
    }
    if (!n.ref_to.empty()) {
      out += " structures:ref=\"";
      const auto from = out.size();
      if (!n.ref_key) {
        out += id_of(n.ref_to, n.ref_level);
      } else if (!keyed_ref(n)) {
        return false;
      }
      if (checking) refs_written.emplace_back(out.substr(from), &n);
      out += '"';
    }
    bool ok = true;
    for (const auto& a : n.attributes) {
      if (!std::all_of(a.conds.begin(), a.conds.end(), [&](const auto& c) { return holds(c); }))
        continue;
      auto& val = part_buf;
      if (!eval(a.value, val)) {
        ok = false;
        continue;
      }
      if (val.empty()) {
        if (a.required) {
          fail(errc::record_missing_field, "required field is missing or empty",
               a.value.path.label);
          ok = false;
        }
        continue;
      }
      if (!base::valid_xml_chars(val)) {
        fail(errc::record_bad_value, "value holds characters XML cannot carry", a.value.path.label);
        ok = false;
        continue;
      }
      check_value(n, a.check, val, a.value.path.label, &a);
      out += ' ';
      out += a.tag;
      out += "=\"";
      append_attribute_value(val);
      out += '"';
    }
    return ok;
  }

  // The indented start tag's name and attributes, left open for its end; nothing written (and
  // false, with the record's errors) when an attribute's value is bad.
  bool start_tag(const node& n, int depth) {
    const auto mark = out.size();
    indent(depth);
    out += '<';
    out += n.tag;
    if (attributes(n)) return true;
    out.resize(mark);
    return false;
  }

  bool emit_one(const node& n, int depth) {
    for (const auto& c : n.conds)
      if (!holds(c)) return false;
    switch (n.kind) {
      case node_kind::leaf: {
        // Buffers reused across leaves and records of this run: no allocation per value.
        auto& val = value_buf;
        auto& part = part_buf;
        val.clear();
        bool ok = true;
        for (const auto& p : n.parts) {
          ok = eval(p, part) && ok;
          if (!part.empty()) {
            if (!val.empty()) val += n.separator;
            val += part;
          }
        }
        if (!ok) return false;
        if (val.empty()) {
          if (n.required)
            fail(errc::record_missing_field, fmt::format("required field is missing or empty"),
                 n.source_label);
          return false;
        }
        if (!base::valid_xml_chars(val)) {
          fail(errc::record_bad_value, "value holds characters XML cannot carry", n.source_label);
          return false;
        }
        if ((n.min || n.max) && !in_range(n, val)) return false;
        if (n.not_before && !in_order(n, val)) return false;
        if (!start_tag(n, depth)) return false;
        admit(n);
        check_value(n, n.value, val, n.source_label);
        out += '>';
        base::append_xml_escaped(out, val);
        out += "</";
        out += n.tag;
        out += '>';
        newline(n.source_label.empty() ? nullptr : &n.source_label);
        return true;
      }
      case node_kind::check:
        check(n);
        return false;  // writes nothing
      case node_kind::ref:
      case node_kind::nil: {
        // A reference whose key field is empty is not written, like a value without one.
        if (n.ref_key && !has_value(lookup(*n.ref_key))) return false;
        if (!start_tag(n, depth)) return false;
        admit(n);
        if (n.kind == node_kind::ref && !n.ref_nil) {  // empty, without xsi:nil
          if (checking && n.content && !n.content->accepting(0))
            check_fail(n, fmt::format("{} is empty, but its type requires content", n.tag), {});
          check_value(n, n.value, {}, {});
        }
        if (n.kind == node_kind::nil || n.ref_nil) out += " xsi:nil=\"true\"";
        out += "/>";
        newline();
        return true;
      }
      case node_kind::container: {
        const auto mark = out.size();
        const auto lines = line_sources.size();
        const auto ids = ids_written.size(), refs = refs_written.size();
        if (!start_tag(n, depth)) return false;
        out += '>';
        newline();
        if (checking) open.push_back({&n, n.content, 0});
        bool any = false;
        for (const auto& k : n.kids) any = emit(*k, depth + 1) || any;
        if (checking) {
          const auto o = open.back();
          open.pop_back();
          if (any) {
            admit(n);
            close(n, o.content, o.state);
          }
        }
        if (!any) {  // nothing inside: take the start tag back (and its id or reference)
          out.resize(mark);
          line_sources.resize(lines);
          ids_written.resize(ids);
          refs_written.resize(refs);
          return false;
        }
        indent(depth);
        out += "</";
        out += n.tag;
        out += '>';
        newline();
        return true;
      }
    }
    return false;
  }
};

std::vector<std::string_view> split_row(std::string_view line, char delim) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return base::split(line, delim);
}

}  // namespace

// ---- compiled_mapping ----

compiled_mapping::compiled_mapping(std::unique_ptr<impl> im) : impl_(std::move(im)) {}
compiled_mapping::~compiled_mapping() = default;

std::vector<diagnostic> compiled_mapping::check_header(std::string_view header,
                                                       std::string_view where) const {
  auto cols = split_row(header, delimiter_);
  std::vector<diagnostic> errs;
  if (cols.size() != impl_->columns.size()) {
    errs.push_back({errc::record_bad_header,
                    fmt::format("header has {} fields, the mapping expects {}", cols.size(),
                                impl_->columns.size()),
                    std::string(where), "", 0, 0});
    return errs;
  }
  for (std::size_t i = 0; i < cols.size(); ++i)
    if (base::trim(cols[i]) != impl_->columns[i])
      errs.push_back({errc::record_bad_header,
                      fmt::format("header field {} is '{}', the mapping expects '{}'", i + 1,
                                  cols[i], impl_->columns[i]),
                      std::string(where), "", 0, 0});
  return errs;
}

std::vector<code_entry> compiled_mapping::code_entries() const {
  std::vector<code_entry> out;
  for (const auto& [name, t] : impl_->tables)
    for (std::size_t i = 0; i < t.order.size(); ++i)
      out.push_back(
          {name, t.order[i], t.map.at(t.order[i]), t.positions[i].first, t.positions[i].second});
  std::sort(out.begin(), out.end(),
            [](const code_entry& a, const code_entry& b) { return a.line < b.line; });
  return out;
}

bool compiled_mapping::checks_complete() const {
  return impl_->checks_complete;
}
const std::string& compiled_mapping::unchecked_because() const {
  return impl_->unchecked_because;
}

base::result<conversion> compiled_mapping::map(std::string_view record, std::string_view where,
                                               const record_limits& lim, code_coverage* coverage,
                                               bool check) const {
  const auto& m = *impl_;
  if (record.size() > lim.max_record_bytes)
    return diagnostic{
        errc::record_too_large,
        fmt::format("record is {} bytes, limit {}", record.size(), lim.max_record_bytes),
        std::string(where),
        "",
        0,
        0};
  if (!base::valid_utf8(record))
    return diagnostic{
        errc::record_invalid_utf8, "record is not valid UTF-8", std::string(where), "", 0, 0};
  runner r{m,        where, {}, {}, {}, {nullptr}, {}, {}, {}, {},
           coverage, {},    {}, {}, {}, {},        {}, {}, {}, {}};
  r.checking = check && m.checks_complete;
  // Per-record JSON allocations come from one arena released at the end of the record.
  unsigned char buffer[8192];
  json::monotonic_resource arena(buffer, sizeof buffer);
  // Bound to the arena: assigning parse()'s arena-backed result to a default-storage value would
  // deep-copy the whole record onto the heap.
  const json::storage_ptr arena_storage(&arena);
  json::value doc(arena_storage);
  if (m.format == record_format::json) {
    auto read = read_json(record, doc, static_cast<std::size_t>(lim.max_json_depth));
    if (read.code != errc::ok)
      return diagnostic{read.code, std::move(read.message), std::string(where), read.field, 0, 0};
    if (!doc.is_object())
      return diagnostic{
          errc::record_wrong_type, "record is not a JSON object", std::string(where), "", 0, 0};
    if (auto* rt = doc.as_object().if_contains("record_type");
        rt && rt->is_string() && rt->get_string() != record_type_)
      return diagnostic{errc::record_no_mapping,
                        fmt::format("record_type is '{}', this mapping is for '{}'",
                                    std::string_view(rt->get_string()), record_type_),
                        std::string(where),
                        "record_type",
                        0,
                        0};
    r.frames.push_back({&doc, 0});
  } else {
    r.row = split_row(record, delimiter_);
    if (r.row.size() != m.columns.size())
      return diagnostic{
          errc::record_bad_column_count,
          fmt::format("row has {} fields, expected {}", r.row.size(), m.columns.size()),
          std::string(where),
          "",
          0,
          0};
    r.frames.push_back({nullptr, 0});
  }
  conversion c;
  c.exchange = exchange_;
  auto key = r.lookup(m.key);
  if (!key.present || !key.scalar || key.text.empty())
    return diagnostic{errc::record_missing_field,
                      "the record's key is missing",
                      std::string(where),
                      m.key.label,
                      0,
                      0};
  c.key.assign(key.text);
  r.out.reserve(4096);
  r.out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  r.line_sources.push_back(nullptr);
  r.out += m.root_open;
  if (!r.attributes(m.root)) return r.errs;
  r.out += ">\n";
  for (char ch : m.root_open)
    if (ch == '\n') r.line_sources.push_back(nullptr);
  r.line_sources.push_back(nullptr);  // the root start tag's own end of line
  if (r.checking) r.open.push_back({&m.root, m.root.content, 0});
  for (const auto& k : m.root.kids) r.emit(*k, 1);
  if (r.checking) {
    r.close(m.root, m.root.content, r.open.back().state);
    r.check_ids(m.root);
  }
  r.out += "</" + m.root.tag + ">\n";
  r.check_keyed_refs();
  if (!r.errs.empty()) return r.errs;
  c.document = std::move(r.out);
  c.line_sources = std::move(r.line_sources);
  c.checked = r.checking;
  c.check_errors = std::move(r.check_errs);
  return c;
}

}  // namespace niem::mapping
