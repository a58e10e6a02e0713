#include "transport/ingest.h"

#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/value.hpp>

#include <fmt/format.h>

namespace niem::transport {

ingest_transfer read_message(const proton::message& m, std::size_t max_message_bytes) {
  ingest_transfer t;
  auto refuse = [&](base::errc code, std::string why) {
    t.code = code;
    t.description = std::move(why);
    t.body.clear();
    return t;
  };
  try {
    const auto& b = m.body();
    switch (b.type()) {
      case proton::BINARY: {
        auto bin = proton::get<proton::binary>(b);
        t.body.assign(bin.begin(), bin.end());
        break;
      }
      case proton::STRING:
        t.body = proton::get<std::string>(b);
        break;
      case proton::NULL_TYPE:
        break;
      default:
        return refuse(base::errc::record_bad_content_type,
                      "the body must be one data section, a string or a binary value");
    }
    t.content_type = m.content_type();
  } catch (const std::exception&) {
    return refuse(base::errc::record_bad_content_type,
                  "the body must be one data section, a string or a binary value");
  }
  if (t.body.size() > max_message_bytes)
    return refuse(base::errc::link_message_too_large,
                  fmt::format("message of {} bytes exceeds the limit of {}", t.body.size(),
                              max_message_bytes));
  return t;
}

ingest_transfer read_transfer(std::string_view encoded, std::size_t max_message_bytes) {
  proton::message m;
  try {
    m.decode(std::vector<char>(encoded.begin(), encoded.end()));
  } catch (const std::exception& e) {
    ingest_transfer t;
    t.code = base::errc::record_bad_content_type;
    t.description = fmt::format("the transfer is not an AMQP message: {}", e.what());
    return t;
  }
  return read_message(m, max_message_bytes);
}

}  // namespace niem::transport
