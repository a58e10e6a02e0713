#pragma once
// The store's metrics, read when /metrics is scraped: queue depth and the age of each queue's
// oldest document, dead letters by code, the database's size, reachability, connections and group
// commits, and why it refuses records now.
#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "store/store.h"

namespace niem::store {

// Registers the store's gauges for the queues `recipients` lists; they end with the returned
// registration (before the store goes).
base::metrics_registry::registration register_probe(
    queries& st, std::function<std::vector<std::string>()> recipients, const base::clock& clk);

}  // namespace niem::store
