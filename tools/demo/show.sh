#!/usr/bin/env bash
# The demo on a build: starts niem-broker on the demo configuration (loopback, no TLS), publishes the
# example records of every agency through AMQP, shows what each subscriber received and, for one
# that received nothing, why (from the audit trail), then the commands to try next. The broker keeps
# running until Ctrl-C; --exit stops it once the traffic has been shown. --ephemeral listens on free
# ports instead of the configured 5672 and 8081 (the tests).
# usage: tools/demo/show.sh BUILD-DIR OUT-DIR [--exit] [--ephemeral]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1 out=$2
shift 2
exit_after=0 ports=()
for a in "$@"; do
  case $a in
    --exit) exit_after=1 ;;
    --ephemeral) ports=(--listen 127.0.0.1:0 --admin 127.0.0.1:0) ;;
    *) echo "show.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
export NIEM_HOME=$PWD
rm -rf "$out" && mkdir -p "$out"
broker=$build/broker/app/niem-broker
niemctl=$build/tools/niemctl
niem_dsa=$build/tools/niem-dsa

echo "== niem-broker --config config/demo.xml --store $out/store"
$broker --config config/demo.xml --store "$out/store" --port-file "$out/port" \
  --admin-port-file "$out/admin-port" "${ports[@]}" 2> "$out/broker.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/port" ] && [ -s "$out/admin-port" ] && break; sleep 0.1; done
if [ ! -s "$out/port" ]; then cat "$out/broker.log"; exit 1; fi
port=$(cat "$out/port") admin_port=$(cat "$out/admin-port")
echo "   listening on amqp://127.0.0.1:$port (log: $out/broker.log)"
echo
/usr/bin/python3 tools/demo/demo_traffic.py "amqp://127.0.0.1:$port" "$PWD" "$out" \
  "http://127.0.0.1:$admin_port" config/demo-viewer.token
echo
doc=$(ls "$out"/medicaid/placement-notification-*.xml | head -1)
echo "== one delivered document ($doc):"
head -20 "$doc"
echo "   ..."
echo
echo "Try next:"
echo "  the dashboard:       http://127.0.0.1:$admin_port/#token=$(cat config/demo-operator.token)"
echo "  the queues:          NIEMCTL_URL=http://127.0.0.1:$admin_port NIEMCTL_TOKEN=\$(cat config/demo-viewer.token) $niemctl queues"
echo "  why each element of that document went to medicaid, and what was removed:"
echo "                       $niem_dsa explain --agreement config/agreements/DSA-001.xml $doc"
if [ "$exit_after" = 1 ]; then exit 0; fi
echo
echo "niem-broker is running on amqp://127.0.0.1:$port with the demo configuration; Ctrl-C stops it."
wait $pid
