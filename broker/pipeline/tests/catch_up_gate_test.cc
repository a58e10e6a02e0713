#include <catch2/catch.hpp>

#include "pipeline/catch_up_gate.h"

using namespace niem;
using pipeline::catch_up_gate;
using namespace std::chrono_literals;

namespace {

struct fake_time {
  catch_up_gate::clock::time_point t{1s};
  catch_up_gate::clock::time_point at(std::chrono::milliseconds ms) const {
    return catch_up_gate::clock::time_point{1s + ms};
  }
};

}  // namespace

TEST_CASE("a catch-up covers the records that arrived before it began, and only those") {
  fake_time now;
  catch_up_gate gate([&] { return now.t; });
  int reads = 0;
  auto read = [&] {
    ++reads;
    now.t += 3ms;  // the read takes time: records arrive meanwhile
    return true;
  };
  // Nothing is covered before the first catch-up answers.
  CHECK_FALSE(gate.covered(now.at(0ms)));
  now.t = now.at(10ms);
  REQUIRE(gate.cover(now.at(5ms), read));  // a record that arrived at 5 ms: one read, begun at 10
  CHECK(reads == 1);
  // Records that waited in the queue while it ran (arrived before 10 ms) share it.
  CHECK(gate.covered(now.at(0ms)));
  CHECK(gate.covered(now.at(9ms)));
  CHECK(gate.cover(now.at(8ms), read));
  CHECK(reads == 1);
  // One that arrived as it began or after (the read's 3 ms included) needs a read of its own.
  CHECK_FALSE(gate.covered(now.at(10ms)));
  CHECK_FALSE(gate.covered(now.at(12ms)));
  REQUIRE(gate.cover(now.at(12ms), read));
  CHECK(reads == 2);
  CHECK(gate.covered(now.at(12ms)));  // the second began at 13 ms
  CHECK_FALSE(gate.covered(now.at(13ms)));
}

TEST_CASE("a catch-up that did not answer covers nothing") {
  fake_time now;
  catch_up_gate gate([&] { return now.t; });
  now.t = now.at(10ms);
  CHECK_FALSE(gate.cover(now.at(5ms), [] { return false; }));
  CHECK_FALSE(gate.covered(now.at(5ms)));
  // A later one that answers covers what arrived before it began.
  now.t = now.at(20ms);
  CHECK(gate.cover(now.at(5ms), [] { return true; }));
  CHECK(gate.covered(now.at(19ms)));
}

TEST_CASE("an older catch-up answering last does not take back what a newer one covered") {
  fake_time now;
  catch_up_gate gate([&] { return now.t; });
  // The first begins at 10 ms; while it is out, a second begins at 20 ms and answers first.
  now.t = now.at(10ms);
  bool nested = false;
  CHECK(gate.cover(now.at(5ms), [&] {
    now.t = now.at(20ms);
    nested = gate.cover(now.at(15ms), [] { return true; });
    return true;
  }));
  CHECK(nested);
  CHECK(gate.covered(now.at(19ms)));
}
