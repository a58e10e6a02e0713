#pragma once
// Private to the validation module: one SAX2 reader configured so that a document can cause no
// file or network access, carries no DOCTYPE, and stays within the limits.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <xercesc/framework/XMLGrammarPool.hpp>
#include <xercesc/parsers/SAX2XMLReaderImpl.hpp>
#include <xercesc/sax2/DefaultHandler.hpp>
#include <xercesc/util/SecurityManager.hpp>
#include <xercesc/util/XMLEntityResolver.hpp>

#include "validation/validation.h"

namespace niem::validation::detail {

// Thrown inside the module only, from SAX callbacks, to stop a parse at once; caught by the
// function that started the parse.
struct stop_parse {};

// Collects diagnostics, tracks the element path, enforces the limits and forwards events.
class guard_handler : public xercesc::DefaultHandler, public xercesc::XMLEntityResolver {
 public:
  guard_handler(const limits& lim, std::string doc_name);

  void reset(std::string doc_name);
  void set_forward(xml_event_handler* fwd) { forward_ = fwd; }
  void set_allowed_namespaces(const std::vector<std::string>* ns) { allowed_ns_ = ns; }

  std::vector<base::diagnostic>& diagnostics() { return diags_; }
  std::uint32_t element_count() const { return elements_; }
  bool failed() const { return failed_; }
  void add(base::errc code, std::string msg, std::uint32_t line, std::uint32_t col);
  std::string path() const;

  // ContentHandler
  void setDocumentLocator(const xercesc::Locator* locator) override { locator_ = locator; }
  void startElement(const XMLCh* uri, const XMLCh* localname, const XMLCh* qname,
                    const xercesc::Attributes& attrs) override;
  void endElement(const XMLCh* uri, const XMLCh* localname, const XMLCh* qname) override;
  void characters(const XMLCh* chars, XMLSize_t length) override;
  void startPrefixMapping(const XMLCh* prefix, const XMLCh* uri) override;
  void endPrefixMapping(const XMLCh* prefix) override;
  // LexicalHandler: a DOCTYPE is refused outright, before its internal subset matters.
  void startDTD(const XMLCh* name, const XMLCh* public_id, const XMLCh* system_id) override;
  void startEntity(const XMLCh* name) override;
  // ErrorHandler
  void warning(const xercesc::SAXParseException&) override {}
  void error(const xercesc::SAXParseException& e) override;
  void fatalError(const xercesc::SAXParseException& e) override;
  // XMLEntityResolver: documents may not pull anything in.
  using xercesc::DefaultHandler::resolveEntity;
  xercesc::InputSource* resolveEntity(xercesc::XMLResourceIdentifier* id) override;

 private:
  void flush_text();
  std::uint32_t line() const;
  std::uint32_t column() const;

  limits lim_;
  std::string doc_name_;
  const xercesc::Locator* locator_ = nullptr;
  xml_event_handler* forward_ = nullptr;
  const std::vector<std::string>* allowed_ns_ = nullptr;
  // The open elements' local names, end to end, and where each starts: one buffer reused across
  // documents instead of a string allocated per element.
  std::u16string names_;
  std::vector<std::size_t> stack_;
  std::vector<base::diagnostic> diags_;
  std::string text_;  // forwarded text, gathered between tags
  std::size_t text_len_ = 0;
  std::uint32_t elements_ = 0;
  bool failed_ = false;
};

// Creates a reader with the hardening features set. `pool` may be null (no validation) or a
// locked grammar pool (validation against it only; schema hints in documents are ignored).
std::unique_ptr<xercesc::SAX2XMLReaderImpl> make_reader(xercesc::XMLGrammarPool* pool,
                                                        xercesc::SecurityManager* security);

// Parses `bytes`, converting every Xerces or handler exception into diagnostics.
void run_parse(xercesc::SAX2XMLReaderImpl& reader, guard_handler& handler, std::string_view bytes,
               const std::string& doc_name);

// Configuration files only (read_xml; trusted input): a document declared US-ASCII or
// ISO-8859-1 (published IEPDs ship catalogs declared US-ASCII) as the same text in UTF-8, its
// declaration saying so. nullopt when there is nothing to convert: UTF-8 or no encoding
// declared, or another encoding, which run_parse refuses. Records never come through here.
struct utf8_text {
  std::string text;
  std::string error;  // a US-ASCII document holding a byte over 0x7F
  std::uint32_t line = 0;
};
std::optional<utf8_text> configuration_as_utf8(std::string_view bytes);

}  // namespace niem::validation::detail
