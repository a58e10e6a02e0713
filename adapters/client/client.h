#pragma once
// The thin AMQP 1.0 client the agency adapters are built on. It speaks only the broker's public
// contract (addresses `ingest/<agency>/<record-type>` and `deliver/<agency>`, content types,
// dispositions with `niem:<reason>` conditions) and knows nothing of the broker's insides.
//
// Each publisher or subscriber owns one connection and one event-loop thread. Calls are
// thread-safe; completion callbacks run on that thread and must not block.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace niem::client {

// Mutual TLS: the agency's certificate and key, and the CA that signed the broker's certificate.
// The broker is authenticated by name (the host in the URL must match its certificate).
struct tls_files {
  std::string ca, certificate, key;
};

struct options {
  // amqp://host:port, or amqps://… with `tls`. Several brokers (replicas sharing a store),
  // comma-separated: after a failed or lost connection the next connection goes to the next one
  // (failover); what was unsettled fails as unreachable and is sent again by the caller, which
  // the brokers' dedup by record key makes safe.
  std::string url = "amqp://127.0.0.1:5672";
  std::optional<tls_files> tls;
  std::chrono::milliseconds timeout{30000};  // a publish not settled by then fails as timed_out
  std::string container_id;                  // AMQP container id; generated when empty
};

enum class status {
  accepted,     // committed by the broker (or a duplicate of a record it already holds)
  rejected,     // the broker refused this record for good: see condition and description
  released,     // the broker did not take it; sending it again is safe
  refused,      // the link was refused or closed (unknown address, not authorized, too large)
  unreachable,  // no connection to the broker, or it dropped before the outcome was known
  timed_out,    // no outcome within options::timeout; the broker may still have it
};
const char* to_string(status s);

struct publish_result {
  status what = status::unreachable;
  std::string condition;    // AMQP condition name, e.g. niem:record.invalid_json
  std::string description;  // e.g. "NIEM-101 …": the broker's stable code comes first
  bool accepted() const { return what == status::accepted; }
  // Whether sending the same record again may succeed (the broker drops duplicates by key).
  bool retryable() const {
    return what == status::released || what == status::unreachable || what == status::timed_out;
  }
  std::string code() const;  // the NIEM-nnn code from the description, if any
};

struct outgoing {
  std::string address;  // ingest/<agency>/<record-type>
  std::string body;
  std::string content_type;  // application/json, or text/csv for a header line + record line
  std::vector<std::pair<std::string, std::string>> properties;
};

class publisher {
 public:
  explicit publisher(options opt);
  ~publisher();
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  // Sends one record; `done` runs on the client thread once the broker settles it or it fails.
  // Connects on first use and again after a failure.
  void publish_async(outgoing m, std::function<void(publish_result)> done);
  // Sends one record and waits for its outcome.
  publish_result publish(outgoing m);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

struct incoming {
  std::string body, content_type, address;
  std::map<std::string, std::string> properties;  // application properties, as strings
};

enum class disposition { accept, reject, release };

class subscriber {
 public:
  // Attaches a receiver to `address` (deliver/<agency>) with `credit` messages of prefetch and
  // calls `handler` for each message on the client thread; its answer settles the delivery.
  // Reconnects after a failure, every `retry_interval`.
  subscriber(options opt, std::string address, std::function<disposition(const incoming&)> handler,
             int credit = 100,
             std::chrono::milliseconds retry_interval = std::chrono::milliseconds(500));
  ~subscriber();
  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;

  // Waits until the receiver is attached; false on timeout (see last_error()).
  bool wait_attached(std::chrono::milliseconds timeout);
  // The last connection or link error, e.g. "amqp:unauthorized-access: …"; empty if none.
  std::string last_error() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace niem::client
