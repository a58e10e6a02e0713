#pragma once
// Why a replay cannot start (NIEM-700 nothing to replay, NIEM-701 the record is no longer kept),
// worded once for both implementations.
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace niem::store {

std::vector<base::diagnostic> dead_letter_replay_error(base::errc why, std::int64_t id);
std::vector<base::diagnostic> withheld_replay_error(base::errc why, const std::string& message_id,
                                                    const std::string& recipient);

}  // namespace niem::store
