#pragma once
// A broker without sockets for the fuzz targets of its request paths: the project's mappings and
// agreements, a policy router, a pipeline and an SQLite store in the scratch directory.
#include <future>
#include <memory>

#include "base/clock.h"
#include "base/ids.h"
#include "fuzz_support.h"
#include "pipeline/pipeline.h"
#include "routing/policy.h"
#include "store/store.h"

namespace niem::fuzz {

struct broker_rig {
  base::manual_clock clk{1'795'348'800'000};  // 2026-11-22T12:00:00Z
  std::shared_ptr<mapping::mapping_library> lib = project_mappings();
  std::unique_ptr<store::store> st;
  std::shared_ptr<routing::policy_router> router;
  std::unique_ptr<pipeline::pipeline> pl;

  broker_rig() {
    auto s = store::store::open({.locator = (scratch_dir() / "store").string(),
                                 .group_commit_max = 256,
                                 .audit_key = "fuzz-audit-key"},
                                clk);
    if (!s.ok()) defect("the store does not open: " + base::format(s.errors().front()));
    st = std::move(s.value());
    router = std::make_shared<routing::policy_router>(
        std::vector<routing::policy_subscription>{
            {"phn", "pharmacy-claim", "CARE_COORDINATION"},
            {"cws", "pharmacy-claim", "OVERSIGHT"},
            {"court", "psychotropic-medication-application", "JUDICIAL_REVIEW"},
            {"school", "placement-notification", "EDUCATION_STABILITY"}},
        project_agreements(), clk, std::make_shared<routing::consent_registry>());
    pl = std::make_unique<pipeline::pipeline>(lib, router, *st, [] {
      pipeline::options o;
      o.workers = 1;
      return o;
    }());
  }

  pipeline::outcome run(pipeline::job j) {
    j.message_id = base::new_message_id(clk.now_ms());
    j.received_ms = clk.now_ms();
    std::promise<pipeline::outcome> p;
    pl->submit(std::move(j), [&](pipeline::outcome o) { p.set_value(std::move(o)); });
    return p.get_future().get();
  }
};

}  // namespace niem::fuzz
