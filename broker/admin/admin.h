#pragma once
// The admin HTTP server inside niem-broker (Boost.Beast), on its own port: one socket thread that
// never waits on a request's work and four workers that do it (so a slow replay never holds a
// health check). Loopback unless TLS is configured (then mutual TLS may be required). /healthz,
// /readyz and /metrics (Prometheus text) are open unless configured otherwise; /api/... needs a
// bearer token whose role is viewer (reads everything but record content) or operator (also
// replays, purges, pauses and resumes a subscriber's delivery; each such action is written to the
// audit trail with the token's name). Errors are JSON with a stable code. The dashboard's static
// files are served from `static_dir`.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "oversight/medication_check.h"
#include "pipeline/pipeline.h"
#include "routing/policy.h"
#include "store/store.h"

namespace niem::admin {

enum class role { viewer, operator_ };

struct token {
  std::string name, secret;
  role r = role::viewer;
};

struct tls_files {
  std::string certificate, key;
  std::string ca;  // set: clients must present a certificate this CA issued
};

struct options {
  std::optional<tls_files> tls;  // HTTPS
  std::string host = "127.0.0.1";
  std::uint16_t port = 8081;  // 0: pick a free port
  bool protect_health = false;
  std::vector<token> tokens;
  std::string static_dir;  // the dashboard
  std::string audit_key;
  std::uint64_t ttl_ms = 14ull * 24 * 3600 * 1000;
  std::uint32_t history_interval_ms = 10'000;  // the dashboard's last hour: one sample per
};

// What a subscriber's queue has seen since start (the transport counts it).
struct queue_counts {
  std::uint64_t enqueued = 0, delivered = 0, accepted = 0, redelivered = 0, expired = 0;
};

// A reload's outcome (app/broker.cc re-reads the configuration file, the mappings, agreements
// and their keys, the subscriptions and tokens): when it took effect, the rules' new generation,
// what changed and what differs but needs a restart; otherwise every problem, and nothing
// changed.
struct reload_report {
  bool ok = false;
  std::uint64_t generation = 0;  // the rules in force after the call
  std::vector<std::string> changed, restart_required;
  std::vector<base::diagnostic> errors;
  struct file_version {
    std::string kind, file, version;  // kind: mapping or agreement; version: content hash
  };
  std::vector<file_version> files;  // the rules in force
  std::string content_hash;         // theirs (pipeline::content_hash)
};

// The store settings by which brokers sharing a store follow each other's reloads
// (app/reload_relay.h): the announcement ("ORIGIN GENERATION HASH AT_MS") and each broker's
// result under its replica id ("HASH GENERATION OUTCOME ORIGIN ORIGIN_HASH AT_MS"), which
// GET /api/config shows.
inline constexpr std::string_view k_reload_announce = "reload:announce";
inline constexpr std::string_view k_reload_result = "reload:result:";

// What the admin server needs from the rest of the broker, as callbacks (it does not depend on
// the transport).
struct hooks {
  std::function<bool()> listener_bound;
  std::function<std::vector<std::string>()> recipients;
  // Entries committed by a replay, for delivery.
  std::function<void(std::vector<store::queue_entry>)> offer;
  std::function<queue_counts(const std::string& recipient)> counts_of;
  // Holds or resumes delivery to a subscriber; which are held.
  std::function<bool(const std::string&, bool)> pause;  // false: not stored, not changed
  std::function<std::vector<std::string>()> paused;
  // The medication authorization check, when configured, and the exchange of the claims it
  // checks (a claim's trace shows what it decided; /api/alerts lists the open alerts).
  std::shared_ptr<const oversight::medication::check> medication;
  std::string medication_claims;
  // Reloads the rules (all or nothing), audited as done by `by` ("admin:TOKEN-NAME").
  std::function<reload_report(const std::string& by)> reload;
};

struct request {
  std::string method, target, authorization, body;
  std::string remote;  // the client's address (failed tokens are counted per address)
};
struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  unsigned retry_after_seconds = 0;  // sent as Retry-After when set
};

// One request read from raw bytes with the server's parser and limits (what the socket path
// reads); nullopt when it is malformed, incomplete or beyond a limit.
std::optional<request> parse_request(std::string_view raw);

// The admin API's routes as a Markdown table (docs/ADMIN-API.md holds it; a test checks).
std::string api_reference();

class server {
 public:
  // The agreements and consents it shows are those of the pipeline's current rules. `st`: what
  // the API shows; `ops`: settings and operators' actions in the audit trail (the same store).
  server(options opt, store::queries& st, store::operations& ops, pipeline::pipeline& pl, hooks h,
         const base::clock& clk);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Thread-safe: replaces every token (a reload); requests under way keep the old set.
  void set_tokens(std::vector<token> tokens);
  // Binds and starts serving on a thread of its own; the bound port, or 0 with `error`.
  std::uint16_t start(std::string& error);
  void stop();

  // One request, answered synchronously; thread-safe (the HTTP layer calls it on its workers;
  // tests call it directly).
  response handle(const request& req);
  // Takes a sample of the metrics for the last hour now (start() then takes one every
  // `history_interval_ms`; tests call it with their clock).
  void sample_history();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  base::metrics_registry::registration store_gauges_;  // ends before impl_ and the store
};

}  // namespace niem::admin
