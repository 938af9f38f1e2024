// train_gemm_bench: GFLOP/s of the training GEMM (kernels/cpu/gemm_f32.*) alone, then of the CPU backend's
// three training products (matmul_train = forward with a frozen quantized base, matmul_dx, matmul_dw) on
// SmolLM2-135M's projection shapes, 1 and 2 threads.
//
// Build (after `make`, which produces build/libslm.a) and run from the repository root:
//   g++ -std=c++20 -O2 -Isrc -Ikernels tools/bench/train_gemm_bench.cpp build/libslm.a -pthread -o build/train_gemm_bench
//   ./build/train_gemm_bench [--tokens 320] [--type q4_1] [--seconds 0.5] [--cpu 1]
// (--cpu 1: GFLOP per process CPU-second instead of per wall-clock second of the best pass.)
//
// 1. The micro-kernel on operands that stay in L1/L2 (a: 64 x 256, b: 256 x 256 -> d: 64 x 256), one thread,
//    at every SIMD level this CPU runs: its ceiling.
// 2. The backend products, weights random and quantized to --type (LoRA A/B left out: matmul_dw is timed on
//    a full-size dW, as --full training uses it). Best of repeated passes over --seconds.
// FLOPs: 2 per multiply-add. This machine's FP32 FMA peak is cores x clock x 2 FMA ports x 16 lanes x 2.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backend.h"
#include "common.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm_f32.h"
#include "cpu/kernels.h"
#include "threadpool.h"
#include "types.h"
#include "bench_util.h"

using namespace slm;

using bench::random_floats;

// Seconds per call of fn over repeated passes for `seconds` of wall time: the best wall-clock pass, or with
// --cpu the mean process CPU time per call (all threads summed: steadier than wall time on a shared machine,
// and at 2 threads it shows what the second thread costs rather than what it saves).
static bool g_cpu = false;
static double best_time(double seconds, const std::function<void()>& fn) {
    const bench::Timing t = bench::time_calls(seconds, fn);
    return g_cpu ? t.cpu_per_call : t.best_wall;
}

int main(int argc, char** argv) {
    int tokens = 320;
    double seconds = 0.5;
    std::string type = "q4_1";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--type")) type = argv[i + 1];
        else if (!std::strcmp(argv[i], "--cpu")) g_cpu = std::atoi(argv[i + 1]) != 0;
        else {
            std::fprintf(stderr, "usage: train_gemm_bench [--tokens N] [--type q4_1] [--seconds S] [--cpu 0|1]\n");
            return 2;
        }
    }
    const auto t = type_from_name(type);
    if (!t || !kernels::has_ops(*t) || !kernels::type_ops(*t).quantize) {
        std::fprintf(stderr, "train_gemm_bench: unknown or unquantizable type %s\n", type.c_str());
        return 2;
    }
    std::printf("## micro-kernel alone (1 thread, a 64x256 . b 256x256 -> d 64x256, in cache)\n");
    {
        const int M = 64, N = 256, K = 256;
        std::vector<float> a = random_floats(size_t(M * K), 1), b = random_floats(size_t(K * N), 2), d(size_t(M * N));
        for (int li = 0; li <= int(simd_level()); li++) {
            const kernels::gemm_f32::Kernel k = kernels::gemm_f32::for_level(SimdLevel(li));
            const double s = best_time(seconds, [&] { kernels::gemm_f32::gemm(k, M, N, K, a.data(), K, b.data(), N, d.data(), N); });
            std::printf("%-14s %8.1f GFLOP/s\n", k.name, 2.0 * M * N * K / s * 1e-9);
        }
    }
    std::printf("\n## transpose alone (1 thread, %d x 576 -> 576 x %d, GB/s read + written)\n", tokens, tokens);
    {
        const std::vector<float> src = random_floats(size_t(tokens) * 576, 6);
        std::vector<float> dst(src.size());
        for (int li = 0; li <= int(simd_level()); li++) {
            const kernels::gemm_f32::Kernel k = kernels::gemm_f32::for_level(SimdLevel(li));
            const double s = best_time(seconds, [&] {
                kernels::gemm_f32::transpose(k, src.data(), tokens, 576, 576, dst.data(), tokens, 1.0f, false);
            });
            std::printf("%-14s %8.1f GB/s\n", k.name, 2.0 * 4.0 * double(src.size()) / s * 1e-9);
        }
    }
    struct Shape { const char* name; int n_in, n_out; };
    const Shape shapes[] = {{"q/o 576x576", 576, 576}, {"k/v 576->192", 576, 192}, {"gate/up 576->1536", 576, 1536},
                            {"down 1536->576", 1536, 576}};
    std::printf("\n## backend products, %s weights, %d tokens (GFLOP/s; kernel %s)\n", type.c_str(), tokens,
                kernels::gemm_f32::for_level(simd_level()).name);
    std::printf("%-20s %7s %12s %12s %12s\n", "shape", "threads", "forward", "dx", "dW");
    for (const Shape& sh : shapes) {
        const std::vector<float> wf = random_floats(size_t(sh.n_in) * size_t(sh.n_out), 3);
        std::vector<uint8_t> wq(size_t(row_bytes(*t, sh.n_in)) * size_t(sh.n_out));
        for (int o = 0; o < sh.n_out; o++)
            kernels::type_ops(*t).quantize(wf.data() + size_t(o) * size_t(sh.n_in), wq.data() + size_t(o) * size_t(row_bytes(*t, sh.n_in)), sh.n_in);
        const WeightView W = ggml_view(*t, wq.data(), sh.n_in, sh.n_out);
        const std::vector<float> x = random_floats(size_t(tokens) * size_t(sh.n_in), 4), dy = random_floats(size_t(tokens) * size_t(sh.n_out), 5);
        std::vector<float> y(size_t(tokens) * size_t(sh.n_out)), dx(size_t(tokens) * size_t(sh.n_in)),
            dW(size_t(sh.n_in) * size_t(sh.n_out));
        const double flops = 2.0 * tokens * sh.n_in * sh.n_out * 1e-9;
        for (int threads : {1, 2}) {
            ThreadPool pool(threads);
            auto be = make_cpu_backend(pool);
            const double f = best_time(seconds, [&] { be->matmul_train(W, x.data(), tokens, y.data(), nullptr); });
            const double b = best_time(seconds, [&] { be->matmul_dx(W, dy.data(), tokens, dx.data(), false); });
            const double w = best_time(seconds, [&] { be->matmul_dw(dy.data(), x.data(), tokens, sh.n_out, sh.n_in, 1.0f, dW.data()); });
            std::printf("%-20s %7d %12.1f %12.1f %12.1f\n", sh.name, threads, flops / f, flops / b, flops / w);
        }
    }
    return 0;
}
