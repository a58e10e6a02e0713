// Other brokers' commits, as they happen: LISTEN niem_queue on a connection of its own. While it
// is down (and once after it comes back) the watcher hears "anything may have changed" every
// second: polling only as the fallback.
#include <poll.h>

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

void pg_store::listen_loop() {
  // The facts committed since the last ones handed on, read on the listener's connection.
  auto new_facts = [this](connection& c) {
    auto r = c.exec("SELECT seq, kind, key, value FROM facts WHERE seq > $1 ORDER BY seq",
                    params().num(facts_seen_));
    if (!r.ok() || r.rows() == 0) return;
    std::vector<fact_row> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 1), r.text(i, 2), r.text(i, 3)});
    facts_seen_ = r.i64(r.rows() - 1, 0);
    std::lock_guard lk(watch_mu_);
    if (fact_watcher_) fact_watcher_(std::move(out));
  };
  auto tell = [this, &new_facts](const std::string& recipient) {
    {
      std::lock_guard lk(watch_mu_);
      if (watcher_) watcher_(recipient);
    }
    if (recipient.empty() && listen_conn_.good()) new_facts(listen_conn_);
  };
  auto& c = listen_conn_;
  bool was_down = !c.good();
  listening_ = c.good();
  auto last_poll = std::chrono::steady_clock::now();
  while (!stopping_) {
    if (!c.good()) {
      std::string err;
      if (c.open(opt_.locator, opt_.password, err) && c.exec("LISTEN niem_queue").ok() &&
          c.exec("LISTEN niem_facts").ok()) {
        if (was_down) {
          base::log(base::log_level::info, "store", "listening for other brokers' commits again",
                    {{"store", where_}});
          tell("");  // what was committed meanwhile went unheard
        }
        was_down = false;
        listening_ = true;
      } else {
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
        for (int i = 0; i < 10 && !stopping_; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (std::chrono::steady_clock::now() - last_poll >= std::chrono::seconds(1)) {
          last_poll = std::chrono::steady_clock::now();
          tell("");
        }
        continue;
      }
    }
    pollfd p{PQsocket(c.raw()), POLLIN, 0};
    if (::poll(&p, 1, 200) < 0) continue;
    if (!PQconsumeInput(c.raw())) {
      c.close();
      listening_ = false;
      was_down = true;
      continue;
    }
    bool facts = false;
    std::vector<std::string> changed;
    while (PGnotify* n = PQnotifies(c.raw())) {
      std::string channel = n->relname ? n->relname : "";
      std::string recipient = n->extra ? n->extra : "";
      bool mine = n->be_pid == writer_pid_.load();
      PQfreemem(n);
      if (mine) continue;
      if (channel == "niem_facts")
        facts = true;
      else
        changed.push_back(std::move(recipient));
    }
    // The facts first: a revocation is learned before the entries committed with it are
    // offered for delivery.
    if (facts) new_facts(c);
    for (const auto& r : changed) tell(r);
  }
}

}  // namespace niem::store::postgres
