// The transport's handling of an ingest transfer without a socket: the bytes of a transfer (an
// encoded AMQP message) read as the server reads them, then the record through the pipeline on a
// broker rig, as the link's address says. Input: one byte choosing the address (agency and
// record type of the project's mappings, in order), then the encoded message. Checked beyond "no
// crash": a refused transfer has a code; every record gets exactly one outcome, and a dead
// letter names its code.
#include <cstdint>

#include "fuzz_rig.h"
#include "transport/ingest.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::broker_rig rig;
  static const auto& ms = rig.lib->mappings();
  if (size < 1) return 0;
  const auto& m = *ms[data[0] % ms.size()];
  auto t = transport::read_transfer({reinterpret_cast<const char*>(data) + 1, size - 1}, 1 << 20);
  if (t.code != base::errc::ok) {
    if (t.description.empty()) fuzz::defect("a refused transfer without a reason");
    return 0;
  }
  auto o = rig.run({.agency = m.agency(),
                    .record_type = m.record_type(),
                    .content_type = t.content_type,
                    .body = t.body});
  using s = pipeline::outcome::status;
  if (o.what == s::dead_lettered && o.code == base::errc::ok)
    fuzz::defect("a dead-lettered record without a code");
  if (o.what == s::failed) fuzz::defect("the pipeline failed on a record (the store is healthy)");
  return 0;
}
