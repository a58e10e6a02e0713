#include <catch2/catch.hpp>
#include <string>

#include "base/text.h"
#include "config/config.h"
#include "support/temp_dir.h"

using namespace niem;

namespace {
std::string root() {
  return NIEM_SOURCE_ROOT;
}
std::string xsd() {
  return root() + "/schemas/config/broker-config.xsd";
}
bool any_message(const std::vector<base::diagnostic>& ds, const std::string& needle,
                 std::uint32_t line) {
  for (const auto& d : ds)
    if (d.message.find(needle) != std::string::npos && d.line == line) return true;
  return false;
}
}  // namespace

TEST_CASE("the shipped demo and production configurations load") {
  auto demo = config::load(root() + "/config/demo.xml", xsd());
  INFO((demo.ok() ? std::string() : base::format(demo.errors().front())));
  REQUIRE(demo.ok());
  CHECK(demo->name == "demo");
  CHECK_FALSE(demo->tls.has_value());
  CHECK(demo->listener.host == "127.0.0.1");
  CHECK(demo->mapping_files.size() == 5);
  CHECK(demo->home == root());
  CHECK(demo->publishes("medicaid", "pharmacy_claim"));
  CHECK_FALSE(demo->publishes("medicaid", "placement"));
  CHECK(demo->publishes("court", "pmap_order"));
  CHECK(demo->subscriptions.size() == 16);
  CHECK(demo->agreement_files.size() == 13);
  CHECK(demo->medication_check.enabled);
  CHECK(demo->medication_check.exchange == "medication-authorization-exception");
  for (const auto& s : demo->subscriptions) CHECK_FALSE(s.purpose.empty());

  // Production needs the demo certificates to exist; point it at stand-in files.
  testing::temp_dir tmp("niem-config");
  auto text = [&] {
    std::ifstream in(root() + "/config/production.xml");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto cfgdir = tmp.path / "config";
  for (auto f : {"broker.crt", "broker.key", "ca.crt", "audit.key", "research-pseudonym.key",
                 "admin-viewer.token", "admin-operator.token"})
    tmp.write(std::string("var/certs/") + f, "x");
  std::filesystem::create_symlink(root() + "/mappings", tmp.path / "mappings");
  std::filesystem::create_symlink(root() + "/schemas", tmp.path / "schemas");
  std::filesystem::create_directories(cfgdir);
  std::filesystem::create_symlink(root() + "/config/agreements", cfgdir / "agreements");
  auto file = tmp.write("config/production.xml", text);
  CHECK(std::filesystem::exists(cfgdir / "agreements" / "DSA-001.xml"));
  auto prod = config::load(file, xsd());
  INFO((prod.ok() ? std::string() : base::format(prod.errors().front())));
  REQUIRE(prod.ok());
  REQUIRE(prod->tls.has_value());
  CHECK(prod->tls->ca == (tmp.path / "var/certs/ca.crt").string());
  // Its admin API: HTTPS with client certificates, two tokens.
  REQUIRE(prod->admin.tls.has_value());
  CHECK(prod->admin.tls->ca == (tmp.path / "var/certs/ca.crt").string());
  CHECK(prod->admin.tokens.size() == 2);
  CHECK(demo->admin.enabled);
  CHECK_FALSE(demo->admin.tls.has_value());
  const auto* a = prod->agency_for_subject("CN = medicaid, O = State Medicaid Agency");
  REQUIRE(a != nullptr);
  CHECK(a->id == "medicaid");
  CHECK(prod->agency_for_subject("CN=medicaid") == nullptr);

  // The replicas' example: the same, with the store on PostgreSQL over TLS.
  for (auto f : {"db.password", "db-ca.crt", "broker-db.crt", "broker-db.key"})
    tmp.write(std::string("var/certs/") + f, "x");
  auto ha_text = [&] {
    std::ifstream in(root() + "/config/production-ha.xml");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto ha = config::load(tmp.write("config/production-ha.xml", ha_text), xsd());
  if (!ha.ok())
    for (const auto& d : ha.errors()) UNSCOPED_INFO(base::format(d));
  REQUIRE(ha.ok());
  CHECK(ha->store.locator.starts_with(
      "postgresql://niem@db.example.gov:5432/niem?sslmode=verify-full&sslrootcert="));
  CHECK(ha->store.password_file == (tmp.path / "var/certs/db.password").string());
  CHECK(ha->tls.has_value());
  (void)cfgdir;
}

TEST_CASE("every configuration error is reported together, with its line") {
  testing::temp_dir tmp("niem-config-bad");
  std::string home = root();
  auto file = tmp.write("bad.xml", R"(<?xml version="1.0"?>
<broker xmlns="urn:niem-broker:config:1" name="bad">
  <listener host="10.0.0.5" port="5672"/>
  <anonymous/>
  <store path="store"/>
  <delivery max-attempts="0"/>
  <schemas home=")" + home + R"("/>
  <mapping file="nowhere/mapping.xml"/>
  <agreement file="agreements/none.xml"/>
  <agency id="cws"/>
  <agency id="cws"/>
  <agency id="Medicaid"/>
  <subscription recipient="court" exchange="placement-notification"/>
</broker>
)");
  // The admin server: on another address only with TLS; token files must exist.
  auto admin = tmp.write("admin.xml", R"(<?xml version="1.0"?>
<broker xmlns="urn:niem-broker:config:1" name="admin">
  <listener host="127.0.0.1" port="5672"/>
  <anonymous/>
  <store path="store"/>
  <admin host="0.0.0.0" port="8081">
    <token name="t" role="viewer" file="no-such.token"/>
  </admin>
  <schemas home=")" + home + R"("/>
  <mapping file=")" + home + R"(/mappings/cws-placement/mapping.xml"/>
  <agency id="cws"/>
</broker>
)");
  auto ra = config::load(admin, xsd());
  REQUIRE_FALSE(ra.ok());
  CHECK(any_message(ra.errors(), "non-loopback address only with <tls>", 6));
  CHECK(any_message(ra.errors(), "admin token file", 7));
  auto r = config::load(file, xsd());
  REQUIRE_FALSE(r.ok());
  const auto& e = r.errors();
  for (const auto& d : e) {
    CHECK(d.code == base::errc::config_invalid);
    CHECK(d.where.find("bad.xml:") != std::string::npos);
  }
  CHECK(any_message(e, "loopback", 4));
  CHECK(any_message(e, "does not exist", 8));
  CHECK(any_message(e, "does not exist", 9));  // the agreement file
  CHECK(any_message(e, "declared twice", 11));
  CHECK(any_message(e, "not a declared agency", 13));
  CHECK(any_message(e, "needs a purpose", 13));  // agreements allow only their purposes
  // Schema errors (max-attempts must be positive; agency ids are lower case) come with lines too.
  bool line6 = false, line12 = false;
  for (const auto& d : e) {
    line6 |= d.line == 6;
    line12 |= d.line == 12;
  }
  CHECK(line6);
  CHECK(line12);
}

TEST_CASE("cross-check names unpublished record types and unproduced exchanges") {
  auto cfg = config::load(root() + "/config/demo.xml", xsd());
  REQUIRE(cfg.ok());
  std::vector<config::mapping_fact> facts = {
      {"cws", "placement", "placement-notification", ""},
      {"medicaid", "pharmacy_claim", "pharmacy-claim", ""},
  };
  auto errs = config::cross_check(*cfg, facts);
  // consent, pmap_application and pmap_order have no mapping here; the two subscriptions each to
  // pmap-application and pmap-order have no producer, nor have two inputs of the medication check.
  int unread = 0, unproduced = 0;
  for (const auto& d : errs) {
    unread += d.message.find("no configured mapping reads") != std::string::npos;
    unproduced += d.message.find("no configured mapping produces") != std::string::npos;
  }
  CHECK(unread == 3);
  CHECK(unproduced == 6);
  CHECK(base::normalize_dn(" CN = a ,O= b ") == "CN=a,O=b");
  CHECK(config::is_loopback_host("127.0.0.1"));
  CHECK_FALSE(config::is_loopback_host("0.0.0.0"));
}

TEST_CASE("the medication check's notices are written only by it, as a party that never connects") {
  auto cfg = config::load(root() + "/config/demo.xml", xsd());
  REQUIRE(cfg.ok());
  std::vector<config::mapping_fact> facts = {
      {"medicaid", "pharmacy_claim", "pharmacy-claim", ""},
      {"pmap-portal", "pmap_application", "pmap-application", ""},
      {"court", "pmap_order", "pmap-order", ""},
      {"cws", "placement", "placement-notification", ""},
      {"cws", "consent", "consent-directive", ""},
  };
  auto clean = config::cross_check(*cfg, facts);
  for (const auto& d : clean) UNSCOPED_INFO(d.message);
  CHECK(clean.empty());

  // A mapping that turns some agency's records into notices, and a sender that is an agency.
  facts.push_back({"cws", "alert", "medication-authorization-exception", ""});
  auto broken = *cfg;
  broken.medication_check.sender = "cws";
  auto errs = config::cross_check(broken, facts);
  REQUIRE(errs.size() == 2);
  for (const auto& d : errs) CHECK(d.line == cfg->medication_check.line);
  CHECK(errs[0].message.find("which a configured mapping also produces") != std::string::npos);
  CHECK(errs[1].message.find("sender 'cws' is a declared agency") != std::string::npos);
}

TEST_CASE("the store is a directory or a PostgreSQL URI, with its TLS files and password file") {
  testing::temp_dir tmp("niem-config-store");
  std::string home = root();
  auto ca = tmp.write("db-ca.pem", "x"), cert = tmp.write("db.pem", "x");
  tmp.write("db.key", "x");
  tmp.write("db.password", "secret");
  auto conf = [&](const std::string& store) {
    return tmp.write("b.xml", R"(<?xml version="1.0"?>
<broker xmlns="urn:niem-broker:config:1" name="b">
  <listener host="127.0.0.1" port="5672"/>
  <anonymous/>
  )" + store + R"(
  <schemas home=")" + home + R"("/>
  <mapping file=")" + home + R"(/mappings/cws-placement/mapping.xml"/>
  <agency id="cws"/>
</broker>
)");
  };
  auto pg = config::load(conf(R"(<store uri="postgresql://niem@db.example:5432/niem" )"
                              R"(password-file="db.password" ca="db-ca.pem" )"
                              R"(certificate="db.pem" key="db.key"/>)"),
                         xsd());
  INFO((pg.ok() ? std::string() : base::format(pg.errors().front())));
  REQUIRE(pg.ok());
  CHECK(pg->store.locator ==
        "postgresql://niem@db.example:5432/niem?sslmode=verify-full&sslrootcert=" + ca +
            "&sslcert=" + cert + "&sslkey=" + tmp.path.string() + "/db.key");
  CHECK(pg->store.password_file == tmp.path.string() + "/db.password");
  auto dir = config::load(conf(R"(<store path="var/store"/>)"), xsd());
  REQUIRE(dir.ok());
  CHECK(dir->store.locator == tmp.path.string() + "/var/store");

  auto fails = [&](const std::string& store, const std::string& words) {
    auto r = config::load(conf(store), xsd());
    REQUIRE_FALSE(r.ok());
    CHECK(any_message(r.errors(), words, 5));
  };
  fails(R"(<store/>)", "either path");
  fails(R"(<store path="s" uri="postgresql://h/d"/>)", "either path");
  fails(R"(<store path="s" password-file="db.password"/>)", "are for uri");
  fails(R"(<store uri="mysql://h/d"/>)", "must start with postgresql://");
  fails(R"(<store uri="postgresql://h/d" certificate="db.pem"/>)", "go together");
  fails(R"(<store uri="postgresql://h/d" certificate="db.pem" key="db.key"/>)", "needs ca");
  fails(R"(<store uri="postgresql://h/d" password-file="none"/>)", "does not exist");
}

TEST_CASE("resolve applies the command line's overrides and reads the secrets") {
  auto demo = config::load(root() + "/config/demo.xml", xsd());
  REQUIRE(demo.ok());
  config::overrides o;
  o.listen = "127.0.0.1:0";
  o.admin = "127.0.0.1:9999";
  o.store = "relative/store";
  auto r = config::resolve(*demo, o);
  INFO((r.ok() ? std::string() : base::format(r.errors().front())));
  REQUIRE(r.ok());
  CHECK(r->cfg.listener.port == 0);
  CHECK(r->cfg.admin.enabled);
  CHECK(r->cfg.admin.port == 9999);
  CHECK(std::filesystem::path(r->cfg.store.locator).is_absolute());
  CHECK(r->cfg.store.locator.ends_with("/relative/store"));
  REQUIRE(r->admin_tokens.size() == 2);
  CHECK(r->admin_tokens[0].name == "demo-viewer");
  CHECK(r->admin_tokens[0].value == "demo-viewer-7f3c9a1e5b2d4c6f8a0b");
  CHECK(r->admin_tokens[1].role == "operator");
  CHECK(r->audit_key.size() >= 32);

  o = {};
  o.store = "postgresql://niem@db.example/niem";
  r = config::resolve(*demo, o);
  REQUIRE(r.ok());
  CHECK(r->cfg.store.locator == "postgresql://niem@db.example/niem");
}

TEST_CASE("resolve reports every bad override and secret together") {
  testing::temp_dir tmp("niem-config-resolve");
  auto demo = config::load(root() + "/config/demo.xml", xsd());
  REQUIRE(demo.ok());
  auto cfg = *demo;
  cfg.admin.tokens[0].file = tmp.write("short.token", "too-short\n");
  cfg.audit_key_file = tmp.write("audit.key", "0123456789\n");
  cfg.store.password_file = (tmp.path / "missing.password").string();
  config::overrides o;
  o.listen = "10.1.2.3:5672";  // anonymous, not loopback
  o.admin = "localhost:http";
  auto r = config::resolve(cfg, o);
  REQUIRE_FALSE(r.ok());
  std::vector<std::string> where;
  for (const auto& d : r.errors()) where.push_back(d.where);
  CHECK(where.size() == 5);
  auto has = [&](const std::string& w, const std::string& needle) {
    for (const auto& d : r.errors())
      if (d.where.find(w) != std::string::npos && d.message.find(needle) != std::string::npos)
        return true;
    return false;
  };
  CHECK(has("--listen", "loopback"));
  CHECK(has("--admin", "HOST:PORT"));
  CHECK(has(demo->file, "at least 24 characters"));
  CHECK(has("audit.key", "at least 32 characters"));
  CHECK(has("missing.password", ""));
}

namespace {

// A configuration publishing placements from cws; `middle` stands between <store> and <mapping>,
// from line 6.
std::string one_mapping_config(const testing::temp_dir& tmp, const std::string& name,
                               const std::string& middle) {
  return tmp.write(name, R"(<?xml version="1.0"?>
<broker xmlns="urn:niem-broker:config:1" name="t">
  <listener host="127.0.0.1" port="5672"/>
  <anonymous/>
  <store path="store"/>
  )" + middle + R"(
  <mapping file=")" + root() +
                             R"(/mappings/cws-placement/mapping.xml"/>
  <agency id="cws"/>
</broker>
)");
}

}  // namespace

TEST_CASE("retention's ages are read, with their defaults, and a value out of range is refused") {
  testing::temp_dir tmp("niem-config-retention");
  std::string home = root();
  auto make = [&](const std::string& name, const std::string& retention) {
    return one_mapping_config(tmp, name, retention + "\n  <schemas home=\"" + home + "\"/>");
  };
  auto defaults = config::load(make("defaults.xml", ""), xsd());
  REQUIRE(defaults.ok());
  CHECK(defaults->retention.messages_days == 90);
  CHECK(defaults->retention.dead_letters_days == 90);
  CHECK(defaults->retention.observations_days == 400);
  CHECK(defaults->retention.batch == 250);
  auto set = config::load(
      make("set.xml", R"(<retention messages-days="30" dead-letters-days="0" batch="500"/>)"),
      xsd());
  REQUIRE(set.ok());
  CHECK(set->retention.messages_days == 30);
  CHECK(set->retention.dead_letters_days == 0);  // for ever
  CHECK(set->retention.observations_days == 400);
  CHECK(set->retention.batch == 500);
  auto bad =
      config::load(make("bad.xml", R"(<retention messages-days="40000" batch="5"/>)"), xsd());
  REQUIRE_FALSE(bad.ok());
  CHECK(any_message(bad.errors(),
                    "messages-days=\"40000\": expected a whole number from 0 to 36500", 6));
  CHECK(any_message(bad.errors(), "batch=\"5\": expected a whole number from 10 to 100000", 6));
}

TEST_CASE(
    "validation is 'compiled' unless set, for all exchanges or one, and names a produced one") {
  testing::temp_dir tmp("niem-config-validation");
  std::string home = root();
  auto make = [&](const std::string& name, const std::string& validation) {
    return one_mapping_config(tmp, name, "<schemas home=\"" + home + "\"/>\n  " + validation);
  };
  auto defaults = config::load(make("defaults.xml", ""), xsd());
  REQUIRE(defaults.ok());
  CHECK(defaults->validation.mode == "compiled");
  CHECK(defaults->validation.by_exchange.empty());
  CHECK(defaults->validation.sample_one_in == 1000);
  CHECK(defaults->validation.sample_first_seconds == 60);
  auto set = config::load(
      make("set.xml", R"(<validation mode="both" sample-one-in="50" sample-first-seconds="0"/>
  <validation exchange="placement-notification" mode="full"/>)"),
      xsd());
  REQUIRE(set.ok());
  CHECK(set->validation.mode == "both");
  CHECK(set->validation.sample_one_in == 50);
  CHECK(set->validation.sample_first_seconds == 0);
  CHECK(set->validation.by_exchange.at("placement-notification") == "full");
  std::vector<config::mapping_fact> facts = {{"cws", "placement", "placement-notification", ""}};
  CHECK(config::cross_check(*set, facts).empty());

  auto unknown =
      config::load(make("unknown.xml", R"(<validation exchange="nothing" mode="full"/>)"), xsd());
  REQUIRE(unknown.ok());
  auto errs = config::cross_check(*unknown, facts);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].message.find("'nothing', which no configured mapping produces") !=
        std::string::npos);
  CHECK(errs[0].line == 7);

  auto twice = config::load(make("twice.xml", R"(<validation mode="full"/>
  <validation mode="compiled"/>)"),
                            xsd());
  REQUIRE_FALSE(twice.ok());
  CHECK(any_message(twice.errors(), "a second <validation> without an exchange", 8));
  auto bad = config::load(make("bad.xml", R"(<validation mode="fast"/>)"), xsd());
  CHECK_FALSE(bad.ok());
  auto sampled_one = config::load(
      make("sampled-one.xml",
           R"(<validation exchange="placement-notification" mode="compiled" sample-one-in="5"/>)"),
      xsd());
  REQUIRE_FALSE(sampled_one.ok());
  CHECK(any_message(sampled_one.errors(),
                    "the sampling oracle is set on the <validation> without an exchange", 7));
}
