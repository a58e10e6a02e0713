#pragma once
// The mapping file as read, before compilation: its elements with their attributes, text and the
// namespace prefixes in scope (a rule's target names elements by the prefixes it declares).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "validation/validation.h"

namespace niem::mapping::detail {

inline constexpr std::string_view k_map_ns = "urn:niem-broker:mapping:1";

struct ast {
  std::string tag;
  std::map<std::string, std::string> attrs;
  std::shared_ptr<const std::map<std::string, std::string>> prefixes;
  std::string text;
  std::uint32_t line = 0, column = 0;
  std::vector<std::unique_ptr<ast>> kids;

  const std::string* attr(const std::string& k) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? nullptr : &it->second;
  }
  std::string get(const std::string& k, std::string def = {}) const {
    auto* a = attr(k);
    return a ? *a : def;
  }
};

struct ast_builder : validation::xml_event_handler {
  std::unique_ptr<ast> root;
  std::vector<ast*> stack;
  std::vector<std::map<std::string, std::string>> scopes{{}};
  std::vector<std::pair<std::string, std::string>> pending;

  void start_prefix(const std::string& p, const std::string& uri) override {
    pending.emplace_back(p, uri);
  }
  void end_prefix(const std::string&) override {}
  void start_element(const validation::qname& n,
                     const std::vector<validation::xml_attribute>& attrs, std::uint32_t line,
                     std::uint32_t col) override {
    auto scope = scopes.back();
    for (auto& [p, u] : pending) scope[p] = u;
    pending.clear();
    scopes.push_back(scope);
    auto node = std::make_unique<ast>();
    node->tag = n.ns == k_map_ns ? n.local : "{" + n.ns + "}" + n.local;
    for (const auto& a : attrs)
      if (a.name.ns.empty()) node->attrs[a.name.local] = a.value;
    node->prefixes = std::make_shared<const std::map<std::string, std::string>>(scope);
    node->line = line;
    node->column = col;
    ast* raw = node.get();
    if (stack.empty())
      root = std::move(node);
    else
      stack.back()->kids.push_back(std::move(node));
    stack.push_back(raw);
  }
  void end_element(const validation::qname&) override {
    stack.pop_back();
    scopes.pop_back();
  }
  void text(std::string_view chars) override {
    if (!stack.empty()) stack.back()->text += chars;
  }
};

}  // namespace niem::mapping::detail
