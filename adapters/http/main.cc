// niem-http-adapter: accepts POST of one JSON record and answers 202 once the broker committed it.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <pthread.h>

#include "client/cli.h"
#include "http/http_adapter.h"

namespace {

const char* k_usage =
    "usage: niem-http-adapter --agency AGENCY [--listen HOST:PORT] [options]\n"
    "Serves POST /records/<record-type> with one JSON record as the body (Content-Type\n"
    "application/json) and publishes it to ingest/AGENCY/<record-type>. Answers 202 once the\n"
    "broker committed the record, 422 with the broker's code when it rejected it, 503 with\n"
    "Retry-After when the broker is unreachable. GET /healthz answers 200.\n"
    "  --listen HOST:PORT   default 127.0.0.1:8080 (port 0: any free port)\n"
    "  --port-file FILE     write the bound port there once listening\n"
    "  --max-body BYTES     largest record accepted (default 1048576)\n"
    "  --threads N          HTTP worker threads (default 2)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace niem;
  adapters::http_options opt;
  client::options conn;
  std::string port_file, problem;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "error: " << a << " needs a value\n" << k_usage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << k_usage << client::k_connection_flags_help;
      return 0;
    } else if (client::is_connection_flag(a)) {
      client::apply_connection_flag(a, value(), conn);
    } else if (a == "--agency") {
      opt.agency = value();
    } else if (a == "--listen") {
      auto v = value();
      auto colon = v.rfind(':');
      if (colon == std::string::npos) {
        problem = "--listen takes HOST:PORT";
        continue;
      }
      opt.host = v.substr(0, colon);
      opt.port = static_cast<std::uint16_t>(std::strtoul(v.c_str() + colon + 1, nullptr, 10));
    } else if (a == "--port-file") {
      port_file = value();
    } else if (a == "--max-body") {
      opt.max_body_bytes = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--threads") {
      opt.threads = std::max(1, std::atoi(value().c_str()));
    } else {
      problem = "unknown argument " + a;
    }
  }
  if (problem.empty() && opt.agency.empty()) problem = "--agency is required";
  if (problem.empty() && opt.max_body_bytes == 0) problem = "--max-body must be positive";
  if (problem.empty()) problem = client::finish_connection_options(conn);
  if (!problem.empty()) {
    std::cerr << "error: " << problem << '\n' << k_usage;
    return 2;
  }

  // Signals are taken by one thread, so every other thread (Proton's, Asio's) never sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto pub = std::make_unique<client::publisher>(conn);
  adapters::http_adapter adapter(opt, *pub);
  std::string error;
  auto port = adapter.listen(error);
  if (!port) {
    std::cerr << "error: " << error << '\n';
    return 1;
  }
  if (!port_file.empty()) {
    std::ofstream tmp(port_file + ".tmp");
    tmp << port << '\n';
    tmp.close();
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  std::cerr << "niem-http-adapter: listening on " << opt.host << ':' << port << " for agency "
            << opt.agency << ", broker " << conn.url << '\n';
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    adapter.stop();
  });
  adapter.run();
  // The publisher goes first: its last callbacks post to the adapter's (stopped) event loop.
  pub.reset();
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  return 0;
}
