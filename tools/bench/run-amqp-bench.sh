#!/usr/bin/env bash
# End-to-end AMQP benchmark: 1 KiB records to 2 subscribers through niem-broker (durable store,
# mapping and validation), beside Proton's example broker (in-memory pass-through), RabbitMQ
# (a durable pass-through: durable queues, persistent messages, each publish settled once
# RabbitMQ confirms it) and direct peer-to-peer Proton send/receive, with the same clients and
# messages (niem-amqp-bench). Then the broker's peak RSS while a backlog waits for absent
# subscribers. niem-broker runs twice: on its embedded SQLite store and on PostgreSQL (a
# throwaway cluster on this machine, the database's CPU time reported per 1,000 records).
#   tools/bench/run-amqp-bench.sh [--count N] [--repeat N] [--backlog N] [--no-backlog]
#                                 [--no-agreements] [--json FILE]
#                                 [--targets "niem niem-pg queues rabbitmq direct"]
# The figures are printed as a table and written as JSON to --json FILE (default
# /tmp/niem-amqp-bench-<time>.json).
# Each measurement is made --repeat times (default 3), the targets taking turns so that a slow
# spell of the shared machine falls on all of them, and the median of each figure is reported.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COUNT=50000
REPEAT=3
BACKLOG=1000000
AGREEMENTS=1
TARGETS="niem niem-pg queues rabbitmq direct"
JSON_OUT=/tmp/niem-amqp-bench-$(date -u +%Y%m%dT%H%M%SZ).json
while [ $# -gt 0 ]; do
  case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --backlog) BACKLOG=$2; shift 2 ;;
    --no-backlog) BACKLOG=0; shift ;;
    --no-agreements) AGREEMENTS=0; shift ;;
    --targets) TARGETS=$2; shift 2 ;;
    --json) JSON_OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--count N] [--repeat N] [--backlog N] [--no-backlog] [--no-agreements] [--json FILE] [--targets LIST]" >&2; exit 2 ;;
  esac
done

cd "$ROOT"
cmake --preset release -G Ninja >/dev/null
cmake --build build/release --target niem-broker niem-amqp-bench proton-example-broker >/dev/null
BENCH_NAME=amqp-bench
. tools/bench/common.sh
bench_config "$AGREEMENTS"

if [[ " $TARGETS " == *" niem-pg "* ]]; then pg_start; fi
if [[ " $TARGETS " == *" rabbitmq "* ]]; then rabbit_start; fi

# Starts niem-broker on a fresh store (a directory, or with STORE set, that locator); sets
# BROKER_PID and URL.
start_niem() {
  local dir=$WORK/niem-$1
  mkdir -p "$dir"
  "$BIN/broker/app/niem-broker" --config "$WORK/bench.xml" --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
    --store "${STORE:-$dir/store}" --port-file "$dir/port" --log-level warn >"$dir/log" 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  while [ ! -s "$dir/port" ]; do sleep 0.05; done
  URL=127.0.0.1:$(cat "$dir/port")
}
start_example() {
  local log=$WORK/example-$1.log
  "$BIN/tools/proton-example-broker" -a 127.0.0.1:0 >"$log" 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  until grep -q "listening on" "$log" 2>/dev/null; do sleep 0.05; done
  URL=127.0.0.1:$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$log")
}
stop_broker() { kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; }

# One run against a fresh broker (a fresh store for niem-broker); prints the client's JSON.
run() {
  local target=$1 phase=$2 rate=$3 url=unused
  case $target in
    niem) start_niem "$phase"; url=$URL ;;
    niem-pg)
      STORE=$(pg_store "$phase") start_niem "pg-$phase"; url=$URL
      local before after
      before=$(pg_cpu)
      "$BIN/tools/niem-amqp-bench" --mode niem --url "$url" --record "$RECORD" \
        --count "$COUNT" --rate "$rate"
      after=$(pg_cpu)
      echo "$before $after" >>"$WORK/pg-cpu"
      stop_broker
      return 0 ;;
    queues) start_example "$phase"; url=$URL ;;
    rabbitmq) rabbit_reset; url=$RABBIT_URL ;;
  esac
  "$BIN/tools/niem-amqp-bench" --mode "$target" --url "$url" --record "$RECORD" \
    --count "$COUNT" --rate "$rate"
  case $target in direct | rabbitmq) ;; *) stop_broker ;; esac
  return 0
}

declare -A RATE RATES P50 P99 HALF P50S P99S
for i in $(seq 1 "$REPEAT"); do
  for target in $TARGETS; do
    out=$(run "$target" "max-$i" 0)
    echo "$target/max #$i: $out"
    echo "max $target $out" >>"$WORK/runs"
    RATES[$target]="${RATES[$target]:-} $(field "$out" records_per_s)"
  done
done
for target in $TARGETS; do
  RATE[$target]=$(median <<<"${RATES[$target]}")
  HALF[$target]=$(awk -v r="${RATE[$target]}" 'BEGIN{printf "%d", r/2}')
done
for i in $(seq 1 "$REPEAT"); do
  for target in $TARGETS; do
    out=$(run "$target" "half-$i" "${HALF[$target]}")
    echo "$target/half #$i: $out"
    echo "half $target $out" >>"$WORK/runs"
    P50S[$target]="${P50S[$target]:-} $(field "$out" p50_ms)"
    P99S[$target]="${P99S[$target]:-} $(field "$out" p99_ms)"
  done
done
for target in $TARGETS; do
  P50[$target]=$(median <<<"${P50S[$target]}")
  P99[$target]=$(median <<<"${P99S[$target]}")
done

echo
printf "%-34s %12s %10s %10s %10s\n" target "records/s" "half rate" "p50 ms" "p99 ms"
echo "(each figure the median of $REPEAT runs; latency measured at half the median rate)"
for t in $TARGETS; do
  name=$t
  [ $t = niem ] && name="niem-broker on SQLite"
  [ $t = niem-pg ] && name="niem-broker on PostgreSQL"
  [ $t = queues ] && name="Proton example broker (memory)"
  [ $t = rabbitmq ] && name="RabbitMQ (durable, confirmed)"
  [ $t = direct ] && name="direct peer-to-peer"
  printf "%-34s %12.0f %10d %10.2f %10.2f\n" "$name" "${RATE[$t]}" "${HALF[$t]}" "${P50[$t]}" "${P99[$t]}"
done
if [[ " $TARGETS " == *" niem "* && " $TARGETS " == *" queues "* ]]; then
  awk -v a="${RATE[niem]}" -v b="${RATE[queues]}" 'BEGIN{printf "ratio niem/example broker %.2f\n", a/b}'
fi
if [[ " $TARGETS " == *" niem "* && " $TARGETS " == *" direct "* ]]; then
  awk -v a="${RATE[niem]}" -v c="${RATE[direct]}" 'BEGIN{printf "ratio niem/direct %.2f\n", a/c}'
fi
if [[ " $TARGETS " == *" niem "* && " $TARGETS " == *" rabbitmq "* ]]; then
  awk -v a="${RATE[niem]}" -v b="${RATE[rabbitmq]}" 'BEGIN{printf "ratio niem/RabbitMQ %.2f\n", a/b}'
fi
if [[ " $TARGETS " == *" niem-pg "* ]]; then
  [ -n "${RATE[niem]:-}" ] && awk -v a="${RATE[niem-pg]}" -v b="${RATE[niem]}" \
    'BEGIN{printf "ratio PostgreSQL/SQLite store %.2f\n", a/b}'
  awk -v c="$COUNT" '{s += $2 - $1; n++} END{printf "PostgreSQL CPU: %.2f s per 1,000 records (mean of %d runs)\n", s / n / c * 1000, n}' "$WORK/pg-cpu"
fi

if [ "$BACKLOG" -gt 0 ]; then
  start_niem backlog
  out=$("$BIN/tools/niem-amqp-bench" --mode niem --url "$URL" --record "$RECORD" \
        --count "$BACKLOG" --publish-only --timeout 3600)
  hwm=$(awk '/VmHWM/{print $2}' /proc/$BROKER_PID/status)
  rss=$(awk '/VmRSS/{print $2}' /proc/$BROKER_PID/status)
  size=$(du -sm "$WORK/niem-backlog/store" | cut -f1)
  echo "backlog: $out"
  echo "backlog of $BACKLOG records for 2 absent subscribers: peak RSS $((hwm / 1024)) MiB," \
       "RSS now $((rss / 1024)) MiB, store ${size} MiB"
  echo "$BACKLOG $((hwm / 1024)) $((rss / 1024)) $size" >"$WORK/backlog"
  stop_broker
fi

# The same figures as JSON: each run's client output, and per target the medians the table shows.
python3 - "$WORK" "$JSON_OUT" "$COUNT" "$REPEAT" "$AGREEMENTS" "${NIEM_BENCH_VALIDATION:-compiled}" \
  "${NIEM_BENCH_CHECK:-1}" "${NIEM_BENCH_SAMPLE_FIRST:-0}" <<'PY'
import json, os, sys
work, out, count, repeat, agreements, validation, check, first = sys.argv[1:]
def median(v):  # the lower median, as the table's
    v = sorted(v)
    return v[(len(v) + 1) // 2 - 1] if v else None
runs, targets = [], {}
for line in open(f"{work}/runs", encoding="utf-8"):
    phase, target, js = line.split(" ", 2)
    r = json.loads(js)
    runs.append({"phase": phase, "target": target, **r})
    t = targets.setdefault(target, {"max": [], "half": []})
    t[phase].append(r)
summary = {}
for name, t in targets.items():
    rate = median([r["records_per_s"] for r in t["max"]])
    summary[name] = {"records_per_s": rate, "half_rate": int(rate / 2) if rate else None,
                     "p50_ms_at_half": median([r["p50_ms"] for r in t["half"]]),
                     "p99_ms_at_half": median([r["p99_ms"] for r in t["half"]])}
ratios = {}
for a, b in (("niem", "queues"), ("niem", "direct"), ("niem", "rabbitmq"), ("niem-pg", "niem")):
    if a in summary and b in summary and summary[b]["records_per_s"]:
        ratios[f"{a}/{b}"] = summary[a]["records_per_s"] / summary[b]["records_per_s"]
doc = {"benchmark": "run-amqp-bench", "count": int(count), "repeat": int(repeat),
       "agreements": agreements == "1", "validation": validation, "medication_check": check != "0",
       "sample_first_seconds": int(first),
       "targets": summary, "ratios": ratios, "runs": runs}
if os.path.exists(f"{work}/pg-cpu"):
    pairs = [tuple(map(float, l.split())) for l in open(f"{work}/pg-cpu") if l.strip()]
    doc["postgresql_cpu_s_per_1000"] = sum(b - a for a, b in pairs) / len(pairs) / int(count) * 1000
if os.path.exists(f"{work}/backlog"):
    n, hwm, rss, size = map(int, open(f"{work}/backlog").read().split())
    doc["backlog"] = {"records": n, "peak_rss_mib": hwm, "rss_mib": rss, "store_mib": size}
json.dump(doc, open(out, "w"), indent=1)
print(f"figures written to {out}")
PY
