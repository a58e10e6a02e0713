#include <catch2/catch.hpp>

#include "pipeline/catch_up_gate.h"

using namespace niem;
using pipeline::catch_up_gate;
using namespace std::chrono_literals;

namespace {

catch_up_gate::clock::time_point at(std::chrono::milliseconds ms) {
  return catch_up_gate::clock::time_point{1s + ms};
}

}  // namespace

TEST_CASE("a catch-up covers the records that arrived before it began, and only those") {
  auto now = at(0ms);
  catch_up_gate gate([&] { return now; });
  // Nothing is covered before a catch-up answers.
  CHECK_FALSE(gate.covered(at(0ms)));
  // A record that arrived at 5 ms asks for one at 10 ms; it answers at 13 ms.
  now = at(10ms);
  auto begun = gate.start();
  now = at(13ms);
  CHECK_FALSE(gate.covered(at(5ms)));  // not before it answers
  gate.answered(begun);
  // Records that waited in the queue while it ran (arrived before 10 ms) share it.
  CHECK(gate.covered(at(0ms)));
  CHECK(gate.covered(at(5ms)));
  CHECK(gate.covered(at(9ms)));
  // One that arrived as it began or after needs a catch-up of its own.
  CHECK_FALSE(gate.covered(at(10ms)));
  CHECK_FALSE(gate.covered(at(12ms)));
}

TEST_CASE("a catch-up that did not answer covers nothing") {
  auto now = at(10ms);
  catch_up_gate gate([&] { return now; });
  auto failed = gate.start();  // its caller never calls answered()
  (void)failed;
  now = at(20ms);
  CHECK_FALSE(gate.covered(at(5ms)));
  // A later one that answers covers what arrived before it began.
  gate.answered(gate.start());
  CHECK(gate.covered(at(19ms)));
}

TEST_CASE("an older catch-up answering last does not take back what a newer one covered") {
  auto now = at(10ms);
  catch_up_gate gate([&] { return now; });
  auto older = gate.start();
  now = at(20ms);
  auto newer = gate.start();
  gate.answered(newer);
  gate.answered(older);
  CHECK(gate.covered(at(19ms)));
  CHECK_FALSE(gate.covered(at(20ms)));
}
