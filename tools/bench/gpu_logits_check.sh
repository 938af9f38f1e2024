#!/usr/bin/env bash
# GPU logits against the CPU's for the same GGUF files, through Context and the CUDA backend (`--gpu`):
#   usage: tools/bench/gpu_logits_check.sh SLM_CUDA_BINARY OUTDIR MODEL.gguf...
# For each model: the prompt's last-position logits on the CPU and on the GPU (both f16 KV), max |difference|,
# max |logit|, and whether the argmax agrees, with the prompt once as a batch (GEMM path) and once one token at a
# time (--batch 1: the GEMV path). Exit 1 if any difference is 1e-2 or more.
set -u
BIN=$1; OUT=$2; shift 2
mkdir -p "$OUT"
PROMPT="Once upon a time, a little girl named Lily wanted to buy red shoes and track her order"
fail=0
echo "| model | path | max abs diff | max abs logit | same argmax |"
echo "|---|---|---|---|---|"
for m in "$@"; do
  for batch in 256 1; do
    n=$(basename "$m" .gguf)
    "$BIN" logits -m "$m" -p "$PROMPT" --top 1 --batch $batch --out "$OUT/$n.cpu.f32" > /dev/null 2>"$OUT/$n.cpu.err" || { echo "cpu failed: $(tail -1 $OUT/$n.cpu.err)"; fail=1; continue; }
    "$BIN" logits -m "$m" -p "$PROMPT" --top 1 --batch $batch --gpu --out "$OUT/$n.gpu.f32" > /dev/null 2>"$OUT/$n.gpu.err" || { echo "gpu failed: $(tail -1 $OUT/$n.gpu.err)"; fail=1; continue; }
    python3 - "$OUT/$n.cpu.f32" "$OUT/$n.gpu.f32" "$n" "$batch" <<'PY' || fail=1
import sys, array
a = array.array('f'); a.frombytes(open(sys.argv[1], 'rb').read())
b = array.array('f'); b.frombytes(open(sys.argv[2], 'rb').read())
d = max(abs(x - y) for x, y in zip(a, b)); m = max(abs(x) for x in a)
same = max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
path = "GEMM (batch 256)" if sys.argv[4] != "1" else "GEMV (batch 1)"
print("| %s | %s | %.2e | %.2f | %s |" % (sys.argv[3], path, d, m, "yes" if same else "no"))
sys.exit(0 if d < 1e-2 and len(a) == len(b) else 1)
PY
  done
done
exit $fail
