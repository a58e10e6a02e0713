#pragma once
// Command-line flags every adapter shares for reaching the broker.
#include <cstdlib>
#include <string>

#include "client/client.h"

namespace niem::client {

inline constexpr const char* k_connection_flags_help =
    "  --url URL            broker address (default $NIEM_BROKER_URL or amqp://127.0.0.1:5672);\n"
    "                       repeat it (or separate with commas) for replicas: failover in turn\n"
    "  --tls-ca FILE        CA that signed the broker's certificate (mutual TLS)\n"
    "  --tls-cert FILE      this agency's certificate\n"
    "  --tls-key FILE       this agency's private key\n"
    "  --timeout SECONDS    wait at most this long for the broker's outcome (default 30)\n";

// Consumes one of the flags above; false if `flag` is not one of them.
inline bool apply_connection_flag(const std::string& flag, const std::string& value, options& o) {
  auto tls = [&]() -> tls_files& {
    if (!o.tls) o.tls.emplace();
    return *o.tls;
  };
  if (flag == "--url")
    o.url = o.url == options{}.url ? value : o.url + "," + value;  // repeated: replicas
  else if (flag == "--tls-ca")
    tls().ca = value;
  else if (flag == "--tls-cert")
    tls().certificate = value;
  else if (flag == "--tls-key")
    tls().key = value;
  else if (flag == "--timeout")
    o.timeout = std::chrono::milliseconds(
        static_cast<long long>(std::strtod(value.c_str(), nullptr) * 1000));
  else
    return false;
  return true;
}

inline bool is_connection_flag(const std::string& flag) {
  return flag == "--url" || flag == "--tls-ca" || flag == "--tls-cert" || flag == "--tls-key" ||
         flag == "--timeout";
}

// Default URL from the environment; checks that TLS, when asked for, has all three files.
inline std::string finish_connection_options(options& o) {
  if (const char* env = std::getenv("NIEM_BROKER_URL"); env && o.url == options{}.url) o.url = env;
  if (o.tls && (o.tls->ca.empty() || o.tls->certificate.empty() || o.tls->key.empty()))
    return "--tls-ca, --tls-cert and --tls-key go together";
  if (o.timeout.count() <= 0) return "--timeout must be positive";
  return {};
}

}  // namespace niem::client
