// niem-broker: parses its arguments, resolves the configuration and runs the broker (app/broker.h
// owns and wires the modules) until SIGINT or SIGTERM; SIGHUP reloads its rules.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "admin/admin.h"
#include "admin/conditions.h"
#include "app/broker.h"
#include "base/home.h"
#include "base/log.h"
#include "config/config.h"

using namespace niem;

namespace {

constexpr const char* k_usage =
    "usage: niem-broker --config FILE [--listen HOST:PORT] [--store DIR|postgresql://...]\n"
    "                   [--store-min-free-mb N] [--port-file FILE] [--admin HOST:PORT]\n"
    "                   [--admin-port-file FILE]\n"
    "                   [--log-level debug|info|warn|error]\n"
    "       niem-broker --api-reference   (the admin API's routes, as Markdown)\n"
    "       niem-broker --alert-rules     (deploy/prometheus/alerts.yml)\n";

struct args {
  std::string config, port_file, admin_port_file, log_level = "info";
  config::overrides over;
};

bool parse(int argc, char** argv, args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string* to = k == "--config"              ? &a.config
                      : k == "--listen"            ? &a.over.listen
                      : k == "--store"             ? &a.over.store
                      : k == "--store-min-free-mb" ? &a.over.store_min_free_mb
                      : k == "--port-file"         ? &a.port_file
                      : k == "--admin"             ? &a.over.admin
                      : k == "--admin-port-file"   ? &a.admin_port_file
                      : k == "--log-level"         ? &a.log_level
                                                   : nullptr;
    if (k == "--help" || k == "-h") {
      std::fputs(k_usage, stdout);
      std::exit(0);
    }
    if (k == "--alert-rules") {
      std::fputs(admin::alert_rules_yaml().c_str(), stdout);
      std::exit(0);
    }
    if (k == "--api-reference") {
      std::fputs(admin::api_reference().c_str(), stdout);
      std::exit(0);
    }
    if (!to || !value(*to)) return false;
  }
  return !a.config.empty();
}

std::string home() {
  return base::default_home(NIEM_DEFAULT_HOME);
}

int report_errors(const std::vector<base::diagnostic>& ds) {
  for (const auto& d : ds) std::fprintf(stderr, "%s\n", base::format(d).c_str());
  std::fprintf(stderr, "niem-broker: %zu configuration error%s; not started\n", ds.size(),
               ds.size() == 1 ? "" : "s");
  return 2;
}

// Written whole or not at all: a test or a supervisor reads it as soon as it exists.
void write_port(const std::string& file, std::uint16_t port) {
  if (file.empty()) return;
  auto tmp = file + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), file.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  if (!parse(argc, argv, a)) {
    std::fputs(k_usage, stderr);
    return 64;
  }
  if (a.log_level == "debug")
    base::set_log_level(base::log_level::debug);
  else if (a.log_level == "warn")
    base::set_log_level(base::log_level::warn);
  else if (a.log_level == "error")
    base::set_log_level(base::log_level::error);

  auto config_schema = home() + "/schemas/config/broker-config.xsd";
  auto cfg = config::load(a.config, config_schema);
  if (!cfg) return report_errors(cfg.errors());
  auto resolved = config::resolve(std::move(*cfg), a.over);
  if (!resolved) return report_errors(resolved.errors());

  // Signals are taken by one thread with sigwait, so no handler runs inside Proton or SQLite.
  // SIGHUP reloads the rules (mappings, agreements, subscriptions, tokens).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto b = app::broker::create(std::move(*resolved), a.over, config_schema);
  if (!b) return report_errors(b.errors());
  auto admin_port = (*b)->start_admin();
  if (!admin_port) {
    for (const auto& d : admin_port.errors())
      std::fprintf(stderr, "niem-broker: %s\n", base::format(d).c_str());
    return 1;
  }
  if (*admin_port) write_port(a.admin_port_file, *admin_port);
  std::thread signals([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&sigs, &sig) != 0) continue;
      if (sig == SIGHUP) {
        (*b)->reload("signal:SIGHUP");  // logged and audited there
        continue;
      }
      base::log(base::log_level::info, "broker", "stopping", {{"signal", std::to_string(sig)}});
      (*b)->stop();
      return;
    }
  });
  int rc = (*b)->run([&](std::uint16_t port) { write_port(a.port_file, port); });
  // The signal thread ends (a reload under way finishes) before the broker goes.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  return rc;
}
