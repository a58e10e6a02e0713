#pragma once
// A pull tokenizer for the NIEM documents the broker itself wrote and validated: no DOM, no
// copies. Filters read events and copy the byte ranges they keep (tags verbatim, text escaped as
// it was written). It resolves namespace prefixes per element; it does not expand entities and
// knows no DTD (validated documents have none). Malformed input ends the stream with an error
// instead of undefined behaviour, so a stored document that was damaged cannot crash a worker.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace niem::routing {

struct xml_name {
  std::string_view ns;  // resolved namespace URI
  std::string_view local;
  bool operator==(const xml_name&) const = default;
};

class xml_stream {
 public:
  enum class kind { start, end, text, other, done, error };

  explicit xml_stream(std::string_view doc) : doc_(doc) {}

  // The next event. `start` also stands for an empty-element tag (then an `end` follows at once,
  // with an empty raw range). `other`: XML declaration, comment, processing instruction.
  kind next();

  // For start and end: the element's name. For start: whether it was `<x/>`.
  const xml_name& name() const { return name_; }
  bool empty_element() const { return empty_; }
  // The bytes of the current event as written (a whole tag, or a run of text).
  std::string_view raw() const { return raw_; }
  // Text content with the five predefined entities and character references decoded (text only).
  std::string text() const;
  // Value of an attribute of the current start tag (undecoded), by namespace and local name.
  bool attribute(std::string_view ns, std::string_view local, std::string_view& value) const;
  std::uint32_t depth() const { return static_cast<std::uint32_t>(open_.size()); }
  // Where the current event starts in the document (bytes from the beginning).
  std::size_t offset() const {
    return raw_.empty() ? pos_ : static_cast<std::size_t>(raw_.data() - doc_.data());
  }
  const std::string& error() const { return error_; }

 private:
  struct binding {
    std::string_view prefix, uri;
    std::uint32_t depth;
  };
  struct open_element {
    std::string_view qname;
    xml_name name;
  };
  struct attr {
    std::string_view qname, value;
  };
  kind fail(std::string msg);
  std::string_view resolve(std::string_view prefix) const;
  kind start_tag();

  std::string_view doc_;
  std::size_t pos_ = 0;
  std::string_view raw_;
  xml_name name_;
  bool empty_ = false;
  bool pending_end_ = false;
  std::vector<binding> bindings_;
  std::vector<open_element> open_;
  std::vector<attr> attrs_;
  std::string error_;
};

// Decodes the predefined entities and character references of XML text.
std::string xml_unescape(std::string_view s);
// The text a text event's bytes as written (xml_stream::raw) stand for: a CDATA section's
// content, or text with its entities and character references decoded.
std::string xml_text(std::string_view raw);

}  // namespace niem::routing
