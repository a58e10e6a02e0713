#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang-15) and runs each for a fixed time on its
# committed seed corpus (tests/fuzz/corpus/<target>) plus what earlier runs found
# (build/fuzz/work/<target>). Fails when any target reports a crash, a leak, a sanitizer finding,
# a timeout or a DEFECT (a broken property); the input is kept in build/fuzz/artifacts/<target>/.
#
# usage: tools/run-fuzz.sh [--seconds N] [--jobs J] [--no-build] [TARGET...]
#   --seconds N   per target (default 30: the CI run); a campaign is e.g. --seconds 3600
#   --jobs J      targets run at once (default: the number of CPUs)
#   TARGET        fuzz_record, fuzz_validate, ... (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
jobs=$(nproc)
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(fuzz_record fuzz_validate fuzz_xml_differential fuzz_filter fuzz_mapping_loader
     fuzz_agreement_loader fuzz_config_loader fuzz_admin_http fuzz_ingest_transfer fuzz_batch_reader)
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

if [ $build = 1 ]; then
  cmake --preset fuzz -G Ninja > /dev/null
  cmake --build --preset fuzz -j "$(nproc)"
fi

dict_of() {
  case "$1" in
    fuzz_record|fuzz_ingest_transfer|fuzz_batch_reader) echo tests/fuzz/dict/json.dict ;;
    fuzz_admin_http) echo tests/fuzz/dict/http.dict ;;
    *) echo tests/fuzz/dict/xml.dict ;;
  esac
}

run_one() {
  local t=$1 work=build/fuzz/work/$1 art=build/fuzz/artifacts/$1/ log=build/fuzz/logs/$1.log
  mkdir -p "$work" "$art" "$(dirname "$log")"
  # Loaders compile schemas per input: a slow input is not a hang below 60 s.
  local unit=20
  case "$t" in *_loader) unit=60 ;; esac
  local rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build/fuzz/tests/fuzz/$t" -max_total_time="$seconds" -timeout=$unit -rss_limit_mb=4096 \
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
    grep -m3 -E 'DEFECT|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log" || true
    return 1
  fi
}
export -f run_one dict_of
export seconds

printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
