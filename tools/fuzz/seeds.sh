#!/usr/bin/env bash
# Seeds the corpus of one fuzz harness: tools/fuzz/seeds.sh NAME FIXTURES CORPUS_DIR
# Copies the small hand-made seeds of tests/fuzz/seeds/NAME/ and derives more from the fixtures at run time
# (into CORPUS_DIR, under build-fuzz/: fixtures are never copied into the repository). A harness with no case
# below still gets its committed seeds (or starts from nothing, which libFuzzer handles).
set -euo pipefail
name=$1; fx=$2; out=$3
mkdir -p "$out"
if [ -d "tests/fuzz/seeds/$name" ]; then cp -f "tests/fuzz/seeds/$name"/* "$out"/ 2>/dev/null || true; fi
have() { [ -f "$fx/$1" ]; }
# The first K lines of a JSONL file, one seed per line.
lines() {  # FILE K PREFIX
  local i=0
  while IFS= read -r line && [ $i -lt "$2" ]; do
    printf '%s' "$line" > "$out/$3_$i"; i=$((i + 1))
  done < "$1"
}
case "$name" in
  gguf)
    # Whole small files, and the header (metadata + tensor table) of the larger ones.
    for f in models/stories260K.gguf; do have "$f" && cp -f "$fx/$f" "$out/$(basename "$f")"; done
    for f in tokenizer/gpt2/vocab.gguf tokenizer/llama-spm/vocab.gguf models/llama3-tiny-f16.gguf; do
      have "$f" && head -c 65536 "$fx/$f" > "$out/head_$(echo "$f" | tr / _)"
    done ;;
  json)
    for f in tokenizer/llama3/encode_cases.jsonl tokenizer/gpt2/encode_cases.jsonl; do
      have "$f" && lines "$fx/$f" 20 "$(basename "$(dirname "$f")")"
    done ;;
  tokenizer_json)
    # The fixture's head: the added tokens, normalizer and pre-tokenizer before the vocabulary (cut off).
    have tokenizer/llama3/tokenizer.json && head -c 16384 "$fx/tokenizer/llama3/tokenizer.json" > "$out/llama3_head.json" ;;
  tiktoken)
    have tokenizer/llama3/tokenizer.model && head -n 300 "$fx/tokenizer/llama3/tokenizer.model" > "$out/llama3_300.model" ;;
  encode)
    # Each case's text behind a selector byte (0: Llama 3, 1: GPT-2, 2: SentencePiece; 4: parse special).
    for d in llama3 gpt2 llama-spm; do
      f="$fx/tokenizer/$d/encode_cases.jsonl"
      [ -f "$f" ] || continue
      i=0
      while IFS= read -r line && [ $i -lt 30 ]; do
        t=$(printf '%s' "$line" | sed -E 's/^\{"text": "(([^"\\]|\\.)*)".*/\1/')
        case $d in llama3) s='\000';; gpt2) s='\001';; *) s='\002';; esac
        { printf "$s"; printf '%s' "$t"; } > "$out/${d}_$i"; i=$((i + 1))
      done < "$f"
    done ;;
esac
