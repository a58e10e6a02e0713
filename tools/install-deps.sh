#!/usr/bin/env bash
# Installs every system package the project needs, from Debian 12's archive only. Idempotent: packages
# already present are skipped, and apt-get runs only when something is missing.
# With --missing it only prints the packages that are missing (nothing when all are present).
set -euo pipefail

packages=(
  g++ cmake make pkg-config ninja-build clang-format
  # the compiler cache (~/.cache/ccache): a clean clone rebuilds from it in a fraction of the time
  ccache
  libxerces-c-dev
  libqpid-proton-cpp12-dev
  libboost1.81-dev libboost-json1.81-dev
  libfmt-dev
  catch2
  libsqlite3-dev
  # the PostgreSQL store (libpq) and the throwaway cluster its tests start
  libpq-dev postgresql-15
  libxml2-utils
  # the independent AMQP client of the end-to-end and crash tests (for /usr/bin/python3)
  python3-qpid-proton
  # the Proton example broker the benchmark compares against
  libqpid-proton11-dev-examples
  # RabbitMQ with its AMQP 1.0 plugin: the benchmark's durable pass-through peer
  rabbitmq-server
  # the demo certificate authority and agency certificates
  openssl
  # SHA-256 and HMAC for the audit trail's hash chain and the research pseudonyms (libcrypto)
  libssl-dev
  # the audit archive's gzip files (niem-dsa archive)
  zlib1g-dev
  # the admin API tests: an independent Prometheus text-format parser
  python3-prometheus-client
  # the dashboard's browser test: headless Chromium driven over its DevTools protocol
  chromium python3-websocket
  # the fuzz targets (tests/fuzz): Debian's clang with libFuzzer and its sanitizers
  clang-15 libfuzzer-15-dev
  # the Debian package (cpack -G DEB): dpkg-shlibdeps computes its Depends, `file` finds its binaries
  dpkg-dev file
  # promtool: the alert rules' unit tests (deploy/prometheus/alerts_test.yml)
  prometheus
  # the fuzz targets' second XML validator, for the differential checks (libxml2)
  libxml2-dev
  # the size check (tools/check-sizes.py): each function's first and last line
  universal-ctags
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${1:-}" = "--missing" ]; then
  echo "${missing[*]}"
  exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts RabbitMQ's service on install, on the AMQP port the demo broker listens on (5672).
# The benchmark runs a node of its own; the system's service stays off.
if [[ " ${missing[*]} " == *" rabbitmq-server "* ]] && command -v systemctl >/dev/null; then
  "${sudo_cmd[@]}" systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
fi
