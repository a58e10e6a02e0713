#pragma once
// Intake, the peer's sender and our receiver: a publisher's link authorized to
// ingest/<agency>/<record-type>, each transfer read (ingest.h) and handed to the pipeline, its
// delivery settled once the pipeline's outcome is committed. Credit is bounded by what the
// pipeline holds (records and bytes) and held back for a while when the store cannot commit; a
// transfer growing past the size limit is refused while it still arrives (NIEM-602), its link
// and session left working. Loop thread only.
#include <proton/delivery.hpp>
#include <proton/message.hpp>
#include <proton/receiver.hpp>
#include <proton/session.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/clock.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "transport/delivery.h"
#include "transport/loop.h"
#include "transport/server.h"

namespace niem::transport {

class intake {
 public:
  // `parties`: who publishes what, read at each link's opening (a reload replaces it).
  intake(const options& opt, pipeline::submitter& pl, const base::clock& clk, event_loop& loop,
         delivery& out, const std::shared_ptr<const config::broker_config>& parties);

  void open_receiver(proton::receiver& r, const std::string& agency, std::uint64_t conn_id);
  void close_receiver(proton::receiver& r) { ingest_links.erase(r); }
  void message(proton::delivery& d, proton::message& m, std::uint64_t conn_id);
  // The connection went away: its links and owed credit are forgotten, and its transfers still
  // in the pipeline are not settled (the publisher sends them again).
  void connection_dropped(const proton::connection& c, std::uint64_t conn_id);
  void refuse_oversized();
  void pay_owed_credit();

 private:
  struct ingest_link {
    std::uint64_t conn_id = 0;
    std::string agency, record_type;
  };
  // Sessions on which an oversized transfer was refused, and the session's own incoming
  // capacity: see refuse_oversized.
  struct leaky_session {
    std::size_t capacity = 0;            // the session's own, before any raise
    std::size_t set = 0;                 // what it is set to now
    std::size_t dropped = 0;             // bytes Proton counts and dropped, since the session began
    std::size_t dropped_at_refusal = 0;  // ... when the latest transfer was refused
  };

  void reject(proton::delivery& d, base::errc code, const std::string& description);
  void on_outcome(std::uint64_t conn_id, std::uint64_t seq, std::uint64_t bytes,
                  pipeline::outcome o);
  bool saturated() const;
  void credit_back(proton::receiver r);

  const options& opt;
  pipeline::submitter& pl;
  const base::clock& clk;
  event_loop& loop_;
  delivery& out_;
  const std::shared_ptr<const config::broker_config>& parties;

  std::map<proton::receiver, ingest_link> ingest_links;
  // Transfers awaiting the pipeline, by connection and sequence number.
  std::unordered_map<std::uint64_t, std::unordered_map<std::uint64_t, proton::delivery>> pending;
  std::uint64_t next_seq = 1;
  std::uint64_t pending_total = 0;
  std::uint64_t pending_bytes = 0;
  std::deque<proton::receiver> owed_credit;
  std::map<proton::session, leaky_session> leaky_sessions;
  static constexpr std::chrono::milliseconds k_store_backoff{1000};
  std::chrono::steady_clock::time_point store_down_until{};
};

}  // namespace niem::transport
