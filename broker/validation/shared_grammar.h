#pragma once
// Private to the validation module: what makes a locked grammar pool safe to share between
// threads (docs/ARCHITECTURE.md, "What threads share").
#include <cstddef>
#include <mutex>

#include <xercesc/framework/XMLGrammarPool.hpp>

namespace niem::validation::detail {

// Held for the whole of a schema set's load: loads are rare, and Xerces' process-wide state (the
// built-in datatypes, the regular expressions' shared character classes) is then built and
// prepared by one thread at a time.
std::mutex& load_mutex();

// What a grammar pool's validators would otherwise build on first use, without a lock, and share
// between every parser of the pool: each pattern facet's character-class maps (RangeToken::fMap,
// also shared process-wide for \d, \i, \c, \p{..}), each complex type's content model and its
// formatted form (for error messages), and each declaration's raw name. Built here, once, after
// the pool is locked and before any validator runs. Returns how many regular expressions it
// prepared (a test checks the walk reaches them). Call under load_mutex().
std::size_t prepare_for_threads(xercesc::XMLGrammarPool& pool);

}  // namespace niem::validation::detail
