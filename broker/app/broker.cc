#include "app/broker.h"
#include "app/reload_relay.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "admin/admin.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "mapping/mapping.h"
#include "oversight/oversight.h"
#include "pipeline/pipeline.h"
#include "report/report.h"
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
  std::shared_ptr<const config::broker_config> cfg;  // the running one (a reload replaces it)
  config::resolved secrets;  // its cfg moved out: the tokens, keys and password
  config::overrides over;    // the command line's, applied again by a reload
  std::string config_schema;
  // The rules create builds (lib, agreements, router); the pipeline holds those in force, which
  // a reload replaces: read them there (pl->current()).
  std::shared_ptr<const mapping::mapping_library> lib;
  std::vector<std::shared_ptr<const routing::agreement>> agreements;
  // Agreement file -> pseudonym key, of the rules in force (a reload compares them).
  std::map<std::string, std::string> agreement_keys;
  // Consents and identity links outlive every router a reload builds.
  std::shared_ptr<routing::consent_registry> consents =
      std::make_shared<routing::consent_registry>();
  std::mutex reload_mu;  // one reload at a time
  std::unique_ptr<store::store> st;
  std::shared_ptr<const routing::router> router;
  std::shared_ptr<oversight::medication::check> check;  // when configured
  std::unique_ptr<pipeline::pipeline> pl;
  std::unique_ptr<transport::server> srv;
  std::unique_ptr<report::scheduler> reports;
  std::unique_ptr<store::retention> retention;
  std::unique_ptr<admin::server> adm;
  std::unique_ptr<reload_relay> relay;  // a store shared with other brokers
  std::atomic<bool> bound{false};
  std::mutex srv_mu;  // stop() from another thread while run() ends
};

namespace {

// The exchanges the broker writes itself (the aggregate reports, the medication check's notices),
// whose schemas the mapping library loads beside the mappings' (one schema set for all).
std::vector<mapping::written_exchange> written_exchanges(const config::broker_config& cfg) {
  std::vector<mapping::written_exchange> written;
  written.push_back({"aggregate-report", cfg.home + "/schemas/exchange/aggregate-report.xsd",
                     report::document_root()});
  if (const auto& mc = cfg.medication_check; mc.enabled)
    written.push_back({mc.exchange, cfg.home + "/schemas/exchange/" + mc.exchange + ".xsd",
                       oversight::medication::exception_root()});
  return written;
}

// The rules a configuration names: the mappings compiled, cross-checked with the configuration,
// and the agreements with their pseudonym keys loaded against the exchange schemas. Every
// problem is collected; `written` comes from the running configuration (the medication check
// does not change without a restart).
struct loaded_rules {
  std::shared_ptr<const mapping::mapping_library> lib;
  std::vector<std::shared_ptr<const routing::agreement>> agreements;
  std::map<std::string, std::string> keys;
};
base::result<loaded_rules> load_rules(const config::broker_config& cfg,
                                      const std::vector<mapping::written_exchange>& written) {
  auto lib = mapping::mapping_library::load(cfg.mapping_files,
                                            cfg.home + "/schemas/mapping/mapping.xsd", written);
  if (!lib) return lib.errors();
  loaded_rules out;
  out.lib = *lib;
  std::vector<config::mapping_fact> facts;
  for (const auto& m : out.lib->mappings())
    facts.push_back({m->agency(), m->record_type(), m->exchange(), m->file()});
  auto errors = config::cross_check(cfg, facts);
  if (!cfg.agreement_files.empty()) {
    for (std::size_t i = 0; i < cfg.agreement_files.size(); ++i) {
      if (cfg.agreement_key_files[i].empty()) continue;
      auto key = validation::read_file(cfg.agreement_key_files[i], 4096);
      if (!key)
        errors.insert(errors.end(), key.errors().begin(), key.errors().end());
      else
        out.keys[cfg.agreement_files[i]] = std::string(base::trim(*key));
    }
    auto loaded =
        routing::load_agreements(cfg.agreement_files, cfg.home + "/schemas/agreement/agreement.xsd",
                                 *out.lib->schemas(), out.lib->exchanges(), out.keys);
    if (loaded)
      out.agreements = std::move(*loaded);
    else
      errors.insert(errors.end(), loaded.errors().begin(), loaded.errors().end());
  }
  if (!errors.empty()) return errors;
  return out;
}

// The <validation> settings as the converters take them (the configuration's schema allows only
// the three modes).
mapping::validation_policy validation_policy_of(const config::broker_config& cfg) {
  const auto& v = cfg.validation;
  mapping::validation_policy p(
      mapping::parse_validation_mode(v.mode).value_or(mapping::validation_mode::compiled));
  for (const auto& [exchange, mode] : v.by_exchange)
    p.by_exchange[exchange] =
        mapping::parse_validation_mode(mode).value_or(mapping::validation_mode::compiled);
  p.sample_one_in = v.sample_one_in;
  p.sample_first_ms = std::int64_t{v.sample_first_seconds} * 1000;
  return p;
}

// With agreements, each delivery is decided and filtered by the covering agreement (default
// deny); without, every subscriber receives whole documents (a closed test setup).
std::shared_ptr<routing::router> make_router(
    const config::broker_config& cfg,
    const std::vector<std::shared_ptr<const routing::agreement>>& agreements,
    std::shared_ptr<routing::consent_registry> consents) {
  const auto& clk = base::default_clock();
  if (!agreements.empty()) {
    std::vector<routing::policy_subscription> subs;
    for (const auto& s : cfg.subscriptions) subs.push_back({s.recipient, s.exchange, s.purpose});
    return std::make_shared<routing::policy_router>(subs, agreements, clk, std::move(consents));
  }
  std::vector<routing::subscription> subs;
  for (const auto& s : cfg.subscriptions) subs.push_back({s.recipient, s.exchange});
  return std::make_shared<routing::subscription_router>(subs);
}

// What earlier documents taught (consents, identity links), in their order, and what other
// brokers sharing the store teach from now on, kept in the registry every router shares (so a
// reload that brings agreements finds them).
void restore_facts(broker::impl& im) {
  std::vector<routing::fact> known;
  std::vector<oversight::medication::check_fact> checked;
  for (auto& f : im.st->facts()) {
    if (im.check) checked.push_back({f.kind, f.key, f.value});
    known.push_back({f.kind, f.key, f.value});
  }
  routing::learn(*im.consents, known);
  if (im.check) im.check->restore(checked);
  im.st->watch_facts([consents = im.consents, check = im.check](std::vector<store::fact_row> fs) {
    std::vector<routing::fact> v;
    std::vector<oversight::medication::check_fact> c;
    for (auto& f : fs) {
      if (check) c.push_back({f.kind, f.key, f.value});
      v.push_back({f.kind, f.key, f.value});
    }
    routing::learn(*consents, v);
    if (check) check->restore(c);
  });
  if (!known.empty())
    base::log(base::log_level::info, "broker", "consent registry restored",
              {{"facts", std::to_string(known.size())}});
}

// The files of a set of rules and their versions (content hashes).
std::vector<admin::reload_report::file_version> rule_files(const pipeline::rules& r) {
  std::vector<admin::reload_report::file_version> out;
  for (const auto& m : r.lib->mappings()) out.push_back({"mapping", m->file(), m->version()});
  for (const auto& a : r.agreements) out.push_back({"agreement", a->file, a->content_version});
  return out;
}

void log_rules(const pipeline::rules& r) {
  for (const auto& f : rule_files(r))
    base::log(base::log_level::info, "broker", "rules",
              {{"generation", std::to_string(r.generation)},
               {"kind", f.kind},
               {"file", f.file},
               {"version", f.version}});
}

std::vector<admin::token> admin_tokens(const std::vector<config::admin_secret>& secrets) {
  std::vector<admin::token> out;
  for (const auto& t : secrets)
    out.push_back(
        {t.name, t.value, t.role == "operator" ? admin::role::operator_ : admin::role::viewer});
  return out;
}

// Appends a reload (or its refusal) to the audit trail and waits for the commit.
bool audit_reload(store::operations& st, const std::string& by, std::string record_key,
                  std::string reason, std::string files) {
  store::audit_entry a;
  a.provider = by;
  a.decision = "reload";
  a.record_key = std::move(record_key);
  a.reason = std::move(reason);
  a.paths = std::move(files);
  auto done = std::make_shared<std::promise<bool>>();
  auto fut = done->get_future();
  st.audit(std::move(a), [done](bool ok) { done->set_value(ok); });
  return fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready && fut.get();
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
  to.consent_gate = [pl = im.pl.get()](std::string_view consent_id) {
    return pl->current()->router->still_consented(consent_id, base::default_clock().now_ms());
  };
  return to;
}

}  // namespace

broker::broker(std::unique_ptr<impl> im) : impl_(std::move(im)) {}

namespace {
// Taken out under the reload lock (a reload under way may be announcing through it), destroyed
// outside it (its thread may be waiting for that lock).
void stop_relay(broker::impl& im) {
  std::unique_ptr<reload_relay> relay;
  {
    std::lock_guard lk(im.reload_mu);
    relay = std::move(im.relay);
  }
}
}  // namespace

broker::~broker() {
  stop_relay(*impl_);  // its thread reloads through everything below
  impl_->bound = false;
  if (impl_->adm) impl_->adm->stop();
  if (impl_->reports) impl_->reports->stop();
  if (impl_->pl) impl_->pl->stop();
  impl_->srv.reset();
  if (impl_->st) impl_->st->flush();
}

base::result<std::unique_ptr<broker>> broker::create(config::resolved rc, config::overrides over,
                                                     std::string config_schema) {
  auto im = std::make_unique<impl>();
  im->cfg = std::make_shared<const config::broker_config>(std::move(rc.cfg));
  im->secrets = std::move(rc);
  im->over = std::move(over);
  im->config_schema = std::move(config_schema);
  const auto& cfg = *im->cfg;
  const auto& clk = base::default_clock();

  auto rules = load_rules(cfg, written_exchanges(cfg));
  if (!rules) return rules.errors();
  im->lib = std::move(rules->lib);
  im->agreements = std::move(rules->agreements);
  im->agreement_keys = std::move(rules->keys);
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
  im->router = make_router(cfg, im->agreements, im->consents);
  if (const auto& mc = cfg.medication_check; mc.enabled)
    im->check = std::make_shared<oversight::medication::check>(
        oversight::medication::check_inputs{mc.claims, mc.applications, mc.orders, mc.placements});
  if (im->check) im->check->check_notices_against(im->lib->schemas());
  restore_facts(*im);

  pipeline::options po;
  po.workers = cfg.pipeline.workers;
  po.record_limits.max_record_bytes = cfg.listener.max_message_bytes;
  if (im->check) {
    po.oversight = std::make_shared<oversight::medication_oversight>(
        im->check, cfg.medication_check.exchange, cfg.medication_check.sender);
    po.offer = [p = im.get()](std::vector<store::queue_entry> e) {
      std::lock_guard lk(p->srv_mu);
      if (p->srv) p->srv->offer(std::move(e));
    };
  }
  auto initial = std::make_shared<pipeline::rules>(
      *pipeline::make_rules(im->lib, im->router, validation_policy_of(cfg)));
  initial->loaded_ms = clk.now_ms();
  im->pl = std::make_unique<pipeline::pipeline>(std::move(initial), *im->st, po);
  log_rules(*im->pl->current());
  im->srv =
      std::make_unique<transport::server>(transport_options(*im), *im->pl, *im->st, *im->st, clk);
  // Notices the kept claims call for that a stop may have kept from being committed (each is
  // keyed: those already sent are duplicates).
  if (po.oversight) im->pl->submit_notices(po.oversight->outstanding());
  // Aggregate agreements' reports (DSA-009), produced once per period and queued like any
  // other document (a reload may bring the first aggregate agreement).
  {
    report::scheduler_options ro;
    ro.schemas = im->lib->schemas();
    ro.recipients = im->router->recipients();
    ro.check_ms = cfg.reports.check_interval_seconds * 1000;
    ro.start_delay_ms = cfg.reports.start_delay_seconds * 1000;
    im->reports = std::make_unique<report::scheduler>(
        ro, im->agreements, *im->st, *im->st, clk,
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
  auto b = std::unique_ptr<broker>(new broker(std::move(im)));
  if (auto& shared = *b->impl_->st; shared.shared())
    b->impl_->relay = std::make_unique<reload_relay>(
        shared, [p = b.get()](const std::string& by) { return p->reload(by); });
  return b;
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
  ao.tokens = admin_tokens(im.secrets.admin_tokens);
  ao.static_dir = cfg.home + "/broker/admin/static";
  ao.audit_key = im.secrets.audit_key;
  ao.ttl_ms = cfg.delivery.ttl_seconds * 1000;
  admin::hooks hk;
  hk.listener_bound = [&im] { return im.bound.load(); };
  hk.recipients = [pl = im.pl.get()] { return pl->current()->router->recipients(); };
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
  hk.reload = [this](const std::string& by) { return reload(by); };
  im.adm = std::make_unique<admin::server>(ao, *im.st, *im.st, *im.pl, hk, base::default_clock());
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
             {"mappings", std::to_string(im.pl->current()->lib->mappings().size())},
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
  stop_relay(im);
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

namespace {

// A reload's candidate: the configuration file read again and resolved, its rules compiled.
struct candidate_set {
  config::resolved next;
  loaded_rules rules;
};

// Everything is read, compiled and checked before anything changes: the candidate, or the
// problems in `rep.errors`. What differs but needs a restart goes to `rep.restart_required`.
std::optional<candidate_set> read_candidate(broker::impl& im, admin::reload_report& rep) {
  const auto& running = *im.cfg;
  auto loaded = config::load(running.file, im.config_schema);
  if (!loaded) {
    rep.errors = loaded.errors();
    return std::nullopt;
  }
  auto res = config::resolve(std::move(*loaded), im.over);
  if (!res) {
    rep.errors = res.errors();
    return std::nullopt;
  }
  auto& next = *res;
  rep.restart_required = config::restart_required(running, next.cfg);
  auto needs_restart = [&](const char* what) {
    if (std::find(rep.restart_required.begin(), rep.restart_required.end(), what) ==
        rep.restart_required.end())
      rep.restart_required.push_back(what);
  };
  if (next.audit_key != im.secrets.audit_key) needs_restart("audit");
  if (next.db_password != im.secrets.db_password) needs_restart("store");
  auto rules = load_rules(next.cfg, written_exchanges(running));
  if (!rules) rep.errors = rules.errors();
  // The queues are the agencies': subscriptions and mappings of an agency the running broker
  // has no queue for would wait for a restart, so such a set is refused whole.
  if (std::find(rep.restart_required.begin(), rep.restart_required.end(), "agencies") !=
      rep.restart_required.end()) {
    base::diagnostic d;
    d.code = base::errc::config_invalid;
    d.where = running.file;
    d.message = "agencies were added or removed: that needs a restart (nothing was reloaded)";
    rep.errors.push_back(std::move(d));
  }
  if (!rep.errors.empty()) return std::nullopt;
  return candidate_set{std::move(next), std::move(*rules)};
}

// What changed among what a reload may change ("mappings", "agreements", ...).
std::vector<std::string> what_changed(const broker::impl& im, const pipeline::rules& now,
                                      const candidate_set& c) {
  auto versions = [](const pipeline::rules& r, std::string_view kind) {
    std::vector<std::pair<std::string, std::string>> v;
    for (const auto& f : rule_files(r))
      if (f.kind == kind) v.emplace_back(f.file, f.version);
    return v;
  };
  pipeline::rules next_rules;
  next_rules.lib = c.rules.lib;
  next_rules.agreements = c.rules.agreements;
  auto subs = [](const config::broker_config& cfg) {
    std::vector<std::tuple<std::string, std::string, std::string>> v;
    for (const auto& s : cfg.subscriptions) v.emplace_back(s.recipient, s.exchange, s.purpose);
    return v;
  };
  auto parties = [](const config::broker_config& cfg) {
    std::vector<std::tuple<std::string, std::vector<std::string>, std::vector<std::string>>> v;
    for (const auto& a : cfg.agencies) v.emplace_back(a.id, a.identities, a.record_types);
    return v;
  };
  auto tokens = [](const std::vector<config::admin_secret>& ts) {
    std::vector<std::tuple<std::string, std::string, std::string>> v;
    for (const auto& t : ts) v.emplace_back(t.name, t.role, t.value);
    return v;
  };
  std::vector<std::string> changed;
  if (versions(now, "mapping") != versions(next_rules, "mapping")) changed.push_back("mappings");
  if (versions(now, "agreement") != versions(next_rules, "agreement") ||
      c.rules.keys != im.agreement_keys)
    changed.push_back("agreements");
  if (subs(*im.cfg) != subs(c.next.cfg)) changed.push_back("subscriptions");
  if (parties(*im.cfg) != parties(c.next.cfg)) changed.push_back("agencies");
  if (tokens(im.secrets.admin_tokens) != tokens(c.next.admin_tokens)) changed.push_back("tokens");
  if (im.cfg->validation != c.next.cfg.validation) changed.push_back("validation");
  return changed;
}

// The running configuration with what a reload changes; the rest waits for a restart.
std::shared_ptr<config::broker_config> merged_config(const config::broker_config& running,
                                                     const config::broker_config& next) {
  auto merged = std::make_shared<config::broker_config>(running);
  merged->mapping_files = next.mapping_files;
  merged->mapping_lines = next.mapping_lines;
  merged->agreement_files = next.agreement_files;
  merged->agreement_lines = next.agreement_lines;
  merged->agreement_key_files = next.agreement_key_files;
  merged->subscriptions = next.subscriptions;
  merged->agencies = next.agencies;
  merged->admin.tokens = next.admin.tokens;
  merged->validation = next.validation;
  merged->validation_lines = next.validation_lines;
  return merged;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

admin::reload_report broker::reload(const std::string& by) {
  auto& im = *impl_;
  std::lock_guard lk(im.reload_mu);
  const auto started = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count());
  };
  const auto now = im.pl->current();
  admin::reload_report rep;
  rep.generation = now->generation;
  rep.files = rule_files(*now);
  rep.content_hash = pipeline::content_hash(*now);
  // The others sharing the store follow (a reload they were told of is not announced again).
  auto announce = [&] {
    if (im.relay && !by.starts_with("replica:")) im.relay->announce(rep);
  };

  auto c = read_candidate(im, rep);
  if (!c) {
    for (const auto& d : rep.errors)
      base::log(base::log_level::error, "reload", base::format(d),
                {{"code", std::string(base::code_id(d.code))}, {"by", by}});
    base::log(base::log_level::error, "reload", "reload refused; nothing changed",
              {{"errors", std::to_string(rep.errors.size())},
               {"generation", std::to_string(rep.generation)},
               {"by", by},
               {"ms", elapsed_ms()}});
    if (!audit_reload(*im.st, by, fmt::format("generation {}", rep.generation),
                      std::string(base::code_id(rep.errors.front().code)), ""))
      base::log(base::log_level::error, "reload", "the refusal is not in the audit trail",
                {{"code", std::string(base::code_id(base::errc::io_error))}});
    return rep;
  }
  rep.changed = what_changed(im, *now, *c);
  if (rep.changed.empty()) {
    base::log(base::log_level::info, "reload", "nothing to reload: the rules are unchanged",
              {{"generation", std::to_string(rep.generation)}, {"by", by}, {"ms", elapsed_ms()}});
    rep.ok = true;
    announce();
    return rep;
  }

  auto merged = merged_config(*im.cfg, c->next.cfg);
  auto candidate = std::make_shared<pipeline::rules>();
  candidate->lib = c->rules.lib;
  candidate->agreements = c->rules.agreements;
  candidate->router = make_router(*merged, candidate->agreements, im.consents);
  candidate->validation = validation_policy_of(*merged);
  candidate->generation = now->generation + 1;
  candidate->loaded_ms = base::default_clock().now_ms();
  auto after = rule_files(*candidate);
  std::string files;
  for (const auto& f : after)
    files += fmt::format("{}{}:{}@{}", files.empty() ? "" : " ", f.kind,
                         std::filesystem::path(f.file).filename().string(), f.version);
  // Audited first: a set of rules nobody can account for never decides a record.
  if (!audit_reload(*im.st, by, fmt::format("generation {}", candidate->generation), "", files)) {
    base::diagnostic d;
    d.code = base::errc::store_unavailable;
    d.where = "audit";
    d.message = "the store did not record the reload; nothing changed";
    base::log(base::log_level::error, "reload", d.message,
              {{"code", std::string(base::code_id(d.code))}, {"by", by}});
    rep.errors.push_back(std::move(d));
    rep.changed.clear();
    return rep;
  }

  // The swap: each worker's next record starts under the new rules; records in flight finish
  // under theirs.
  im.pl->swap(candidate);
  if (im.reports)
    im.reports->set_agreements(candidate->agreements, candidate->router->recipients());
  {
    std::lock_guard slk(im.srv_mu);
    if (im.srv) im.srv->set_parties(merged);
  }
  if (im.adm) im.adm->set_tokens(admin_tokens(c->next.admin_tokens));
  im.cfg = merged;
  im.agreement_keys = std::move(c->rules.keys);
  im.secrets.admin_tokens = c->next.admin_tokens;

  rep.ok = true;
  rep.generation = candidate->generation;
  rep.files = std::move(after);
  rep.content_hash = pipeline::content_hash(*candidate);
  base::log(base::log_level::info, "reload", "rules reloaded",
            {{"generation", std::to_string(rep.generation)},
             {"changed", joined(rep.changed)},
             {"restart_required", joined(rep.restart_required)},
             {"by", by},
             {"ms", elapsed_ms()}});
  log_rules(*candidate);
  announce();
  return rep;
}

void broker::stop() {
  std::lock_guard lk(impl_->srv_mu);
  if (impl_->srv) impl_->srv->stop();
}

}  // namespace niem::app
