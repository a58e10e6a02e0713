#include <catch2/catch.hpp>

#include "batch/batch.h"
#include "support/temp_dir.h"

using niem::adapters::file_format;
using niem::adapters::record_reader;

TEST_CASE("the reader skips blank lines, strips CR and a byte order mark, and numbers lines",
          "[batch]") {
  niem::testing::temp_dir d("batch-reader");
  auto f = d.write("a.ndjson", "\xEF\xBB\xBF{\"a\":1}\r\n\n   \n{\"a\":2}\n{\"a\":3}");
  record_reader r(f, file_format::ndjson);
  REQUIRE(r.ok());
  auto a = r.next();
  REQUIRE(a);
  CHECK(a->line == 1);
  CHECK(a->body == "{\"a\":1}");
  auto b = r.next();
  REQUIRE(b);
  CHECK(b->line == 4);
  CHECK(b->body == "{\"a\":2}");
  auto c = r.next();
  REQUIRE(c);
  CHECK(c->line == 5);
  CHECK(c->body == "{\"a\":3}");
  CHECK(c->end_offset == std::filesystem::file_size(f));
  CHECK_FALSE(r.next());

  // Resuming after line 4 yields line 5 only.
  record_reader again(f, file_format::ndjson);
  REQUIRE(again.seek(b->end_offset, b->line));
  auto next = again.next();
  REQUIRE(next);
  CHECK(next->line == 5);
  CHECK_FALSE(again.next());
}

// Found by fuzz_batch_reader: a line of a lone CR and spaces was sent as a record.
TEST_CASE("a line of only carriage returns, tabs and spaces is blank", "[batch]") {
  niem::testing::temp_dir d("batch-blank");
  auto f = d.write("a.ndjson", "{\"a\":1}\n\r   \r\n \t\r\r\n{\"a\":2}\n");
  record_reader r(f, file_format::ndjson);
  REQUIRE(r.ok());
  CHECK(r.next()->line == 1);
  auto b = r.next();
  REQUIRE(b);
  CHECK(b->line == 4);
  CHECK_FALSE(r.next());
}

TEST_CASE("an MMIS record is sent with the extract's header line", "[batch]") {
  niem::testing::temp_dir d("batch-mmis");
  auto f = d.write("x.txt", "A|B\r\n1|2\r\n3|4\r\n");
  record_reader r(f, file_format::mmis);
  REQUIRE(r.ok());
  CHECK(r.header() == "A|B");
  auto a = r.next();
  REQUIRE(a);
  CHECK(a->line == 2);
  CHECK(a->body == "A|B\n1|2");
  // A checkpoint taken before any record still reads the header first.
  record_reader fresh(f, file_format::mmis);
  REQUIRE(fresh.seek(0, 0));
  CHECK(fresh.next()->body == "A|B\n1|2");
  record_reader resumed(f, file_format::mmis);
  REQUIRE(resumed.seek(a->end_offset, a->line));
  auto b = resumed.next();
  REQUIRE(b);
  CHECK(b->line == 3);
  CHECK(b->body == "A|B\n3|4");

  auto empty = d.write("empty.txt", "");
  CHECK_FALSE(record_reader(empty, file_format::mmis).ok());
  CHECK_FALSE(record_reader((d.path / "missing.txt").string(), file_format::mmis).ok());
}

TEST_CASE("a checkpoint survives a round trip and a corrupt one is reported", "[batch]") {
  niem::testing::temp_dir d("batch-cp");
  niem::adapters::checkpoint c;
  c.file = "x.ndjson";
  c.fingerprint = "abc-1";
  c.offset = 123;
  c.line = 7;
  c.accepted = 5;
  c.rejected = 1;
  auto p = (d.path / "cp.json").string();
  REQUIRE(niem::adapters::save_checkpoint(p, c));
  std::string err;
  auto back = niem::adapters::load_checkpoint(p, err);
  REQUIRE(back);
  CHECK(err.empty());
  CHECK(back->offset == 123);
  CHECK(back->line == 7);
  CHECK(back->accepted == 5);
  CHECK(back->rejected == 1);
  CHECK_FALSE(back->complete);

  CHECK_FALSE(niem::adapters::load_checkpoint((d.path / "none").string(), err));
  CHECK(err.empty());  // no checkpoint is not an error
  auto bad = d.write("bad.json", "{\"file\": 3}");
  CHECK_FALSE(niem::adapters::load_checkpoint(bad, err));
  CHECK_FALSE(err.empty());

  // The fingerprint tells files apart by content.
  auto f1 = d.write("f1", "one");
  auto f2 = d.write("f2", "two");
  CHECK(niem::adapters::file_fingerprint(f1) != niem::adapters::file_fingerprint(f2));
  CHECK(niem::adapters::file_fingerprint(f1) == niem::adapters::file_fingerprint(f1));
}
