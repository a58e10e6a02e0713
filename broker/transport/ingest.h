#pragma once
// What the transport takes from one ingest transfer: the body bytes and content type of an AMQP
// message, or why it refuses it (NIEM codes). No Proton types here, so that the fuzz harness and
// tests can feed encoded messages without a socket.
#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.h"

namespace proton {
class message;
}

namespace niem::transport {

struct ingest_transfer {
  base::errc code = base::errc::ok;  // ok: body and content_type hold the record
  std::string description;
  std::string body, content_type;
};

// A decoded message (the server's path).
ingest_transfer read_message(const proton::message& m, std::size_t max_message_bytes);
// The bytes of a transfer as they arrive on a link (an encoded AMQP message).
ingest_transfer read_transfer(std::string_view encoded, std::size_t max_message_bytes);

}  // namespace niem::transport
