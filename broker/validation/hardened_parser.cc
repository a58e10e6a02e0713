#include "validation/hardened_parser.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <xercesc/framework/MemBufInputSource.hpp>
#include <xercesc/sax/Locator.hpp>
#include <xercesc/sax/SAXParseException.hpp>
#include <xercesc/sax2/Attributes.hpp>
#include <xercesc/sax2/XMLReaderFactory.hpp>
#include <xercesc/util/OutOfMemoryException.hpp>
#include <xercesc/util/XMLException.hpp>
#include <xercesc/util/XMLUni.hpp>

#include "base/text.h"
#include "validation/xerces_util.h"

namespace niem::validation::detail {

using namespace xercesc;
using base::errc;

guard_handler::guard_handler(const limits& lim, std::string doc_name)
    : lim_(lim), doc_name_(std::move(doc_name)) {}

void guard_handler::reset(std::string doc_name) {
  doc_name_ = std::move(doc_name);
  stack_.clear();
  names_.clear();
  diags_.clear();
  text_.clear();
  text_len_ = 0;
  elements_ = 0;
  failed_ = false;
}

std::uint32_t guard_handler::line() const {
  return locator_ ? static_cast<std::uint32_t>(locator_->getLineNumber()) : 0;
}
std::uint32_t guard_handler::column() const {
  return locator_ ? static_cast<std::uint32_t>(locator_->getColumnNumber()) : 0;
}

std::string guard_handler::path() const {
  std::string p;
  for (std::size_t i = 0; i < stack_.size(); ++i) {
    const std::size_t end = i + 1 < stack_.size() ? stack_[i + 1] : names_.size();
    p += '/';
    p += to_utf8(reinterpret_cast<const XMLCh*>(names_.data() + stack_[i]), end - stack_[i]);
  }
  return p.empty() ? "/" : p;
}

void guard_handler::add(errc code, std::string msg, std::uint32_t l, std::uint32_t c) {
  failed_ = true;
  base::diagnostic d;
  d.code = code;
  d.message = std::move(msg);
  d.line = l;
  d.column = c;
  d.where = fmt::format("{}:{}:{}", doc_name_, l, c);
  d.field = path();
  diags_.push_back(std::move(d));
  if (diags_.size() >= lim_.max_errors) throw stop_parse{};
}

void guard_handler::flush_text() {
  if (forward_ && !text_.empty()) forward_->text(text_);
  text_.clear();
  text_len_ = 0;
}

void guard_handler::startElement(const XMLCh* uri, const XMLCh* localname, const XMLCh*,
                                 const Attributes& attrs) {
  flush_text();
  stack_.push_back(names_.size());
  names_.append(reinterpret_cast<const char16_t*>(localname));
  if (++elements_ > lim_.max_elements) {
    add(errc::xml_too_many_elements, fmt::format("more than {} elements", lim_.max_elements),
        line(), column());
    throw stop_parse{};
  }
  if (stack_.size() > lim_.max_depth) {
    add(errc::xml_too_deep, fmt::format("nesting deeper than {}", lim_.max_depth), line(),
        column());
    throw stop_parse{};
  }
  const XMLSize_t n = attrs.getLength();
  if (n > lim_.max_attributes) {
    add(errc::xml_too_many_attributes,
        fmt::format("{} attributes, limit {}", n, lim_.max_attributes), line(), column());
    throw stop_parse{};
  }
  for (XMLSize_t i = 0; i < n; ++i) {
    if (XMLString::stringLen(attrs.getValue(i)) > lim_.max_text) {
      add(errc::xml_text_too_large, fmt::format("attribute value longer than {}", lim_.max_text),
          line(), column());
      throw stop_parse{};
    }
  }
  if (elements_ == 1 && allowed_ns_) {
    std::string ns = to_utf8(uri);
    bool known = false;
    for (const auto& a : *allowed_ns_) known = known || a == ns;
    if (!known) {
      diags_.clear();  // attribute errors Xerces raised before this are noise without a grammar
      add(errc::xml_no_grammar,
          fmt::format("no schema is loaded for the root element's namespace '{}'", ns), line(),
          column());
      throw stop_parse{};
    }
  }
  if (forward_) {
    std::vector<xml_attribute> out;
    out.reserve(n);
    for (XMLSize_t i = 0; i < n; ++i)
      out.push_back(
          {{to_utf8(attrs.getURI(i)), to_utf8(attrs.getLocalName(i))}, to_utf8(attrs.getValue(i))});
    forward_->start_element({to_utf8(uri), to_utf8(localname)}, out, line(), column());
  }
}

void guard_handler::endElement(const XMLCh* uri, const XMLCh* localname, const XMLCh*) {
  flush_text();
  if (forward_) forward_->end_element({to_utf8(uri), to_utf8(localname)});
  if (!stack_.empty()) {
    names_.resize(stack_.back());
    stack_.pop_back();
  }
}

void guard_handler::characters(const XMLCh* chars, XMLSize_t length) {
  text_len_ += length;
  if (text_len_ > lim_.max_text) {
    add(errc::xml_text_too_large, fmt::format("text longer than {} characters", lim_.max_text),
        line(), column());
    throw stop_parse{};
  }
  if (forward_) text_ += to_utf8(chars, length);
}

void guard_handler::startPrefixMapping(const XMLCh* prefix, const XMLCh* uri) {
  if (forward_) forward_->start_prefix(to_utf8(prefix), to_utf8(uri));
}
void guard_handler::endPrefixMapping(const XMLCh* prefix) {
  if (forward_) forward_->end_prefix(to_utf8(prefix));
}

void guard_handler::startDTD(const XMLCh*, const XMLCh*, const XMLCh*) {
  add(errc::xml_doctype_forbidden, "a DOCTYPE declaration is not accepted", line(), column());
  throw stop_parse{};
}

void guard_handler::startEntity(const XMLCh* name) {
  add(errc::xml_external_entity, fmt::format("entity '{}' is not accepted", to_utf8(name)), line(),
      column());
  throw stop_parse{};
}

void guard_handler::error(const SAXParseException& e) {
  add(errc::xml_schema_invalid, to_utf8(e.getMessage()),
      static_cast<std::uint32_t>(e.getLineNumber()),
      static_cast<std::uint32_t>(e.getColumnNumber()));
}

void guard_handler::fatalError(const SAXParseException& e) {
  add(errc::xml_not_well_formed, to_utf8(e.getMessage()),
      static_cast<std::uint32_t>(e.getLineNumber()),
      static_cast<std::uint32_t>(e.getColumnNumber()));
  throw stop_parse{};
}

InputSource* guard_handler::resolveEntity(XMLResourceIdentifier* id) {
  add(errc::xml_external_entity,
      fmt::format("the document asked for external resource '{}'; documents may not load anything",
                  to_utf8(id->getSystemId())),
      line(), column());
  throw stop_parse{};
}

std::unique_ptr<SAX2XMLReaderImpl> make_reader(XMLGrammarPool* pool, SecurityManager* security) {
  ensure_xerces();
  // The implementation class rather than the factory: only it takes an XMLEntityResolver, which
  // sees import namespaces and lets a document's every external reference be refused.
  auto r = std::make_unique<SAX2XMLReaderImpl>(XMLPlatformUtils::fgMemoryManager, pool);
  r->setFeature(XMLUni::fgSAX2CoreNameSpaces, true);
  r->setFeature(XMLUni::fgSAX2CoreNameSpacePrefixes, false);
  r->setFeature(XMLUni::fgXercesLoadExternalDTD, false);
  r->setFeature(XMLUni::fgXercesSkipDTDValidation, true);
  r->setFeature(XMLUni::fgXercesDisableDefaultEntityResolution, true);
  r->setFeature(XMLUni::fgXercesLoadSchema, false);  // never follow xsi:schemaLocation
  r->setFeature(XMLUni::fgXercesCacheGrammarFromParse, false);
  r->setFeature(XMLUni::fgXercesValidationErrorAsFatal, false);
  if (pool) {
    r->setFeature(XMLUni::fgSAX2CoreValidation, true);
    r->setFeature(XMLUni::fgXercesDynamic, false);
    r->setFeature(XMLUni::fgXercesSchema, true);
    r->setFeature(XMLUni::fgXercesUseCachedGrammarInParse, true);
    r->setFeature(XMLUni::fgXercesIdentityConstraintChecking, true);
  } else {
    r->setFeature(XMLUni::fgSAX2CoreValidation, false);
    r->setFeature(XMLUni::fgXercesSchema, false);
  }
  r->setProperty(XMLUni::fgXercesSecurityManager, security);
  return r;
}

// The XML declaration's text up to "?>" (after a UTF-8 byte order mark), or nullopt when the
// document has none (a PI such as <?xml-stylesheet is not one).
std::optional<std::string_view> xml_declaration(std::string_view b) {
  if (b.starts_with("\xEF\xBB\xBF")) b.remove_prefix(3);
  if (!b.starts_with("<?xml") || b.size() < 6 || !std::isspace(static_cast<unsigned char>(b[5])))
    return std::nullopt;
  auto end = b.find("?>");
  return b.substr(0, end == std::string_view::npos ? std::min<std::size_t>(b.size(), 512) : end);
}

// A pseudo-attribute's quoted value in the declaration, or nullopt when absent or not quoted.
std::optional<std::string_view> pseudo_attribute(std::string_view decl, std::string_view name) {
  auto at = decl.find(name);
  if (at == std::string_view::npos) return std::nullopt;
  auto q = decl.find_first_of("\"'", at);
  if (q == std::string_view::npos) return std::nullopt;
  auto close = decl.find(decl[q], q + 1);
  return decl.substr(q + 1, close == std::string_view::npos ? 0 : close - q - 1);
}

// UTF-8 only: a document in another encoding would be read through a transcoder that another
// party's parser may not have or may apply differently (Xerces reads UTF-7, libxml2 does not).
// The reason, or empty when the bytes may be read as UTF-8.
std::string not_utf8(std::string_view b) {
  auto starts = [&](std::string_view p) { return b.substr(0, p.size()) == p; };
  if (starts("\xFE\xFF") || starts("\xFF\xFE") || starts(std::string_view("\0\0\xFE\xFF", 4)))
    return "a UTF-16 or UTF-32 byte order mark";
  if (!b.empty() && b[0] == '\0')
    return "a document that starts with a NUL byte (UTF-16 or UTF-32)";
  if (b.size() > 1 && b[0] == '<' && b[1] == '\0') return "a UTF-16 document";
  auto decl = xml_declaration(b);
  auto enc = decl ? pseudo_attribute(*decl, "encoding") : std::nullopt;
  if (!enc) return {};
  std::string lower;
  for (char c : *enc) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == "utf-8") return {};
  return fmt::format("the encoding '{}' (only UTF-8 is accepted)", enc->substr(0, 40));
}

std::optional<utf8_text> configuration_as_utf8(std::string_view b) {
  auto decl = xml_declaration(b);
  auto enc = decl ? pseudo_attribute(*decl, "encoding") : std::nullopt;
  if (!enc) return std::nullopt;
  std::string lower;
  for (char c : *enc) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  const bool ascii = lower == "us-ascii" || lower == "ascii";
  const bool latin1 = lower == "iso-8859-1" || lower == "latin1" || lower == "iso_8859-1";
  if (!ascii && !latin1) return std::nullopt;
  utf8_text out;
  auto at = static_cast<std::size_t>(enc->data() - b.data());
  out.text.reserve(b.size() + b.size() / 16);
  out.text.append(b.substr(0, at));
  out.text += "UTF-8";
  std::uint32_t line = 1;
  for (char ch : b.substr(at + enc->size())) {
    auto u = static_cast<unsigned char>(ch);
    if (u == '\n') ++line;
    if (u < 0x80) {
      out.text += ch;
    } else if (ascii) {
      out.error = fmt::format("the document declares US-ASCII but holds the byte 0x{:02X}", u);
      out.line = line;
      return out;
    } else {  // ISO-8859-1: each byte is the code point of the same value
      out.text += static_cast<char>(0xC0 | (u >> 6));
      out.text += static_cast<char>(0x80 | (u & 0x3F));
    }
  }
  return out;
}

// XML 1.0 only: Xerces reads a declared "1.+" as well-formed (found by fuzz_xml_differential;
// libxml2 refuses it) and "1.1" under other character and line-end rules than libxml2. The
// reason, or empty when the declaration (if any) says version 1.0.
std::string not_xml_1_0(std::string_view b) {
  auto decl = xml_declaration(b);
  if (!decl) return {};
  if (decl->find("version") == std::string_view::npos) return "the XML declaration has no version";
  auto v = pseudo_attribute(*decl, "version");
  if (!v) return "the XML declaration's version is not quoted";
  if (*v == "1.0") return {};
  std::string shown;
  for (char c : v->substr(0, 20)) shown += c >= 0x20 && c < 0x7f ? c : '?';
  return fmt::format("the XML declaration says version '{}' (only 1.0 is accepted)", shown);
}

void run_parse(SAX2XMLReaderImpl& reader, guard_handler& handler, std::string_view bytes,
               const std::string& doc_name) {
  if (auto why = not_utf8(bytes); !why.empty()) {
    try {
      handler.add(errc::xml_encoding_not_utf8, "the document declares " + why, 1, 1);
    } catch (const stop_parse&) {
    }
    return;
  }
  if (auto why = not_xml_1_0(bytes); !why.empty()) {
    try {
      handler.add(errc::xml_not_well_formed, why, 1, 1);
    } catch (const stop_parse&) {
    }
    return;
  }
  // Xerces ignores an incomplete UTF-8 sequence at the very end of its input (found by
  // fuzz_xml_differential: one byte 0xFC after the root's end tag passed), so the bytes are
  // checked whole first.
  if (!base::valid_utf8(bytes)) {
    try {
      handler.add(errc::xml_not_well_formed, "the document is not well-formed UTF-8", 0, 0);
    } catch (const stop_parse&) {
    }
    return;
  }
  reader.setContentHandler(&handler);
  reader.setErrorHandler(&handler);
  reader.setLexicalHandler(&handler);
  reader.setXMLEntityResolver(&handler);
  MemBufInputSource src(reinterpret_cast<const XMLByte*>(bytes.data()), bytes.size(),
                        doc_name.c_str(), false);
  src.setEncoding(u"UTF-8");  // never guessed from the first bytes (EBCDIC, UCS-4, ...)
  try {
    reader.parse(src);
  } catch (const stop_parse&) {
  } catch (const SAXParseException& e) {
    try {
      handler.add(errc::xml_not_well_formed, to_utf8(e.getMessage()),
                  static_cast<std::uint32_t>(e.getLineNumber()),
                  static_cast<std::uint32_t>(e.getColumnNumber()));
    } catch (const stop_parse&) {
    }
  } catch (const OutOfMemoryException&) {
    try {
      handler.add(errc::xml_too_large, "out of memory while parsing", 0, 0);
    } catch (const stop_parse&) {
    }
  } catch (const XMLException& e) {
    try {
      handler.add(errc::xml_not_well_formed, to_utf8(e.getMessage()), 0, 0);
    } catch (const stop_parse&) {
    }
  } catch (const std::exception& e) {
    try {
      handler.add(errc::internal, e.what(), 0, 0);
    } catch (const stop_parse&) {
    }
  }
}

}  // namespace niem::validation::detail
