// The CPU side of training: the two transposed products of a linear layer (CpuBackend::matmul_dx / matmul_dw,
// declared in the training section of cpu_backend.h).
//
// Both products are blocked so each thread owns a disjoint tile of the output and sums it in a fixed order:
// results do not depend on the thread count (checkpoint/resume is bit-exact across --threads).
//
//   matmul_dx: dx[t][i] (+)= sum_o dy[t][o] W[o][i]. Work items: (column chunk of W, block of 256 tokens). An
//     item dequantizes a tile of 128 rows x chunk columns of W into a thread-local buffer (a chunk is a whole
//     number of the type's blocks, so a quantized base is never expanded beyond that tile), then a register-
//     blocked micro-kernel (4 tokens x 32 columns on AVX-512, x 16 on AVX2) adds the tile's contribution.
//   matmul_dw: dW[o][i] += scale * sum_t dy[t][o] x[t][i]. Work items: (16 rows of dW, 256 columns).
#include <algorithm>
#include <cstring>
#include <vector>

#include "backend.h"
#include "common.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "ops.h"
#include "threadpool.h"

namespace slm {

namespace cpu_train {

constexpr int kRowTile = 128, kTokBlock = 256;

// The micro-kernel of matmul_dx: d[t][0..nc) += sum_k a[t][k] w[k][0..nc) for MT tokens, K rows of the
// dequantized tile (row stride ldw), a[t] = dy row t (stride lda), d[t] = dx row t (stride ldd). The
// accumulators stay in registers over all K rows; each loaded w vector serves MT FMAs.
using dx_kernel_fn = void (*)(int mt, int64_t K, int64_t nc, const float* a, int64_t lda, const float* w, int64_t ldw,
                              float* d, int64_t ldd);

static void dx_kernel_scalar(int mt, int64_t K, int64_t nc, const float* a, int64_t lda, const float* w, int64_t ldw,
                             float* d, int64_t ldd) {
    for (int t = 0; t < mt; t++)
        for (int64_t k = 0; k < K; k++) {
            const float x = a[t * lda + k];
            const float* wk = w + k * ldw;
            float* dt = d + t * ldd;
            for (int64_t i = 0; i < nc; i++) dt[i] += x * wk[i];
        }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static void dx_kernel_avx2(int mt, int64_t K, int64_t nc, const float* a, int64_t lda,
                                                               const float* w, int64_t ldw, float* d, int64_t ldd) {
    int t = 0;
    for (; t + 4 <= mt; t += 4) {
        int64_t i = 0;
        for (; i + 16 <= nc; i += 16) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            const float* a0 = a + t * lda;
            for (int64_t k = 0; k < K; k++) {
                const __m256 w0 = _mm256_loadu_ps(w + k * ldw + i), w1 = _mm256_loadu_ps(w + k * ldw + i + 8);
                __m256 x = _mm256_broadcast_ss(a0 + k);
                c00 = _mm256_fmadd_ps(x, w0, c00);
                c01 = _mm256_fmadd_ps(x, w1, c01);
                x = _mm256_broadcast_ss(a0 + lda + k);
                c10 = _mm256_fmadd_ps(x, w0, c10);
                c11 = _mm256_fmadd_ps(x, w1, c11);
                x = _mm256_broadcast_ss(a0 + 2 * lda + k);
                c20 = _mm256_fmadd_ps(x, w0, c20);
                c21 = _mm256_fmadd_ps(x, w1, c21);
                x = _mm256_broadcast_ss(a0 + 3 * lda + k);
                c30 = _mm256_fmadd_ps(x, w0, c30);
                c31 = _mm256_fmadd_ps(x, w1, c31);
            }
            float* d0 = d + t * ldd + i;
            const __m256 cs[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
            for (int r = 0; r < 4; r++) {
                _mm256_storeu_ps(d0 + r * ldd, _mm256_add_ps(_mm256_loadu_ps(d0 + r * ldd), cs[r][0]));
                _mm256_storeu_ps(d0 + r * ldd + 8, _mm256_add_ps(_mm256_loadu_ps(d0 + r * ldd + 8), cs[r][1]));
            }
        }
        if (i < nc) dx_kernel_scalar(4, K, nc - i, a + t * lda, lda, w + i, ldw, d + t * ldd + i, ldd);
    }
    if (t < mt) dx_kernel_scalar(mt - t, K, nc, a + t * lda, lda, w, ldw, d + t * ldd, ldd);
}

__attribute__((target("avx512f"))) static void dx_kernel_avx512(int mt, int64_t K, int64_t nc, const float* a, int64_t lda,
                                                               const float* w, int64_t ldw, float* d, int64_t ldd) {
    int t = 0;
    for (; t + 4 <= mt; t += 4) {
        int64_t i = 0;
        for (; i + 32 <= nc; i += 32) {
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            const float* a0 = a + t * lda;
            for (int64_t k = 0; k < K; k++) {
                const __m512 w0 = _mm512_loadu_ps(w + k * ldw + i), w1 = _mm512_loadu_ps(w + k * ldw + i + 16);
                __m512 x = _mm512_set1_ps(a0[k]);
                c00 = _mm512_fmadd_ps(x, w0, c00);
                c01 = _mm512_fmadd_ps(x, w1, c01);
                x = _mm512_set1_ps(a0[lda + k]);
                c10 = _mm512_fmadd_ps(x, w0, c10);
                c11 = _mm512_fmadd_ps(x, w1, c11);
                x = _mm512_set1_ps(a0[2 * lda + k]);
                c20 = _mm512_fmadd_ps(x, w0, c20);
                c21 = _mm512_fmadd_ps(x, w1, c21);
                x = _mm512_set1_ps(a0[3 * lda + k]);
                c30 = _mm512_fmadd_ps(x, w0, c30);
                c31 = _mm512_fmadd_ps(x, w1, c31);
            }
            float* d0 = d + t * ldd + i;
            const __m512 cs[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
            for (int r = 0; r < 4; r++) {
                _mm512_storeu_ps(d0 + r * ldd, _mm512_add_ps(_mm512_loadu_ps(d0 + r * ldd), cs[r][0]));
                _mm512_storeu_ps(d0 + r * ldd + 16, _mm512_add_ps(_mm512_loadu_ps(d0 + r * ldd + 16), cs[r][1]));
            }
        }
        if (i < nc) dx_kernel_scalar(4, K, nc - i, a + t * lda, lda, w + i, ldw, d + t * ldd + i, ldd);
    }
    if (t < mt) dx_kernel_scalar(mt - t, K, nc, a + t * lda, lda, w, ldw, d + t * ldd, ldd);
}
#endif

static dx_kernel_fn best_dx_kernel() {
#if defined(__x86_64__)
    const SimdLevel l = simd_level();  // respects SLM_SIMD
    if (l >= SimdLevel::avx512) return dx_kernel_avx512;
    if (l >= SimdLevel::avx2) return dx_kernel_avx2;
#endif
    return dx_kernel_scalar;
}

void matmul_dx(ThreadPool& pool, const WeightView& W, const float* dy, int n, float* dx, bool accumulate) {
    if (W.format != WeightFormat::ggml) fail("matmul_dx: %s weights are not supported on the CPU", "multi-part");
    const kernels::TypeOps& ops = kernels::type_ops(W.type);
    if (!ops.dequantize) fail("matmul_dx: no dequantizer for type %s", type_name(W.type));
    const int64_t n_in = W.n_in, n_out = W.n_out, bs = type_info(W.type).block_size;
    if (n_in % bs) fail("matmul_dx: row length %lld is not a multiple of the %s block (%lld)", (long long)n_in,
                        type_name(W.type), (long long)bs);
    const int64_t chunk = bs * std::max<int64_t>(1, 64 / bs);  // columns per item: whole blocks
    const int64_t n_chunks = (n_in + chunk - 1) / chunk, n_tb = (n + kTokBlock - 1) / kTokBlock;
    const int64_t bytes_per_block = type_info(W.type).type_size;
    if (!accumulate) std::fill(dx, dx + size_t(n) * size_t(n_in), 0.0f);
    const dx_kernel_fn kern = best_dx_kernel();
    std::vector<std::vector<float>> tiles(size_t(pool.size()), std::vector<float>(size_t(kRowTile * chunk)));
    pool.parallel_for(n_chunks * n_tb, 1, [&](int64_t b0, int64_t b1, int thread) {
        float* tile = tiles[size_t(thread)].data();
        for (int64_t item = b0; item < b1; item++) {
            const int64_t c = item / n_tb, tb = item % n_tb;
            const int64_t i0 = c * chunk, nc = std::min(chunk, n_in - i0);
            const int t0 = int(tb * kTokBlock), t1 = std::min(n, t0 + kTokBlock);
            for (int64_t o0 = 0; o0 < n_out; o0 += kRowTile) {
                const int64_t nr = std::min<int64_t>(kRowTile, n_out - o0);
                for (int64_t r = 0; r < nr; r++)
                    ops.dequantize(W.row(o0 + r) + (i0 / bs) * bytes_per_block, tile + r * chunk, nc);
                kern(t1 - t0, nr, nc, dy + size_t(t0) * size_t(n_out) + size_t(o0), n_out, tile, chunk,
                     dx + size_t(t0) * size_t(n_in) + size_t(i0), n_in);
            }
        }
    });
}

void matmul_dw(ThreadPool& pool, const float* dy, const float* x, int n, int n_out, int n_in, float scale, float* dW) {
    constexpr int64_t kRows = 16, kCols = 256;
    const int64_t n_rt = (n_out + kRows - 1) / kRows, n_ct = (n_in + kCols - 1) / kCols;
    pool.parallel_for(n_rt * n_ct, 1, [&](int64_t b0, int64_t b1, int) {
        for (int64_t item = b0; item < b1; item++) {
            const int64_t o0 = (item / n_ct) * kRows, i0 = (item % n_ct) * kCols;
            const int64_t nr = std::min<int64_t>(kRows, n_out - o0), nc = std::min<int64_t>(kCols, n_in - i0);
            for (int t = 0; t < n; t++) {
                const float* __restrict xt = x + size_t(t) * size_t(n_in) + size_t(i0);
                const float* dyt = dy + size_t(t) * size_t(n_out) + size_t(o0);
                for (int64_t r = 0; r < nr; r++) {
                    const float a = scale * dyt[r];
                    if (a == 0.0f) continue;
                    float* __restrict d = dW + size_t(o0 + r) * size_t(n_in) + size_t(i0);
                    for (int64_t i = 0; i < nc; i++) d[i] += a * xt[i];
                }
            }
        }
    });
}

}  // namespace cpu_train

namespace kernels {

void CpuBackend::matmul_dx(const WeightView& W, const float* dy, int n, float* dx, bool accumulate) {
    cpu_train::matmul_dx(pool_, W, dy, n, dx, accumulate);
}
void CpuBackend::matmul_dw(const float* dy, const float* x, int n, int n_out, int n_in, float scale, float* dW) {
    cpu_train::matmul_dw(pool_, dy, x, n, n_out, n_in, scale, dW);
}

}  // namespace kernels

}  // namespace slm
