#pragma once
// The broker's configuration: one XML file (schemas/config/broker-config.xsd). Loading collects
// every problem, schema and semantic, each with file and line, so that an operator fixes them all
// in one go; the broker does not start on a configuration with any error.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/result.h"

namespace niem::config {

struct located {
  std::uint32_t line = 0;  // where the item was declared, for later cross-checks
  // Where an item is declared is not what it says: a reload compares what they say.
  bool operator==(const located&) const { return true; }
};

struct listener_config : located {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5672;
  std::uint64_t max_message_bytes = 1 << 20;
  std::uint32_t idle_timeout_seconds = 60;
  bool operator==(const listener_config&) const = default;
};

struct tls_config : located {
  std::string certificate, key, ca;  // absolute paths
  bool operator==(const tls_config&) const = default;
};

struct store_config : located {
  // A directory (SQLite, absolute) or a postgresql:// URI (with the TLS files of <store ca
  // certificate key> added as sslrootcert, sslcert, sslkey and sslmode=verify-full).
  std::string locator;
  std::string password_file;  // absolute; PostgreSQL only
  std::uint32_t group_commit_max = 1024;
  std::uint32_t lease_seconds = 5;  // PostgreSQL: a dead broker's queues are taken over after it
  std::uint64_t min_free_mb = 256;  // SQLite: the file system's free-space floor (0: none)
  bool operator==(const store_config&) const = default;
};

struct pipeline_config {
  std::uint32_t workers = 2;
  std::uint32_t max_pending = 2048;
  std::uint64_t max_pending_bytes = 64ull << 20;
  std::uint32_t ingest_credit = 256;
  bool operator==(const pipeline_config&) const = default;
};

struct delivery_config {
  std::uint32_t max_attempts = 5;
  std::uint64_t ttl_seconds = 14 * 24 * 3600;
  std::uint32_t prefetch = 256;
  bool operator==(const delivery_config&) const = default;
};

// How long the store keeps each kind of row (store/retention.h); records kept for replay go
// with the delivery time-to-live. 0 keeps a kind for ever.
struct retention_config {
  std::uint32_t messages_days = 90;       // the message log (search, traces, receipts)
  std::uint32_t dead_letters_days = 90;   // dead letters nobody replayed or purged
  std::uint32_t observations_days = 400;  // records counted for aggregate reports
  std::uint32_t batch = 250;              // rows per operation
  std::uint32_t interval_seconds = 600;   // between two passes
  bool operator==(const retention_config&) const = default;
};

struct reports_config {
  std::uint32_t check_interval_seconds = 3600;
  std::uint32_t start_delay_seconds = 300;
  bool operator==(const reports_config&) const = default;
};

struct admin_token {
  std::string name, role, file;  // role: viewer or operator
  std::uint32_t line = 0;
};

struct admin_config {
  bool enabled = false;
  std::optional<tls_config> tls;  // HTTPS (ca: clients must present a certificate too)
  std::string host = "127.0.0.1";
  std::uint16_t port = 8081;
  bool protect_health = false;
  std::uint32_t history_interval_seconds = 10;  // the dashboard's last hour: one sample per
  std::vector<admin_token> tokens;
};

struct agency_config : located {
  std::string id, name;
  std::vector<std::string> identities;    // certificate subjects
  std::vector<std::string> record_types;  // what it publishes
  std::vector<std::uint32_t> record_type_lines;
};

struct subscription_config : located {
  std::string recipient, exchange, purpose;
};

// The medication authorization check (medication-oversight.md): the exchanges it reads, the
// exchange of the notices it sends and the party they come from.
struct medication_check_config : located {
  bool enabled = false;
  std::string exchange, sender;  // e.g. medication-authorization-exception, exchange
  std::string claims, applications, orders, placements;  // input exchanges
  bool operator==(const medication_check_config&) const = default;
};

// How documents are validated: "compiled", "full" or "both", for all and by exchange; and how
// many of the documents judged by compiled checks alone the sampling oracle checks again.
struct validation_config {
  std::string mode = "compiled";
  std::map<std::string, std::string> by_exchange;
  std::uint32_t sample_one_in = 1000;       // 0: none after the first seconds
  std::uint32_t sample_first_seconds = 60;  // every document of these after a (re)load
  bool operator==(const validation_config&) const = default;
};

struct broker_config {
  std::string file;  // the configuration file, as given
  std::string name;
  listener_config listener;
  std::optional<tls_config> tls;  // none: anonymous (loopback only)
  store_config store;
  pipeline_config pipeline;
  delivery_config delivery;
  retention_config retention;
  reports_config reports;
  admin_config admin;
  std::string home;            // holds schemas/
  std::string audit_key_file;  // absolute; empty: the audit chain is unkeyed
  std::vector<std::string> mapping_files;
  std::vector<std::uint32_t> mapping_lines;
  validation_config validation;
  std::map<std::string, std::uint32_t> validation_lines;  // by exchange, for the cross-check
  std::vector<std::string> agreement_files;  // absolute; empty: no agreements (deliver whole)
  std::vector<std::uint32_t> agreement_lines;
  std::vector<std::string> agreement_key_files;  // per agreement; empty: none
  std::vector<agency_config> agencies;
  std::vector<subscription_config> subscriptions;
  medication_check_config medication_check;

  const agency_config* agency(std::string_view id) const;
  // The agency a certificate subject authenticates as (exact match after normalising spaces
  // around ',' and '=').
  const agency_config* agency_for_subject(std::string_view subject) const;
  bool publishes(std::string_view agency, std::string_view record_type) const;
};

// `config_schema` is schemas/config/broker-config.xsd.
base::result<broker_config> load(const std::string& file, const std::string& config_schema);

// What the loaded mappings provide, for the cross-check below (config does not depend on mapping).
struct mapping_fact {
  std::string agency, record_type, exchange, file;
};
// Every published record type needs a mapping, every subscription an exchange some mapping
// produces; reported with the configuration file's lines.
std::vector<base::diagnostic> cross_check(const broker_config& cfg,
                                          const std::vector<mapping_fact>& mappings);

bool is_loopback_host(std::string_view host);

// What a reload cannot change in a running broker: the sections of `next` that differ from
// `running` ("listener", "store", ...). Mappings, agreements, subscriptions, admin tokens and
// what each agency publishes and authenticates as are not among them.
std::vector<std::string> restart_required(const broker_config& running, const broker_config& next);

// What the command line may override (empty: the file's value).
struct overrides {
  std::string listen;             // HOST:PORT
  std::string store;              // a directory or a postgresql:// URI
  std::string store_min_free_mb;  // <store min-free-mb>
  std::string admin;              // HOST:PORT; turns the admin server on
};

struct admin_secret {
  std::string name, role, value;  // role: viewer or operator
};

// A configuration ready to run: the overrides applied and the secrets read from their files.
struct resolved {
  broker_config cfg;
  std::string audit_key;    // empty: the audit chain is unkeyed
  std::string db_password;  // empty: none (PostgreSQL only)
  std::vector<admin_secret> admin_tokens;
};

// Applies the overrides (the anonymous mode's loopback rule included) and reads the secrets
// (admin tokens of at least 24 characters, an audit key of at least 32, the database password),
// collecting every problem with the file and line or the option that caused it.
base::result<resolved> resolve(broker_config cfg, const overrides& o);

}  // namespace niem::config
