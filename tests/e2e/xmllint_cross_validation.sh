#!/usr/bin/env bash
# Converts every example record with niem-map and validates each document, each golden document
# beside the mappings, and each document converted from 1,200 seeded mutations of the examples
# (mutate_records.py: edge values XSD and RFC 3339 disagree on, extreme numbers, markup), a second
# time with an independent validator, libxml2's xmllint, against the exchange schema of its root
# namespace. The mapping core must never write what one validator allows and another refuses.
set -euo pipefail
niem_map=$1 root=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export NIEM_HOME=$root
m=$root/mappings
"$niem_map" convert --agency cws --out "$out" "$m"/cws-placement/examples/*.ndjson "$m"/cws-consent/examples/*.ndjson
"$niem_map" convert --agency medicaid --out "$out" "$m"/mmis-pharmacy-claim/examples/*.txt
"$niem_map" convert --agency pmap-portal --out "$out" "$m"/pmap-application/examples/*.ndjson
# The mutants: most are refused (exit 1); every one that converts must be valid for xmllint too.
/usr/bin/python3 "$(dirname "$0")"/mutate_records.py "$root" "$out"/mutants 300
for a in "cws $out/mutants/cws-placement.ndjson" "cws $out/mutants/cws-consent.ndjson" \
         "pmap-portal $out/mutants/pmap-application.ndjson" "medicaid $out/mutants/mmis-pharmacy-claim.txt"; do
  set +e
  # shellcheck disable=SC2086
  "$niem_map" convert --agency $a --out "$out"/mutated 2> "$out"/mutants.log
  rc=$?
  set -e
  [ $rc -le 1 ] || { cat "$out"/mutants.log; echo "niem-map exited $rc on mutants"; exit 1; }
done
mutated=$(ls "$out"/mutated | wc -l)
declare -A schema=(
  [placement-notification]=$root/schemas/exchange/placement-notification.xsd
  [pharmacy-claim]=$root/schemas/exchange/pharmacy-claim.xsd
  [pmap-application]=$root/schemas/exchange/pmap-application.xsd
  [consent-directive]=$root/schemas/exchange/consent-directive.xsd
)
n=0 bad=0
# The golden documents too: every one is a document the broker would send.
for doc in "$out"/*.xml "$out"/mutated/*.xml "$m"/*/tests/*.expected.xml; do
  ex=$(grep -o 'http://example.gov/niem-broker/exchange/[a-z-]*/' "$doc" | head -1 | cut -d/ -f6)
  if ! xmllint --noout --schema "${schema[$ex]}" "$doc" 2>/tmp/xmllint.$$; then
    cat /tmp/xmllint.$$
    bad=$((bad + 1))
  fi
  n=$((n + 1))
done
rm -f /tmp/xmllint.$$
echo "xmllint: $n documents ($mutated from mutated records), $bad invalid"
[ "$n" -ge 40 ] && [ "$mutated" -ge 300 ] && [ "$bad" -eq 0 ]
