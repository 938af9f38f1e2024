#!/usr/bin/env bash
# Builds llama.cpp's CPU tools (llama-bench, llama-quantize, llama-perplexity) OUTSIDE the project tree, for the
# comparisons in RESULTS.md. Nothing of llama.cpp's code is kept in this repository: only these commands (and
# tools/bench/ggml_iq4_nl_ref.c, slm's own program that calls ggml's public API).
#
#   usage: tools/bench/llamacpp.sh build SRC_DIR        # SRC_DIR: a llama.cpp checkout (e.g. /tmp/llama.cpp)
#          tools/bench/llamacpp.sh bench SRC_DIR MODEL.gguf [llama-bench options...]
#          tools/bench/llamacpp.sh quantize SRC_DIR IN.gguf OUT.gguf TYPE   # llama-quantize, 2 threads
#          tools/bench/llamacpp.sh cmp SRC_DIR SLM IN.gguf TYPE DIR  # llama-quantize and slm quantize, then cmp
#          tools/bench/llamacpp.sh iq4-golden SRC_DIR > tests/golden/iq4_nl.tsv   # ggml's IQ4_NL bytes and dots
#          tools/bench/llamacpp.sh ppl SRC_DIR MODEL.gguf TEXT.txt [llama-perplexity options...]
#          tools/bench/llamacpp.sh api-build SRC_DIR    # only libllama + ggml, and tools/bench/llama_api_check.cpp
#          tools/bench/llamacpp.sh api SRC_DIR quantize IN.gguf OUT.gguf FTYPE_ID | logits MODEL [--lora A] OUT.f32 IDS..
#
# Source used for RESULTS.md: llama.cpp commit 0c1e57098bba43ac29e6e3b677cdceebdd22334f (2026-10-01), as vendored
# in the PyPI sdist llama-cpp-python 0.3.36 (pip download llama-cpp-python==0.3.36 --no-binary :all:;
# its vendor/llama.cpp directory).
# (The fetch of github:ggml-org/llama.cpp is too large for this machine's snapshot limit; the sdist is small.)
# Release, native, AMX off (its AMX kernel dies with an illegal instruction in these VMs), no OpenMP (ggml's own
# thread pool), no network code.
set -euo pipefail
cmd=$1; src=$2; shift 2
configure() {
  cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF \
    -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF
}
case "$cmd" in
  build)
    configure
    nice -n 19 cmake --build "$src/build" -j2 --target llama-bench llama-quantize llama-perplexity
    ;;
  quantize)
    # llama-quantize without an importance matrix; its positional nthread argument last
    "$src/build/bin/llama-quantize" "$1" "$2" "$3" 2
    ;;
  cmp)
    slm=$1; in=$2; type=$3; dir=$4
    mkdir -p "$dir"
    if [ -x "$src/build/bin/llama-quantize" ]; then
      "$src/build/bin/llama-quantize" "$in" "$dir/llamacpp-$type.gguf" "$type" 2 > "$dir/llamacpp-$type.log" 2>&1
    else  # only libllama built (api-build): the same llama_model_quantize call, llama_ftype ids from llama.h
      declare -A ftype=([Q4_0]=2 [Q4_1]=3 [Q8_0]=7 [Q5_0]=8 [Q5_1]=9 [Q2_K]=10 [Q3_K_S]=11 [Q3_K_M]=12 [Q3_K_L]=13
                        [Q4_K_S]=14 [Q4_K_M]=15 [Q5_K_S]=16 [Q5_K_M]=17 [Q6_K]=18 [IQ4_NL]=25)
      "$src/build/bin/llama_api_check" quantize "$in" "$dir/llamacpp-$type.gguf" "${ftype[$type]}" > "$dir/llamacpp-$type.log" 2>&1
    fi
    "$slm" quantize "$in" "$dir/slm-$type.gguf" "$type" --threads 2 > "$dir/slm-$type.log" 2>&1
    cmp "$dir/llamacpp-$type.gguf" "$dir/slm-$type.gguf" && echo "$type: identical ($(stat -c %s "$dir/slm-$type.gguf") bytes)"
    ;;
  iq4-golden)
    here=$(cd "$(dirname "$0")" && pwd)
    tmp=$(mktemp -d)
    gcc -O2 -I"$src/ggml/include" -c "$here/ggml_iq4_nl_ref.c" -o "$tmp/ref.o"
    g++ -o "$tmp/ggml_iq4_nl_ref" "$tmp/ref.o" "$src/build/ggml/src/libggml-cpu.a" "$src/build/ggml/src/libggml-base.a" -lm -pthread
    echo "# IQ4_NL golden data: ggml_quantize_chunk (no importance matrix) and ggml's CPU vec_dot with Q8_0 activations,"
    echo "# for the input of tools/bench/ggml_iq4_nl_ref.c (16 rows of 576); made by tools/bench/llamacpp.sh iq4-golden"
    "$tmp/ggml_iq4_nl_ref"
    rm -rf "$tmp"
    ;;
  api-build)
    # libllama and ggml only (no common library, no tools), then slm's own caller of llama.cpp's public API
    [ -f "$src/build/CMakeCache.txt" ] || configure
    nice -n 19 cmake --build "$src/build" -j2 --target llama
    here=$(cd "$(dirname "$0")" && pwd)
    nice -n 19 g++ -std=c++17 -O2 -I"$src/include" -I"$src/ggml/include" "$here/llama_api_check.cpp" -o "$src/build/bin/llama_api_check" \
      "$src/build/src/libllama.a" "$src/build/ggml/src/libggml.a" "$src/build/ggml/src/libggml-cpu.a" \
      "$src/build/ggml/src/libggml-base.a" -lm -pthread
    ;;
  api)
    "$src/build/bin/llama_api_check" "$@"
    ;;
  ppl)
    model=$1; text=$2; shift 2
    "$src/build/bin/llama-perplexity" -m "$model" -f "$text" -t 2 "$@"
    ;;
  bench)
    model=$1; shift
    # weights read into memory (-mmp 0), 2 threads, pp512 and tg128 unless overridden
    "$src/build/bin/llama-bench" -m "$model" -mmp 0 -t 2 -p 512 -n 128 "$@"
    ;;
  *) echo "usage: $0 build|bench|quantize|cmp|iq4-golden|ppl SRC_DIR ..." >&2; exit 2 ;;
esac
