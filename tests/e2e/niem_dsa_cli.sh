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
echo "PASS"
