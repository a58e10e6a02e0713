#pragma once
// The strict JSON reader of native records. Boost.JSON's parser keeps one of two members with the
// same name (which one is its detail); a record that names a member twice could mean two things, so
// this reader refuses it, comparing names after unescaping ("ev\u0065nt_id" is "event_id"), at any
// depth. One pass: the duplicate check rides on the parse that builds the value.
#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.h"

namespace niem::mapping {

struct json_read {
  base::errc code = base::errc::ok;
  std::string message;  // for people; no record content but member names
  std::string field;  // the member's path for a duplicate (`child.last_name`, `diagnoses[1].code`)
};

// Parses `text` (one whole JSON document, nothing after it) into `out`, allocated from out's own
// storage (an arena, typically: nothing is copied). Refusals: record_malformed_json,
// record_too_deep (deeper than max_depth), record_duplicate_member; `out` is then unchanged.
json_read read_json(std::string_view text, boost::json::value& out, std::size_t max_depth);

}  // namespace niem::mapping
