#!/usr/bin/env bash
# Writes tests/golden/logits_sha256.tsv: the sha256 of `slm logits --out` (the last position's float32 logits)
# for every fixture model and each setting the forward pass has (KV f16/f32, default / --llamacpp-numerics),
# at each SIMD level this CPU runs. tests/test_logits_golden.cpp recomputes them: a refactoring that changes
# a single bit of any logit fails it. Run it only when a change of numerics is intended, and say so.
#   usage: gen_logits_sha256.sh SLM FIXTURES SCRATCH LEVELS...   (LEVELS: scalar avx2 avx512 avx512_vnni)
set -euo pipefail
SLM=$1; FIX=$2; TMP=$3; shift 3
mkdir -p "$TMP"
TOKENS="1 403 407 261 378 285 264 442 299 260 317 423 265 280 351 330 11 296 305 259"
TINY=$FIX/models/llama3-tiny-f16.gguf
models=("stories260K=$FIX/models/stories260K.gguf" "llama3-tiny-f16=$TINY"
        "SmolLM2-Q4_1=$FIX/models/SmolLM2-135M-Instruct-Q4_1.gguf")
for t in Q8_0 Q6_K Q5_K_M Q4_K_M Q3_K_M Q2_K Q4_0 Q4_1 Q5_0 Q5_1; do
  [ -f "$TMP/tiny-$t.gguf" ] || "$SLM" quantize "$TINY" "$TMP/tiny-$t.gguf" "$t" --threads 2 >/dev/null 2>&1
  models+=("llama3-tiny-$t=$TMP/tiny-$t.gguf")
done
printf '# model\tsettings\tsimd\tsha256 of slm logits --out (tokens: %s; -t 2)\n' "$TOKENS"
for lvl in "$@"; do
  for m in "${models[@]}"; do
    name=${m%%=*}; path=${m#*=}
    for s in "f16" "f32" "f16-llamacpp"; do
      args=(--kv-type "${s%%-*}")
      [ "$s" = f16-llamacpp ] && args+=(--llamacpp-numerics)
      SLM_SIMD=$lvl "$SLM" logits -m "$path" --tokens "$TOKENS" --top 1 -t 2 "${args[@]}" --out "$TMP/out.f32" >/dev/null
      printf '%s\t%s\t%s\t%s\n' "$name" "$s" "$lvl" "$(sha256sum "$TMP/out.f32" | cut -d' ' -f1)"
    done
  done
done
