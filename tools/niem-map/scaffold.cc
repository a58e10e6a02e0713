// niem-map scaffold: a first mapping and a native record to start from, written from a published
// IEPD's sample instance (one rule per element and attribute, the record holding the sample's
// values, so the first golden test reproduces the sample) or from the exchange schema's root
// element (its required content, the optional children named in comments, an empty record).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "args.h"
#include "base/text.h"
#include "commands.h"
#include "mapping/mapping.h"
#include "validation/validation.h"
#include "validation/vocabulary.h"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace niem::tools {

namespace {

using validation::qname;

constexpr std::string_view k_xsi = vocabulary::k_xsi;
constexpr std::string_view k_xml = vocabulary::k_xml;

// ---- The sample instance as a tree ----

struct xnode {
  qname name;
  std::vector<std::pair<qname, std::string>> attrs;
  std::string text;
  std::vector<std::unique_ptr<xnode>> kids;
  const std::string* attr(std::string_view local, bool structures) const {
    for (const auto& [n, v] : attrs)
      if (n.local == local && (n.ns.find("/structures/") != std::string::npos) == structures)
        return &v;
    return nullptr;
  }
};

struct tree_builder : validation::xml_event_handler {
  std::unique_ptr<xnode> root;
  std::vector<xnode*> stack;
  std::vector<std::pair<std::string, std::string>> prefixes;  // as declared, in order
  void start_prefix(const std::string& p, const std::string& uri) override {
    prefixes.emplace_back(p, uri);
  }
  void end_prefix(const std::string&) override {}
  void start_element(const qname& n, const std::vector<validation::xml_attribute>& attrs,
                     std::uint32_t, std::uint32_t) override {
    auto x = std::make_unique<xnode>();
    x->name = n;
    for (const auto& a : attrs) x->attrs.emplace_back(a.name, a.value);
    xnode* raw = x.get();
    if (stack.empty())
      root = std::move(x);
    else
      stack.back()->kids.push_back(std::move(x));
    stack.push_back(raw);
  }
  void end_element(const qname&) override { stack.pop_back(); }
  void text(std::string_view chars) override {
    if (!stack.empty()) stack.back()->text += chars;
  }
};

// PersonGivenName -> person_given_name: the native record's field names.
std::string snake(std::string_view local) {
  std::string out;
  for (std::size_t i = 0; i < local.size(); ++i) {
    const char c = local[i];
    const bool upper = c >= 'A' && c <= 'Z';
    if (upper && i > 0 &&
        (!(local[i - 1] >= 'A' && local[i - 1] <= 'Z') ||
         (i + 1 < local.size() && local[i + 1] >= 'a' && local[i + 1] <= 'z')))
      out += '_';
    out += upper ? static_cast<char>(c - 'A' + 'a') : (c == '-' || c == '.' ? '_' : c);
  }
  return out;
}

std::string attr_escape(std::string_view s) {
  std::string out;
  base::append_xml_escaped(out, s);
  return out;
}

// ---- Writing the mapping ----

class writer {
 public:
  explicit writer(std::map<std::string, std::string> prefix_of)
      : prefix_of_(std::move(prefix_of)) {}

  std::string qn(const qname& q) const {
    if (q.ns == k_xml) return "xml:" + q.local;
    auto it = prefix_of_.find(q.ns);
    return (it == prefix_of_.end() || it->second.empty() ? "" : it->second + ":") + q.local;
  }

  // The rules for the children of `n`, with their fields in `record`.
  void children(const xnode& n, json::object& record, int depth, const std::string& path = "") {
    std::vector<std::pair<qname, std::vector<const xnode*>>> groups;  // first-seen order
    for (const auto& k : n.kids) {
      auto g = std::find_if(groups.begin(), groups.end(),
                            [&](const auto& x) { return x.first == k->name; });
      if (g == groups.end()) groups.push_back({k->name, {}}), g = groups.end() - 1;
      g->second.push_back(k.get());
    }
    for (const auto& [name, members] : groups) {
      std::string key = field_name(record, name);
      // Members carrying ids or references (each its own) get one rule each: a repeat would
      // write the first one's for all.
      const bool own = std::any_of(members.begin(), members.end(), [](const xnode* m) {
        return m->attr("id", true) || refers(*m);
      });
      if (members.size() > 1 && !own) {
        repeat(name, members, key, record, depth, path);
      } else {
        for (std::size_t i = 0; i < members.size(); ++i)
          element(*members[i], members.size() > 1 ? fmt::format("{}_{}", key, i + 1) : key, record,
                  depth, path, members.size() > 1);
      }
    }
  }

  std::string out;

 private:
  // A field name for `name` not yet used in `record` (the same local name in two namespaces
  // gets its prefix).
  std::string field_name(const json::object& record, const qname& name) {
    std::string key = snake(name.local);
    if (record.contains(key)) key = snake(qn(name));
    for (auto& c : key)
      if (c == ':') c = '_';
    return key;
  }

  void line(int depth, const std::string& s) {
    if (!emit_) return;
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
    out += s;
    out += '\n';
  }

  // Attributes other than structures:id/ref and xsi's: one rule each, the value in the record.
  void attributes(const xnode& n, const std::string& key, json::object& record, int depth,
                  const std::string& path) {
    for (const auto& [a, v] : n.attrs) {
      if (a.ns == k_xsi || a.ns.find("/structures/") != std::string::npos) continue;
      std::string field = key + "_" + snake(a.local);
      record[field] = v;
      line(depth, fmt::format(R"(<map:attribute name="{}" source="{}{}"/>)", qn(a), path, field));
    }
  }

  static bool simple(const xnode& n) { return n.kids.empty(); }

  static bool refers(const xnode& n) {
    return n.attr("ref", true) ||
           std::any_of(n.kids.begin(), n.kids.end(), [](const auto& k) { return refers(*k); });
  }

  // `distinct`: one of several siblings of one name, each written apart.
  void element(const xnode& n, const std::string& key, json::object& record, int depth,
               const std::string& path, bool distinct = false) {
    const std::string target = qn(n.name);
    const auto* id = n.attr("id", true);
    const auto* ref = n.attr("ref", true);
    const bool nil = std::any_of(n.attrs.begin(), n.attrs.end(), [](const auto& a) {
      return a.first.ns == k_xsi && a.first.local == "nil" && a.second == "true";
    });
    const std::string id_attr = id ? fmt::format(R"( id="{}")", attr_escape(*id)) : "";
    if (simple(n) && base::trim(n.text).empty() && (ref || nil)) {
      const bool has_attrs = n.attrs.size() > (ref ? 1u : 0u) + (nil ? 1u : 0u);
      const std::string open =
          ref ? fmt::format(R"(<map:ref target="{}" to="{}")", target, attr_escape(*ref))
              : fmt::format(R"(<map:nil target="{}"{})", target, id_attr);
      if (!has_attrs) return line(depth, open + "/>");
      line(depth, open + ">");
      attributes(n, key, record, depth + 1, path);
      return line(depth, ref ? "</map:ref>" : "</map:nil>");
    }
    if (simple(n)) {
      record[key] = std::string(base::trim(n.text));
      const bool has_attrs = n.attrs.size() > (id ? 1u : 0u);
      const std::string open =
          fmt::format(R"(<map:value target="{}" source="{}{}"{})", target, path, key, id_attr);
      if (!has_attrs) return line(depth, open + "/>");
      line(depth, open + ">");
      attributes(n, key, record, depth + 1, path);
      return line(depth, "</map:value>");
    }
    json::object inner;
    line(depth, fmt::format(R"(<map:object target="{}"{}{}{}>)", target, id_attr,
                            distinct && !id && !ref ? R"( distinct="true")" : "",
                            ref ? fmt::format(R"( ref="{}")", attr_escape(*ref)) : ""));
    attributes(n, key, inner, depth + 1, path + key + ".");
    children(n, inner, depth + 1, path + key + ".");
    line(depth, "</map:object>");
    record[key] = std::move(inner);
  }

  void repeat(const qname& name, const std::vector<const xnode*>& members, const std::string& key,
              json::object& record, int depth, const std::string& path) {
    json::array items;
    const std::string target = qn(name);
    if (std::all_of(members.begin(), members.end(), [](const xnode* m) { return simple(*m); })) {
      for (const xnode* m : members) items.emplace_back(std::string(base::trim(m->text)));
      line(depth, fmt::format(R"(<map:repeat source="{}{}">)", path, key));
      line(depth + 1, fmt::format(R"(<map:value target="{}" source="."/>)", target));
    } else {
      // One set of rules for what any member holds; each member's values, one item each.
      line(depth, fmt::format(R"(<map:repeat source="{}{}" target="{}">)", path, key, target));
      xnode all;
      for (const xnode* m : members) merge(all, *m);
      json::object unused;
      children(all, unused, depth + 1);
      const bool emit = emit_;
      emit_ = false;
      for (const xnode* m : members) {
        json::object item;
        children(*m, item, depth + 1);
        items.emplace_back(std::move(item));
      }
      emit_ = emit;
    }
    line(depth, "</map:repeat>");
    record[key] = std::move(items);
  }

  // `src`'s children and attributes joined into `dst`: what any member of a repeat holds.
  static void merge(xnode& dst, const xnode& src) {
    for (const auto& a : src.attrs)
      if (std::none_of(dst.attrs.begin(), dst.attrs.end(),
                       [&](const auto& d) { return d.first == a.first; }))
        dst.attrs.push_back(a);
    if (dst.text.empty()) dst.text = src.text;
    for (const auto& k : src.kids) {
      auto same = std::find_if(dst.kids.begin(), dst.kids.end(),
                               [&](const auto& d) { return d->name == k->name; });
      if (same == dst.kids.end()) {
        dst.kids.push_back(std::make_unique<xnode>());
        dst.kids.back()->name = k->name;
        same = dst.kids.end() - 1;
      }
      merge(**same, *k);
    }
  }

  std::map<std::string, std::string> prefix_of_;
  bool emit_ = true;  // false: fill the record only (the other members of a repeat)
};

// ---- The command ----

struct scaffold_run {
  parsed_args a;
  fs::path out_dir;
  validation::schema_source schemas;

  std::string schema_set_xml() const {
    auto rel = [&](const std::string& p) {
      return fs::relative(fs::absolute(p), fs::absolute(out_dir)).generic_string();
    };
    std::string s = "  <map:schema-set>\n";
    for (const auto& f : schemas.files) s += fmt::format("    <map:file path=\"{}\"/>\n", rel(f));
    if (!schemas.catalog.empty())
      s += fmt::format("    <map:catalog path=\"{}\"/>\n", rel(schemas.catalog));
    for (const auto& d : schemas.search_dirs)
      s += fmt::format("    <map:folder path=\"{}\"/>\n", rel(d));
    return s + "  </map:schema-set>\n";
  }

  std::string header(const std::map<std::string, std::string>& prefix_of, const qname& root,
                     const std::string& key, const std::string& what) const {
    std::string h = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- " + what +
                    " Fill in the sources with your record's fields; `niem-map check` and "
                    "`niem-map test` tell what is left. -->\n"
                    "<map:mapping xmlns:map=\"urn:niem-broker:mapping:1\"\n";
    for (const auto& [uri, p] : prefix_of)
      if (!p.empty() && uri != k_xsi && uri != k_xml &&
          uri.find("/structures/") == std::string::npos)
        h += fmt::format("    xmlns:{}=\"{}\"\n", p, uri);
    auto it = prefix_of.find(root.ns);
    const std::string root_q = (it == prefix_of.end() ? "" : it->second + ":") + root.local;
    h += fmt::format(
        "    agency=\"{}\" record-type=\"{}\" format=\"json\" key=\"{}\"\n"
        "    exchange=\"{}\" root=\"{}\">\n",
        a.get("agency").value_or("AGENCY"), a.get("record-type").value_or("RECORD_TYPE"), key,
        a.get("exchange").value_or("EXCHANGE"), root_q);
    return h + schema_set_xml() + "\n";
  }

  // Prefixes for every namespace of the sample, as it declares them; the default namespace
  // gets one (nc for NIEM Core, else ns1, ns2...).
  static std::map<std::string, std::string> prefixes(const tree_builder& t) {
    std::map<std::string, std::string> prefix_of;
    std::set<std::string> taken;
    for (const auto& [p, uri] : t.prefixes)
      if (!p.empty() && !prefix_of.count(uri)) prefix_of[uri] = p, taken.insert(p);
    int n = 0;
    for (const auto& [p, uri] : t.prefixes) {
      if (!p.empty() || prefix_of.count(uri)) continue;
      std::string q = uri.find("niem-core") != std::string::npos && !taken.count("nc")
                          ? "nc"
                          : fmt::format("ns{}", ++n);
      prefix_of[uri] = q;
      taken.insert(q);
    }
    return prefix_of;
  }

  int from_sample(const std::string& sample) {
    auto bytes = validation::read_file(sample);
    if (!bytes) return print(bytes.errors()), 2;
    tree_builder t;
    auto diags = validation::read_xml(*bytes, sample, t);
    if (!diags.empty() || !t.root) return print(diags), 2;
    auto prefix_of = prefixes(t);
    writer w(prefix_of);
    json::object record;
    w.children(*t.root, record, 1);
    // The key: as given (a dotted path), else a top-level field to add.
    const std::string key = a.get("key").value_or("record_id");
    if (key.find('.') == std::string::npos && !record.contains(key)) record[key] = "";
    std::string mapping = header(prefix_of, t.root->name, key,
                                 "Scaffolded from " + fs::path(sample).filename().string() + ".") +
                          w.out + "</map:mapping>\n";
    return write(mapping, record, "tests/sample.input.json");
  }

  // The root's required content, recursively; the optional children named in a comment.
  void required(const validation::schema_model& m, int element, const writer& w,
                json::object& record, std::string& out, int depth, std::set<int>& open) {
    const auto& el = m.elements()[element];
    const auto& ty = m.types()[el.type];
    std::vector<std::string> optional;
    for (const auto& p : ty.children) {
      int child = p.element;
      if (m.elements()[child].abstract) {
        if (m.elements()[child].substitutes.empty()) continue;
        child = m.elements()[child].substitutes.front();
      }
      const auto& c = m.elements()[child];
      if (p.min == 0) {
        optional.push_back(w.qn(c.name));
        continue;
      }
      const std::string key = snake(c.name.local);
      const std::string pad(static_cast<std::size_t>(depth) * 2, ' ');
      if (c.type < 0) continue;
      if (m.types()[c.type].simple_content) {
        record[key] = "";
        out += fmt::format("{}<map:value target=\"{}\" source=\"{}\" required=\"true\"/>\n", pad,
                           w.qn(c.name), key);
      } else if (depth < 8 && open.insert(c.type).second) {
        json::object inner;
        out += fmt::format("{}<map:object target=\"{}\">\n", pad, w.qn(c.name));
        required(m, child, w, inner, out, depth + 1, open);
        out += pad + "</map:object>\n";
        open.erase(c.type);
        record[key] = std::move(inner);
      }
    }
    if (!optional.empty()) {
      std::string list;
      for (std::size_t i = 0; i < optional.size() && i < 12; ++i)
        list += (i ? ", " : "") + optional[i];
      if (optional.size() > 12) list += fmt::format(" and {} more", optional.size() - 12);
      out +=
          fmt::format("{}<!-- optional in {}: {} -->\n",
                      std::string(static_cast<std::size_t>(depth) * 2, ' '), w.qn(el.name), list);
    }
  }

  int from_schema(const std::string& root_text) {
    auto set = validation::schema_set::load(schemas);
    if (!set) return print(set.errors()), 2;
    const auto& m = set.value()->model();
    // {namespace}Local or Local (the one element of that name).
    std::optional<int> root;
    for (std::size_t i = 0; i < m.elements().size(); ++i) {
      const auto& n = m.elements()[i].name;
      if (root_text == n.local || root_text == "{" + n.ns + "}" + n.local)
        if (!root) root = static_cast<int>(i);
    }
    if (!root || m.elements()[*root].type < 0) {
      std::cerr << "niem-map scaffold: the schemas declare no element " << root_text << "\n";
      return 2;
    }
    std::map<std::string, std::string> prefix_of;
    int n = 0;
    for (const auto& ns : set.value()->namespaces())
      prefix_of[ns] = ns.find("niem-core") != std::string::npos ? "nc" : fmt::format("ns{}", ++n);
    writer w(prefix_of);
    json::object record;
    std::string rules;
    std::set<int> open;
    required(m, *root, w, record, rules, 1, open);
    const std::string key = a.get("key").value_or("record_id");
    if (key.find('.') == std::string::npos) record[key] = "";
    std::string mapping =
        header(prefix_of, m.elements()[*root].name, key,
               "Scaffolded from the schema: the required content of the root element.") +
        rules + "</map:mapping>\n";
    return write(mapping, record, "examples/record.json");
  }

  int write(const std::string& mapping, json::object& record, const std::string& record_file) {
    if (fs::exists(out_dir / "mapping.xml")) {
      std::cerr << "niem-map scaffold: " << (out_dir / "mapping.xml").string()
                << " exists; not overwritten\n";
      return 2;
    }
    fs::create_directories((out_dir / record_file).parent_path());
    record.emplace("record_type", a.get("record-type").value_or("RECORD_TYPE"));
    std::ofstream(out_dir / "mapping.xml") << mapping;
    std::ofstream(out_dir / record_file) << json::serialize(record) << "\n";
    std::cout << "wrote " << (out_dir / "mapping.xml").string() << " and "
              << (out_dir / record_file).string() << "\n";
    return 0;
  }

  static void print(const std::vector<base::diagnostic>& ds) {
    for (const auto& d : ds) std::cerr << base::format(d) << "\n";
  }
};

const char* k_help =
    R"(usage: niem-map scaffold (--sample XML | --root ELEMENT) --schema XSD... [--catalog XML]
                        [--folder DIR]... [--agency ID] [--record-type TYPE] [--exchange NAME]
                        [--key FIELD] --out DIR

Writes DIR/mapping.xml, a first mapping to a published exchange, naming its schema set as given
(paths relative to DIR), and a native JSON record to fill in:
  --sample   from a sample instance of the IEPD: one rule per element and attribute, in the
             sample's order (the writer puts them in schema order), with the sample's namespaces
             and its ids and references; DIR/tests/sample.input.json holds the sample's values,
             so `niem-map convert` of it reproduces the sample and can become its golden test.
             Repeated elements become repeats over arrays (those carrying ids, one rule each).
  --root     from the exchange schema: the root element's required content (an abstract element
             by its first substitute), each element's optional children named in a comment;
             DIR/examples/record.json has an empty field per value.
--key names the record's unique key (a dotted path; default record_id, added empty to the
record). The record's fields are named after the elements (PersonGivenName: person_given_name). Rename
them to your system's names, then `niem-map check` and `niem-map test`. Exit 0 when written.
)";

}  // namespace

int cmd_scaffold(const options& o) {
  scaffold_run r;
  r.a = parse(o.args, {"sample", "root", "schema", "catalog", "folder", "agency", "record-type",
                       "exchange", "key", "out"});
  if (r.a.help) return std::cout << k_help, 0;
  if (!r.a.error.empty() || !r.a.get("out") || !r.a.get("schema") ||
      (!r.a.get("sample") == !r.a.get("root"))) {
    std::cerr << (r.a.error.empty() ? "" : "niem-map scaffold: " + r.a.error + "\n") << k_help;
    return 2;
  }
  r.out_dir = *r.a.get("out");
  r.schemas.files = r.a.flags["schema"];
  r.schemas.catalog = r.a.get("catalog").value_or("");
  if (r.a.flags.count("folder")) r.schemas.search_dirs = r.a.flags["folder"];
  return r.a.get("sample") ? r.from_sample(*r.a.get("sample")) : r.from_schema(*r.a.get("root"));
}

}  // namespace niem::tools
