#!/usr/bin/env bash
# Runs each named fuzz harness (build-fuzz/fuzz_NAME, built by `make fuzz-build`) for FUZZ_SECONDS on its
# corpus and prints one line per harness, then "fuzz: P passed, F failed". Called by `make fuzz`.
# Environment: FIXTURES, FUZZ_BUILD, FUZZ_SECONDS, FUZZ_RSS_MB, FUZZ_MALLOC_MB, FUZZ_JOBS (harnesses at once).
set -uo pipefail
build=${FUZZ_BUILD:-build-fuzz}; secs=${FUZZ_SECONDS:-10}; fx=${FIXTURES:-../shared/fixtures}
rss=${FUZZ_RSS_MB:-2048}; mal=${FUZZ_MALLOC_MB:-1024}; jobs=${FUZZ_JOBS:-1}
export SLM_FIXTURES=$fx
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/logs"
run_one() {
  local name=$1 corpus="$build/corpus/$1" findings="$build/findings/$1/" log="$build/logs/$1.log"
  bash tools/fuzz/seeds.sh "$name" "$fx" "$corpus"
  mkdir -p "$findings"
  local max_len=4096
  case $name in gguf|safetensors) max_len=1200000;; tokenizer_json) max_len=65536;; esac
  "$build/fuzz_$name" -max_total_time="$secs" -rss_limit_mb="$rss" -malloc_limit_mb="$mal" -timeout=20 \
    -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$findings" "$corpus" > "$log" 2>&1
  local rc=$?
  local runs cov ft
  runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1)
  cov=$(grep -E '#[0-9]+.*cov: ' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
  ft=$(grep -E '#[0-9]+.*ft: ' "$log" | tail -n 1 | sed -E 's/.*ft: ([0-9]+).*/\1/')
  if [ $rc = 0 ]; then
    echo "fuzz $name: ok, ${runs:-?} runs in ${secs} s, cov ${cov:-?}, ft ${ft:-?}, corpus $(ls "$corpus" | wc -l)"
  else
    echo "fuzz $name: FAILED (exit $rc), ${runs:-?} runs; log $log, inputs in $findings"
    grep -E 'ERROR|FUZZ_CHECK|SUMMARY|out-of-memory|malloc\(|timeout' "$log" | head -n 5 | sed 's/^/    /'
  fi
  return $rc
}
passed=0; failed=0
if [ "$jobs" -gt 1 ]; then
  pids=(); names=()
  for n in "$@"; do
    ( run_one "$n" > "$build/logs/$n.summary" ) & pids+=($!); names+=("$n")
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    cat "$build/logs/${names[$i]}.summary"
  done
else
  for n in "$@"; do
    if run_one "$n"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
fi
echo "fuzz: ${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
