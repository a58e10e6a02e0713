#!/usr/bin/env bash
# Regenerates the table of docs/ERRORS.md from broker/base/errors.inc (through `niemctl errors
# markdown`, built from it). usage: tools/update-error-docs.sh [BUILD-DIR] (default build/ci)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/ci}
cmake --build "$build" --target niemctl > /dev/null
table=$("$build/tools/niemctl" errors markdown)
python3 - "$table" <<'PY'
import sys
doc = open("docs/ERRORS.md", encoding="utf-8").read()
begin = doc.index("<!-- BEGIN GENERATED")
begin = doc.index("\n", begin) + 1
end = doc.index("<!-- END GENERATED -->")
open("docs/ERRORS.md", "w", encoding="utf-8").write(doc[:begin] + sys.argv[1] + "\n" + doc[end:])
PY
echo "docs/ERRORS.md: table regenerated"
