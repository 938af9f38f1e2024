// gemm_bench: the inference matmul (kernels/cpu/matmul.cpp) over a prompt's tokens, one weight matrix of the
// Llama-3.2-1B shapes, GOP/s (2 per multiply-add) at every SIMD level: through the level's GEMM tile (what
// matmul runs) and through one dot call per output (what matmul ran before the tiles), activations already
// converted for the dot loop. Weights random, quantized to --type.
//
// Build (after `make`, which produces build/libslm.a) and run from the repository root:
//   g++ -std=c++20 -O2 -Isrc -Ikernels tools/bench/gemm_bench.cpp build/libslm.a -pthread -o build/gemm_bench
//   ./build/gemm_bench [--type q4_K] [--tokens 512] [--threads 1] [--seconds 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common.h"
#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "threadpool.h"
#include "types.h"
#include "bench_util.h"

using namespace slm;

using bench::random_floats;

// Best seconds per call of fn over repeated passes for `seconds` (at least 2 passes).
static double best_time(double seconds, const std::function<void()>& fn) { return bench::time_calls(seconds, fn, 2).best_wall; }

int main(int argc, char** argv) {
    int tokens = 512, threads = 1;
    double seconds = 1.0;
    std::string type = "q4_K";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--type")) type = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: gemm_bench [--type q4_K] [--tokens 512] [--threads 1] [--seconds 1]\n");
            return 2;
        }
    }
    const auto t = type_from_name(type);
    if (!t || !kernels::has_ops(*t) || !kernels::type_ops(*t).quantize || tokens < 1 || threads < 1) {
        std::fprintf(stderr, "gemm_bench: unknown or unquantizable type %s, or bad --tokens / --threads\n", type.c_str());
        return 2;
    }
    struct Shape { const char* name; int n_in, n_out; };
    const Shape shapes[] = {{"q/o 2048x2048", 2048, 2048}, {"k/v 2048->512", 2048, 512},
                            {"gate/up 2048->8192", 2048, 8192}, {"down 8192->2048", 8192, 2048}};
    ThreadPool pool(threads);
    std::printf("%s weights, %d tokens, %d thread(s); GOP/s (2 per multiply-add)\n", type.c_str(), tokens, threads);
    std::printf("%-20s %-12s %10s %10s %8s\n", "shape", "level", "tile", "dot loop", "ratio");
    for (const Shape& sh : shapes) {
        if (sh.n_in % type_info(*t).block_size) continue;
        const std::vector<float> wf = random_floats(size_t(sh.n_in) * size_t(sh.n_out), 3);
        const int64_t rb = row_bytes(*t, sh.n_in);
        std::vector<uint8_t> wq(size_t(rb) * size_t(sh.n_out));
        for (int o = 0; o < sh.n_out; o++)
            kernels::type_ops(*t).quantize(wf.data() + size_t(o) * size_t(sh.n_in), wq.data() + size_t(o) * size_t(rb), sh.n_in);
        const WeightView W = ggml_view(*t, wq.data(), sh.n_in, sh.n_out);
        const std::vector<float> x = random_floats(size_t(tokens) * size_t(sh.n_in), 4);
        std::vector<float> y(size_t(tokens) * size_t(sh.n_out));
        const double gop = 2.0 * tokens * sh.n_in * sh.n_out * 1e-9;
        MatmulScratch scratch;
        for (int li = 1; li <= int(simd_level()); li++) {
            const kernels::KernelSet& ks = kernels::for_level(SimdLevel(li));
            const double tile = best_time(seconds, [&] { matmul(ks, W, x.data(), tokens, y.data(), pool, scratch); });
            // The dot loop on activations converted once (as matmul converts them), rows in blocks of 16.
            const GgmlType at = ks.ref(*t).vec_dot_type;
            const int64_t xb = at == GgmlType::F32 ? sh.n_in * 4 : row_bytes(at, sh.n_in);
            std::vector<uint8_t> xq(size_t(xb) * size_t(tokens));
            for (int k = 0; k < tokens; k++) {
                if (at == GgmlType::F32) std::memcpy(xq.data() + k * xb, x.data() + size_t(k) * size_t(sh.n_in), size_t(xb));
                else ks.activation_quantizer(at)(x.data() + size_t(k) * size_t(sh.n_in), xq.data() + k * xb, sh.n_in);
            }
            const kernels::vec_dot_fn dot = ks.dot(*t);
            const double loop = best_time(seconds, [&] {
                pool.parallel_for(sh.n_out, 16, [&](int64_t r0, int64_t r1, int) {
                    for (int64_t rb0 = r0; rb0 < r1; rb0 += 16)
                        for (int k = 0; k < tokens; k++)
                            for (int64_t r = rb0; r < std::min(r1, rb0 + 16); r++)
                                y[size_t(k) * size_t(sh.n_out) + size_t(r)] = dot(sh.n_in, wq.data() + r * rb, xq.data() + k * xb);
                });
            });
            std::printf("%-20s %-12s %10.1f %10.1f %7.2fx%s\n", sh.name, ks.name(), gop / tile, gop / loop, loop / tile,
                        ks.gemm(*t) ? "" : "  (no tile: both are dot loops)");
        }
    }
    return 0;
}
