#include "validation/checked_writer.h"

#include <fmt/format.h>

#include "base/text.h"

namespace niem::validation {

checked_writer::checked_writer(const schema_set* schemas,
                               std::vector<std::pair<std::string, std::string>> prefixes)
    : schemas_(schemas), prefixes_(std::move(prefixes)) {
  out_.reserve(4096);
  out_ += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
}

void checked_writer::problem(std::string_view tag, std::string message) {
  std::string path;
  for (const auto& o : open_) path += "/" + o.tag;
  if (open_.empty() || open_.back().tag != tag) {
    path += '/';
    path += tag;
  }
  problems_.push_back({base::errc::xml_schema_invalid, std::move(message), "", path, 0, 0});
}

int checked_writer::admit(std::string_view tag) {
  if (!schemas_) return -1;
  const auto& model = schemas_->model();
  const auto colon = tag.find(':');
  const auto prefix = colon == std::string_view::npos ? std::string_view() : tag.substr(0, colon);
  qname name{{}, std::string(colon == std::string_view::npos ? tag : tag.substr(colon + 1))};
  for (const auto& [p, ns] : prefixes_)
    if (p == prefix) name.ns = ns;
  std::optional<int> element;
  if (open_.empty()) {
    element = model.element(name);
  } else if (auto slot = model.child(open_.back().type, name)) {
    element = slot->element;
  }
  if (!element) {
    problem(tag, open_.empty()
                     ? fmt::format("{} is not declared", tag)
                     : fmt::format("{} is not declared inside {}", tag, open_.back().tag));
    return -1;
  }
  if (!open_.empty() && open_.back().content) {
    auto& parent = open_.back();
    if (parent.state != content_automaton::k_reject) {
      parent.state = parent.content->step(parent.state, *element);
      if (parent.state == content_automaton::k_reject)
        problem(tag, fmt::format("{} is not expected at this place inside {}", tag, parent.tag));
    }
  }
  return *element;
}

void checked_writer::open(std::string_view tag) {
  const int element = admit(tag);
  open_element e;
  e.tag = std::string(tag);
  if (element >= 0) {
    e.type = schemas_->model().elements()[element].type;
    std::string why;
    e.content = schemas_->checks().content(e.type, &why);
    if (!e.content) problem(tag, fmt::format("{} has no compiled content model: {}", tag, why));
  }
  indent();
  out_ += '<';
  out_ += tag;
  if (open_.empty())
    for (const auto& [p, ns] : prefixes_) out_ += fmt::format("\n    xmlns:{}=\"{}\"", p, ns);
  out_ += ">\n";
  open_.push_back(std::move(e));
}

void checked_writer::leaf(std::string_view tag, std::string_view value) {
  if (value.empty()) return;
  const int element = admit(tag);
  if (element >= 0) {
    std::string why;
    const auto* check = schemas_->checks().value(schemas_->model().elements()[element].type, &why);
    if (!check)
      problem(tag, fmt::format("{} holds no value: {}", tag, why));
    else if (!check->check(value, scratch_, &why))
      problem(tag, why);
  }
  indent();
  out_ += '<';
  out_ += tag;
  out_ += '>';
  base::append_xml_escaped(out_, value);
  out_ += "</";
  out_ += tag;
  out_ += ">\n";
}

void checked_writer::close() {
  if (open_.empty()) return;
  // Checked while the element is still open, so that the problem's path ends with it.
  if (const auto& o = open_.back();
      o.content && o.state != content_automaton::k_reject && !o.content->accepting(o.state))
    problem(o.tag, fmt::format("{} ends before a child its type requires", o.tag));
  auto e = std::move(open_.back());
  open_.pop_back();
  indent();
  out_ += "</";
  out_ += e.tag;
  out_ += ">\n";
}

}  // namespace niem::validation
