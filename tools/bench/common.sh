# Shared by the end-to-end benchmarks (sourced from the project root, after ROOT is set): a work
# directory cleaned up on exit, the benchmark configuration, a throwaway PostgreSQL cluster with a
# fresh database per run and its CPU time, and reading the clients' JSON.
BIN=build/release
RECORD=mappings/cws-placement/examples/placements.ndjson
WORK=$(mktemp -d "/tmp/niem-${BENCH_NAME:-bench}.XXXXXX")
PIDS=()
PG_STATE=$WORK/pg
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$PG_STATE/data" ] && tests/support/pg_cluster.sh stop "$PG_STATE"
  rm -rf "$WORK"
}
trap cleanup EXIT

# $WORK/bench.xml: the demo configuration with its agreements (unless $1 is 0), placements
# subscribed by exactly the two recipients the benchmarks drain (medicaid under DSA-001, court
# under DSA-002); without agreements every subscriber gets whole documents. NIEM_BENCH_CHECK=0
# leaves the medication check out (and DSA-009, DSA-012, DSA-013, which name its notices), to
# measure what it costs. NIEM_BENCH_VALIDATION=compiled|full|both sets the validators (default
# compiled, with the sampling oracle past its first minute: NIEM_BENCH_SAMPLE_FIRST=60 for that).
bench_config() {
  python3 - "$ROOT" "$WORK" "${1:-1}" <<'PY'
import os, re, sys
root, work, agreements = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
s = open(f"{root}/config/demo.xml", encoding="utf-8").read()
s = s.replace('"../', f'"{root}/').replace('<schemas home=".."/>', f'<schemas home="{root}"/>')
s = re.sub(r'(file|key-file|pseudonym-key-file)="(agreements/|demo-)',
           lambda m: f'{m.group(1)}="{root}/config/{m.group(2)}', s)
s = re.sub(r'\s*<subscription recipient="(school|research)" exchange="placement-notification"[^>]*/>', '', s)
if not agreements:
    s = re.sub(r'\s*<agreement [^>]*/>', '', s)
if os.environ.get("NIEM_BENCH_CHECK", "1") == "0":
    # Without the medication check (to measure its cost): its element, the subscriptions to its
    # notices, and the agreements about them.
    s = re.sub(r'\s*<medication-check [^>]*/>', '', s)
    s = re.sub(r'\s*<subscription [^>]*exchange="medication-authorization-exception"[^>]*/>', '', s)
    s = re.sub(r'\s*<agreement [^>]*(DSA-009|DSA-012|DSA-013)[^>]*/>', '', s)
# The validators (docs/ARCHITECTURE.md, "Two validators"): compiled (default), full or both. Each
# run starts a fresh broker, all inside the sampling oracle's first minute (every document checked
# again): the steady state after it is measured unless NIEM_BENCH_SAMPLE_FIRST (seconds) says.
mode = os.environ.get("NIEM_BENCH_VALIDATION", "compiled")
first = os.environ.get("NIEM_BENCH_SAMPLE_FIRST", "0")
s = s.replace("<mapping ", f'<validation mode="{mode}" sample-first-seconds="{first}"/>\n  <mapping ', 1)
# NIEM_BENCH_WORKERS: the pipeline's worker threads (the demo's 2 unless set).
if os.environ.get("NIEM_BENCH_WORKERS"):
    s = re.sub(r'<pipeline workers="\d+"', f'<pipeline workers="{os.environ["NIEM_BENCH_WORKERS"]}"', s)
open(f"{work}/bench.xml", "w").write(s)
PY
}

# Starts the throwaway cluster; sets PG_ADMIN.
pg_start() {
  tests/support/pg_cluster.sh start "$PG_STATE" >/dev/null
  PG_ADMIN=$(cat "$PG_STATE/uri")
}
# A fresh PostgreSQL database for one run: its URI.
pg_store() {
  local db=bench_${1//[^a-z0-9]/_}
  psql -X -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  echo "${PG_ADMIN%/*}/$db?sslmode=disable"  # measured without TLS, like the other targets
}
# CPU seconds (user + system) the cluster's processes have used so far.
pg_cpu() {
  local data total=0 t
  data=$(cat "$PG_STATE/data")
  for p in $(pgrep -f "$data/db" ; pgrep -P "$(head -1 "$data/db/postmaster.pid")"); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t / hz}'
}

# A throwaway RabbitMQ node (Debian's rabbitmq-server, its AMQP 1.0 plugin on, loopback only,
# the default guest user) with its state in $WORK/rabbit; sets RABBIT_URL and RABBIT_ENV.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rabbit_start() {
  local dir=$WORK/rabbit port
  mkdir -p "$dir"
  echo "[rabbitmq_amqp1_0]." >"$dir/enabled_plugins"
  port=$(free_port)
  RABBIT_ENV=(RABBITMQ_NODENAME="niem-bench-$$@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
              RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$(free_port)"
              RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log"
              RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_CONFIG_FILES="$dir/none")
  env "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/out.log" 2>&1 &
  PIDS+=("$!")
  # await_startup needs the node known to epmd first: ask again until it answers.
  local i
  for i in $(seq 1 120); do
    env "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -q await_startup --timeout 60 \
      >/dev/null 2>&1 && break
    [ "$i" = 120 ] && { echo "RabbitMQ did not start: $dir/out.log" >&2; return 1; }
    sleep 1
  done
  RABBIT_URL=127.0.0.1:$port
}
# Empties the benchmark's queues between runs (each run starts from empty durable queues).
rabbit_reset() {
  for q in bench-q1 bench-q2; do
    env "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
  done
}

field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
