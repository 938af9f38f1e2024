#!/usr/bin/env bash
# One sitting on the GPU machine: build the CUDA targets, run every GPU test (kernels vs the CPU reference, the
# mirror decode, the CUDA backend through Context vs the CPU backend on the same files), compare `slm --gpu`
# logits with the CPU's on GGUF files made here, time the kernels and the graph decode (slm-gpu-bench), run
# `slm bench --gpu` (per-kernel-kind profile) on random Llama-3.2-1B-shaped FP16 and GPTQ-4 files, `slm run --gpu`
# (VRAM by use), and the torch/transformers peer; then one table of everything.
#   usage: tools/bench/gpu_run.sh OUTDIR [prebuilt-dir]
# Results: OUTDIR/tests.log, logits.md, bench.md, slm_bench.md, peer.md, results.md (all of them).
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
  SLM_TEST_TMP=$OUT/tmp "$BIN/slm-gpu-tests" > "$OUT/tests.log" 2>&1
  rm -rf "$OUT/tmp"
fi
# The same tests with the GEMVs launched with programmatic dependent launch (opt-in, kernels.cuh).
SLM_CUDA_PDL=1 SLM_TEST_TMP=$OUT/tmp "$BIN/slm-gpu-tests" > "$OUT/tests_pdl.log" 2>&1; rm -rf "$OUT/tmp"
cat "$OUT/tests.log"; echo "with SLM_CUDA_PDL=1: $(tail -n 1 "$OUT/tests_pdl.log")"
SLM=$BIN/slm-cuda
W=$(mktemp -d /tmp/slm-gpu-run.XXXXXX)
# Models made here: a small random model as Q8_0 and as GPTQ-4 layers with a Q8_0 head (act-order, g64), for
# the logits check; the Llama-3.2-1B shape as F16 and GPTQ-4 (round to nearest on GPTQ's grid: speed does not
# depend on the values) for slm bench --gpu.
t0=$(date +%s)
"$SLM" gen-data -o "$W/data" --n 40 --n-test 10 > /dev/null 2>&1
"$SLM" synth --preset tiny -o "$W/tiny-f16.gguf" --dim 256 --layers 4 --heads 4 --kv-heads 2 --ffn 768 --vocab 2000 --quiet > /dev/null 2>&1
"$SLM" quantize "$W/tiny-f16.gguf" "$W/tiny-q8_0.gguf" Q8_0 > /dev/null 2>&1
"$SLM" quantize "$W/tiny-q8_0.gguf" "$W/tiny-gptq.gguf" GPTQ-4 --allow-requantize --act-order --group 64 \
  --calib "$W/data/train.jsonl" --calib-n 8 > "$W/q.log" 2>&1 || tail -3 "$W/q.log"
"$SLM" quantize "$W/tiny-f16.gguf" "$W/tiny-gptq-f16head.gguf" GPTQ-4 --act-order --group 64 \
  --calib "$W/data/train.jsonl" --calib-n 8 > "$W/q2.log" 2>&1 || tail -3 "$W/q2.log"
"$SLM" synth --preset llama3.2-1b -o "$W/1b-f16.gguf" --quiet > /dev/null 2>&1
"$SLM" quantize "$W/1b-f16.gguf" "$W/1b-gptq.gguf" GPTQ-4 --rtn --group 128 --calib "$W/data/train.jsonl" \
  --calib-n 2 --max-tokens 32 > "$W/q1b.log" 2>&1 || tail -3 "$W/q1b.log"
echo "models made in $(( $(date +%s) - t0 )) s"; ls -la "$W"
tools/bench/gpu_logits_check.sh "$SLM" "$OUT/logits" "$W/tiny-q8_0.gguf" "$W/tiny-gptq.gguf" "$W/tiny-gptq-f16head.gguf" | tee "$OUT/logits.md"
"$BIN/slm-gpu-bench" "$OUT/bench.md" > /dev/null 2>&1 || echo "bench failed (see above)"
[ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
[ -n "${WITH_PDL:-}" ] && SLM_CUDA_PDL=1 "$BIN/slm-gpu-bench" "$OUT/bench_pdl.md" > /dev/null 2>&1 && {
  echo "## the same with programmatic dependent launch (SLM_CUDA_PDL=1)"; grep -E "^\| [0-9]|^\| FP16|^\| GPTQ" "$OUT/bench_pdl.md"; }
: > "$OUT/slm_bench.md"
for m in 1b-f16 1b-gptq; do
  [ -f "$W/$m.gguf" ] || continue
  echo "## slm bench --gpu -m $m.gguf -p 512 -n 128 -r 3" >> "$OUT/slm_bench.md"
  "$SLM" bench --gpu -m "$W/$m.gguf" -p 512 -n 128 -r 3 >> "$OUT/slm_bench.md" 2>&1
  echo "## slm run --gpu -m $m.gguf (summary)" >> "$OUT/slm_bench.md"
  "$SLM" run --gpu -m "$W/$m.gguf" -p "Once upon a time" -n 32 --temp 0 2>&1 > /dev/null | tail -2 >> "$OUT/slm_bench.md"
done
cat "$OUT/slm_bench.md"
# SKIP_PEER=1: leave out the torch/transformers peer (its figures from an earlier sitting stand).
[ -n "${SKIP_PEER:-}" ] || PYTHONUNBUFFERED=1 timeout 240 python3 tools/bench/gpu_peer.py "$OUT/peer.md" > "$OUT/peer.log" 2>&1 || echo "peer: exit $?"
cat "$OUT"/peer.md 2>/dev/null || tail -5 "$OUT/peer.log"
cat "$OUT/gpu.txt" "$OUT/logits.md" "$OUT/bench.md" "$OUT/bench_pdl.md" "$OUT/slm_bench.md" "$OUT/peer.md" > "$OUT/results.md" 2>/dev/null
rm -rf "$W"
grep -E "passed|FAIL" "$OUT/tests.log" | tail -15
