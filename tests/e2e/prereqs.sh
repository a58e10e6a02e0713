#!/usr/bin/env bash
# The README's two commands (tools/run-tests.sh, tools/run-demo.sh) check their prerequisites before
# installing or building anything: run from a copy of tools/ with ../shared hidden, incomplete,
# localhost not resolving and, as a user without root or sudo, packages missing, each stops at once
# with one line naming what is wrong and exit status 2.
# usage: prereqs.sh PROJECT-ROOT
set -uo pipefail
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# Runs CMD from the copy; expects exit status 2, within 10 s, with stderr holding TEXT.
expect_refusal() {
  local what=$1 text=$2
  shift 2
  local start=$SECONDS out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 2 ]; then fail "$what: exit status $rc, not 2: $out"; fi
  if ! grep -qF -- "$text" <<< "$out"; then fail "$what: no '$text' in: $out"; fi
  if [ $((SECONDS - start)) -gt 10 ]; then fail "$what: took $((SECONDS - start)) s"; fi
  if [ -e "$tmp/main/build" ]; then fail "$what: built something"; fi
  echo "ok: $what: $(head -1 <<< "$out")"
}

mkdir -p "$tmp/main"
cp -r "$root/tools" "$tmp/main/"
for cmd in run-tests.sh run-demo.sh; do
  expect_refusal "$cmd without ../shared" "$tmp/shared is missing: put the shared reference material" \
    "$tmp/main/tools/$cmd"
done

mkdir -p "$tmp/shared/agencies" "$tmp/shared/niem/samples"
touch "$tmp/shared/agencies/README.md"
for cmd in run-tests.sh run-demo.sh; do
  expect_refusal "$cmd with ../shared incomplete" \
    "$tmp/shared is incomplete: missing niem/niem-5.2/xsd/niem-core.xsd niem/niem-5.2/xsd/domains/hs.xsd niem/_validation/stubs/ncic-5.2-STUB.xsd" \
    "$tmp/main/tools/$cmd"
done

# The real checkout's ../shared passes; a getent that resolves nothing stands for a machine
# whose /etc/hosts lacks localhost.
rm -rf "$tmp/main/tools" "$tmp/shared"
ln -s "$root/tools" "$tmp/main/tools"
ln -s "$root/../shared" "$tmp/shared"
if ! out=$("$tmp/main/tools/check-prereqs.sh" 2>&1); then fail "the complete ../shared is refused: $out"; fi
mkdir -p "$tmp/bin"
printf '#!/bin/sh\nexit 2\n' > "$tmp/bin/getent"
chmod +x "$tmp/bin/getent"
expect_refusal "localhost not resolving" "localhost does not resolve: add '127.0.0.1 localhost' to /etc/hosts" \
  env PATH="$tmp/bin:$PATH" "$tmp/main/tools/check-prereqs.sh"
printf '#!/bin/sh\necho "192.0.2.7  STREAM localhost"\n' > "$tmp/bin/getent"
expect_refusal "localhost not loopback" "localhost resolves to 192.0.2.7 and not to a loopback address" \
  env PATH="$tmp/bin:$PATH" "$tmp/main/tools/check-prereqs.sh"
rm "$tmp/bin/getent"

# Not root, no sudo, a package missing (a dpkg-query that knows of no package).
if [ "$(id -u)" -eq 0 ] && ! command -v sudo > /dev/null && id nobody > /dev/null 2>&1; then
  printf '#!/bin/sh\nexit 1\n' > "$tmp/bin/dpkg-query"
  chmod +x "$tmp/bin/dpkg-query"
  chmod -R a+rX "$tmp"
  expect_refusal "not root and no sudo" "not root and sudo is not installed, and these packages are missing: g++ cmake" \
    runuser -u nobody -- env PATH="$tmp/bin:$PATH" "$tmp/main/tools/check-prereqs.sh"
else
  echo "skipped: not root and no sudo (needs root, no sudo installed and a user nobody)"
fi

[ "$failures" -eq 0 ] || exit 1
echo "all prerequisite checks refuse as expected"
