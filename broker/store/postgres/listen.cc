// Other brokers' commits, as they happen: LISTEN niem_queue, niem_facts and niem_settings on a
// connection of its own. While it is down (and once after it comes back) the watchers hear
// "anything may have changed" every second: polling only as the fallback. The same thread answers
// catch_up_facts, so facts are handed on once each, in commit order, whoever asked.
#include <poll.h>
#include <unistd.h>

#include "base/log.h"
#include "store/postgres/pg_store.h"

namespace niem::store::postgres {

void pg_store::watch(std::function<void(const std::string&)> changed) {
  std::lock_guard lk(watch_mu_);
  watcher_ = std::move(changed);
}

void pg_store::renew_leases(std::vector<std::string> wanted,
                            std::function<void(std::vector<std::string>)> done) {
  auto held = std::make_shared<std::vector<std::string>>();
  eng_.push({[this, held, wanted = std::move(wanted)] {
               held->clear();
               std::vector<std::string_view> w(wanted.begin(), wanted.end());
               auto r = run("renew_leases", params().array(w).text(replica_id_).num(opt_.lease_ms));
               if (!r.ok()) return failed(r, "renew_leases");
               for (int i = 0; i < r.rows(); ++i) held->push_back(r.text(i, 0));
               return true;
             },
             [held, done = std::move(done)](bool ok) {
               // Not renewed (the database unreachable): hold nothing rather than deliver
               // what another broker may be delivering.
               done(ok ? std::move(*held) : std::vector<std::string>{});
             }});
}

bool pg_store::lead(std::string_view role) {
  std::lock_guard lk(lead_mu_);
  if (!leader_.good()) {
    std::string err;
    leader_up_ = false;
    if (!leader_.open(opt_.locator, opt_.password, err)) return false;  // and try again later
    leader_up_ = true;
  }
  // Re-entrant within the session: asking again while holding it answers true.
  auto r = leader_.exec("SELECT pg_try_advisory_lock(hashtext('niem-broker:' || $1))",
                        params().text(role));
  if (!r.ok()) {
    leader_.close();  // the session (and with it the lock) is gone
    leader_up_ = false;
    return false;
  }
  return r.rows() == 1 && r.text(0, 0) == "t";
}

void pg_store::watch_facts(std::function<void(std::vector<fact_row>)> learned) {
  std::lock_guard lk(watch_mu_);
  fact_watcher_ = std::move(learned);
}

void pg_store::watch_settings(const std::string& prefix, setting_watcher changed) {
  std::lock_guard lk(watch_mu_);
  if (changed)
    settings_watchers_[prefix] = std::move(changed);
  else
    settings_watchers_.erase(prefix);
}

void pg_store::wake_listener() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void pg_store::catch_up_facts(std::function<void(bool)> done) {
  if (opt_.read_only) return done(true);  // a tool learns nothing as it goes
  {
    std::lock_guard lk(catch_up_mu_);
    if (!listener_done_) {
      catch_ups_.push_back(std::move(done));
      done = nullptr;
    }
  }
  if (done) return done(false);
  wake_listener();
}

// The facts committed since the last ones handed on, read on the listener's connection, so that
// notifications and catch-ups hand them on in commit order, each once.
bool pg_store::listen_new_facts() {
  auto& c = listen_conn_;
  auto r = c.exec("SELECT seq, kind, key, value FROM facts WHERE seq > $1 ORDER BY seq",
                  params().num(facts_seen_));
  if (!r.ok()) return false;
  if (r.rows() == 0) return true;
  std::vector<fact_row> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 1), r.text(i, 2), r.text(i, 3)});
  facts_seen_ = r.i64(r.rows() - 1, 0);
  std::lock_guard lk(watch_mu_);
  if (fact_watcher_) fact_watcher_(std::move(out));
  return true;
}

void pg_store::listen_setting(const std::string& key, const std::optional<std::string>& value) {
  std::lock_guard lk(watch_mu_);
  for (const auto& [prefix, watcher] : settings_watchers_)
    if (key.empty() || key.starts_with(prefix)) watcher(key, value);
}

// Entries for `recipient` were committed elsewhere; "" for anything (then the facts and the
// settings are read again too).
void pg_store::listen_tell(const std::string& recipient) {
  {
    std::lock_guard lk(watch_mu_);
    if (watcher_) watcher_(recipient);
  }
  if (recipient.empty() && listen_conn_.good()) {
    listen_new_facts();
    listen_setting("", std::nullopt);
  }
}

// The notifications libpq has read (by PQconsumeInput, or while waiting for a statement).
void pg_store::listen_notifications() {
  bool facts = false;
  std::vector<std::string> changed;
  std::vector<std::pair<std::string, std::optional<std::string>>> settings;
  while (PGnotify* n = PQnotifies(listen_conn_.raw())) {
    std::string channel = n->relname ? n->relname : "";
    std::string extra = n->extra ? n->extra : "";
    bool mine = n->be_pid == writer_pid_.load();
    PQfreemem(n);
    if (mine) continue;
    if (channel == "niem_facts") {
      facts = true;
    } else if (channel == "niem_settings") {
      // "+KEY\nVALUE" (set) or "-KEY" (removed).
      auto nl = extra.find('\n');
      if (!extra.empty() && extra[0] == '+' && nl != std::string::npos)
        settings.emplace_back(extra.substr(1, nl - 1), extra.substr(nl + 1));
      else if (!extra.empty() && extra[0] == '-')
        settings.emplace_back(extra.substr(1), std::nullopt);
    } else {
      changed.push_back(std::move(extra));
    }
  }
  if (listen_delay_ms_ > 0 && (facts || !changed.empty() || !settings.empty()))
    std::this_thread::sleep_for(std::chrono::milliseconds(listen_delay_ms_));
  // The facts first: a revocation is learned before the entries committed with it are offered
  // for delivery.
  if (facts) listen_new_facts();
  for (const auto& [k, v] : settings) listen_setting(k, v);
  for (const auto& r : changed) listen_tell(r);
}

// Every catch-up asked for so far: one read of the facts committed before it answers them all.
void pg_store::listen_catch_up(bool up) {
  std::vector<std::function<void(bool)>> waiting;
  {
    std::lock_guard lk(catch_up_mu_);
    waiting.swap(catch_ups_);
  }
  if (waiting.empty()) return;
  bool ok = up && listen_conn_.good() && listen_new_facts();
  for (auto& f : waiting) f(ok);
}

void pg_store::drain_wake() {
  std::uint64_t n = 0;
  [[maybe_unused]] auto r = ::read(wake_fd_, &n, sizeof n);
}

// Opens the listener's connection and listens; while it cannot, waits a second answering
// catch-ups as in doubt, and tells every watcher "anything may have changed" once a second.
bool pg_store::listen_reconnect(bool& was_down, std::chrono::steady_clock::time_point& last_poll) {
  auto& c = listen_conn_;
  std::string err;
  if (c.open(opt_.locator, opt_.password, err) && c.exec("LISTEN niem_queue").ok() &&
      c.exec("LISTEN niem_facts").ok() && c.exec("LISTEN niem_settings").ok()) {
    if (was_down) {
      base::log(base::log_level::info, "store", "listening for other brokers' commits again",
                {{"store", where_}});
      listen_tell("");  // what was committed meanwhile went unheard
    }
    was_down = false;
    listening_ = true;
    return true;
  }
  c.close();
  listening_ = false;
  {
    std::lock_guard lk(problem_mu_);
    problem_ = err;
  }
  if (!was_down)
    base::log(base::log_level::warn, "store",
              "cannot listen for other brokers' commits; polling every second",
              {{"store", where_}, {"error", err}});
  was_down = true;
  for (int i = 0; i < 10 && !stopping_; ++i) {
    pollfd w{wake_fd_, POLLIN, 0};
    if (::poll(&w, 1, 100) > 0) drain_wake();
    listen_catch_up(false);  // no reading the facts now: whoever asked decides as if in doubt
  }
  if (std::chrono::steady_clock::now() - last_poll >= std::chrono::seconds(1)) {
    last_poll = std::chrono::steady_clock::now();
    listen_tell("");
  }
  return false;
}

void pg_store::listen_loop() {
  auto& c = listen_conn_;
  bool was_down = !c.good();
  listening_ = c.good();
  auto last_poll = std::chrono::steady_clock::now();
  while (!stopping_) {
    if (!c.good() && !listen_reconnect(was_down, last_poll)) continue;
    pollfd p[2] = {{PQsocket(c.raw()), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(p, 2, 200) < 0) continue;
    if (p[1].revents & POLLIN) drain_wake();
    if (!PQconsumeInput(c.raw())) {
      c.close();
      listening_ = false;
      was_down = true;
      listen_catch_up(false);
      continue;
    }
    listen_notifications();
    listen_catch_up(true);
    listen_notifications();  // any read while the catch-up's statement ran
  }
  {
    std::lock_guard lk(catch_up_mu_);
    listener_done_ = true;
  }
  listen_catch_up(false);
}
}  // namespace niem::store::postgres
