#pragma once
// What the transport's units (connections in server.cc, intake.h, delivery.h) share on the one
// event-loop thread. server.cc provides it.
#include <proton/connection.hpp>
#include <proton/link.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace niem::transport {

inline constexpr const char* k_unauthorized = "amqp:unauthorized-access";
inline constexpr const char* k_not_found = "amqp:not-found";

class event_loop {
 public:
  virtual ~event_loop() = default;
  // Proton writes a connection's output only while it handles that connection's events: a
  // change made for connection B while handling A (or a store completion, or a timer) is written
  // once B is woken, which flush() does for every connection touched.
  virtual void touch(const proton::connection& c) = 0;
  virtual void touch(std::uint64_t conn_id) = 0;
  virtual void flush() = 0;
  // The broker's id of an open connection; 0 when it is not (or no longer) open.
  virtual std::uint64_t conn_id(const proton::connection& c) const = 0;
  virtual bool live(std::uint64_t conn_id) const = 0;
  // Runs `fn` on the loop after `ms`.
  virtual void schedule(std::uint32_t ms, std::function<void()> fn) = 0;
  // Set once the loop is stopping: no more timers, so it can end.
  virtual bool stopping() const = 0;
};

// Runs completions on the loop, in the order given; callable from any thread and safe to call
// after the server is gone (they are dropped).
using poster = std::function<void(store::completions)>;

// Closes a link the peer may not open, with an AMQP condition; logged and counted.
void refuse_link(proton::link& l, std::string_view address, std::string_view agency,
                 const std::string& why, const char* condition);

}  // namespace niem::transport
