#!/usr/bin/env bash
# The broker under ThreadSanitizer, end to end: builds niem-broker, niemctl and niem-dsa with the
# tsan preset and runs end-to-end scenarios against it (every agency's records, the medication
# check, operations, reloads while records stream, fresh starts with five clients at once), then
# looks for ThreadSanitizer's reports in the brokers' logs. Not part of the test command (a few
# minutes more); run it after changing what threads share.
# usage: tools/run-tsan-e2e.sh [SCENARIO...]   (default: the five below)
set -euo pipefail
cd "$(dirname "$0")/.."
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] &&
  scenarios=(broker_e2e broker_medication broker_admin broker_reload broker_fresh_start)
cmake --preset tsan -G Ninja > /dev/null
cmake --build build/tsan --target niem-broker niemctl niem-dsa -j "$(nproc)"
export TSAN_OPTIONS="second_deadlock_stack=1"
export NIEMCTL_BIN=$PWD/build/tsan/tools/niemctl NIEM_DSA_BIN=$PWD/build/tsan/tools/niem-dsa
export NIEM_HOME=$PWD
work=$(mktemp -d /tmp/niem-tsan-e2e.XXXXXX)
export TMPDIR=$work  # the scenarios' brokers log under it
failed=0
for s in "${scenarios[@]}"; do
  if /usr/bin/python3 "tests/e2e/$s.py" "$PWD/build/tsan/broker/app/niem-broker" "$PWD" \
      > "$work/$s.out" 2>&1; then
    echo "$s: passed"
  else
    echo "$s: FAILED (see $work/$s.out)"
    failed=1
  fi
done
reports=$(grep -l "WARNING: ThreadSanitizer" -r "$work" --include='*.log' || true)
if [ -n "$reports" ]; then
  echo "ThreadSanitizer reports in:"
  echo "$reports"
  failed=1
else
  echo "no ThreadSanitizer report in the brokers' logs"
fi
exit $failed
