#!/usr/bin/env bash
# The contract of niem-dsa for agreement authors: check accepts the shipped agreements and refuses
# a broken one with file:line and exit code 1; explain prints the recipient's document on stdout
# and the removed elements with their rule on stderr.
#   usage: niem_dsa_cli.sh NIEM-DSA PROJECT-ROOT
set -euo pipefail
dsa=$1 root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$dsa" check "$root"/config/agreements/*.xml > "$tmp/out" || fail "the shipped agreements do not check"
[ "$(grep -c ' v1: ' "$tmp/out")" = "$(ls "$root"/config/agreements/*.xml | wc -l)" ] || fail "check did not list every agreement"
echo "ok: every shipped agreement checks"

sed 's|<include path="ext:SourceRecordIdentification"/>||' "$root/config/agreements/DSA-001.xml" \
  > "$tmp/DSA-001.xml"
set +e
"$dsa" check "$tmp/DSA-001.xml" > /dev/null 2> "$tmp/err"
rc=$?
set -e
[ $rc = 1 ] || fail "a broken agreement gave exit code $rc, not 1"
grep -q "DSA-001.xml:[0-9]*: NIEM-304 .*removes its required element SourceRecordIdentification" \
  "$tmp/err" || fail "the refusal does not name the file, line and element: $(cat "$tmp/err")"
echo "ok: an agreement that would produce invalid documents is refused with file:line (exit 1)"

"$dsa" explain --agreement "$root/config/agreements/DSA-001.xml" \
  "$root/mappings/cws-placement/tests/start-foster-home-full.expected.xml" > "$tmp/doc" 2> "$tmp/why"
grep -q "<nc:PersonSurName>de la Cruz</nc:PersonSurName>" "$tmp/doc" || fail "explain lost the name"
! grep -q "900-11-2222" "$tmp/doc" || fail "explain's document holds the SSN"
grep -q "nc:Person/nc:PersonSSNIdentification" "$tmp/why" || fail "explain does not list the SSN"
grep -q "default deny" "$tmp/why" || fail "explain does not give the rule"
echo "ok: explain prints the filtered document and each removed element with its rule"

set +e
"$dsa" frobnicate > /dev/null 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "an unknown command gave $rc, not 2"

# An IEPD's exchange beside the project's: explain validates its document against that IEPD's own
# schema set (read from ../shared), not the project's shared one. A home with both mappings.
home="$tmp/home"
mkdir -p "$home/mappings/ojbc"
cp -r "$root/schemas" "$home/"
cp -r "$root"/mappings/* "$home/mappings/"
iepd="$root/tests/iepd/ojbc-juvenile-placement"
sed "s|path=\"../../../../shared|path=\"$(cd "$root/.." && pwd)/shared|" "$iepd/mapping.xml" \
  > "$home/mappings/ojbc/mapping.xml"
cat > "$tmp/DSA-OJBC.xml" <<'XML'
<agreement xmlns="urn:niem-broker:agreement:1"
  xmlns:jh-ext="http://ojbc.org/IEPD/Extension/JuvenileHistory/JuvenileHistoryCommonExtension/1.0"
  xmlns:jh-placement="http://ojbc.org/IEPD/Extension/JuvenileHistory/JuvenilePlacementHistoryExtension/1.0"
  id="DSA-OJBC" version="1" level="identifiable">
  <title>t</title><provider agency="court"/><recipient agency="cws"/>
  <purpose code="CARE_COORDINATION"/><effective from="2024-01-01"/>
  <terms exchange="juvenile-placement-history">
    <include path="jh-ext:JuvenileHistoryCategoryCode"/>
    <include path="jh-ext:JuvenileHistoryQueryCriteria"/>
    <include path="jh-placement:JuvenilePlacementHistory/jh-ext:JuvenileInformationAvailabilityCode"/>
  </terms>
</agreement>
XML
NIEM_HOME="$home" "$dsa" explain --agreement "$tmp/DSA-OJBC.xml" "$iepd/tests/sample.expected.xml" \
  > "$tmp/out" 2> "$tmp/err" || fail "explain of an IEPD document: $(cat "$tmp/err")"
grep -q '<jh-ext:JuvenileHistoryQueryCriteria>' "$tmp/out" || fail "the kept element is missing"
! grep -q '2nd District' "$tmp/out" || fail "the removed element flowed"
echo "ok: an IEPD's document is explained against its own schemas"
echo "PASS"
