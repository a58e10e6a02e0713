#include "app/broker.h"

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "admin/admin.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "mapping/mapping.h"
#include "pipeline/pipeline.h"
#include "report/report.h"
#include "routing/medication_check.h"
#include "routing/policy.h"
#include "routing/routing.h"
#include "store/retention.h"
#include "store/store.h"
#include "transport/probe.h"
#include "transport/server.h"
#include "validation/validation.h"

namespace niem::app {

// Members in the order they are built; destroyed in reverse (the admin server and the reports
// before the transport, the transport before the pipeline, everything before the store).
struct broker::impl {
  std::shared_ptr<const config::broker_config> cfg;
  config::resolved secrets;  // its cfg moved out: the tokens, keys and password
  std::shared_ptr<const mapping::mapping_library> lib;
  std::vector<std::shared_ptr<const routing::agreement>> agreements;
  std::unique_ptr<store::store> st;
  std::shared_ptr<routing::router> router;
  std::shared_ptr<routing::medication::check> check;  // when configured
  std::unique_ptr<pipeline::pipeline> pl;
  std::unique_ptr<transport::server> srv;
  std::unique_ptr<report::scheduler> reports;
  std::unique_ptr<store::retention> retention;
  std::unique_ptr<admin::server> adm;
  std::atomic<bool> bound{false};
  std::mutex srv_mu;  // stop() from another thread while run() ends
};

namespace {

// The mappings' agreements with their pseudonym keys, loaded against the exchange schemas.
void load_agreements(broker::impl& im, std::vector<base::diagnostic>& errors) {
  const auto& cfg = *im.cfg;
  if (cfg.agreement_files.empty()) return;
  auto roots = im.lib->exchanges();
  std::map<std::string, std::string> keys;
  for (std::size_t i = 0; i < cfg.agreement_files.size(); ++i) {
    if (cfg.agreement_key_files[i].empty()) continue;
    auto key = validation::read_file(cfg.agreement_key_files[i], 4096);
    if (!key)
      errors.insert(errors.end(), key.errors().begin(), key.errors().end());
    else
      keys[cfg.agreement_files[i]] = std::string(base::trim(*key));
  }
  auto loaded =
      routing::load_agreements(cfg.agreement_files, cfg.home + "/schemas/agreement/agreement.xsd",
                               *im.lib->schemas(), roots, keys);
  if (loaded)
    im.agreements = std::move(*loaded);
  else
    errors.insert(errors.end(), loaded.errors().begin(), loaded.errors().end());
}

// With agreements, each delivery is decided and filtered by the covering agreement (default
// deny); without, every subscriber receives whole documents (a closed test setup).
std::shared_ptr<routing::router> make_router(const broker::impl& im) {
  const auto& clk = base::default_clock();
  if (!im.agreements.empty()) {
    std::vector<routing::policy_subscription> subs;
    for (const auto& s : im.cfg->subscriptions)
      subs.push_back({s.recipient, s.exchange, s.purpose});
    return std::make_shared<routing::policy_router>(subs, im.agreements, clk,
                                                    std::make_shared<routing::consent_registry>());
  }
  std::vector<routing::subscription> subs;
  for (const auto& s : im.cfg->subscriptions) subs.push_back({s.recipient, s.exchange});
  return std::make_shared<routing::subscription_router>(subs);
}

// What earlier documents taught the router (consents, identity links), in their order, and what
// other brokers sharing the store teach it from now on.
void restore_facts(broker::impl& im) {
  std::vector<routing::fact> known;
  std::vector<routing::medication::check_fact> checked;
  for (auto& f : im.st->facts()) {
    if (im.check) checked.push_back({f.kind, f.key, f.value});
    known.push_back({f.kind, f.key, f.value});
  }
  im.router->learn(known);
  if (im.check) im.check->restore(checked);
  im.st->watch_facts([router = im.router, check = im.check](std::vector<store::fact_row> fs) {
    std::vector<routing::fact> v;
    std::vector<routing::medication::check_fact> c;
    for (auto& f : fs) {
      if (check) c.push_back({f.kind, f.key, f.value});
      v.push_back({f.kind, f.key, f.value});
    }
    router->learn(v);
    if (check) check->restore(c);
  });
  if (!known.empty())
    base::log(base::log_level::info, "broker", "consent registry restored",
              {{"facts", std::to_string(known.size())}});
}

transport::options transport_options(const broker::impl& im) {
  const auto& cfg = *im.cfg;
  transport::options to;
  to.host = cfg.listener.host;
  to.port = cfg.listener.port;
  if (cfg.tls) to.tls = transport::tls_files{cfg.tls->certificate, cfg.tls->key, cfg.tls->ca};
  to.max_message_bytes = cfg.listener.max_message_bytes;
  to.idle_timeout_seconds = cfg.listener.idle_timeout_seconds;
  to.parties = im.cfg;
  to.recipients = im.router->recipients();
  to.max_attempts = cfg.delivery.max_attempts;
  to.ttl_ms = cfg.delivery.ttl_seconds * 1000;
  to.prefetch = cfg.delivery.prefetch;
  to.max_pending = cfg.pipeline.max_pending;
  to.max_pending_bytes = cfg.pipeline.max_pending_bytes;
  to.ingest_credit = cfg.pipeline.ingest_credit;
  to.consent_gate = [router = im.router](std::string_view consent_id) {
    return router->still_consented(consent_id, base::default_clock().now_ms());
  };
  return to;
}

}  // namespace

broker::broker(std::unique_ptr<impl> im) : impl_(std::move(im)) {}

broker::~broker() {
  impl_->bound = false;
  if (impl_->adm) impl_->adm->stop();
  if (impl_->reports) impl_->reports->stop();
  if (impl_->pl) impl_->pl->stop();
  impl_->srv.reset();
  if (impl_->st) impl_->st->flush();
}

base::result<std::unique_ptr<broker>> broker::create(config::resolved rc) {
  auto im = std::make_unique<impl>();
  im->cfg = std::make_shared<const config::broker_config>(std::move(rc.cfg));
  im->secrets = std::move(rc);
  const auto& cfg = *im->cfg;
  const auto& clk = base::default_clock();

  std::vector<mapping::written_exchange> written;
  if (const auto& mc = cfg.medication_check; mc.enabled)
    written.push_back({mc.exchange, cfg.home + "/schemas/exchange/" + mc.exchange + ".xsd",
                       routing::medication::exception_root()});
  auto lib = mapping::mapping_library::load(cfg.mapping_files,
                                            cfg.home + "/schemas/mapping/mapping.xsd", written);
  if (!lib) return lib.errors();
  im->lib = *lib;
  std::vector<config::mapping_fact> facts;
  for (const auto& m : im->lib->mappings())
    facts.push_back({m->agency(), m->record_type(), m->exchange(), m->file()});
  auto errors = config::cross_check(cfg, facts);
  load_agreements(*im, errors);
  if (!errors.empty()) return errors;
  if (im->secrets.audit_key.empty())
    base::log(base::log_level::warn, "broker",
              "no <audit key-file>: the audit chain shows damage but not deliberate rewriting", {});

  auto st = store::store::open({.locator = cfg.store.locator,
                                .group_commit_max = cfg.store.group_commit_max,
                                .audit_key = im->secrets.audit_key,
                                .password = im->secrets.db_password,
                                .lease_ms = cfg.store.lease_seconds * 1000,
                                .min_free_bytes = cfg.store.min_free_mb << 20},
                               clk);
  if (!st) return st.errors();
  im->st = std::move(*st);
  im->router = make_router(*im);
  if (const auto& mc = cfg.medication_check; mc.enabled)
    im->check = std::make_shared<routing::medication::check>(
        routing::medication::check_inputs{mc.claims, mc.applications, mc.orders, mc.placements});
  restore_facts(*im);

  pipeline::options po;
  po.workers = cfg.pipeline.workers;
  po.record_limits.max_record_bytes = cfg.listener.max_message_bytes;
  if (im->check) {
    po.check = im->check;
    po.check_exchange = cfg.medication_check.exchange;
    po.check_sender = cfg.medication_check.sender;
    po.offer = [p = im.get()](std::vector<store::queue_entry> e) {
      std::lock_guard lk(p->srv_mu);
      if (p->srv) p->srv->offer(std::move(e));
    };
  }
  im->pl = std::make_unique<pipeline::pipeline>(im->lib, im->router, *im->st, po);
  im->srv = std::make_unique<transport::server>(transport_options(*im), *im->pl, *im->st, clk);
  // Notices the kept claims call for that a stop may have kept from being committed (each is
  // keyed: those already sent are duplicates).
  if (im->check) im->pl->submit_notices(im->check->outstanding());
  // Aggregate agreements' reports (DSA-009), produced once per period and queued like any
  // other document.
  if (!im->agreements.empty()) {
    report::scheduler_options ro;
    ro.report_schema = cfg.home + "/schemas/exchange/aggregate-report.xsd";
    ro.recipients = im->router->recipients();
    ro.check_ms = cfg.reports.check_interval_seconds * 1000;
    ro.start_delay_ms = cfg.reports.start_delay_seconds * 1000;
    im->reports = std::make_unique<report::scheduler>(
        ro, im->agreements, *im->st, clk,
        [s = im->srv.get()](std::vector<store::queue_entry> e) { s->offer(std::move(e)); });
  }
  // Old rows go, each kind after its own age.
  store::retention_policy rp;
  const auto& keep = cfg.retention;
  constexpr std::uint64_t day = 86'400;
  rp.keep_seconds = {{store::prune_kind::records, cfg.delivery.ttl_seconds},
                     {store::prune_kind::messages, keep.messages_days * day},
                     {store::prune_kind::dead_letters, keep.dead_letters_days * day},
                     {store::prune_kind::observations, keep.observations_days * day}};
  rp.batch = keep.batch;
  rp.interval_seconds = keep.interval_seconds;
  im->retention = std::make_unique<store::retention>(*im->st, rp, clk);
  return std::unique_ptr<broker>(new broker(std::move(im)));
}

base::result<std::uint16_t> broker::start_admin() {
  auto& im = *impl_;
  const auto& cfg = *im.cfg;
  if (!cfg.admin.enabled) return std::uint16_t{0};
  admin::options ao;
  ao.host = cfg.admin.host;
  ao.port = cfg.admin.port;
  ao.protect_health = cfg.admin.protect_health;
  ao.history_interval_ms = cfg.admin.history_interval_seconds * 1000;
  if (cfg.admin.tls)
    ao.tls = admin::tls_files{cfg.admin.tls->certificate, cfg.admin.tls->key, cfg.admin.tls->ca};
  for (const auto& t : im.secrets.admin_tokens)
    ao.tokens.push_back(
        {t.name, t.value, t.role == "operator" ? admin::role::operator_ : admin::role::viewer});
  ao.static_dir = cfg.home + "/broker/admin/static";
  ao.audit_key = im.secrets.audit_key;
  ao.ttl_ms = cfg.delivery.ttl_seconds * 1000;
  admin::hooks hk;
  hk.listener_bound = [&im] { return im.bound.load(); };
  hk.recipients = [router = im.router] { return router->recipients(); };
  auto* s = im.srv.get();
  hk.offer = [s](std::vector<store::queue_entry> e) { s->offer(std::move(e)); };
  hk.pause = [s](const std::string& r, bool on) { return s->pause(r, on); };
  hk.paused = [s] { return s->paused(); };
  hk.counts_of = [](const std::string& q) {
    auto& p = transport::probe();
    return admin::queue_counts{p.enqueued.value({q}), p.delivered.value({q}), p.accepted.value({q}),
                               p.redelivered.value({q}), p.expired.value({q})};
  };
  hk.medication = im.check;
  hk.medication_claims = cfg.medication_check.claims;
  im.adm = std::make_unique<admin::server>(
      ao, *im.st, *im.pl, im.agreements,
      std::dynamic_pointer_cast<const routing::policy_router>(im.router), hk,
      base::default_clock());
  std::string err;
  auto port = im.adm->start(err);
  if (!port) {
    base::diagnostic d;
    d.code = base::errc::io_error;
    d.where = fmt::format("{}:{}", cfg.admin.host, cfg.admin.port);
    d.message = "the admin server cannot listen: " + err;
    return std::vector<base::diagnostic>{d};
  }
  base::log(base::log_level::info, "admin", "admin server listening",
            {{"address", fmt::format("{}:{}", cfg.admin.host, port)}});
  return static_cast<std::uint16_t>(port);
}

int broker::run(std::function<void(std::uint16_t)> on_listening) {
  auto& im = *impl_;
  int rc = 0;
  base::log(base::log_level::info, "broker", "starting",
            {{"config", im.cfg->name},
             {"mappings", std::to_string(im.lib->mappings().size())},
             {"store", store::redact(im.cfg->store.locator)}});
  im.srv->run([&](base::result<std::uint16_t> r) {
    if (!r) {
      for (const auto& d : r.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
      rc = 1;
      return;
    }
    if (on_listening) on_listening(*r);
    im.bound = true;
    if (im.reports) im.reports->start();
    im.retention->start();
  });
  im.bound = false;
  if (im.adm) im.adm->stop();
  if (im.reports) im.reports->stop();
  im.retention.reset();
  im.pl->stop();
  {
    std::lock_guard lk(im.srv_mu);
    im.srv.reset();
  }
  im.st->flush();
  base::log(base::log_level::info, "broker", "stopped", {});
  return rc;
}

void broker::stop() {
  std::lock_guard lk(impl_->srv_mu);
  if (impl_->srv) impl_->srv->stop();
}

}  // namespace niem::app
