#pragma once
// The HTTP adapter: an agency system POSTs one JSON record; the adapter publishes it to the broker
// and answers 202 only once the broker has committed it.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/client.h"

namespace niem::adapters {

struct http_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port
  std::string agency;
  std::size_t max_body_bytes = 1 << 20;
  int threads = 2;
};

// The HTTP answer for the broker's outcome of one record (status code and JSON body).
struct http_answer {
  unsigned status = 500;
  std::string body;
};
http_answer answer_for(const client::publish_result& r);

class http_adapter {
 public:
  http_adapter(http_options opt, client::publisher& pub);
  ~http_adapter();
  // Binds the listener; returns the bound port, or 0 with `error` set.
  std::uint16_t listen(std::string& error);
  // Serves until stop() (from any thread or a signal).
  void run();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace niem::adapters
