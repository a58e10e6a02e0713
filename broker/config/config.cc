#include "config/config.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/text.h"
#include "validation/validation.h"

namespace niem::config {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_ns = "urn:niem-broker:config:1";

struct element {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string parent;
};

// Flattens the (shallow) configuration document into a list of elements with their parent.
struct collector final : validation::xml_event_handler {
  std::vector<element> elements;
  std::vector<std::size_t> stack;
  void start_prefix(const std::string&, const std::string&) override {}
  void end_prefix(const std::string&) override {}
  void start_element(const validation::qname& n, const std::vector<validation::xml_attribute>& a,
                     std::uint32_t line, std::uint32_t column) override {
    element e;
    e.name = n.ns == k_ns ? n.local : "{" + n.ns + "}" + n.local;
    for (const auto& at : a)
      if (at.name.ns.empty()) e.attrs[at.name.local] = at.value;
    e.line = line;
    e.column = column;
    if (!stack.empty()) e.parent = elements[stack.back()].name;
    stack.push_back(elements.size());
    elements.push_back(std::move(e));
  }
  void end_element(const validation::qname&) override { stack.pop_back(); }
  void text(std::string_view chars) override {
    if (!stack.empty()) elements[stack.back()].text.append(chars);
  }
};

class loader {
 public:
  loader(const std::string& file) : file_(file) {
    dir_ = fs::absolute(fs::path(file)).parent_path();
  }

  void error(std::uint32_t line, std::string msg) {
    base::diagnostic d;
    d.code = base::errc::config_invalid;
    d.message = std::move(msg);
    d.where = fmt::format("{}:{}", file_, line);
    d.line = line;
    errors_.push_back(std::move(d));
  }

  std::string path(const std::string& p) const {
    fs::path q(p);
    auto out = (q.is_absolute() ? q : dir_ / q).lexically_normal().string();
    if (out.size() > 1 && out.back() == '/') out.pop_back();  // "config/.." normalises to "x/"
    return out;
  }

  template <typename T>
  void number(const element& e, const char* attr, T& out, T min, T max) {
    auto it = e.attrs.find(attr);
    if (it == e.attrs.end()) return;
    std::uint64_t v = 0;
    const auto& s = it->second;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < static_cast<std::uint64_t>(min) ||
        v > static_cast<std::uint64_t>(max)) {
      error(e.line, fmt::format("<{}> {}=\"{}\": expected a whole number from {} to {}", e.name,
                                attr, s, min, max));
      return;
    }
    out = static_cast<T>(v);
  }

  static std::string attr(const element& e, const char* name) {
    auto it = e.attrs.find(name);
    return it == e.attrs.end() ? std::string() : it->second;
  }

  // <store path> (SQLite) or <store uri [password-file] [ca certificate key]> (PostgreSQL).
  void store(const element& e, store_config& s) {
    s.line = e.line;
    number(e, "group-commit-max", s.group_commit_max, 1u, 65536u);
    number(e, "lease-seconds", s.lease_seconds, 1u, 3600u);
    number(e, "min-free-mb", s.min_free_mb, std::uint64_t{0}, std::uint64_t{1} << 30);
    auto dir = attr(e, "path"), uri = attr(e, "uri");
    if (dir.empty() == uri.empty()) {
      error(e.line, "<store> needs either path (an SQLite directory) or uri (postgresql://...)");
      return;
    }
    bool pg_only = false;
    for (const char* a : {"password-file", "ca", "certificate", "key"})
      pg_only = pg_only || !attr(e, a).empty();
    if (!dir.empty()) {
      if (pg_only)
        error(e.line, "<store path> is SQLite: password-file, ca, certificate and key are for uri");
      s.locator = path(dir);
      return;
    }
    if (!uri.starts_with("postgresql://") && !uri.starts_with("postgres://")) {
      error(e.line, "<store uri> must start with postgresql://");
      return;
    }
    s.locator = uri;
    if (auto pw = attr(e, "password-file"); !pw.empty()) {
      s.password_file = path(pw);
      file_must_exist(e.line, "store password file", s.password_file);
    }
    auto ca = attr(e, "ca"), cert = attr(e, "certificate"), key = attr(e, "key");
    if (cert.empty() != key.empty()) error(e.line, "<store> certificate and key go together");
    if (!cert.empty() && ca.empty())
      error(e.line, "<store> with a client certificate needs ca (the server is verified too)");
    std::string extra;
    if (!ca.empty()) {
      file_must_exist(e.line, "store CA certificate", path(ca));
      extra += "sslmode=verify-full&sslrootcert=" + path(ca);
    }
    if (!cert.empty()) {
      file_must_exist(e.line, "store client certificate", path(cert));
      file_must_exist(e.line, "store client key", path(key));
      extra += "&sslcert=" + path(cert) + "&sslkey=" + path(key);
    }
    if (!extra.empty()) s.locator += (uri.find('?') == std::string::npos ? "?" : "&") + extra;
  }

  void file_must_exist(std::uint32_t line, const std::string& what, const std::string& p) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) error(line, fmt::format("{} '{}' does not exist", what, p));
  }

  // What the elements said that is checked once all are read.
  struct seen_elements {
    bool anonymous = false;
    std::uint32_t admin_line = 0, anonymous_line = 0;
  };

  void build(const std::vector<element>& els, broker_config& cfg) {
    cfg.home = dir_.parent_path().string();
    seen_elements seen;
    for (const auto& e : els)
      if (!read_transport(e, cfg, seen) && !read_admin(e, cfg, seen)) read_parties(e, cfg);
    check_listeners(cfg, seen);
    auto ids = check_agencies(cfg);
    check_subscriptions(cfg, ids);
    std::error_code ec;
    auto mapping_xsd = cfg.home + "/schemas/mapping/mapping.xsd";
    if (!fs::is_regular_file(mapping_xsd, ec))
      error(0, fmt::format("schemas home '{}' has no schemas/mapping/mapping.xsd", cfg.home));
  }

  // The listener, its TLS, the store and the pipeline's and delivery's limits.
  bool read_transport(const element& e, broker_config& cfg, seen_elements& seen) {
    if (e.name == "broker") {
      cfg.name = attr(e, "name");
    } else if (e.name == "listener") {
      cfg.listener.line = e.line;
      cfg.listener.host = attr(e, "host");
      number(e, "port", cfg.listener.port, std::uint16_t{0}, std::uint16_t{65535});
      number(e, "max-message-bytes", cfg.listener.max_message_bytes, std::uint64_t{64},
             std::uint64_t{64} << 20);
      number(e, "idle-timeout-seconds", cfg.listener.idle_timeout_seconds, 0u, 3600u);
    } else if (e.name == "tls" && e.parent == "broker") {
      tls_config t;
      t.line = e.line;
      t.certificate = path(attr(e, "certificate"));
      t.key = path(attr(e, "key"));
      t.ca = path(attr(e, "ca"));
      file_must_exist(e.line, "TLS certificate", t.certificate);
      file_must_exist(e.line, "TLS key", t.key);
      file_must_exist(e.line, "TLS CA certificate", t.ca);
      cfg.tls = t;
    } else if (e.name == "anonymous") {
      seen.anonymous = true;
      seen.anonymous_line = e.line;
    } else if (e.name == "store") {
      store(e, cfg.store);
    } else if (e.name == "pipeline") {
      number(e, "workers", cfg.pipeline.workers, 1u, 64u);
      number(e, "max-pending", cfg.pipeline.max_pending, 16u, 1u << 20);
      number(e, "max-pending-bytes", cfg.pipeline.max_pending_bytes, std::uint64_t{1} << 20,
             std::uint64_t{1} << 40);
      number(e, "ingest-credit", cfg.pipeline.ingest_credit, 1u, 65536u);
    } else if (e.name == "delivery") {
      number(e, "max-attempts", cfg.delivery.max_attempts, 1u, 1000u);
      number(e, "ttl-seconds", cfg.delivery.ttl_seconds, std::uint64_t{1},
             std::uint64_t{10} * 365 * 24 * 3600);
      number(e, "prefetch", cfg.delivery.prefetch, 1u, 65536u);
    } else if (e.name == "retention") {
      number(e, "messages-days", cfg.retention.messages_days, 0u, 36500u);
      number(e, "dead-letters-days", cfg.retention.dead_letters_days, 0u, 36500u);
      number(e, "observations-days", cfg.retention.observations_days, 0u, 36500u);
      number(e, "batch", cfg.retention.batch, 10u, 100000u);
      number(e, "interval-seconds", cfg.retention.interval_seconds, 1u, 86400u);
    } else {
      return false;
    }
    return true;
  }

  // The admin server, its TLS and tokens, reports, the audit key, the schemas' home.
  bool read_admin(const element& e, broker_config& cfg, seen_elements& seen) {
    if (e.name == "admin") {
      cfg.admin.enabled = true;
      if (auto h = attr(e, "host"); !h.empty()) cfg.admin.host = h;
      number(e, "port", cfg.admin.port, std::uint16_t{0}, std::uint16_t{65535});
      cfg.admin.protect_health = attr(e, "protect-health") == "true";
      number(e, "history-interval-seconds", cfg.admin.history_interval_seconds, 1u, 3600u);
      seen.admin_line = e.line;
    } else if (e.name == "tls" && e.parent == "admin") {
      tls_config t;
      t.line = e.line;
      t.certificate = path(attr(e, "certificate"));
      t.key = path(attr(e, "key"));
      if (auto ca = attr(e, "ca"); !ca.empty()) t.ca = path(ca);
      file_must_exist(e.line, "admin TLS certificate", t.certificate);
      file_must_exist(e.line, "admin TLS key", t.key);
      if (!t.ca.empty()) file_must_exist(e.line, "admin TLS CA certificate", t.ca);
      cfg.admin.tls = t;
    } else if (e.name == "token" && e.parent == "admin") {
      admin_token t{attr(e, "name"), attr(e, "role"), path(attr(e, "file")), e.line};
      file_must_exist(e.line, "admin token file", t.file);
      for (const auto& o : cfg.admin.tokens)
        if (o.name == t.name) error(e.line, fmt::format("a second admin token '{}'", t.name));
      cfg.admin.tokens.push_back(std::move(t));
    } else if (e.name == "reports") {
      number(e, "check-interval-seconds", cfg.reports.check_interval_seconds, 1u, 86400u * 31);
      number(e, "start-delay-seconds", cfg.reports.start_delay_seconds, 0u, 86400u);
    } else if (e.name == "audit") {
      cfg.audit_key_file = path(attr(e, "key-file"));
      file_must_exist(e.line, "audit key file", cfg.audit_key_file);
    } else if (e.name == "schemas") {
      cfg.home = path(attr(e, "home"));
    } else {
      return false;
    }
    return true;
  }

  // Mappings, agreements, agencies, the medication check, subscriptions.
  bool read_parties(const element& e, broker_config& cfg) {
    if (e.name == "validation") {
      const auto exchange = attr(e, "exchange");
      if (exchange.empty()) {
        if (validation_seen_) error(e.line, "a second <validation> without an exchange");
        validation_seen_ = true;
        cfg.validation.mode = attr(e, "mode");
        number(e, "sample-one-in", cfg.validation.sample_one_in, 0u, 1'000'000'000u);
        number(e, "sample-first-seconds", cfg.validation.sample_first_seconds, 0u, 86400u);
      } else if (e.attrs.count("sample-one-in") || e.attrs.count("sample-first-seconds")) {
        error(e.line, "the sampling oracle is set on the <validation> without an exchange");
      } else if (!cfg.validation.by_exchange.emplace(exchange, attr(e, "mode")).second) {
        error(e.line, fmt::format("a second <validation> for exchange '{}'", exchange));
      } else {
        cfg.validation_lines[exchange] = e.line;
      }
    } else if (e.name == "mapping") {
      auto p = path(attr(e, "file"));
      file_must_exist(e.line, "mapping file", p);
      cfg.mapping_files.push_back(p);
      cfg.mapping_lines.push_back(e.line);
    } else if (e.name == "agreement") {
      auto p = path(attr(e, "file"));
      file_must_exist(e.line, "agreement file", p);
      cfg.agreement_files.push_back(p);
      cfg.agreement_lines.push_back(e.line);
      auto key = attr(e, "pseudonym-key-file");
      if (!key.empty()) {
        key = path(key);
        file_must_exist(e.line, "pseudonym key file", key);
      }
      cfg.agreement_key_files.push_back(key);
    } else if (e.name == "agency") {
      agency_config a;
      a.line = e.line;
      a.id = attr(e, "id");
      a.name = attr(e, "name");
      cfg.agencies.push_back(std::move(a));
    } else if (e.name == "identity" && e.parent == "agency" && !cfg.agencies.empty()) {
      auto subject = base::normalize_dn(e.text);
      if (subject.empty())
        error(e.line, "<identity> is empty");
      else
        cfg.agencies.back().identities.push_back(subject);
    } else if (e.name == "publishes" && !cfg.agencies.empty()) {
      cfg.agencies.back().record_types.push_back(attr(e, "record-type"));
      cfg.agencies.back().record_type_lines.push_back(e.line);
    } else if (e.name == "medication-check") {
      auto& m = cfg.medication_check;
      m.enabled = true;
      m.line = e.line;
      m.exchange = attr(e, "exchange");
      m.sender = attr(e, "sender");
      m.claims = attr(e, "claims");
      m.applications = attr(e, "applications");
      m.orders = attr(e, "orders");
      m.placements = attr(e, "placements");
      auto xsd = cfg.home + "/schemas/exchange/" + m.exchange + ".xsd";
      if (!cfg.home.empty()) file_must_exist(e.line, "the notices' exchange schema", xsd);
    } else if (e.name == "subscription") {
      subscription_config s;
      s.line = e.line;
      s.recipient = attr(e, "recipient");
      s.exchange = attr(e, "exchange");
      s.purpose = attr(e, "purpose");
      cfg.subscriptions.push_back(std::move(s));
    } else {
      return false;
    }
    return true;
  }

  void check_listeners(const broker_config& cfg, const seen_elements& seen) {
    if (cfg.admin.enabled && !cfg.admin.tls && !is_loopback_host(cfg.admin.host))
      error(seen.admin_line,
            "the admin server listens on a non-loopback address only with <tls> (its bearer "
            "tokens would cross the network in clear)");
    if (seen.anonymous && !is_loopback_host(cfg.listener.host))
      error(seen.anonymous_line,
            fmt::format("<anonymous/> is allowed only on a loopback listener, not host '{}'; "
                        "configure <tls> for any other address",
                        cfg.listener.host));
    if (cfg.listener.host.empty()) error(cfg.listener.line, "<listener> host is empty");
  }

  // Agencies' ids and identities are unique; with TLS each has one. Their ids and lines.
  std::map<std::string, std::uint32_t> check_agencies(const broker_config& cfg) {
    std::map<std::string, std::uint32_t> ids, subjects;
    for (const auto& a : cfg.agencies) {
      if (auto [it, fresh] = ids.emplace(a.id, a.line); !fresh)
        error(a.line,
              fmt::format("agency '{}' is declared twice (first at line {})", a.id, it->second));
      for (const auto& s : a.identities)
        if (auto [it, fresh] = subjects.emplace(s, a.line); !fresh)
          error(a.line, fmt::format("identity '{}' is already given to the agency at line {}", s,
                                    it->second));
      if (cfg.tls && a.identities.empty())
        error(a.line, fmt::format("agency '{}' has no <identity>: with TLS on it could never "
                                  "connect",
                                  a.id));
      std::set<std::string> types;
      for (std::size_t i = 0; i < a.record_types.size(); ++i)
        if (!types.insert(a.record_types[i]).second)
          error(a.record_type_lines[i],
                fmt::format("agency '{}' publishes '{}' twice", a.id, a.record_types[i]));
    }
    return ids;
  }

  void check_subscriptions(const broker_config& cfg,
                           const std::map<std::string, std::uint32_t>& ids) {
    std::set<std::pair<std::string, std::string>> subs;
    for (const auto& s : cfg.subscriptions) {
      if (!ids.count(s.recipient))
        error(s.line,
              fmt::format("subscription recipient '{}' is not a declared agency", s.recipient));
      if (!subs.emplace(s.recipient, s.exchange).second)
        error(s.line, fmt::format("subscription of '{}' to '{}' is declared twice", s.recipient,
                                  s.exchange));
      if (!cfg.agreement_files.empty() && s.purpose.empty())
        error(s.line, fmt::format("subscription of '{}' to '{}' needs a purpose: agreements are "
                                  "configured, and each allows only its purposes",
                                  s.recipient, s.exchange));
    }
  }

  std::vector<base::diagnostic> errors_;

 private:
  std::string file_;
  fs::path dir_;
  bool validation_seen_ = false;
};

}  // namespace

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

namespace {

// HOST:PORT; nullopt when it is not one.
std::optional<std::pair<std::string, std::uint16_t>> host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  unsigned port = 0;
  auto digits = std::string_view(s).substr(colon + 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || port > 65535)
    return std::nullopt;
  return std::make_pair(s.substr(0, colon), static_cast<std::uint16_t>(port));
}

}  // namespace

base::result<resolved> resolve(broker_config cfg, const overrides& o) {
  std::vector<base::diagnostic> errors;
  auto problem = [&](std::string where, std::string message) {
    base::diagnostic d;
    d.code = base::errc::config_invalid;
    d.where = std::move(where);
    d.message = std::move(message);
    errors.push_back(std::move(d));
  };
  resolved r;
  if (!o.listen.empty()) {
    auto hp = host_port(o.listen);
    if (!hp) {
      problem("--listen", fmt::format("expected HOST:PORT, got '{}'", o.listen));
    } else {
      cfg.listener.host = hp->first;
      cfg.listener.port = hp->second;
      if (!cfg.tls && !is_loopback_host(cfg.listener.host))
        problem("--listen", "an anonymous configuration listens on a loopback address only");
    }
  }
  if (!o.store.empty()) {
    cfg.store.locator = o.store;
    if (!o.store.starts_with("postgresql://") && !o.store.starts_with("postgres://"))
      cfg.store.locator = fs::absolute(o.store).lexically_normal().string();
  }
  if (!o.store_min_free_mb.empty()) {
    std::uint64_t v = 0;
    const auto& t = o.store_min_free_mb;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || v > (std::uint64_t{1} << 30))
      problem("--store-min-free-mb", fmt::format("expected a number of MiB, got '{}'", t));
    else
      cfg.store.min_free_mb = v;
  }
  if (!o.admin.empty()) {
    auto hp = host_port(o.admin);
    if (!hp || (!cfg.admin.tls && !is_loopback_host(hp->first))) {
      problem("--admin",
              fmt::format("expected HOST:PORT, on a loopback address unless <admin> has <tls>; "
                          "got '{}'",
                          o.admin));
    } else {
      cfg.admin.enabled = true;
      cfg.admin.host = hp->first;
      cfg.admin.port = hp->second;
    }
  }
  auto secret = [&](const std::string& file, std::string& out) {
    auto bytes = validation::read_file(file, 4096);
    if (!bytes) {
      errors.insert(errors.end(), bytes.errors().begin(), bytes.errors().end());
      return false;
    }
    out = std::string(base::trim(*bytes));
    return true;
  };
  for (const auto& t : cfg.admin.tokens) {
    std::string value;
    auto read = validation::read_file(t.file, 4096);
    if (read) value = std::string(base::trim(*read));
    if (value.size() < 24) {
      problem(fmt::format("{}:{}", cfg.file, t.line),
              fmt::format("admin token '{}': {} must hold at least 24 characters", t.name, t.file));
      continue;
    }
    r.admin_tokens.push_back({t.name, t.role, std::move(value)});
  }
  if (!cfg.audit_key_file.empty() && secret(cfg.audit_key_file, r.audit_key) &&
      r.audit_key.size() < 32)
    problem(cfg.audit_key_file,
            "the audit key must hold at least 32 characters (e.g. openssl rand -hex 32)");
  if (!cfg.store.password_file.empty()) secret(cfg.store.password_file, r.db_password);
  if (!errors.empty()) return errors;
  r.cfg = std::move(cfg);
  return r;
}

const agency_config* broker_config::agency(std::string_view id) const {
  for (const auto& a : agencies)
    if (a.id == id) return &a;
  return nullptr;
}

const agency_config* broker_config::agency_for_subject(std::string_view subject) const {
  auto s = base::normalize_dn(subject);
  for (const auto& a : agencies)
    for (const auto& i : a.identities)
      if (i == s) return &a;
  return nullptr;
}

bool broker_config::publishes(std::string_view agency_id, std::string_view record_type) const {
  const auto* a = agency(agency_id);
  if (!a) return false;
  for (const auto& t : a->record_types)
    if (t == record_type) return true;
  return false;
}

base::result<broker_config> load(const std::string& file, const std::string& config_schema) {
  auto bytes = validation::read_file(file, 4 << 20);
  if (!bytes) return bytes.errors();
  auto schema = validation::schema_set::load({{config_schema}, "", {}});
  if (!schema) return schema.errors();
  collector c;
  auto diags = validation::read_xml(*bytes, file, c, schema->get());
  for (auto& d : diags) d.code = base::errc::config_invalid;
  if (!c.elements.empty() && c.elements.front().name != "broker") {
    base::diagnostic d;
    d.code = base::errc::config_invalid;
    d.where = fmt::format("{}:1", file);
    d.message = fmt::format("the root element must be <broker xmlns=\"{}\">", k_ns);
    diags.push_back(d);
  }
  loader l(file);
  broker_config cfg;
  cfg.file = file;
  l.build(c.elements, cfg);
  diags.insert(diags.end(), l.errors_.begin(), l.errors_.end());
  if (!diags.empty()) return diags;
  return cfg;
}

std::vector<base::diagnostic> cross_check(const broker_config& cfg,
                                          const std::vector<mapping_fact>& mappings) {
  std::vector<base::diagnostic> out;
  auto err = [&](std::uint32_t line, std::string msg) {
    base::diagnostic d;
    d.code = base::errc::config_invalid;
    d.where = fmt::format("{}:{}", cfg.file, line);
    d.line = line;
    d.message = std::move(msg);
    out.push_back(std::move(d));
  };
  for (const auto& a : cfg.agencies)
    for (std::size_t i = 0; i < a.record_types.size(); ++i) {
      bool found = false;
      for (const auto& m : mappings)
        found |= m.agency == a.id && m.record_type == a.record_types[i];
      if (!found)
        err(a.record_type_lines[i],
            fmt::format("agency '{}' publishes '{}' but no configured mapping reads it", a.id,
                        a.record_types[i]));
    }
  for (const auto& m : mappings) {
    if (cfg.agency(m.agency)) continue;
    std::uint32_t line = 0;
    for (std::size_t i = 0; i < cfg.mapping_files.size(); ++i)
      if (cfg.mapping_files[i] == m.file) line = cfg.mapping_lines[i];
    err(line, fmt::format("mapping '{}' reads records of agency '{}', which is not declared",
                          m.file, m.agency));
  }
  auto produced = [&](const std::string& exchange) {
    for (const auto& m : mappings)
      if (m.exchange == exchange) return true;
    return false;
  };
  const auto& mc = cfg.medication_check;
  for (const auto& [exchange, line] : cfg.validation_lines)
    if (!produced(exchange) && !(mc.enabled && exchange == mc.exchange))
      err(line, fmt::format("<validation> names exchange '{}', which no configured mapping "
                            "produces",
                            exchange));
  for (const auto& s : cfg.subscriptions)
    if (!produced(s.exchange) && !(mc.enabled && s.exchange == mc.exchange))
      err(s.line, fmt::format("no configured mapping produces exchange '{}'", s.exchange));
  if (mc.enabled) {
    for (const auto* in : {&mc.claims, &mc.applications, &mc.orders, &mc.placements})
      if (!produced(*in))
        err(mc.line, fmt::format("<medication-check> reads exchange '{}', which no configured "
                                 "mapping produces",
                                 *in));
    // Only the check writes its notices, and only as the exchange itself: no agency may publish
    // a record that becomes one, or connect under the sender's name.
    if (produced(mc.exchange))
      err(mc.line, fmt::format("<medication-check> writes exchange '{}', which a configured "
                               "mapping also produces",
                               mc.exchange));
    if (cfg.agency(mc.sender))
      err(mc.line, fmt::format("<medication-check> sender '{}' is a declared agency; the "
                               "notices' sender is the exchange itself and never connects",
                               mc.sender));
  }
  return out;
}

std::vector<std::string> restart_required(const broker_config& running, const broker_config& next) {
  std::vector<std::string> out;
  auto differs = [&](bool same, const char* section) {
    if (!same) out.push_back(section);
  };
  differs(running.name == next.name, "name");
  differs(running.listener == next.listener, "listener");
  differs(running.tls == next.tls, "tls");
  differs(running.store == next.store, "store");
  differs(running.pipeline == next.pipeline, "pipeline");
  differs(running.delivery == next.delivery, "delivery");
  differs(running.retention == next.retention, "retention");
  differs(running.reports == next.reports, "reports");
  const auto& a = running.admin;
  const auto& b = next.admin;
  differs(a.enabled == b.enabled && a.tls == b.tls && a.host == b.host && a.port == b.port &&
              a.protect_health == b.protect_health &&
              a.history_interval_seconds == b.history_interval_seconds,
          "admin");
  differs(running.home == next.home, "home");
  differs(running.audit_key_file == next.audit_key_file, "audit");
  differs(running.medication_check == next.medication_check, "medication-check");
  // The queues are the agencies': an agency added or removed needs a restart.
  auto ids = [](const broker_config& c) {
    std::vector<std::string> v;
    for (const auto& x : c.agencies) v.push_back(x.id);
    std::sort(v.begin(), v.end());
    return v;
  };
  differs(ids(running) == ids(next), "agencies");
  return out;
}

}  // namespace niem::config
