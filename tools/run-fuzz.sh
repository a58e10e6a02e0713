#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang-15) and runs each on its committed seed corpus
# (tests/fuzz/corpus/<target>). Fails when any target reports a crash, a leak, a sanitizer finding,
# a timeout or a DEFECT (a broken property); the input is kept in build/fuzz/artifacts/<target>/
# and the finding is printed.
#
# usage: tools/run-fuzz.sh [--seconds N] [--jobs J] [--no-build] [TARGET...]
#   (default)     what CI runs: a fixed seed and a fixed number of inputs per target (about 25 s
#                 each), from the committed corpus only and without address randomization, so
#                 that a finding in CI is found again here (see README: nearly, not exactly)
#   --seconds N   a campaign: N seconds per target, a random seed, resuming from what earlier runs
#                 found (build/fuzz/work/<target>), e.g. --seconds 3600
#   --jobs J      targets run at once (default: the number of CPUs)
#   TARGET        fuzz_record, fuzz_validate, ... (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=0
ci=1
jobs=$(nproc)
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; ci=0; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(fuzz_record fuzz_compiled_validation fuzz_validate fuzz_xml_differential fuzz_filter fuzz_mapping_loader
     fuzz_agreement_loader fuzz_config_loader fuzz_admin_http fuzz_ingest_transfer fuzz_batch_reader)
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

if [ $build = 1 ]; then
  cmake --preset fuzz -G Ninja > /dev/null
  cmake --build --preset fuzz -j "$(nproc)"
fi

dict_of() {
  case "$1" in
    fuzz_record|fuzz_compiled_validation|fuzz_ingest_transfer|fuzz_batch_reader) echo tests/fuzz/dict/json.dict ;;
    fuzz_admin_http) echo tests/fuzz/dict/http.dict ;;
    *) echo tests/fuzz/dict/xml.dict ;;
  esac
}

# CI's inputs per target: about 25 s each under ASan on this project's 2-core machine.
runs_of() {
  case "$1" in
    fuzz_record) echo 200000 ;;
    fuzz_compiled_validation) echo 100000 ;;
    fuzz_validate) echo 60000 ;;
    fuzz_xml_differential) echo 120000 ;;
    fuzz_filter) echo 100000 ;;
    fuzz_mapping_loader) echo 3000 ;;
    fuzz_agreement_loader) echo 5000 ;;
    fuzz_config_loader) echo 4000 ;;
    fuzz_admin_http) echo 500000 ;;
    fuzz_ingest_transfer) echo 10000 ;;
    fuzz_batch_reader) echo 50000 ;;
    *) echo 10000 ;;
  esac
}

run_one() {
  local t=$1 art=build/fuzz/artifacts/$1/ log=build/fuzz/logs/$1.log work
  if [ "$ci" = 1 ]; then
    # A fresh directory: what earlier local runs found must not change what CI explores.
    work=build/fuzz/ci/$1
    rm -rf "$work" "$art"
  else
    work=build/fuzz/work/$1
  fi
  mkdir -p "$work" "$art" "$(dirname "$log")"
  # Loaders compile schemas per input: a slow input is not a hang below 60 s.
  local unit=20
  case "$t" in *_loader) unit=60 ;; esac
  local budget=(-max_total_time="$seconds")
  local launch=()
  if [ "$ci" = 1 ]; then
    budget=(-runs="$(runs_of "$t")" -seed=1 -reload=0)
    # Without address randomization the same seed explores the same inputs on every machine
    # (coverage of hashed containers otherwise varies from run to run).
    setarch -R true 2> /dev/null && launch=(setarch -R)
  fi
  local rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "${launch[@]}" "build/fuzz/tests/fuzz/$t" "${budget[@]}" -timeout=$unit -rss_limit_mb=4096 \
    -max_len=65536 -dict="$(dict_of "$t")" -artifact_prefix="$art" -print_final_stats=1 \
    "$work" "tests/fuzz/corpus/$t" > "$log" 2>&1 || rc=$?
  local execs cov corpus
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  corpus=$(ls "$work" | wc -l)
  if [ $rc -eq 0 ]; then
    printf '%-24s ok     %9s execs  cov %6s  corpus +%s\n' "$t" "$execs" "$cov" "$corpus"
  else
    printf '%-24s FAILED %9s execs  cov %6s  (exit %s; %s; input in %s)\n' "$t" "$execs" "$cov" \
      "$rc" "$log" "$art"
    # The finding itself (a DEFECT's document, a sanitizer's report) and the input, so that a CI
    # log alone is enough to reproduce it.
    sed -n '/DEFECT\|ERROR: \(AddressSanitizer\|LeakSanitizer\|libFuzzer\)\|runtime error/,$p' \
      "$log" | head -150
    local input
    for input in "$art"*; do
      [ -f "$input" ] || continue
      echo "input $input (base64):"
      base64 -w 100 "$input" | head -40
    done
    return 1
  fi
}
export -f run_one dict_of runs_of
export seconds ci

printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
