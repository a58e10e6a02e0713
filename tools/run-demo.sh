#!/usr/bin/env bash
# Installs what is missing, builds the release preset, then converts the project's example records
# of every agency format to NIEM documents, each validated against the exchange schemas.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake --preset release -G Ninja > /dev/null
cmake --build --preset release -j "$(nproc)"
out=${1:-out/demo}
mkdir -p "$out"
export NIEM_HOME=$PWD
bin=build/release/tools/niem-map
m=mappings
echo "== cws placement events and consent directives (JSON)"
$bin convert --agency cws --out "$out" $m/cws-placement/examples/*.ndjson $m/cws-consent/examples/*.ndjson
echo "== medicaid pharmacy claim extract (pipe-delimited)"
$bin convert --agency medicaid --out "$out" $m/mmis-pharmacy-claim/examples/*.txt
echo "== pmap-portal psychotropic medication applications (JSON)"
$bin convert --agency pmap-portal --out "$out" $m/pmap-application/examples/*.ndjson
echo "== golden tests"
$bin test
echo
echo "Validated NIEM documents are in $out/ ($(ls "$out" | wc -l) files), e.g.:"
ls "$out" | head -5
