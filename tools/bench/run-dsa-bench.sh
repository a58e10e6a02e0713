#!/usr/bin/env bash
# Agreement filtering benchmark: 1 KiB placement records delivered to 5 recipients, each under
# its own data-sharing agreement (decision, streaming filter, audit entry, a distinct document
# stored per recipient), beside the same 5 recipients subscribed without agreements (whole
# documents, one shared copy), with the same clients and records, runs interleaved.
#   tools/bench/run-dsa-bench.sh [--count N] [--repeat N]
# The agreements are the shipped DSA-001, DSA-002 and DSA-008 (without its expiry), each copied
# under five bench recipients r1..r5, so that every recipient has an agreement of its own.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COUNT=30000
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
BIN=build/release
WORK=$(mktemp -d /tmp/niem-dsa-bench.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# Five agreements, one per recipient.
mkdir -p "$WORK/config/agreements"
bases=(DSA-001 DSA-002 DSA-008 DSA-001 DSA-002)
purposes=(CARE_COORDINATION COURT_PROCEEDING EDUCATION_STABILITY CARE_COORDINATION COURT_PROCEEDING)
for i in 1 2 3 4 5; do
  sed -e "s/id=\"DSA-00[0-9]\"/id=\"BENCH-$i\"/" \
      -e "s/<recipient agency=\"[a-z-]*\"/<recipient agency=\"r$i\"/" \
      -e 's/<effective from="2024-01-01" to="2025-12-31"\/>/<effective from="2024-01-01"\/>/' \
      "config/agreements/${bases[$((i - 1))]}.xml" > "$WORK/config/agreements/BENCH-$i.xml"
done
# Two configurations from the demo one: the same agencies and subscriptions, with and without
# the agreements.
python3 - "$ROOT" "$WORK" <<'EOF'
import re, sys
root, work = sys.argv[1], sys.argv[2]
purposes = ["CARE_COORDINATION", "COURT_PROCEEDING", "EDUCATION_STABILITY", "CARE_COORDINATION", "COURT_PROCEEDING"]
s = open(f"{root}/config/demo.xml", encoding="utf-8").read()
s = s.replace('"../', f'"{root}/').replace('<schemas home=".."/>', f'<schemas home="{root}"/>')
s = re.sub(r'(key-file|file)="demo-', lambda m: f'{m.group(1)}="{root}/config/demo-', s)
s = re.sub(r'\s*<agreement [^>]*/>', '', s)
s = re.sub(r'\s*<subscription [^>]*/>', '', s)
agencies = "".join(f'\n  <agency id="r{i}" name="bench recipient {i}"/>' for i in range(1, 6))
subs = "".join(f'\n  <subscription recipient="r{i}" exchange="placement-notification" purpose="{purposes[i-1]}"/>'
               for i in range(1, 6))
# After the demo's agencies, before the medication check (the configuration's order).
at = s.find("<medication-check")
at = s.rfind("\n", 0, at) if at >= 0 else s.rfind("\n", 0, s.index("</broker>"))
s = s[:at] + agencies + subs + s[at:]
open(f"{work}/unfiltered.xml", "w").write(s)
agreements = "".join(f'\n  <agreement file="{work}/config/agreements/BENCH-{i}.xml"/>' for i in range(1, 6))
m = list(re.finditer(r'<mapping file="[^"]*"/>', s))[-1]
open(f"{work}/filtered.xml", "w").write(s[:m.end()] + agreements + s[m.end():])
EOF

field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
run() {
  local cfg=$1 dir=$WORK/run-$2
  mkdir -p "$dir"
  "$BIN/broker/app/niem-broker" --config "$WORK/$cfg.xml" --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
    --store "$dir/store" --port-file "$dir/port" --log-level warn >"$dir/log" 2>&1 &
  PID=$!
  while [ ! -s "$dir/port" ]; do
    kill -0 "$PID" 2>/dev/null || { cat "$dir/log"; exit 1; }
    sleep 0.05
  done
  "$BIN/tools/niem-amqp-bench" --mode niem --url "127.0.0.1:$(cat "$dir/port")" \
    --record mappings/cws-placement/examples/placements.ndjson --count "$COUNT" \
    --subscribers r1,r2,r3,r4,r5
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
}

declare -A RATES
for i in $(seq 1 "$REPEAT"); do
  for cfg in filtered unfiltered; do
    out=$(run "$cfg" "$cfg-$i")
    echo "$cfg #$i: $out"
    RATES[$cfg]="${RATES[$cfg]:-} $(field "$out" records_per_s)"
  done
done
f=$(median <<<"${RATES[filtered]}")
u=$(median <<<"${RATES[unfiltered]}")
echo
printf "%-46s %12s\n" "5 recipients, median of $REPEAT runs" "records/s"
printf "%-46s %12.0f\n" "each under its own agreement (filtered)" "$f"
printf "%-46s %12.0f\n" "subscribed without agreements (whole)" "$u"
awk -v a="$f" -v b="$u" 'BEGIN{printf "ratio filtered/unfiltered %.2f (target 0.80)\n", a/b}'
