#!/usr/bin/env bash
# The time a reload takes (SIGHUP: configuration read, mappings compiled, agreements loaded and
# checked against the exchange schemas, the rules swapped), with the demo configuration and with
# N agreements (the demo's 13 and copies of DSA-001 under other ids). Each reload changes one
# agreement, so every one is a real reload; the broker's log gives each one's milliseconds.
# usage: tools/bench/run-reload-bench.sh [--agreements N] [--reloads R]   (release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
broker=$root/build/release/broker/app/niem-broker
agreements=50
reloads=5
while [ $# -gt 0 ]; do
  case "$1" in
    --agreements) agreements=$2; shift 2 ;;
    --reloads) reloads=$2; shift 2 ;;
    *) echo "usage: $0 [--agreements N] [--reloads R]" >&2; exit 2 ;;
  esac
done
[ -x "$broker" ] || { echo "no release build: cmake --preset release && cmake --build --preset release" >&2; exit 2; }
work=$(mktemp -d /tmp/niem-reload-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The demo configuration with its own copy of the agreements (absolute paths), plus `extra` more.
make_config() {  # DIR EXTRA
  local dir=$1 extra=$2
  mkdir -p "$dir/agreements"
  for f in "$root"/config/agreements/*.xml; do
    sed "s|\"../../schemas/|\"$root/schemas/|" "$f" > "$dir/agreements/$(basename "$f")"
  done
  local lines=""
  for i in $(seq 1 "$extra"); do
    local id=$(printf "DSA-%03d" $((100 + i)))
    sed "s|id=\"DSA-001\"|id=\"$id\"|" "$dir/agreements/DSA-001.xml" > "$dir/agreements/$id.xml"
    lines+="  <agreement file=\"$dir/agreements/$id.xml\"/>\n"
  done
  sed -e "s|<schemas home=\"..\"/>|<schemas home=\"$root\"/>|" \
      -e "s|\"../mappings/|\"$root/mappings/|g" \
      -e "s|file=\"agreements/|file=\"$dir/agreements/|g" \
      -e "s|file=\"demo-|file=\"$root/config/demo-|g" \
      -e "s|<agency id=\"cws\"|${lines}\n  <agency id=\"cws\"|" \
      "$root/config/demo.xml" > "$dir/broker.xml"
}

measure() {  # NAME EXTRA
  local dir=$work/$1
  make_config "$dir" "$2"
  local n=$(grep -c "<agreement file" "$dir/broker.xml")
  "$broker" --config "$dir/broker.xml" --store "$dir/store" --listen 127.0.0.1:0 \
    --port-file "$dir/port" --admin 127.0.0.1:0 --admin-port-file "$dir/admin-port" \
    2> "$dir/log" &
  local pid=$!
  for _ in $(seq 1 300); do [ -s "$dir/port" ] && break; sleep 0.1; done
  for r in $(seq 1 "$reloads"); do
    # A comment that changes DSA-002's content (its version), so the rules really change.
    echo "<!-- reload $r -->" >> "$dir/agreements/DSA-002.xml"
    local before=$(grep -c '"msg":"rules reloaded"' "$dir/log" || true)
    kill -HUP $pid
    for _ in $(seq 1 600); do
      [ "$(grep -c '"msg":"rules reloaded"' "$dir/log" || true)" -gt "$before" ] && break
      sleep 0.05
    done
  done
  kill $pid; wait $pid || true
  local ms=$(grep '"msg":"rules reloaded"' "$dir/log" | sed 's/.*"ms":"\([0-9]*\)".*/\1/' | sort -n)
  local count=$(echo "$ms" | grep -c . || true)
  [ "$count" -eq "$reloads" ] || { echo "$1: $count of $reloads reloads took effect (see $dir/log)" >&2; cat "$dir/log" >&2; exit 1; }
  local median=$(echo "$ms" | sed -n "$(( (count + 1) / 2 ))p")
  echo "{\"configuration\": \"$1\", \"agreements\": $n, \"reloads\": $count, \"median_ms\": $median, \"all_ms\": [$(echo $ms | tr ' ' ',')]}"
}

measure demo 0
measure "demo+$((agreements - 13))" $((agreements - 13))
