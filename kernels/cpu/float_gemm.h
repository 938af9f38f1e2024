// The GEMM tiles of the float weight types (F32, F16, BF16; activations stay f32): R weight rows x T tokens
// over the row, the weights widened to f32 in registers, a few vectors at a time, and used for all T tokens.
//
// Bit-identity with the types' dot kernels (f32.cpp, f16.cpp, bf16.cpp), which share one shape: four vector
// accumulators, accumulator j taking the elements W*(4s + j) .. W*(4s + j) + W-1 of each step s of 4W elements
// (W = 8 lanes for AVX2, 16 for AVX-512) by fused multiply-add, then hsum((acc0 + acc1) + (acc2 + acc3)). A
// micro-tile computes the four accumulators of each output one after the other (j outer: R*T registers hold one
// accumulator per output) and adds them in that order, lane for lane the same operations. Rows whose length is
// not a multiple of 4W (the dots' tails) run the dot kernel instead.
//
// The format passes how W elements widen, as L: static __m256 load8(const void* row, int64_t i) (AVX2) and
// static __m512 load16(const void* row, int64_t i) (AVX-512), element i of the row on.
#pragma once
#include <cstdint>

#include "cpu/gemm_tile.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace slm::kernels::float_gemm {

template <class L, int R, int T>
SLM_TARGET_AVX512 void micro_avx512(const GemmTile& g, int64_t r, int64_t t) {
    const int64_t n = g.n_in;
    const uint8_t* w[R];
    const float* x[T];
    for (int j = 0; j < R; j++) w[j] = g.w + (r + j) * g.w_stride;
    for (int k = 0; k < T; k++) x[k] = reinterpret_cast<const float*>(g.x + (t + k) * g.x_stride);
    __m512 part[4][R][T];
    for (int q = 0; q < 4; q++) {
        __m512 acc[R][T];
        for (int j = 0; j < R; j++)
            for (int k = 0; k < T; k++) acc[j][k] = _mm512_setzero_ps();
        for (int64_t i = 16 * q; i < n; i += 64) {
            __m512 wv[R];
            for (int j = 0; j < R; j++) wv[j] = L::load16(w[j], i);
            for (int k = 0; k < T; k++) {
                const __m512 xv = _mm512_loadu_ps(x[k] + i);
                for (int j = 0; j < R; j++) acc[j][k] = _mm512_fmadd_ps(wv[j], xv, acc[j][k]);
            }
        }
        for (int j = 0; j < R; j++)
            for (int k = 0; k < T; k++) part[q][j][k] = acc[j][k];
    }
    for (int j = 0; j < R; j++)
        for (int k = 0; k < T; k++)
            g.y[(t + k) * g.y_stride + r + j] = simd::hsum(
                _mm512_add_ps(_mm512_add_ps(part[0][j][k], part[1][j][k]), _mm512_add_ps(part[2][j][k], part[3][j][k])));
}

template <class L, int R, int T>
SLM_TARGET_AVX2 void micro_avx2(const GemmTile& g, int64_t r, int64_t t) {
    const int64_t n = g.n_in;
    const uint8_t* w[R];
    const float* x[T];
    for (int j = 0; j < R; j++) w[j] = g.w + (r + j) * g.w_stride;
    for (int k = 0; k < T; k++) x[k] = reinterpret_cast<const float*>(g.x + (t + k) * g.x_stride);
    __m256 part[4][R][T];
    for (int q = 0; q < 4; q++) {
        __m256 acc[R][T];
        for (int j = 0; j < R; j++)
            for (int k = 0; k < T; k++) acc[j][k] = _mm256_setzero_ps();
        for (int64_t i = 8 * q; i < n; i += 32) {
            __m256 wv[R];
            for (int j = 0; j < R; j++) wv[j] = L::load8(w[j], i);
            for (int k = 0; k < T; k++) {
                const __m256 xv = _mm256_loadu_ps(x[k] + i);
                for (int j = 0; j < R; j++) acc[j][k] = _mm256_fmadd_ps(wv[j], xv, acc[j][k]);
            }
        }
        for (int j = 0; j < R; j++)
            for (int k = 0; k < T; k++) part[q][j][k] = acc[j][k];
    }
    for (int j = 0; j < R; j++)
        for (int k = 0; k < T; k++)
            g.y[(t + k) * g.y_stride + r + j] = simd::hsum(
                _mm256_add_ps(_mm256_add_ps(part[0][j][k], part[1][j][k]), _mm256_add_ps(part[2][j][k], part[3][j][k])));
}

// One dot per output: for rows whose length the micro-tiles do not take.
inline void by_dot(const GemmTile& g) {
    for (int64_t k = g.t0; k < g.t1; k++)
        for (int64_t r = g.r0; r < g.r1; r++) g.y[k * g.y_stride + r] = g.dot(g.n_in, g.w + r * g.w_stride, g.x + k * g.x_stride);
}

template <class L>
SLM_TARGET_AVX512 void gemm_avx512(const GemmTile& g) {
    if (g.n_in % 64) return by_dot(g);
    gemm_tiles<4, 6>(g, micro_avx512<L, 4, 6>);
}

template <class L>
SLM_TARGET_AVX2 void gemm_avx2(const GemmTile& g) {
    if (g.n_in % 32) return by_dot(g);
    gemm_tiles<3, 4>(g, micro_avx2<L, 3, 4>);
}

}  // namespace slm::kernels::float_gemm
