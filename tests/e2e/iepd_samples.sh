#!/usr/bin/env bash
# niem-map validate serves real IEPDs: the valid samples in ../shared/niem/samples validate against
# their own schemas, and damaged copies of them are reported with line and element path.
set -euo pipefail
niem_map=$1 shared=$3
s=$shared/niem/samples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$niem_map" validate --schemas "$s"/jtmp-case-initiation/api/xml_schema "$s"/jtmp-case-initiation/examples/*.xml
"$niem_map" validate --schemas "$s"/jtmp-juvenile-admission/api/xml_schema "$s"/jtmp-juvenile-admission/examples/*.xml
# With the IEPD's own catalog, as published: it names the OASIS catalog DTD (never read) and chains
# to a catalog the IEPD did not ship (skipped).
ja=$s/jtmp-juvenile-admission/api/xml_schema
"$niem_map" validate --schemas "$ja"/JuvenileAdmission_NOLA.xsd --catalog "$ja"/niem/xsd/xml-catalog.xml \
  "$s"/jtmp-juvenile-admission/examples/*.xml
# A catalog with an internal subset (entities) is still refused.
{ echo '<?xml version="1.0"?>'; echo '<!DOCTYPE catalog [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
  echo '<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog"><uri name="&x;" uri="a.xsd"/></catalog>'; } > "$tmp"/evil-catalog.xml
set +e
"$niem_map" validate --schemas "$ja"/JuvenileAdmission_NOLA.xsd --catalog "$tmp"/evil-catalog.xml \
  "$s"/jtmp-juvenile-admission/examples/*.xml > "$tmp"/out.txt 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -q 'evil-catalog.xml:2:.*NIEM-201' "$tmp"/out.txt || fail "catalog with entities accepted (rc $rc): $(cat "$tmp"/out.txt)"
"$niem_map" validate --schemas "$s"/ojbc-uniform-commitment-order/information_model/IEPD/xsd \
  "$s"/ojbc-uniform-commitment-order/information_model/IEPD/xml/*.xml
phi=$s/ojbc-person-health-information-search-results/information_model/IEPD
"$niem_map" validate --schemas "$phi"/xsd --schemas "$phi"/xsd/impl/pima_county/phi_codes.xsd "$phi"/xml/*.xml
jh=$s/ojbc-juvenile-history/information_model
for d in Referral Intake Hearing Placement Offense; do
  "$niem_map" validate --schemas "$jh"/IEPD/$d --schemas "$jh"/IEPD/$d/impl/michigan/codes.xsd \
    "$jh"/samples/Juvenile${d}HistoryResponse*_Sample.xml
done
"$niem_map" validate --schemas "$jh"/IEPD/CasePlan "$jh"/samples/JuvenileCasePlanHistoryResponse*_Sample.xml
"$niem_map" validate --schemas "$jh"/IEPD/Query "$jh"/samples/JuvenileHistoryQuery_Sample.xml

# Without the implementation code lists, the samples that use them are not valid (as upstream).
set +e
"$niem_map" validate --schemas "$phi"/xsd "$phi"/xml/*.xml > "$tmp"/out.txt
rc=$?
set -e
[ $rc -eq 1 ] || fail "expected exit 1 without the code lists, got $rc"
[ "$(grep -c INVALID "$tmp"/out.txt)" -eq 3 ] || fail "expected 3 invalid PHI samples: $(cat "$tmp"/out.txt)"

# A damaged sample: an element inside a text element, and a wrong date.
sed '0,/<PersonGivenName>/s|<PersonGivenName>|<PersonGivenName><Bogus/>|' \
  "$s"/jtmp-case-initiation/examples/CaseInitiation_Annotated.xml > "$tmp"/damaged.xml
cmp -s "$tmp"/damaged.xml "$s"/jtmp-case-initiation/examples/CaseInitiation_Annotated.xml && fail "damage not applied"
set +e
"$niem_map" validate --schemas "$s"/jtmp-case-initiation/api/xml_schema "$tmp"/damaged.xml > "$tmp"/out.txt
rc=$?
set -e
cat "$tmp"/out.txt
[ $rc -eq 1 ] || fail "damaged sample: expected exit 1, got $rc"
grep -q 'NIEM-202.*Bogus.*PersonGivenName\]' "$tmp"/out.txt || fail "damaged sample: no path in the diagnostic"
grep -q 'damaged.xml:135:' "$tmp"/out.txt || fail "damaged sample: no line number"

# A document carrying a DOCTYPE is refused even when it is otherwise valid.
{ echo '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'; tail -n +2 "$s"/jtmp-case-initiation/examples/CaseInitiation_Annotated.xml; } > "$tmp"/doctype.xml
set +e
"$niem_map" validate --schemas "$s"/jtmp-case-initiation/api/xml_schema "$tmp"/doctype.xml > "$tmp"/out.txt
rc=$?
set -e
[ $rc -eq 1 ] && grep -q NIEM-201 "$tmp"/out.txt || fail "DOCTYPE not refused: $(cat "$tmp"/out.txt)"
echo "iepd samples: ok"
