#!/usr/bin/env bash
# Replicas on PostgreSQL: ingest throughput of one niem-broker replica against two sharing one
# database (a throwaway cluster on this machine, without TLS). Each run publishes COUNT 1 KiB
# placements with the demo agreements and waits for every outcome (publish-only: the two
# recipients' queues fill, nobody drains them); with two replicas, two clients publish half each,
# one to each replica, at the same time, with keys of their own. Reports records/s (the median
# of --repeat runs, the two set-ups taking turns) and the database's CPU per 1,000 records.
#   tools/bench/run-replica-bench.sh [--count N] [--repeat N]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COUNT=20000
REPEAT=3
while [ $# -gt 0 ]; do
  case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) echo "usage: $0 [--count N] [--repeat N]" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
cmake --preset release -G Ninja >/dev/null
cmake --build build/release --target niem-broker niem-amqp-bench >/dev/null
BENCH_NAME=replica-bench
. tools/bench/common.sh
bench_config
pg_start
# Starts a replica on STORE; sets URL to its AMQP address.
start_replica() {
  local dir=$WORK/$1
  mkdir -p "$dir"
  "$BIN/broker/app/niem-broker" --config "$WORK/bench.xml" --listen 127.0.0.1:0 \
    --admin 127.0.0.1:0 --store "$2" --port-file "$dir/port" --log-level warn >"$dir/log" 2>&1 &
  PIDS+=("$!")
  while [ ! -s "$dir/port" ]; do
    kill -0 "$!" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
    sleep 0.05
  done
  URL="127.0.0.1:$(cat "$dir/port")"
}
stop_replicas() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
}
publish() {  # URL COUNT PREFIX
  "$BIN/tools/niem-amqp-bench" --mode niem --url "$1" --record "$RECORD" --count "$2" \
    --publish-only --key-prefix "$3" --timeout 1800
}

ONE="" TWO="" CPU1="" CPU2=""
for i in $(seq 1 "$REPEAT"); do
  store=$(pg_store "one_$i")
  start_replica "one-$i" "$store"
  a=$URL
  before=$(pg_cpu)
  out=$(publish "$a" "$COUNT" A)
  after=$(pg_cpu)
  stop_replicas
  echo "one replica #$i: $out"
  [ "$(field "$out" complete)" = true ] || { echo "run incomplete" >&2; exit 1; }
  ONE="$ONE $(field "$out" records_per_s)"
  CPU1="$CPU1 $(awk -v a="$before" -v b="$after" -v c="$COUNT" 'BEGIN{printf "%.3f", (b - a) / c * 1000}')"

  store=$(pg_store "two_$i")
  start_replica "two-a-$i" "$store"
  a=$URL
  start_replica "two-b-$i" "$store"
  b=$URL
  half=$((COUNT / 2))
  before=$(pg_cpu)
  publish "$a" "$half" A >"$WORK/two-a-$i.json" &
  pa=$!
  publish "$b" "$half" B >"$WORK/two-b-$i.json" &
  pb=$!
  wait "$pa" "$pb"
  after=$(pg_cpu)
  stop_replicas
  echo "two replicas #$i: A $(cat "$WORK/two-a-$i.json") B $(cat "$WORK/two-b-$i.json")"
  for f in "$WORK/two-a-$i.json" "$WORK/two-b-$i.json"; do
    [ "$(field "$(cat "$f")" complete)" = true ] || { echo "run incomplete" >&2; exit 1; }
  done
  # Both clients start together; each one's seconds run from its first send to its last
  # outcome, so the slower one bounds the pair.
  sa=$(field "$(cat "$WORK/two-a-$i.json")" seconds)
  sb=$(field "$(cat "$WORK/two-b-$i.json")" seconds)
  TWO="$TWO $(awk -v a="$sa" -v b="$sb" -v c="$((half * 2))" 'BEGIN{printf "%.0f", c / (a > b ? a : b)}')"
  CPU2="$CPU2 $(awk -v a="$before" -v b="$after" -v c="$((half * 2))" 'BEGIN{printf "%.3f", (b - a) / c * 1000}')"
done
r1=$(median <<<"$ONE")
r2=$(median <<<"$TWO")
echo
echo "(each figure the median of $REPEAT runs; $COUNT records of 1 KiB per run, demo agreements)"
printf "%-40s %12s %22s\n" set-up "records/s" "db CPU s/1,000 records"
printf "%-40s %12.0f %22s\n" "one replica" "$r1" "$(median <<<"$CPU1")"
printf "%-40s %12.0f %22s\n" "two replicas (a client on each)" "$r2" "$(median <<<"$CPU2")"
awk -v a="$r2" -v b="$r1" 'BEGIN{printf "ratio two/one %.2f\n", a/b}'
