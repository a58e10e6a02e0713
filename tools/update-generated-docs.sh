#!/usr/bin/env bash
# Regenerates the generated tables of the documentation from their one definition:
#   docs/ERRORS.md     from broker/base/errors.inc (through `niemctl errors markdown`)
#   docs/ADMIN-API.md  from the admin server's table of routes (through `niem-broker --api-reference`)
#   deploy/prometheus/alerts.yml  from broker/admin/conditions.cc (through `niem-broker --alert-rules`)
# Tests fail while a table differs from what it is generated from.
# usage: tools/update-generated-docs.sh [BUILD-DIR] (default build/ci)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/ci}
cmake --build "$build" --target niemctl niem-broker > /dev/null
splice() {  # FILE TABLE: replaces what lies between the BEGIN GENERATED and END GENERATED marks
  python3 - "$1" "$2" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2]
doc = open(path, encoding="utf-8").read()
begin = doc.index("<!-- BEGIN GENERATED")
begin = doc.index("\n", begin) + 1
end = doc.index("<!-- END GENERATED -->")
open(path, "w", encoding="utf-8").write(doc[:begin] + table + "\n" + doc[end:])
PY
  echo "$1: table regenerated"
}
splice docs/ERRORS.md "$("$build/tools/niemctl" errors markdown)"
splice docs/ADMIN-API.md "$("$build/broker/app/niem-broker" --api-reference)"
"$build/broker/app/niem-broker" --alert-rules > deploy/prometheus/alerts.yml
echo "deploy/prometheus/alerts.yml: regenerated"
