#include "routing/xml_stream.h"

#include <cstdlib>

namespace niem::routing {

namespace {

constexpr std::string_view k_xml_ns = "http://www.w3.org/XML/1998/namespace";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    auto semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s.substr(i);
      break;
    }
    auto ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp")
      out += '&';
    else if (ent == "lt")
      out += '<';
    else if (ent == "gt")
      out += '>';
    else if (ent == "quot")
      out += '"';
    else if (ent == "apos")
      out += '\'';
    else if (!ent.empty() && ent[0] == '#') {
      std::string num(ent.substr(1));
      bool hex = !num.empty() && (num[0] == 'x' || num[0] == 'X');
      append_utf8(out, std::strtoul(num.c_str() + (hex ? 1 : 0), nullptr, hex ? 16 : 10));
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

xml_stream::kind xml_stream::fail(std::string msg) {
  error_ = std::move(msg);
  pos_ = doc_.size();
  open_.clear();
  return kind::error;
}

std::string_view xml_stream::resolve(std::string_view prefix) const {
  if (prefix == "xml") return k_xml_ns;
  for (auto it = bindings_.rbegin(); it != bindings_.rend(); ++it)
    if (it->prefix == prefix) return it->uri;
  return prefix.empty() ? std::string_view() : std::string_view("\x01");  // \x01: unbound
}

std::string xml_text(std::string_view raw) {
  if (raw.starts_with("<![CDATA[") && raw.size() >= 12)
    return std::string(raw.substr(9, raw.size() - 12));
  return xml_unescape(raw);
}

std::string xml_stream::text() const {
  return xml_text(raw_);
}

bool xml_stream::attribute(std::string_view ns, std::string_view local,
                           std::string_view& value) const {
  for (const auto& a : attrs_) {
    auto colon = a.qname.find(':');
    auto prefix = colon == std::string_view::npos ? std::string_view() : a.qname.substr(0, colon);
    auto name = colon == std::string_view::npos ? a.qname : a.qname.substr(colon + 1);
    if (name != local || prefix == "xmlns" || a.qname == "xmlns") continue;
    if ((prefix.empty() ? std::string_view() : resolve(prefix)) == ns) {
      value = a.value;
      return true;
    }
  }
  return false;
}

xml_stream::kind xml_stream::start_tag() {
  auto begin = pos_;
  std::size_t i = pos_ + 1;
  auto name_start = i;
  while (i < doc_.size() && !is_space(doc_[i]) && doc_[i] != '/' && doc_[i] != '>') ++i;
  auto qname = doc_.substr(name_start, i - name_start);
  if (qname.empty()) return fail("an element without a name");
  attrs_.clear();
  auto depth = static_cast<std::uint32_t>(open_.size() + 1);
  bool empty = false;
  for (;;) {
    while (i < doc_.size() && is_space(doc_[i])) ++i;
    if (i >= doc_.size()) return fail("a start tag is not closed");
    if (doc_[i] == '>') {
      ++i;
      break;
    }
    if (doc_[i] == '/') {
      if (i + 1 >= doc_.size() || doc_[i + 1] != '>') return fail("'/' inside a start tag");
      empty = true;
      i += 2;
      break;
    }
    auto an = i;
    while (i < doc_.size() && doc_[i] != '=' && !is_space(doc_[i]) && doc_[i] != '>') ++i;
    auto aname = doc_.substr(an, i - an);
    while (i < doc_.size() && is_space(doc_[i])) ++i;
    if (i >= doc_.size() || doc_[i] != '=') return fail("an attribute without a value");
    ++i;
    while (i < doc_.size() && is_space(doc_[i])) ++i;
    if (i >= doc_.size() || (doc_[i] != '"' && doc_[i] != '\'')) return fail("an unquoted value");
    char q = doc_[i++];
    auto end = doc_.find(q, i);
    if (end == std::string_view::npos) return fail("an attribute value is not closed");
    auto value = doc_.substr(i, end - i);
    i = end + 1;
    attrs_.push_back({aname, value});
    if (aname == "xmlns")
      bindings_.push_back({{}, value, depth});
    else if (aname.starts_with("xmlns:"))
      bindings_.push_back({aname.substr(6), value, depth});
  }
  auto colon = qname.find(':');
  auto prefix = colon == std::string_view::npos ? std::string_view() : qname.substr(0, colon);
  auto ns = resolve(prefix);
  if (ns == "\x01") return fail("an unbound namespace prefix");
  name_ = {ns, colon == std::string_view::npos ? qname : qname.substr(colon + 1)};
  open_.push_back({qname, name_});
  empty_ = empty;
  pending_end_ = empty;
  raw_ = doc_.substr(begin, i - begin);
  pos_ = i;
  return kind::start;
}

xml_stream::kind xml_stream::next() {
  if (!error_.empty()) return kind::error;
  auto close = [&] {
    auto d = static_cast<std::uint32_t>(open_.size());
    while (!bindings_.empty() && bindings_.back().depth >= d) bindings_.pop_back();
    name_ = open_.back().name;
    open_.pop_back();
  };
  if (pending_end_) {
    pending_end_ = false;
    raw_ = {};
    close();
    return kind::end;
  }
  if (pos_ >= doc_.size()) {
    if (!open_.empty()) return fail("the document ends inside an element");
    return kind::done;
  }
  if (doc_[pos_] != '<') {
    auto lt = doc_.find('<', pos_);
    if (lt == std::string_view::npos) lt = doc_.size();
    raw_ = doc_.substr(pos_, lt - pos_);
    pos_ = lt;
    return open_.empty() ? kind::other : kind::text;
  }
  auto rest = doc_.substr(pos_);
  auto skip_to = [&](std::string_view end_mark, kind k) {
    auto e = rest.find(end_mark);
    if (e == std::string_view::npos) return fail("unterminated markup");
    raw_ = rest.substr(0, e + end_mark.size());
    pos_ += raw_.size();
    return k;
  };
  if (rest.starts_with("<?")) return skip_to("?>", kind::other);
  if (rest.starts_with("<!--")) return skip_to("-->", kind::other);
  if (rest.starts_with("<![CDATA["))
    return skip_to("]]>", open_.empty() ? kind::other : kind::text);
  if (rest.starts_with("<!")) return fail("a DOCTYPE or declaration in a document");
  if (rest.starts_with("</")) {
    auto gt = rest.find('>');
    if (gt == std::string_view::npos) return fail("an end tag is not closed");
    auto q = rest.substr(2, gt - 2);
    while (!q.empty() && is_space(q.back())) q.remove_suffix(1);
    if (open_.empty() || open_.back().qname != q) return fail("an end tag does not match");
    raw_ = rest.substr(0, gt + 1);
    pos_ += gt + 1;
    close();
    return kind::end;
  }
  return start_tag();
}

}  // namespace niem::routing
