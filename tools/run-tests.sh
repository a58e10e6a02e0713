#!/usr/bin/env bash
# Checks the prerequisites, installs what is missing, builds with the CI preset (warnings as errors,
# ASan+UBSan), builds the release preset (-O3) with warnings as errors too, so that what the demo and
# the benchmarks build stays warning-free, runs the whole test suite, the threaded modules' tests
# again under ThreadSanitizer (preset tsan), then every fuzz target on a fixed
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
# ThreadSanitizer over the modules whose state threads share (validation, pipeline, store,
# transport): a separate build of their tests only (CMakePresets.json, preset tsan).
cmake --preset tsan -G Ninja > /dev/null
cmake --build --preset tsan -j "$(nproc)"
ctest --preset tsan -j "$(nproc)"
# Every fuzz target from its committed corpus, a fixed seed and input count (clang-15 build);
# fails on any finding.
./tools/run-fuzz.sh
