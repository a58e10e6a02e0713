#!/usr/bin/env bash
# Checks the prerequisites, installs what is missing, builds what the demo runs (niem-broker,
# niemctl, niem-dsa of the release preset; no tests), then runs it (tools/demo/show.sh): the broker on
# the demo configuration, the example records of every agency published through AMQP, the NIEM
# documents arriving at their subscribers and, for those that receive nothing, why. The broker keeps
# running until Ctrl-C (pass --exit to stop it once the demo traffic has been shown).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/check-prereqs.sh
./tools/install-deps.sh
targets=(niem-broker niemctl niem-dsa)
if [ ! -x build/release/broker/app/niem-broker ]; then
  echo "run-demo: first build of ${targets[*]}: about 5 minutes on 2 cores; later runs start in seconds"
fi
cmake --preset release -G Ninja > /dev/null
cmake --build --preset release -j "$(nproc)" --target "${targets[@]}"
exec ./tools/demo/show.sh build/release out/demo "$@"
