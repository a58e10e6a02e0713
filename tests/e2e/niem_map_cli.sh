#!/usr/bin/env bash
# The niem-map command-line contract: exit codes, per-record reporting, partial batches, output
# naming, --help on every command.
set -euo pipefail
niem_map=$1 root=$2 shared=$3
export NIEM_HOME=$root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() { local want=$1; shift; set +e; "$@" > "$tmp"/stdout 2> "$tmp"/stderr; local rc=$?; set -e;
  [ $rc -eq "$want" ] || { cat "$tmp"/stderr; fail "$* exited $rc, expected $want"; }; }

for c in convert check test validate scaffold; do
  expect_rc 0 "$niem_map" $c --help
  grep -q usage "$tmp"/stdout || fail "$c --help prints no usage"
done
expect_rc 2 "$niem_map"
expect_rc 2 "$niem_map" frobnicate
expect_rc 2 "$niem_map" convert --agency cws
expect_rc 2 "$niem_map" convert --bogus x file
expect_rc 2 "$niem_map" convert --agency nobody --record-type placement "$root"/mappings/cws-placement/examples/placements.ndjson

# One record to stdout.
head -1 "$root"/mappings/cws-placement/examples/placements.ndjson > "$tmp"/one.ndjson
expect_rc 0 "$niem_map" convert --agency cws "$tmp"/one.ndjson
grep -q '<pn:PlacementNotification' "$tmp"/stdout || fail "no document on stdout"
# From standard input too; several records need --out (concatenated documents are not XML).
set +e
"$niem_map" convert --agency cws - < "$tmp"/one.ndjson > "$tmp"/stdin.xml 2> "$tmp"/stderr
rc=$?
set -e
[ $rc -eq 0 ] && cmp -s "$tmp"/stdin.xml "$tmp"/stdout || fail "stdin conversion differs (rc $rc)"
expect_rc 2 "$niem_map" convert --agency cws "$root"/mappings/cws-placement/examples/placements.ndjson
[ ! -s "$tmp"/stdout ] || fail "documents written to stdout for a batch"
grep -q 'more than one record; give --out DIR' "$tmp"/stderr || fail "no reason: $(cat "$tmp"/stderr)"

# Each validation mode writes the same document; a value the schema refuses is refused by each,
# the compiled checker naming the native field and the element path without the value.
for mode in compiled full both; do
  expect_rc 0 "$niem_map" convert --agency cws --validation $mode "$tmp"/one.ndjson
  cmp -s "$tmp"/stdout "$tmp"/stdin.xml || fail "--validation $mode writes another document"
done
expect_rc 2 "$niem_map" convert --agency cws --validation fast "$tmp"/one.ndjson
grep -q 'compiled, full or both' "$tmp"/stderr || fail "no reason for a bad mode: $(cat "$tmp"/stderr)"
claim="$root"/mappings/mmis-pharmacy-claim/tests/apostrophe-name.input.txt
awk -F'|' -v OFS='|' 'NR==2{$8="12AB"}1' "$claim" > "$tmp"/bad-ndc.txt
for mode in compiled full both; do
  expect_rc 1 "$niem_map" convert --agency medicaid --validation $mode "$tmp"/bad-ndc.txt
  grep -q 'NIEM-202.*\[NDC -> .*DrugNDCCode\]' "$tmp"/stderr || fail "$mode: $(cat "$tmp"/stderr)"
done
grep -q '12AB' "$tmp"/stderr && fail "the compiled checker's message holds the value"

# A batch with bad records in the middle: the good ones convert, each bad one is reported with its
# line and reason, exit 1.
{ head -2 "$root"/mappings/cws-placement/examples/placements.ndjson
  echo '{"record_type":"placement","event_id":"E-BAD-1",'
  cat "$root"/mappings/cws-placement/tests/bad/impossible-birth-date.json; echo
  echo
  sed -n 3p "$root"/mappings/cws-placement/examples/placements.ndjson; } > "$tmp"/batch.ndjson
expect_rc 1 "$niem_map" convert --agency cws --out "$tmp"/out "$tmp"/batch.ndjson
[ "$(ls "$tmp"/out | wc -l)" -eq 3 ] || fail "expected 3 documents, got $(ls "$tmp"/out)"
[ -f "$tmp"/out/CWS-EVT-2026-1000003.xml ] || fail "documents are not named by record key"
grep -q 'batch.ndjson:3: NIEM-101' "$tmp"/stderr || fail "malformed line 3 not reported: $(cat "$tmp"/stderr)"
grep -q 'batch.ndjson:4: NIEM-105.*child.birth_date' "$tmp"/stderr || fail "bad date on line 4 not reported"
grep -q '3 converted, 2 failed' "$tmp"/stderr || fail "summary wrong: $(cat "$tmp"/stderr)"

# Delimited extract: a wrong row is reported with its line number and the rest still converts.
f=$root/mappings/mmis-pharmacy-claim/examples/mmis_rx_20260601.txt
{ head -3 "$f"; echo "RX-SHORT|1|2"; tail -n +4 "$f"; } > "$tmp"/mmis.txt
expect_rc 1 "$niem_map" convert --agency medicaid --out "$tmp"/mmis "$tmp"/mmis.txt
grep -q 'mmis.txt:4: NIEM-102' "$tmp"/stderr || fail "short row not reported: $(cat "$tmp"/stderr)"
[ "$(ls "$tmp"/mmis | wc -l)" -eq 6 ] || fail "expected 6 claims"

# A record key that is not a safe file name never becomes a path.
sed 's/"event_id":"CWS-EVT-2026-1000001"/"event_id":"..\/..\/escape"/' "$tmp"/one.ndjson > "$tmp"/evil.ndjson
expect_rc 1 "$niem_map" convert --agency cws --out "$tmp"/evil "$tmp"/evil.ndjson
[ ! -e "$tmp"/escape.xml ] && [ -z "$(ls "$tmp"/evil)" ] || fail "unsafe key written"

# check reports every mistake of a broken mapping with file, line and column.
sed -e 's|nc:PersonName/nc:PersonGivenName|nc:PersonName/nc:PersonGivenNmae|' \
    -e 's|target="hs:PlacementChangeReasonText"|target="hs:PlacementChangeReasonTxt"|' \
    -e 's|codes="sex"|codes="gender"|' \
    "$root"/mappings/cws-placement/mapping.xml > "$tmp"/mapping.xml
sed -i 's|schema="../../schemas|schema="'"$root"'/schemas|' "$tmp"/mapping.xml
expect_rc 1 "$niem_map" check "$tmp"/mapping.xml
[ "$(grep -c 'NIEM-301' "$tmp"/stderr)" -ge 3 ] || fail "not every mistake reported: $(cat "$tmp"/stderr)"
grep -q 'mapping.xml:[0-9]*:[0-9]*: NIEM-301 nc:PersonGivenNmae is not declared' "$tmp"/stderr || fail "no location: $(cat "$tmp"/stderr)"
# check names the code-table entries that no example or golden input reaches; --strict fails on them.
expect_rc 0 "$niem_map" check --strict "$root"/mappings/*/mapping.xml
grep -q 'cws-placement/mapping.xml: ok .* 26 of 26 code entries exercised by 16 records' "$tmp"/stdout \
  || fail "no coverage summary: $(cat "$tmp"/stdout)"
cp -r "$root"/mappings/cws-placement "$tmp"/placement-copy
sed -i -e 's|schema="../../schemas|schema="'"$root"'/schemas|' \
  -e 's|<map:code from="STRTP" to="RTC"/>|<map:code from="STRTP" to="RTC"/>\n    <map:code from="KINSHIP_HOME" to="Family"/>|' \
  "$tmp"/placement-copy/mapping.xml
line=$(grep -n 'KINSHIP_HOME' "$tmp"/placement-copy/mapping.xml | cut -d: -f1)
[ -n "$line" ] || fail "entry not added"
expect_rc 0 "$niem_map" check "$tmp"/placement-copy/mapping.xml
grep -q "mapping.xml:$line:[0-9]*: code 'KINSHIP_HOME' of table 'setting-code' is never reached" "$tmp"/stderr \
  || fail "unexercised entry not named: $(cat "$tmp"/stderr)"
[ "$(grep -c 'never reached' "$tmp"/stderr)" -eq 1 ] || fail "only KINSHIP_HOME is unexercised: $(cat "$tmp"/stderr)"
expect_rc 1 "$niem_map" check --strict "$tmp"/placement-copy/mapping.xml

# An oversized record (over the 1 MiB default) is refused, not converted, and the next one still is.
python3 -c 'import json,sys; print(json.dumps({"record_type":"placement","event_id":"BIG","pad":"x"*(2<<20)}))' > "$tmp"/big.ndjson
sed -n 1p "$root"/mappings/cws-placement/examples/placements.ndjson >> "$tmp"/big.ndjson
expect_rc 1 "$niem_map" convert --agency cws --out "$tmp"/big "$tmp"/big.ndjson
grep -q 'big.ndjson:1: NIEM-100' "$tmp"/stderr || fail "oversized record not refused: $(head -c 300 "$tmp"/stderr)"
[ "$(ls "$tmp"/big | wc -l)" -eq 1 ] || fail "the record after the oversized one was lost"
# One broken mapping in --mappings is reported and the others still convert; `test` fails on it.
mkdir -p "$tmp"/maps
cp -r "$root"/mappings/cws-placement "$root"/mappings/mmis-pharmacy-claim "$tmp"/maps/
sed -i 's|schema="../../schemas|schema="'"$root"'/schemas|' "$tmp"/maps/*/mapping.xml
sed -i 's|nc:PersonName/nc:PersonGivenName|nc:PersonName/nc:PersonGivenNmae|' "$tmp"/maps/mmis-pharmacy-claim/mapping.xml
expect_rc 0 "$niem_map" convert --agency cws --mappings "$tmp"/maps "$tmp"/one.ndjson
grep -q '<pn:PlacementNotification' "$tmp"/stdout || fail "the good mapping did not convert"
grep -q 'mmis-pharmacy-claim/mapping.xml:[0-9]*:[0-9]*: NIEM-301 nc:PersonGivenNmae' "$tmp"/stderr \
  || fail "the broken mapping is not reported: $(cat "$tmp"/stderr)"
grep -q 'going on with 1 of 2 mappings' "$tmp"/stderr || fail "no summary: $(cat "$tmp"/stderr)"
expect_rc 1 "$niem_map" test "$tmp"/maps

# check --mappings DIR: every mapping under DIR, each with its agency, record type and exchange,
# as convert's help promises.
expect_rc 0 "$niem_map" check --mappings "$root"/mappings
grep -q 'cws placement -> placement-notification' "$tmp"/stdout || fail "check --mappings: $(cat "$tmp"/stdout)"
expect_rc 2 "$niem_map" check --mappings

# scaffold from a published IEPD's sample: the mapping compiles, its record converts, and the
# document holds every leaf and attribute of the sample, in order.
ojbc=$shared/niem/samples/ojbc-juvenile-history/information_model
expect_rc 0 "$niem_map" scaffold --sample "$ojbc"/samples/JuvenilePlacementHistoryResponse_Sample.xml \
  --schema "$ojbc"/IEPD/Placement/JuvenilePlacementHistoryResponse.xsd \
  --schema "$ojbc"/IEPD/Placement/impl/michigan/codes.xsd --agency court \
  --record-type placement-history --exchange juvenile-placement-history --out "$tmp"/scaffold/ojbc
grep -q '<map:object target="nc:Person" id="Child1">' "$tmp"/scaffold/ojbc/mapping.xml \
  || fail "no id in the scaffold: $(head -40 "$tmp"/scaffold/ojbc/mapping.xml)"
grep -q 'ref target="nc:Person" to="Child1"' "$tmp"/scaffold/ojbc/mapping.xml || fail "no reference in the scaffold"
expect_rc 0 "$niem_map" check "$tmp"/scaffold/ojbc/mapping.xml
python3 - "$tmp"/scaffold/ojbc/tests/sample.input.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["record_id"] = "100"
open(sys.argv[1], "w").write(json.dumps(r) + "\n")
PY
expect_rc 0 "$niem_map" convert --agency court --mappings "$tmp"/scaffold "$tmp"/scaffold/ojbc/tests/sample.input.json
cp "$tmp"/stdout "$tmp"/scaffolded.xml
expect_rc 0 python3 "$root"/tests/iepd/compare.py "$ojbc"/samples/JuvenilePlacementHistoryResponse_Sample.xml "$tmp"/scaffolded.xml
grep -q 'leaves 66 of 66, attributes 20 of 20' "$tmp"/stdout || fail "scaffold does not reproduce: $(cat "$tmp"/stdout)"
# It never overwrites a mapping.
expect_rc 2 "$niem_map" scaffold --sample "$ojbc"/samples/JuvenilePlacementHistoryResponse_Sample.xml \
  --schema "$ojbc"/IEPD/Placement/JuvenilePlacementHistoryResponse.xsd --out "$tmp"/scaffold/ojbc
grep -q 'exists; not overwritten' "$tmp"/stderr || fail "scaffold overwrote: $(cat "$tmp"/stderr)"
# From the schema: the root's required content; it compiles.
expect_rc 0 "$niem_map" scaffold --root JuvenilePlacementHistoryResponse \
  --schema "$ojbc"/IEPD/Placement/JuvenilePlacementHistoryResponse.xsd --out "$tmp"/scaffold/root
grep -q 'optional in' "$tmp"/scaffold/root/mapping.xml || fail "no optional children named"
expect_rc 0 "$niem_map" check "$tmp"/scaffold/root/mapping.xml
echo "niem-map cli: ok"
