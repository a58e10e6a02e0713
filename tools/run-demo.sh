#!/usr/bin/env bash
# Installs what is missing, builds the release preset, starts niem-broker on the demo configuration
# (loopback, no TLS), publishes the example records of every agency through AMQP and shows the NIEM
# documents arriving at their subscribers. The broker keeps running until Ctrl-C
# (pass --exit to stop it once the demo traffic has been shown).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/check-prereqs.sh
./tools/install-deps.sh
cmake --preset release -G Ninja > /dev/null
cmake --build --preset release -j "$(nproc)"
export NIEM_HOME=$PWD
out=out/demo
rm -rf "$out" && mkdir -p "$out"
broker=build/release/broker/app/niem-broker

echo "== niem-broker --config config/demo.xml --store $out/store"
$broker --config config/demo.xml --store "$out/store" --port-file "$out/port" \
  --admin-port-file "$out/admin-port" 2> "$out/broker.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
if [ ! -s "$out/port" ]; then cat "$out/broker.log"; exit 1; fi
port=$(cat "$out/port")
echo "   listening on amqp://127.0.0.1:$port (log: $out/broker.log)"
echo
/usr/bin/python3 tools/demo/demo_traffic.py "amqp://127.0.0.1:$port" "$PWD" "$out"
echo
echo "== one delivered document:"
head -20 "$(ls "$out"/court/placement-notification-*.xml | head -1)"
echo "   ..."
if [ "${1:-}" = "--exit" ]; then exit 0; fi
echo
echo "niem-broker is running on amqp://127.0.0.1:$port with the demo configuration; Ctrl-C stops it."
echo "Dashboard: http://127.0.0.1:$(cat "$out/admin-port")/#token=$(cat config/demo-operator.token)"
echo "niemctl:   NIEMCTL_TOKEN=\$(cat config/demo-viewer.token) build/release/tools/niemctl queues"
wait $pid
