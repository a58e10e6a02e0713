#include "differential/mutations.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <variant>

#include <boost/json.hpp>

#include "base/text.h"

namespace json = boost::json;
namespace fs = std::filesystem;

namespace niem::test {
namespace {

const std::vector<std::string>& edge_strings() {
  static const std::vector<std::string> v = {"",
                                             " ",
                                             "  padded  ",
                                             "x",
                                             std::string(300, 'x'),
                                             std::string(5000, 'y'),
                                             "\xc3\xa9",
                                             "\xc3\x9cn\xc3\xaf"
                                             "c\xc3\xb6"
                                             "d\xc3\xa9",
                                             "\xe6\xbc\xa2\xe5\xad\x97",
                                             "\xf0\x9f\x98\x80",
                                             "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
                                             "0",
                                             "-1",
                                             "+1",
                                             "1.5",
                                             "1.50",
                                             "1.005",
                                             "-0.0",
                                             "99999999999999999999",
                                             "123456789012345678",
                                             "1e3",
                                             ".5",
                                             "5.",
                                             "2024-02-29",
                                             "2023-02-29",
                                             "0000-01-01",
                                             "0001-01-01",
                                             "9999-12-31",
                                             "2024-01-01T24:00:00",
                                             "2024-01-01T23:59:60Z",
                                             "2024-01-01T12:00:00+14:01",
                                             "2024-13-01",
                                             "20240229",
                                             "20230229",
                                             "00000101",
                                             "true",
                                             "false",
                                             "Y",
                                             "N",
                                             "yes",
                                             "a\tb",
                                             "line\nbreak",
                                             "cr\rreturn",
                                             "<&>\"'",
                                             "a\xe2\x80\xa8"
                                             "b",
                                             "NaN",
                                             "INF",
                                             "-INF",
                                             "  2024-01-01  ",
                                             "A B  C"};
  return v;
}

const std::vector<json::value>& edge_json() {
  static const std::vector<json::value> v = {json::value(0),
                                             json::value(-1),
                                             json::value(1e20),
                                             json::value(3.5),
                                             json::value(true),
                                             json::value(nullptr),
                                             json::value(json::array{}),
                                             json::value(json::object{}),
                                             json::value(json::array{"x"})};
  return v;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scalar's place in a JSON record: object keys and array indexes from the root.
using step = std::variant<std::string, std::size_t>;
using json_path = std::vector<step>;

void collect(const json::value& v, json_path& at, std::vector<json_path>& leaves,
             std::vector<json_path>& objects) {
  if (const auto* o = v.if_object()) {
    objects.push_back(at);
    for (const auto& kv : *o) {
      at.emplace_back(std::string(kv.key()));
      collect(kv.value(), at, leaves, objects);
      at.pop_back();
    }
  } else if (const auto* a = v.if_array()) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      at.emplace_back(i);
      collect((*a)[i], at, leaves, objects);
      at.pop_back();
    }
  } else {
    leaves.push_back(at);
  }
}

json::value* find(json::value& root, const json_path& p) {
  json::value* v = &root;
  for (const auto& s : p) {
    if (const auto* k = std::get_if<std::string>(&s)) {
      auto* o = v->if_object();
      if (!o || !o->contains(*k)) return nullptr;
      v = &(*o)[*k];
    } else {
      auto* a = v->if_array();
      const auto i = std::get<std::size_t>(s);
      if (!a || i >= a->size()) return nullptr;
      v = &(*a)[i];
    }
  }
  return v;
}

// One change to a record: a field set to a value, removed, or an unknown field added.
struct change {
  enum class kind { set_string, set_json, remove, add } k;
  std::size_t target;  // leaf (set, remove) or object (add) index
  std::size_t value;   // into the strings or the JSON values
};

struct json_record {
  json::value root;
  std::vector<json_path> leaves, objects;
  bool apply(json::value& r, const change& c, const std::vector<std::string>& strings) const {
    if (c.k == change::kind::add) {
      auto* o = find(r, objects[c.target]);
      if (!o || !o->is_object()) return false;
      o->as_object()["unexpected_field"] = "x";
      return true;
    }
    const auto& p = leaves[c.target];
    if (c.k == change::kind::remove) {
      if (p.empty() || !std::holds_alternative<std::string>(p.back())) return false;
      auto parent = p;
      parent.pop_back();
      auto* o = find(r, parent);
      if (!o || !o->is_object()) return false;
      o->as_object().erase(std::get<std::string>(p.back()));
      return true;
    }
    auto* v = find(r, p);
    if (!v) return false;
    if (c.k == change::kind::set_string)
      *v = json::string(strings[c.value]);
    else
      *v = edge_json()[c.value];
    return true;
  }
};

}  // namespace

std::vector<std::string> seed_records(const mapping::compiled_mapping& m) {
  const fs::path dir = fs::path(m.file()).parent_path();
  const bool delimited = m.format() == mapping::record_format::delimited;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto* sub : {"tests", "tests/bad", "examples"})
    for (auto& e : fs::directory_iterator(dir / sub, ec)) {
      const auto name = e.path().filename().string();
      if (!e.is_regular_file() || e.path().extension() == ".xml" ||
          e.path().extension() == ".expect")
        continue;
      if (std::string(sub) == "tests" && name.find(".input.") == std::string::npos) continue;
      files.push_back(e.path());
    }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) {
    const auto text = read_all(f);
    if (!delimited && f.extension() == ".json") {
      out.push_back(text);
      continue;
    }
    std::istringstream in(text);
    std::string line;
    bool header = delimited;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (header) {
        header = false;
        continue;
      }
      if (!base::trim(line).empty()) out.push_back(line);
    }
  }
  return out;
}

void mutated_records(const mapping::compiled_mapping& m, const std::vector<std::string>& seeds,
                     std::uint64_t budget, std::uint64_t seed,
                     const std::function<void(const std::string&)>& each) {
  std::vector<std::string> strings = edge_strings();
  for (const auto& e : m.code_entries()) strings.push_back(e.from);
  const bool delimited = m.format() == mapping::record_format::delimited;
  const char delim = m.delimiter();
  std::uint64_t made = 0;
  auto emit = [&](const std::string& r) {
    if (made >= budget) return false;
    ++made;
    each(r);
    return true;
  };

  // Every record's possible single changes, and how to apply a list of them.
  struct prepared {
    json_record j;
    std::vector<std::string_view> fields;
    std::vector<change> singles;
  };
  std::vector<prepared> recs;
  for (const auto& s : seeds) {
    prepared p;
    if (delimited) {
      p.fields = base::split(s, delim);
      for (std::size_t i = 0; i < p.fields.size(); ++i)
        for (std::size_t v = 0; v < strings.size(); ++v)
          p.singles.push_back({change::kind::set_string, i, v});
    } else {
      boost::system::error_code ec;
      p.j.root = json::parse(s, ec);
      if (ec) continue;  // a malformed fixture: itself a seed only
      json_path at;
      collect(p.j.root, at, p.j.leaves, p.j.objects);
      for (std::size_t i = 0; i < p.j.leaves.size(); ++i) {
        for (std::size_t v = 0; v < strings.size(); ++v)
          p.singles.push_back({change::kind::set_string, i, v});
        for (std::size_t v = 0; v < edge_json().size(); ++v)
          p.singles.push_back({change::kind::set_json, i, v});
        p.singles.push_back({change::kind::remove, i, 0});
      }
      for (std::size_t i = 0; i < p.j.objects.size(); ++i)
        p.singles.push_back({change::kind::add, i, 0});
    }
    recs.push_back(std::move(p));
  }
  auto render = [&](const prepared& p, const std::vector<change>& cs) -> std::string {
    if (delimited) {
      std::vector<std::string> f(p.fields.begin(), p.fields.end());
      for (const auto& c : cs) f[c.target] = strings[c.value];
      std::string row;
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (i) row += delim;
        row += f[i];
      }
      return row;
    }
    json::value r = p.j.root;
    for (const auto& c : cs) p.j.apply(r, c, strings);
    return json::serialize(r);
  };

  // First order: each single change of each record, interleaved across records so that a small
  // budget still reaches every one of them.
  std::size_t most = 0;
  for (const auto& p : recs) most = std::max(most, p.singles.size());
  for (std::size_t i = 0; i < most; ++i)
    for (const auto& p : recs)
      if (i < p.singles.size() && !emit(render(p, {p.singles[i]}))) return;
  // Then two or three changes at once, drawn at random.
  std::mt19937_64 rng(seed);
  std::size_t with_changes = 0;
  for (const auto& p : recs) with_changes += p.singles.empty() ? 0 : 1;
  if (with_changes == 0) return;
  while (made < budget) {
    const auto& p = recs[rng() % recs.size()];
    if (p.singles.empty()) continue;
    std::vector<change> cs;
    const std::size_t n = 2 + rng() % 2;
    for (std::size_t k = 0; k < n; ++k) cs.push_back(p.singles[rng() % p.singles.size()]);
    if (!emit(render(p, cs))) return;
  }
}

}  // namespace niem::test
