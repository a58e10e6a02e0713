#!/usr/bin/env bash
# The prerequisites of the README's two commands (run-tests.sh, run-demo.sh), checked before they
# install or build anything: one clear line for each that is missing, exit status 2.
#   - ../shared beside the checkout, with the NIEM reference material and the agencies'
#     specification in it (the tests read them there; nothing is copied into the project);
#   - localhost resolving to a loopback address (the TLS tests connect by that name);
#   - root, or sudo, when a package has to be installed (tools/install-deps.sh says which).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/.." && pwd)/shared

# What the tests read in ../shared; the one list of it.
expected=(
  agencies/README.md
  niem/niem-5.2/xsd/niem-core.xsd
  niem/niem-5.2/xsd/domains/hs.xsd
  niem/_validation/stubs/ncic-5.2-STUB.xsd
  niem/samples
)

problems=0
fail() {
  echo "prerequisite: $*" >&2
  problems=$((problems + 1))
}

if [ ! -d "$shared" ]; then
  fail "$shared is missing: put the shared reference material (agencies/, niem/) beside the checkout, as ../shared"
else
  missing=()
  for p in "${expected[@]}"; do [ -e "$shared/$p" ] || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    fail "$shared is incomplete: missing ${missing[*]}"
  fi
fi

addresses=$(getent ahosts localhost 2>/dev/null | awk '{print $1}' | sort -u)
if [ -z "$addresses" ]; then
  fail "localhost does not resolve: add '127.0.0.1 localhost' to /etc/hosts"
elif ! grep -qxE '127\.[0-9.]+|::1' <<< "$addresses"; then
  fail "localhost resolves to $(tr '\n' ' ' <<< "$addresses")and not to a loopback address: fix /etc/hosts"
fi

if [ "$(id -u)" -ne 0 ] && ! command -v sudo > /dev/null; then
  missing_packages=$("$root/tools/install-deps.sh" --missing)
  if [ -n "$missing_packages" ]; then
    fail "not root and sudo is not installed, and these packages are missing: $missing_packages (run as root, or have them installed)"
  fi
fi

[ "$problems" -eq 0 ] || exit 2
