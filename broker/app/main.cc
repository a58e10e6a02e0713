// niem-broker: loads the configuration, the mappings and the store, then runs the AMQP endpoint
// until SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "admin/admin.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "config/config.h"
#include "mapping/mapping.h"
#include "pipeline/pipeline.h"
#include "report/report.h"
#include "routing/policy.h"
#include "routing/routing.h"
#include "store/store.h"
#include "transport/server.h"

using namespace niem;

namespace {

constexpr const char* k_usage =
    "usage: niem-broker --config FILE [--listen HOST:PORT] [--store DIR|postgresql://...]\n"
    "                   [--port-file FILE] [--admin HOST:PORT] [--admin-port-file FILE]\n"
    "                   [--log-level debug|info|warn|error]\n";

struct args {
  std::string config, listen, store, port_file, admin, admin_port_file, log_level = "info";
};

bool parse(int argc, char** argv, args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (k == "--config") {
      if (!value(a.config)) return false;
    } else if (k == "--listen") {
      if (!value(a.listen)) return false;
    } else if (k == "--store") {
      if (!value(a.store)) return false;
    } else if (k == "--port-file") {
      if (!value(a.port_file)) return false;
    } else if (k == "--admin") {
      if (!value(a.admin)) return false;
    } else if (k == "--admin-port-file") {
      if (!value(a.admin_port_file)) return false;
    } else if (k == "--log-level") {
      if (!value(a.log_level)) return false;
    } else if (k == "--help" || k == "-h") {
      std::fputs(k_usage, stdout);
      std::exit(0);
    } else {
      return false;
    }
  }
  return !a.config.empty();
}

std::string home() {
  if (const char* h = std::getenv("NIEM_HOME")) return h;
  return NIEM_DEFAULT_HOME;
}

int report_errors(const std::vector<base::diagnostic>& ds) {
  for (const auto& d : ds) std::fprintf(stderr, "%s\n", base::format(d).c_str());
  std::fprintf(stderr, "niem-broker: %zu configuration error%s; not started\n", ds.size(),
               ds.size() == 1 ? "" : "s");
  return 2;
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

  auto cfg = config::load(a.config, home() + "/schemas/config/broker-config.xsd");
  if (!cfg) return report_errors(cfg.errors());
  std::vector<base::diagnostic> errors;
  if (!a.listen.empty()) {
    auto colon = a.listen.rfind(':');
    int port = colon == std::string::npos ? -1 : std::atoi(a.listen.c_str() + colon + 1);
    if (port < 0 || port > 65535) {
      base::diagnostic d;
      d.code = base::errc::config_invalid;
      d.where = "--listen";
      d.message = fmt::format("expected HOST:PORT, got '{}'", a.listen);
      errors.push_back(d);
    } else {
      cfg->listener.host = a.listen.substr(0, colon);
      cfg->listener.port = static_cast<std::uint16_t>(port);
      if (!cfg->tls && !config::is_loopback_host(cfg->listener.host)) {
        base::diagnostic d;
        d.code = base::errc::config_invalid;
        d.where = "--listen";
        d.message = "an anonymous configuration listens on a loopback address only";
        errors.push_back(d);
      }
    }
  }
  if (!a.store.empty()) {
    cfg->store.locator = a.store;
    if (store::backend_of(a.store) == store::backend::sqlite)
      cfg->store.locator = std::filesystem::absolute(a.store).lexically_normal().string();
  }
  if (!a.admin.empty()) {
    auto colon = a.admin.rfind(':');
    int port = colon == std::string::npos ? -1 : std::atoi(a.admin.c_str() + colon + 1);
    auto host = colon == std::string::npos ? std::string() : a.admin.substr(0, colon);
    if (port < 0 || port > 65535 || (!cfg->admin.tls && !config::is_loopback_host(host))) {
      base::diagnostic d;
      d.code = base::errc::config_invalid;
      d.where = "--admin";
      d.message = fmt::format(
          "expected HOST:PORT, on a loopback address unless <admin> has <tls>; got '{}'", a.admin);
      errors.push_back(d);
    } else {
      cfg->admin.enabled = true;
      cfg->admin.host = host;
      cfg->admin.port = static_cast<std::uint16_t>(port);
    }
  }
  // The admin tokens (files hold the secrets; at least 24 characters each).
  std::vector<admin::token> admin_tokens;
  for (const auto& t : cfg->admin.tokens) {
    auto secret = validation::read_file(t.file, 4096);
    auto value = secret ? std::string(base::trim(*secret)) : std::string();
    if (value.size() < 24) {
      base::diagnostic d;
      d.code = base::errc::config_invalid;
      d.where = fmt::format("{}:{}", cfg->file, t.line);
      d.message =
          fmt::format("admin token '{}': {} must hold at least 24 characters", t.name, t.file);
      errors.push_back(d);
      continue;
    }
    admin_tokens.push_back(
        {t.name, value, t.role == "operator" ? admin::role::operator_ : admin::role::viewer});
  }

  auto lib = mapping::mapping_library::load(cfg->mapping_files,
                                            cfg->home + "/schemas/mapping/mapping.xsd");
  if (!lib) {
    errors.insert(errors.end(), lib.errors().begin(), lib.errors().end());
    return report_errors(errors);
  }
  std::vector<config::mapping_fact> facts;
  for (const auto& m : (*lib)->mappings())
    facts.push_back({m->agency(), m->record_type(), m->exchange(), m->file()});
  auto cross = config::cross_check(*cfg, facts);
  errors.insert(errors.end(), cross.begin(), cross.end());
  std::vector<std::shared_ptr<const routing::agreement>> agreements;
  if (!cfg->agreement_files.empty()) {
    std::vector<routing::exchange_root> roots;
    for (const auto& m : (*lib)->mappings()) roots.push_back({m->exchange(), m->root()});
    std::map<std::string, std::string> keys;
    for (std::size_t i = 0; i < cfg->agreement_files.size(); ++i) {
      if (cfg->agreement_key_files[i].empty()) continue;
      auto key = validation::read_file(cfg->agreement_key_files[i], 4096);
      if (!key)
        errors.insert(errors.end(), key.errors().begin(), key.errors().end());
      else
        keys[cfg->agreement_files[i]] = std::string(base::trim(*key));
    }
    auto loaded = routing::load_agreements(cfg->agreement_files,
                                           cfg->home + "/schemas/agreement/agreement.xsd",
                                           *(*lib)->schemas(), roots, keys);
    if (loaded)
      agreements = std::move(*loaded);
    else
      errors.insert(errors.end(), loaded.errors().begin(), loaded.errors().end());
  }
  if (!errors.empty()) return report_errors(errors);

  // Signals are taken by one thread with sigwait, so no handler runs inside Proton or SQLite.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const auto& clk = base::default_clock();
  std::string audit_key;
  if (!cfg->audit_key_file.empty()) {
    auto key = validation::read_file(cfg->audit_key_file, 4096);
    if (!key) return report_errors(key.errors());
    audit_key = base::trim(*key);
    if (audit_key.size() < 32) {
      base::diagnostic d;
      d.code = base::errc::config_invalid;
      d.where = cfg->audit_key_file;
      d.message = "the audit key must hold at least 32 characters (e.g. openssl rand -hex 32)";
      return report_errors({d});
    }
  } else {
    base::log(base::log_level::warn, "broker",
              "no <audit key-file>: the audit chain shows damage but not deliberate rewriting", {});
  }
  std::string db_password;
  if (!cfg->store.password_file.empty()) {
    auto pw = validation::read_file(cfg->store.password_file, 4096);
    if (!pw) return report_errors(pw.errors());
    db_password = base::trim(*pw);
  }
  auto st = store::store::open({.locator = cfg->store.locator,
                                .group_commit_max = cfg->store.group_commit_max,
                                .audit_key = audit_key,
                                .password = db_password,
                                .lease_ms = cfg->store.lease_seconds * 1000},
                               clk);
  if (!st) return report_errors(st.errors());

  // With agreements, each delivery is decided and filtered by the covering agreement (default
  // deny); without, every subscriber receives whole documents (a closed test setup).
  std::shared_ptr<routing::router> router;
  if (!agreements.empty()) {
    std::vector<routing::policy_subscription> subs;
    for (const auto& s : cfg->subscriptions) subs.push_back({s.recipient, s.exchange, s.purpose});
    router = std::make_shared<routing::policy_router>(
        subs, agreements, clk, std::make_shared<routing::consent_registry>());
  } else {
    std::vector<routing::subscription> subs;
    for (const auto& s : cfg->subscriptions) subs.push_back({s.recipient, s.exchange});
    router = std::make_shared<routing::subscription_router>(subs);
  }

  // What earlier documents taught the router (consents, identity links), in their order.
  {
    std::vector<routing::fact> known;
    for (auto& f : (*st)->facts()) known.push_back({f.kind, f.key, f.value});
    router->learn(known);
    // And what other brokers sharing the store learn from now on.
    (*st)->watch_facts([router](std::vector<store::fact_row> fs) {
      std::vector<routing::fact> v;
      for (auto& f : fs) v.push_back({f.kind, f.key, f.value});
      router->learn(v);
    });
    if (!known.empty())
      base::log(base::log_level::info, "broker", "consent registry restored",
                {{"facts", std::to_string(known.size())}});
  }

  pipeline::options po;
  po.workers = cfg->pipeline.workers;
  po.record_limits.max_record_bytes = cfg->listener.max_message_bytes;
  auto pl = std::make_unique<pipeline::pipeline>(*lib, router, **st, po);

  transport::options to;
  to.host = cfg->listener.host;
  to.port = cfg->listener.port;
  if (cfg->tls) to.tls = transport::tls_files{cfg->tls->certificate, cfg->tls->key, cfg->tls->ca};
  to.max_message_bytes = cfg->listener.max_message_bytes;
  to.idle_timeout_seconds = cfg->listener.idle_timeout_seconds;
  for (const auto& ag : cfg->agencies)
    to.agencies.push_back({ag.id, ag.identities, ag.record_types});
  to.recipients = router->recipients();
  to.max_attempts = cfg->delivery.max_attempts;
  to.ttl_ms = cfg->delivery.ttl_seconds * 1000;
  to.prefetch = cfg->delivery.prefetch;
  to.max_pending = cfg->pipeline.max_pending;
  to.max_pending_bytes = cfg->pipeline.max_pending_bytes;
  to.ingest_credit = cfg->pipeline.ingest_credit;
  to.consent_gate = [router, &clk](std::string_view consent_id) {
    return router->still_consented(consent_id, clk.now_ms());
  };

  auto srv = std::make_unique<transport::server>(to, *pl, **st, clk);
  // Aggregate agreements' reports (DSA-009), produced once per period and queued like any
  // other document.
  std::unique_ptr<report::scheduler> reports;
  if (!agreements.empty()) {
    report::scheduler_options ro;
    ro.report_schema = cfg->home + "/schemas/exchange/aggregate-report.xsd";
    ro.recipients = router->recipients();
    ro.check_ms = cfg->reports.check_interval_seconds * 1000;
    ro.start_delay_ms = cfg->reports.start_delay_seconds * 1000;
    reports = std::make_unique<report::scheduler>(
        ro, agreements, **st, clk,
        [s = srv.get()](std::vector<store::queue_entry> e) { s->offer(std::move(e)); });
  }
  // The admin API, /metrics and the dashboard, on their own thread and port.
  std::atomic<bool> bound{false};
  std::unique_ptr<admin::server> adm;
  if (cfg->admin.enabled) {
    admin::options ao;
    ao.host = cfg->admin.host;
    ao.port = cfg->admin.port;
    ao.protect_health = cfg->admin.protect_health;
    if (cfg->admin.tls)
      ao.tls =
          admin::tls_files{cfg->admin.tls->certificate, cfg->admin.tls->key, cfg->admin.tls->ca};
    ao.tokens = admin_tokens;
    ao.static_dir = cfg->home + "/broker/admin/static";
    ao.audit_key = audit_key;
    ao.ttl_ms = cfg->delivery.ttl_seconds * 1000;
    admin::hooks hk;
    hk.listener_bound = [&bound] { return bound.load(); };
    hk.recipients = [router] { return router->recipients(); };
    hk.offer = [s = srv.get()](std::vector<store::queue_entry> e) { s->offer(std::move(e)); };
    hk.pause = [s = srv.get()](const std::string& r, bool on) { return s->pause(r, on); };
    hk.paused = [s = srv.get()] { return s->paused(); };
    hk.transport_metrics = [s = srv.get()] {
      std::string out =
          "# HELP niem_agency_connections Open AMQP connections per agency.\n"
          "# TYPE niem_agency_connections gauge\n";
      for (const auto& [agency, n] : s->connections())
        out += fmt::format("niem_agency_connections{{agency=\"{}\"}} {}\n",
                           base::prometheus_escape(agency), n);
      auto c = s->snapshot();
      out += fmt::format(
          "# HELP niem_links_refused_total AMQP links and connections refused.\n"
          "# TYPE niem_links_refused_total counter\nniem_links_refused_total {}\n",
          c.refused_links);
      return out;
    };
    adm = std::make_unique<admin::server>(
        ao, **st, *pl, agreements, std::dynamic_pointer_cast<const routing::policy_router>(router),
        hk, clk);
    std::string err;
    auto port = adm->start(err);
    if (!port) {
      std::fprintf(stderr, "niem-broker: the admin server cannot listen on %s:%u: %s\n",
                   cfg->admin.host.c_str(), cfg->admin.port, err.c_str());
      return 1;
    }
    base::log(base::log_level::info, "admin", "admin server listening",
              {{"address", fmt::format("{}:{}", cfg->admin.host, port)}});
    if (!a.admin_port_file.empty()) {
      auto tmp = a.admin_port_file + ".tmp";
      std::ofstream(tmp) << port << "\n";
      std::rename(tmp.c_str(), a.admin_port_file.c_str());
    }
  }
  std::thread signals([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    base::log(base::log_level::info, "broker", "stopping", {{"signal", std::to_string(sig)}});
    srv->stop();
  });
  signals.detach();

  int rc = 0;
  base::log(base::log_level::info, "broker", "starting",
            {{"config", cfg->name},
             {"mappings", std::to_string((*lib)->mappings().size())},
             {"store", store::redact(cfg->store.locator)}});
  srv->run([&](base::result<std::uint16_t> r) {
    if (!r) {
      for (const auto& d : r.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
      rc = 1;
      return;
    }
    if (!a.port_file.empty()) {
      auto tmp = a.port_file + ".tmp";
      std::ofstream(tmp) << *r << "\n";
      std::rename(tmp.c_str(), a.port_file.c_str());
    }
    bound = true;
    if (reports) reports->start();
  });
  bound = false;
  if (adm) adm->stop();
  if (reports) reports->stop();
  pl->stop();
  srv.reset();
  st->get()->flush();
  base::log(base::log_level::info, "broker", "stopped", {});
  return rc;
}
