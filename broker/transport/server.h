#pragma once
// The AMQP 1.0 endpoint (Qpid Proton C++). Publishers attach senders to
// `ingest/<agency>/<record-type>`; subscribers attach receivers to `deliver/<agency>`. One event
// loop thread owns every connection; mapping runs on the pipeline's workers and disk I/O on the
// store's thread, whose completions come back to the loop through the server's inbox (a FIFO; the
// loop is woken through a live connection's work queue, and a periodic tick drains the rest).
//
// This header has no Proton types: only this module includes Proton headers.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/result.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

namespace niem::transport {

struct tls_files {
  std::string certificate, key, ca;
};

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5672;     // 0: pick a free port
  std::optional<tls_files> tls;  // none: anonymous (the configuration allows it on loopback only)
  std::uint64_t max_message_bytes = 1 << 20;
  std::uint32_t idle_timeout_seconds = 60;
  // The agencies: who a certificate subject is, what each publishes (config's lookups). Never
  // null.
  std::shared_ptr<const config::broker_config> parties =
      std::make_shared<const config::broker_config>();
  std::vector<std::string> recipients;  // queues the broker keeps
  std::uint32_t max_attempts = 5;
  std::uint64_t ttl_ms = 14ull * 24 * 3600 * 1000;
  std::uint32_t prefetch = 256;  // documents per subscriber held ahead of its credit
  // Records in flight per publisher link: each waits for a group commit, so a link's throughput
  // is at most its credit over the commit latency (64 held the benchmark to ~5,000 records/s).
  std::uint32_t ingest_credit = 256;
  std::uint32_t max_pending = 2048;               // records being mapped, over all links
  std::uint64_t max_pending_bytes = 64ull << 20;  // and their bytes
  std::uint32_t housekeeping_ms = 1000;           // expiry scan and oversized-transfer check
  // Asked before a document that relied on a consent is sent: ok, or why it is withdrawn
  // (revoked, expired). Called on the loop thread; must be quick.
  std::function<base::errc(std::string_view consent_id)> consent_gate;
};

class server {
 public:
  // `st`: the queues; `ops`: the paused subscribers, a setting (the same store).
  server(options opt, pipeline::pipeline& pl, store::delivery_path& st, store::operations& ops,
         const base::clock& clk);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Runs the event loop on the calling thread until stop(). `on_listening` is called once the
  // listener is bound, with the port (useful with port 0), or with an error.
  void run(std::function<void(base::result<std::uint16_t>)> on_listening);
  // Thread-safe.
  void stop();
  // Thread-safe, not for the event loop (it waits for the store): holds (or resumes) delivery to
  // one subscriber; its queue keeps filling. Stored, so a restart keeps the subscriber paused;
  // false (and nothing changed) when the store could not record it.
  bool pause(const std::string& recipient, bool on);
  std::vector<std::string> paused() const;
  // Open connections per agency (every configured agency listed, with 0 when not connected).
  std::map<std::string, std::uint32_t> connections() const;
  // Thread-safe: entries committed outside the AMQP path (a produced report, a replay), for
  // delivery to their subscribers.
  void offer(std::vector<store::queue_entry> entries);
  // Thread-safe: who may connect (certificate subjects) and publish what, for connections and
  // links opened from now on (a reload). The agencies are those of the options: a reload that
  // adds or removes one needs a restart.
  void set_parties(std::shared_ptr<const config::broker_config> next);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  base::metrics_registry::registration gauges_;  // before impl_ goes
};

}  // namespace niem::transport
