#pragma once
// niem-broker's modules, owned and wired in one place: the mappings and agreements loaded, the
// store opened, the router, pipeline, AMQP transport, report scheduler and admin server built
// and connected. main() only parses its arguments, resolves the configuration and runs this.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "admin/admin.h"
#include "base/result.h"
#include "config/config.h"

namespace niem::app {

class broker {
 public:
  // Builds every module from a resolved configuration; every configuration problem (mappings,
  // agreements, their keys, the cross-check with the configuration) is collected. Opens the
  // store. Nothing listens yet.
  // `over` and `config_schema` are kept to read the configuration again on a reload.
  static base::result<std::unique_ptr<broker>> create(config::resolved rc,
                                                      config::overrides over = {},
                                                      std::string config_schema = {});
  ~broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  // Starts the admin server when the configuration has one: its port, 0 when there is none, or
  // an error (it cannot listen).
  base::result<std::uint16_t> start_admin();
  // Runs the AMQP endpoint on the calling thread until stop(); `on_listening` once the listener
  // is bound, with its port. Returns 0, or 1 when the listener could not start. Then stops the
  // other modules and flushes the store.
  int run(std::function<void(std::uint16_t port)> on_listening);
  // Thread-safe (e.g. from a signal-waiting thread).
  void stop();
  // Thread-safe (SIGHUP, POST /api/reload): reads the configuration file again, compiles and
  // checks its mappings, agreements, subscriptions and tokens; with any problem nothing changes
  // and every problem is reported; otherwise the pipeline's rules are swapped between records.
  // Sections that differ but need a restart are reported and keep their running values; an
  // agency added or removed refuses the reload. Audited as done by `by`.
  admin::reload_report reload(const std::string& by);

  struct impl;

 private:
  explicit broker(std::unique_ptr<impl> im);
  std::unique_ptr<impl> impl_;
};

}  // namespace niem::app
