#!/usr/bin/env bash
# One sitting on the GPU machine: build the CUDA targets (unless prebuilt ones run there), run every GPU
# kernel test, then the benchmark and the torch/transformers peer, and write one table.
#   usage: tools/bench/gpu_run.sh OUTDIR [prebuilt-dir]
# With a models/ folder of GGUF files beside it, also compares `slm --gpu` logits with the CPU's for each
# (tools/bench/gpu_logits_check.sh).
# Results: OUTDIR/tests.log, OUTDIR/bench.md, OUTDIR/peer.md, OUTDIR/results.md (all three).
set -u
OUT=${1:?usage: gpu_run.sh OUTDIR [prebuilt-dir]}
PRE=${2:-}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
BIN=build
if [ -n "$PRE" ] && "$PRE/slm-gpu-tests" > "$OUT/tests.log" 2>&1; grep -q "gpu tests:" "$OUT/tests.log" 2>/dev/null; then
  BIN=$PRE
  echo "using the prebuilt binaries in $PRE"
else
  [ -n "$PRE" ] && { echo "prebuilt binaries do not run here:"; head -3 "$OUT/tests.log"; }
  t0=$(date +%s)
  make -j"$(nproc)" cuda > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
  echo "built in $(( $(date +%s) - t0 )) s"
  "$BIN/slm-gpu-tests" > "$OUT/tests.log" 2>&1
fi
cat "$OUT/tests.log"
if [ -d models ] && [ -x "$BIN/slm-cuda" ]; then
  tools/bench/gpu_logits_check.sh "$BIN/slm-cuda" "$OUT/logits" models/*.gguf | tee "$OUT/logits.md"
fi
"$BIN/slm-gpu-bench" "$OUT/bench.md" > /dev/null 2>&1 || echo "bench failed (see above)"
[ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
PYTHONUNBUFFERED=1 timeout 240 python3 tools/bench/gpu_peer.py "$OUT/peer.md" > "$OUT/peer.log" 2>&1 || echo "peer: exit $?"
cat "$OUT"/peer.md 2>/dev/null || tail -5 "$OUT/peer.log"
cat "$OUT/gpu.txt" "$OUT/logits.md" "$OUT/bench.md" "$OUT/peer.md" > "$OUT/results.md" 2>/dev/null
grep -E "passed|FAIL" "$OUT/tests.log" | tail -15
