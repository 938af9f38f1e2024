#include "backend.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "common.h"
#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "threadpool.h"

namespace slm::kernels {

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// n iterations of 8 independent FMA chains of one register each (latency hidden); returns the flops done.
// One body per width, each with its own target (clang: no lambdas or generic helpers across targets).
SLM_TARGET_AVX2 double fma_avx2(int64_t n, float* sink) {
    __m256 a[8];
    for (int k = 0; k < 8; k++) a[k] = _mm256_set1_ps(1.0f + 0.1f * float(k));
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
    __m256 s = a[0];
    for (int k = 1; k < 8; k++) s = _mm256_add_ps(s, a[k]);
    *sink = simd::hsum(s);
    return double(n) * 8 * 2 * 8;
}
SLM_TARGET_AVX512 double fma_avx512(int64_t n, float* sink) {
    __m512 a[8];
    for (int k = 0; k < 8; k++) a[k] = _mm512_set1_ps(1.0f + 0.1f * float(k));
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
    __m512 s = a[0];
    for (int k = 1; k < 8; k++) s = _mm512_add_ps(s, a[k]);
    *sink = simd::hsum(s);
    return double(n) * 8 * 2 * 16;
}
double fma_scalar(int64_t n, float* sink) {
    float a[8];
    for (int k = 0; k < 8; k++) a[k] = 1.0f + 0.1f * float(k);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) a[k] = a[k] * 0.999999f + 1e-7f;
    float s = 0;
    for (int k = 0; k < 8; k++) s += a[k];
    *sink = s;
    return double(n) * 8 * 2;
}

}  // namespace

}  // namespace slm::kernels

namespace slm::probe {

using namespace kernels;

double read_bandwidth_gbs(ThreadPool& pool, size_t bytes, int reps) {
    const size_t n = std::max<size_t>(bytes / sizeof(float), 1 << 20);
    std::vector<float> buf(n, 1.0f);  // touched: every page is mapped before timing
    const vec_dot_fn dot = active().dot(GgmlType::F32);
    const int nt = pool.size();
    std::vector<float> sink(static_cast<size_t>(nt) * 16, 0.0f);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
        pool.run([&](int ti) {
            const size_t a = n * size_t(ti) / size_t(nt), b = n * size_t(ti + 1) / size_t(nt);
            sink[size_t(ti) * 16] = dot(int64_t(b - a), buf.data() + a, buf.data() + a);  // one stream, read once
        });
        best = std::min(best, now_s() - t0);
    }
    return double(n * sizeof(float)) / best / 1e9;
}

double peak_gflops(ThreadPool& pool, double seconds) {
    const SimdLevel l = active().level();
    const int nt = pool.size();
    std::vector<float> sink(static_cast<size_t>(nt) * 16, 0.0f);
    std::vector<double> flops(static_cast<size_t>(nt), 0.0);
    auto body = [&](int64_t iters, int ti) {
        float* s = &sink[size_t(ti) * 16];
        return l >= SimdLevel::avx512 ? fma_avx512(iters, s) : l >= SimdLevel::avx2 ? fma_avx2(iters, s) : fma_scalar(iters, s);
    };
    // Calibrate the iteration count on one thread, then run it on all at once.
    int64_t iters = 1 << 16;
    for (;;) {
        const double t0 = now_s();
        body(iters, 0);
        const double dt = now_s() - t0;
        if (dt > seconds / 4 || iters > (int64_t(1) << 40)) {
            iters = int64_t(double(iters) * seconds / std::max(dt, 1e-6));
            break;
        }
        iters *= 4;
    }
    const double t0 = now_s();
    pool.run([&](int ti) { flops[size_t(ti)] = body(iters, ti); });
    const double dt = now_s() - t0;
    double total = 0;
    for (double f : flops) total += f;
    return total / dt / 1e9;
}

std::vector<DotVariant> dot_variants(GgmlType t) {
    std::vector<DotVariant> vs;
    if (!kernels::has_ops(t)) return vs;
    vs.push_back({"scalar", kernels::type_ops(t).dot_ref});
    for (int i = 1; i <= int(simd_level()); i++) {
        const kernels::KernelSet& ks = kernels::for_level(SimdLevel(i));
        if (ks.dot(t) != vs.back().dot) vs.push_back({ks.name(), ks.dot(t)});  // a level may repeat the one below
    }
    return vs;
}

GgmlType vec_dot_type(GgmlType t) { return kernels::type_ops(t).vec_dot_type; }

void quantize_activation(GgmlType t, const float* x, void* x_row, int64_t n) {
    kernels::active().activation_quantizer(vec_dot_type(t))(x, x_row, n);
}

}  // namespace slm::probe
