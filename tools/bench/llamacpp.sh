#!/usr/bin/env bash
# Builds llama.cpp's CPU tools (llama-bench, llama-quantize) OUTSIDE the project tree, for the comparisons in
# RESULTS.md. Nothing of llama.cpp's code is kept in this repository: only these commands.
#
#   usage: tools/bench/llamacpp.sh build SRC_DIR        # SRC_DIR: a llama.cpp checkout (e.g. /work/llama.cpp)
#          tools/bench/llamacpp.sh bench SRC_DIR MODEL.gguf [llama-bench options...]
#
# Source used for RESULTS.md: llama.cpp commit 0c1e57098bba43ac29e6e3b677cdceebdd22334f (2026-10-01), as vendored
# in the PyPI sdist llama-cpp-python 0.3.36 (pip download llama-cpp-python==0.3.36 --no-binary :all:;
# its vendor/llama.cpp directory).
# Release, native, AMX off (its AMX kernel dies with an illegal instruction in these VMs), no OpenMP (ggml's own
# thread pool), no network code.
set -euo pipefail
cmd=$1; src=$2; shift 2
case "$cmd" in
  build)
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF \
      -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF
    nice cmake --build "$src/build" -j2 --target llama-bench llama-quantize
    ;;
  bench)
    model=$1; shift
    # weights read into memory (-mmp 0), 2 threads, pp512 and tg128 unless overridden
    "$src/build/bin/llama-bench" -m "$model" -mmp 0 -t 2 -p 512 -n 128 "$@"
    ;;
  *) echo "usage: $0 build|bench SRC_DIR ..." >&2; exit 2 ;;
esac
