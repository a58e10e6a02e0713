#pragma once
// Structured logging: one JSON object per line on stderr. Callers pass ids and codes only, never
// record content or personal data; the API takes named fields so that nothing is logged by
// accident.
#include <initializer_list>
#include <string_view>
#include <utility>

namespace niem::base {

enum class log_level { debug, info, warn, error };

using log_field = std::pair<std::string_view, std::string_view>;

void set_log_level(log_level min);
void log(log_level level, std::string_view component, std::string_view message,
         std::initializer_list<log_field> fields = {});

}  // namespace niem::base
