// How the transport reads an ingest transfer, from its bytes (what the fuzz target feeds it).
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/types.hpp>

#include <catch2/catch.hpp>

#include "transport/ingest.h"

using niem::base::errc;
using niem::transport::read_transfer;

namespace {

std::string encoded(proton::message m) {
  std::vector<char> out;
  m.encode(out);
  return {out.begin(), out.end()};
}

}  // namespace

TEST_CASE("an ingest transfer yields its body and content type, or a code saying why not",
          "[transport]") {
  proton::message data;
  data.body(proton::binary(std::string("{\"a\":1}")));
  data.inferred(true);
  data.content_type("application/json");
  auto t = read_transfer(encoded(data), 1024);
  CHECK(t.code == errc::ok);
  CHECK(t.body == "{\"a\":1}");
  CHECK(t.content_type == "application/json");

  proton::message str;
  str.body(std::string("A|B\n1|2"));
  CHECK(read_transfer(encoded(str), 1024).body == "A|B\n1|2");

  proton::message list;
  list.body(proton::value(std::vector<int>{1, 2}));
  CHECK(read_transfer(encoded(list), 1024).code == errc::record_bad_content_type);

  proton::message big;
  big.body(proton::binary(std::string(2000, 'x')));
  auto b = read_transfer(encoded(big), 1024);
  CHECK(b.code == errc::link_message_too_large);
  CHECK(b.body.empty());

  auto junk = read_transfer("\x00\x53\x75\xa0\xff", 1024);
  CHECK(junk.code == errc::record_bad_content_type);
  CHECK_FALSE(junk.description.empty());
}
