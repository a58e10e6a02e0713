#include "oversight/oversight.h"

namespace niem::oversight {

medication_oversight::medication_oversight(std::shared_ptr<medication::check> c,
                                           std::string exchange, std::string sender)
    : check_(std::move(c)), exchange_(std::move(exchange)), sender_(std::move(sender)) {}

bool medication_oversight::is_notice(std::string_view agency, std::string_view record_type) const {
  return agency == sender_ && record_type == exchange_;
}

std::vector<base::diagnostic> medication_oversight::accept_notice(validation::validator& v,
                                                                  std::string_view body,
                                                                  std::string& key) const {
  auto rep = v.validate(body, exchange_);
  if (!rep.valid) {
    if (rep.diagnostics.empty())
      rep.diagnostics.push_back({base::errc::xml_schema_invalid, "not valid", exchange_, "", 0, 0});
    return rep.diagnostics;
  }
  auto id = medication::read_exception_id(body);
  if (!id || id->empty())
    return {
        {base::errc::xml_schema_invalid, "the notice has no identification", exchange_, "", 0, 0}};
  key = std::move(*id);
  return {};
}

medication::check_fact medication_oversight::sent(std::string key) const {
  return {std::string(medication::k_fact_sent), std::move(key), ""};
}

bool medication_oversight::wants(std::string_view exchange, std::string_view document) const {
  return check_->wants(exchange, document);
}

record_part medication_oversight::observe(std::string_view exchange, std::string_view document,
                                          const std::vector<routing::fact>& learned) {
  auto checked = check_->observe(exchange, document);
  for (const auto& f : learned)
    if (f.kind == "identity")
      if (auto sp = f.key.find(' '); sp != std::string::npos) {
        auto more = check_->link(f.key.substr(0, sp), f.key.substr(sp + 1));
        checked.facts.insert(checked.facts.end(), more.facts.begin(), more.facts.end());
        checked.changed.insert(checked.changed.end(), more.changed.begin(), more.changed.end());
      }
  record_part p;
  for (auto& f : checked.facts) {
    if (f.kind == medication::k_fact_notice) p.notices.push_back(f);
    p.facts.push_back(std::move(f));
  }
  checked.facts.clear();
  checked.notices.clear();
  p.undo = std::move(checked);
  return p;
}

void medication_oversight::settle(const record_part& p, bool stored) {
  if (!stored && !p.undo.changed.empty()) check_->rollback(p.undo);
}

std::vector<medication::check_fact> medication_oversight::outstanding() const {
  return check_->outstanding();
}

}  // namespace niem::oversight
