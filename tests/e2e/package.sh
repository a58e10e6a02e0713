#!/usr/bin/env bash
# The Debian package: built with cpack from the release build, it holds what the README says
# (binaries, project files, configuration as conffiles, the systemd unit with its sandboxing), and
# unpacked into a throwaway root the installed broker starts on the installed configuration (with
# certificates made as an operator would) and answers over mutual TLS.
# usage: package.sh PROJECT-ROOT RELEASE-BUILD-DIR
set -euo pipefail
root=$1
release=$2
tmp=$(mktemp -d /tmp/niem-package.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/broker.log" ] && tail -20 "$tmp/broker.log" >&2; exit 1; }
ok() { echo "ok: $*"; }

[ -f "$release/CPackConfig.cmake" ] || fail "no release build in $release (cmake --preset release; cmake --build --preset release)"
cpack -G DEB --config "$release/CPackConfig.cmake" -B "$tmp/out" > "$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack"; }
version=$(sed -n 's/^project(niem_broker VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
deb="$tmp/out/niem-broker_${version}_amd64.deb"
[ -f "$deb" ] || fail "cpack did not write niem-broker_${version}_amd64.deb ($(ls "$tmp/out"))"
ok "package built: $(basename "$deb") ($(stat -c %s "$deb") bytes)"

info=$(dpkg-deb --info "$deb")
for dep in libxerces-c3.2 libqpid-proton-cpp12 libpq5 libsqlite3-0 libssl3 adduser; do
  grep -q "Depends:.*$dep" <<< "$info" || fail "Depends lacks $dep"
done
ok "Depends names the libraries the binaries link"
conffiles=$(dpkg-deb -I "$deb" conffiles)
grep -qx /etc/niem-broker/niem-broker.xml <<< "$conffiles" || fail "the configuration is not a conffile"
[ "$(grep -c '^/etc/niem-broker/agreements/DSA-' <<< "$conffiles")" = \
  "$(ls "$root"/config/agreements/DSA-*.xml | wc -l)" ] || fail "not every agreement is a conffile"
ok "the configuration and every agreement are conffiles"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in usr/bin/niem-broker usr/bin/niemctl usr/bin/niem-map usr/bin/niem-dsa usr/bin/niem-batch-adapter \
         usr/bin/niem-http-adapter usr/share/niem-broker/schemas/mapping/mapping.xsd \
         usr/share/niem-broker/mappings/pmap-order/mapping.xml \
         usr/share/niem-broker/broker/admin/static/index.html \
         usr/share/niem-broker/prometheus/alerts.yml lib/systemd/system/niem-broker.service; do
  grep -qx "./$f" <<< "$contents" || fail "$f is not in the package"
done
ok "binaries, schemas, mappings, dashboard, alert rules and unit are in the package"

mkdir -p "$tmp/root"
dpkg-deb -x "$deb" "$tmp/root"
unit="$tmp/root/lib/systemd/system/niem-broker.service"
for d in "User=niem" "ProtectSystem=strict" "NoNewPrivileges=true" "StateDirectory=niem-broker" \
         "ExecStart=/usr/bin/niem-broker --config /etc/niem-broker/niem-broker.xml" \
         "CapabilityBoundingSet=" "PrivateTmp=true" "ProtectHome=true"; do
  grep -qx "$d" "$unit" || fail "the unit lacks $d"
done
ok "the unit runs as niem, sandboxed"
grep -q 'path="/var/lib/niem-broker/store"' "$tmp/root/etc/niem-broker/niem-broker.xml" ||
  fail "the installed configuration does not keep its store in /var/lib/niem-broker"

# As an operator would: certificates, keys and tokens in /etc/niem-broker/certs.
"$root/tools/make-demo-certs.sh" "$tmp/root/etc/niem-broker/certs" > /dev/null
certs="$tmp/root/etc/niem-broker/certs"
# The installed broker, not the build's; NIEM_HOME unset so that nothing points at the source.
env -u NIEM_HOME "$tmp/root/usr/bin/niem-broker" --config "$tmp/root/etc/niem-broker/niem-broker.xml" \
  --store "$tmp/store" --listen 127.0.0.1:0 --port-file "$tmp/port" \
  --admin 127.0.0.1:0 --admin-port-file "$tmp/admin-port" > "$tmp/broker.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  [ -s "$tmp/admin-port" ] && [ -s "$tmp/port" ] && break
  kill -0 "$pid" 2> /dev/null || fail "the installed broker exited"
  sleep 0.1
done
[ -s "$tmp/admin-port" ] || fail "the installed broker did not start listening"
admin="https://127.0.0.1:$(cat "$tmp/admin-port")"
# One HTTPS request with a client certificate (python3's ssl: no other client needed).
get() {  # PATH [TOKEN] -> body on stdout; exit 1 on an HTTP or TLS error
  python3 - "$admin$1" "$certs" "${2:-}" << 'PY'
import ssl, sys, urllib.request
url, certs, token = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=f"{certs}/ca.crt")
ctx.load_cert_chain(f"{certs}/cws.crt", f"{certs}/cws.key")
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token} if token else {})
sys.stdout.buffer.write(urllib.request.urlopen(req, context=ctx, timeout=20).read())
PY
}
ready=$(get /readyz) || fail "/readyz did not answer over mutual TLS"
grep -q '"status":"ready"' <<< "$ready" || fail "not ready: $ready"
ok "the installed broker is ready on the installed configuration (mutual TLS): $ready"
token=$(cat "$certs/admin-viewer.token")
n=$(get /api/agreements "$token" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["agreements"]))')
[ "$n" = "$(ls "$root"/config/agreements/DSA-*.xml | wc -l)" ] || fail "$n agreements loaded"
ok "it loaded the installed agreements ($n)"
get /static/uPlot.iife.min.js > "$tmp/uplot.js"
cmp -s "$tmp/uplot.js" "$tmp/root/usr/share/niem-broker/broker/admin/static/uPlot.iife.min.js" ||
  fail "the dashboard is not served from the installed files"
ok "the dashboard is served from /usr/share/niem-broker"
if python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" \
     "http://127.0.0.1:$(cat "$tmp/admin-port")/healthz" 2> /dev/null; then
  fail "the admin server answered plain HTTP"
fi
ok "plain HTTP is refused"
# The installed tools find the installed files beside them.
NIEM_HOME= "$tmp/root/usr/bin/niem-map" check "$tmp/root/usr/share/niem-broker/mappings/pmap-order/mapping.xml" \
  > "$tmp/check.log" 2>&1 || { cat "$tmp/check.log"; fail "the installed niem-map cannot check an installed mapping"; }
ok "the installed niem-map checks an installed mapping"
