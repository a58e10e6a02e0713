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
# Each mapping's examples, as its agency publishes them.
for dir in "$m"/*/; do
  agency=$(grep -o ' agency="[^"]*"' "$dir/mapping.xml" | head -1 | cut -d'"' -f2)
  "$niem_map" convert --agency "$agency" --out "$out" "$dir"examples/*
done
# The mutants: most are refused (exit 1); every one that converts must be valid for xmllint too.
/usr/bin/python3 "$(dirname "$0")"/mutate_records.py "$root" "$out"/mutants 300
while read -r agency file; do
  set +e
  "$niem_map" convert --agency "$agency" --out "$out"/mutated "$file" 2> "$out"/mutants.log
  rc=$?
  set -e
  [ $rc -le 1 ] || { cat "$out"/mutants.log; echo "niem-map exited $rc on mutants"; exit 1; }
done < "$out"/mutants/manifest.txt
mutated=$(ls "$out"/mutated | wc -l)
n=0 bad=0
# The golden documents too: every one is a document the broker would send.
for doc in "$out"/*.xml "$out"/mutated/*.xml "$m"/*/tests/*.expected.xml; do
  ex=$(grep -o 'http://example.gov/niem-broker/exchange/[a-z-]*/' "$doc" | head -1 | cut -d/ -f6)
  if ! xmllint --noout --schema "$root/schemas/exchange/$ex.xsd" "$doc" 2>/tmp/xmllint.$$; then
    cat /tmp/xmllint.$$
    bad=$((bad + 1))
  fi
  n=$((n + 1))
done
rm -f /tmp/xmllint.$$
echo "xmllint: $n documents ($mutated from mutated records), $bad invalid"
[ "$n" -ge 40 ] && [ "$mutated" -ge 300 ] && [ "$bad" -eq 0 ]
