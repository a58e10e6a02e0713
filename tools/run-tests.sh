#!/usr/bin/env bash
# Installs what is missing, builds with the CI preset (warnings as errors, ASan+UBSan) and runs the
# whole test suite. Expects ../shared beside the checkout (the NIEM reference material).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake --preset ci -G Ninja
cmake --build --preset ci -j "$(nproc)"
ctest --preset ci -j "$(nproc)"
