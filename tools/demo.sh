#!/usr/bin/env bash
# make demo: the most complete slm pipeline that exists so far, end to end, offline, on the fixture models.
#   data -> tokenize -> generate -> quantize (Q8_0, Q4_K_M, Q3_K_M) -> audit each -> evaluate each on the intent task
# (The fine-tuning step of the study arrives with the training issue; until then the evaluated models are the
# untrained fixture models, so accuracy is ~0 and the point is the pipeline, the speed and the numerics.)
set -euo pipefail
SLM=${1:-build/slm}
FIX=${2:-../shared/fixtures}
OUT=${DEMO_OUT:-build/demo}
TINY=$FIX/models/llama3-tiny-f16.gguf
STORIES=$FIX/models/stories260K.gguf
for f in "$TINY" "$STORIES"; do
  [ -f "$f" ] || { echo "demo: missing $f (set FIXTURES=... for make demo)" >&2; exit 1; }
done
mkdir -p "$OUT"
step() { printf '\n== %s ==\n' "$*"; }

step "1. the model file"
"$SLM" inspect "$TINY" > "$OUT/inspect.txt"
sed -n 1,12p "$OUT/inspect.txt"; echo "(whole listing in $OUT/inspect.txt)"

step "2. tokenizer (Llama 3 BPE)"
"$SLM" tokenize -m "$TINY" --pieces -p "Pon 2 camisetas rojas en el carrito, por favor 🙏"

step "3. generation: stories260K, greedy from BOS"
"$SLM" run -m "$STORIES" -p "" --temp 0 -n 120

step "4. the intent dataset"
"$SLM" gen-data --n 300 --n-test 500 --seed 7 -o "$OUT/data"
head -n 2 "$OUT/data/test.jsonl"

step "5. quantize llama3-tiny to the study's CPU formats"
for t in Q8_0 Q4_K_M Q3_K_M; do
  "$SLM" quantize "$TINY" "$OUT/tiny-$t.gguf" "$t"
done
ls -l "$OUT"/tiny-*.gguf

step "6. audit what quantization did (weights and next-token distributions)"
for t in Q8_0 Q4_K_M Q3_K_M; do
  "$SLM" audit "$TINY" "$OUT/tiny-$t.gguf" --ctx 256 --json "$OUT/audit-$t.json" --svg "$OUT/audit-$t.svg" | tail -n 12
done

step "7. evaluate every variant on the intent task (schema-constrained decoding)"
for m in "$TINY" "$OUT"/tiny-Q8_0.gguf "$OUT"/tiny-Q4_K_M.gguf "$OUT"/tiny-Q3_K_M.gguf; do
  echo "-- $(basename "$m")"
  "$SLM" eval -m "$m" --data "$OUT/data/test.jsonl" --limit 20 --constrained --report "$OUT/eval-$(basename "$m" .gguf).md" | tail -n 8
done
echo
echo "demo outputs in $OUT (audit JSON/SVG, eval reports, the quantized models)"
