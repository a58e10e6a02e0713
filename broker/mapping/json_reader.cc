#include "mapping/json_reader.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value_stack.hpp>
#include <exception>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace niem::mapping {
namespace json = boost::json;
using base::errc;

namespace {

// Boost.JSON's own handler (a value_stack building the value), plus the member names of every open
// object, so that each object's names are compared when it closes: sorted, O(k log k), so that a
// hostile object of many members costs no more than its parse.
struct strict_handler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;

  struct level {
    bool object;
    std::size_t first_span;  // this object's names: spans[first_span..]
    std::size_t count;       // an array's elements so far (its next index)
  };
  std::vector<level> levels;
  std::string names;                                       // unescaped names, end to end
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // (offset, length) in names
  std::size_t key_start = std::string::npos;               // a name read in parts
  std::string duplicate;                                   // the path, once one is found

  template <class... Args>
  explicit strict_handler(Args&&... args) : st(std::forward<Args>(args)...) {}

  std::string_view name(std::size_t span) const {
    return std::string_view(names).substr(spans[span].first, spans[span].second);
  }
  void value_done() {
    if (!levels.empty() && !levels.back().object) ++levels.back().count;
  }
  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 64)) out += c >= 0x20 && c < 0x7f ? c : '?';
    return out;
  }
  // The path of the innermost open object, member names joined by '.', array indexes in [].
  std::string path() const {
    std::string p;
    for (std::size_t i = 1; i < levels.size(); ++i) {
      const auto& parent = levels[i - 1];
      if (parent.object) {
        if (!p.empty()) p += '.';
        p += printable(name(levels[i].first_span - 1));
      } else {
        p += fmt::format("[{}]", parent.count);
      }
    }
    return p;
  }
  bool begin(bool object) {
    levels.push_back({object, spans.size(), 0});
    return true;
  }
  void end() {
    const auto first = levels.back().first_span;
    if (first < spans.size()) names.resize(spans[first].first);
    spans.resize(first);
    levels.pop_back();
    value_done();
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return begin(true); }
  bool on_object_end(std::size_t n, json::error_code& ec) {
    const auto first = levels.back().first_span;
    if (spans.size() - first > 1) {
      std::vector<std::size_t> order(spans.size() - first);
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = first + i;
      std::sort(order.begin(), order.end(),
                [&](std::size_t a, std::size_t b) { return name(a) < name(b); });
      for (std::size_t i = 1; i < order.size(); ++i)
        if (name(order[i]) == name(order[i - 1])) {
          auto p = path();
          duplicate = (p.empty() ? "" : p + ".") + printable(name(order[i]));
          ec = json::error::syntax;  // stops the parser; `duplicate` says why
          return false;
        }
    }
    st.push_object(n);
    end();
    return true;
  }
  bool on_array_begin(json::error_code&) { return begin(false); }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    end();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (key_start == std::string::npos) key_start = names.size();
    names.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    const auto start = key_start == std::string::npos ? names.size() : key_start;
    names.append(s.data(), s.size());
    spans.emplace_back(start, names.size() - start);
    key_start = std::string::npos;
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    value_done();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    st.push_int64(i);
    value_done();
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    st.push_uint64(u);
    value_done();
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    st.push_double(d);
    value_done();
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    value_done();
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    value_done();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

json_read read_json(std::string_view text, json::value& value, std::size_t max_depth) {
  json_read out;
  json::parse_options opt;
  opt.max_depth = max_depth;
  unsigned char temp[BOOST_JSON_STACK_BUFFER_SIZE];
  try {
    json::basic_parser<strict_handler> p(opt, json::storage_ptr(), temp, sizeof temp);
    p.handler().st.reset(value.storage());
    json::error_code ec;
    auto n = p.write_some(false, text.data(), text.size(), ec);
    if (!ec && n < text.size()) ec = json::error::extra_data;
    if (!p.handler().duplicate.empty()) {
      out.code = errc::record_duplicate_member;
      out.field = p.handler().duplicate;
      out.message = fmt::format(
          "member '{}' appears twice in one object: the record could mean two things", out.field);
      return out;
    }
    if (ec) {
      out.code = ec == json::error::too_deep ? errc::record_too_deep : errc::record_malformed_json;
      out.message = fmt::format("malformed JSON: {}", ec.message());
      return out;
    }
    value = p.handler().st.release();  // the same storage: moved, not copied
  } catch (const std::exception& e) {
    // Allocation failures and sizes beyond Boost.JSON's limits: not a record we can read.
    out.code = errc::record_malformed_json;
    out.message = fmt::format("malformed JSON: {}", e.what());
  }
  return out;
}

}  // namespace niem::mapping
