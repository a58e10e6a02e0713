#!/usr/bin/env bash
# Checks the prerequisites, installs what is missing, builds with the CI preset (warnings as errors,
# ASan+UBSan), builds the release preset (-O3) with warnings as errors too, so that what the demo and
# the benchmarks build stays warning-free, runs the whole test suite, then every fuzz target on a fixed
# seed and input count (tools/run-fuzz.sh). Expects ../shared beside the checkout (the NIEM reference material).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/check-prereqs.sh
./tools/install-deps.sh
cmake --preset ci -G Ninja
cmake --build --preset ci -j "$(nproc)"
cmake --preset release -G Ninja -DNIEM_WERROR=ON > /dev/null
cmake --build --preset release -j "$(nproc)"
ctest --preset ci -j "$(nproc)"
# Every fuzz target from its committed corpus, a fixed seed and input count (clang-15 build);
# fails on any finding.
./tools/run-fuzz.sh
