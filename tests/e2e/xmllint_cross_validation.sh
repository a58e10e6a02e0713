#!/usr/bin/env bash
# Converts every example record with niem-map and validates each document, and each golden
# document beside the mappings, a second time with an independent validator, libxml2's xmllint,
# against the exchange schema of its root namespace.
set -euo pipefail
niem_map=$1 root=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export NIEM_HOME=$root
m=$root/mappings
"$niem_map" convert --agency cws --out "$out" "$m"/cws-placement/examples/*.ndjson "$m"/cws-consent/examples/*.ndjson
"$niem_map" convert --agency medicaid --out "$out" "$m"/mmis-pharmacy-claim/examples/*.txt
"$niem_map" convert --agency pmap-portal --out "$out" "$m"/pmap-application/examples/*.ndjson
declare -A schema=(
  [placement-notification]=$root/schemas/exchange/placement-notification.xsd
  [pharmacy-claim]=$root/schemas/exchange/pharmacy-claim.xsd
  [pmap-application]=$root/schemas/exchange/pmap-application.xsd
  [consent-directive]=$root/schemas/exchange/consent-directive.xsd
)
n=0 bad=0
# The golden documents too: every one is a document the broker would send.
for doc in "$out"/*.xml "$m"/*/tests/*.expected.xml; do
  ex=$(grep -o 'http://example.gov/niem-broker/exchange/[a-z-]*/' "$doc" | head -1 | cut -d/ -f6)
  if ! xmllint --noout --schema "${schema[$ex]}" "$doc" 2>/tmp/xmllint.$$; then
    cat /tmp/xmllint.$$
    bad=$((bad + 1))
  fi
  n=$((n + 1))
done
rm -f /tmp/xmllint.$$
echo "xmllint: $n documents, $bad invalid"
[ "$n" -ge 40 ] && [ "$bad" -eq 0 ]
