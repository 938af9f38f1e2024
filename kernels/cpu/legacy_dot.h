// The SIMD dot-product loops of the legacy formats, written once. Each format's file (q4_0.cpp, q5_0.cpp,
// q8_0.cpp against Q8_0 activations; q4_1.cpp, q5_1.cpp against Q8_1) draws its layout, keeps its scalar
// reference and says how its blocks unpack, in a struct passed as `F`:
//
//     using X = block_q4_0; using Y = block_q8_0;    // weight and activation blocks (32 values each)
//     static constexpr bool kSigned = true;          // levels are s8 (q - offset) or u8 (Q4_1 / Q5_1: 0..31)
//     static __m256i quants(const X&);               // AVX2: one block's 32 levels, in element order
//     static __m512i quants_512(const X&, const X&); // AVX-512: two blocks' levels, the first in bytes 0..31
//
// Q4_1 and Q5_1 also have an offset: x = d q + m, so their dot adds m_x * s_y (s = the activation block's
// d * sum of its values) per block.
//
// Summation order (ggml's x86 code, so the results equal llama.cpp's to the bit): AVX2 runs one float
// accumulator over the blocks in order, then one horizontal sum; the m*s terms go to lane 0 of a second
// accumulator and are added last. AVX-512 takes two blocks per 64-byte register (an odd last block goes
// through the AVX2 code); one body serves the plain and the VNNI variants, which differ only in the
// instruction that multiplies the bytes (maddubs + madd, or vpdpbusd).
#pragma once
#include <cstdint>

#include "cpu/gemm_tile.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace slm::kernels::legacy {

template <class F>
SLM_TARGET_AVX2 inline __m256i block_products_avx2(const typename F::X& x, const typename F::Y& y) {
    using namespace simd;
    if constexpr (F::kSigned) return dot_s8_s8(F::quants(x), load32(y.qs));
    else return dot_u8_s8(F::quants(x), load32(y.qs));
}

// One block into the accumulators (accm: the m*s term, in lane 0; untouched by formats without an offset).
template <class F>
SLM_TARGET_AVX2 inline void block_dot_avx2(const typename F::X& x, const typename F::Y& y, __m256& acc, __m256& accm) {
    using namespace simd;
    const __m256i p = block_products_avx2<F>(x, y);
    const float d = half(x.d) * half(y.d);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
    if constexpr (!F::kSigned)
        accm = _mm256_fmadd_ps(_mm256_setr_ps(half(x.m), 0, 0, 0, 0, 0, 0, 0), _mm256_set1_ps(half(y.s)), accm);
}

template <class F>
SLM_TARGET_AVX2 inline float dot_avx2(int64_t n, const void* vx, const void* vy) {
    const typename F::X* x = static_cast<const typename F::X*>(vx);
    const typename F::Y* y = static_cast<const typename F::Y*>(vy);
    const int64_t nb = n / 32;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) block_dot_avx2<F>(x[i], y[i], acc, accm);
    if constexpr (F::kSigned) return simd::hsum(acc);
    else return simd::hsum(acc) + _mm256_cvtss_f32(accm);
}

// The m*s terms of both blocks go into one 128-bit accumulator, lanes 0 and 1.
template <class F, bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_avx512(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const typename F::X* x = static_cast<const typename F::X*>(vx);
    const typename F::Y* y = static_cast<const typename F::Y*>(vy);
    const int64_t nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i xq = F::quants_512(x[i], x[i + 1]);
        const __m512i yq = join(load32(y[i].qs), load32(y[i + 1].qs));
        const __m512 d = join_scales(half(x[i].d) * half(y[i].d), half(x[i + 1].d) * half(y[i + 1].d));
        __m512i p;
        if constexpr (F::kSigned) p = VNNI ? dot_s8_s8_512_vnni(xq, yq) : dot_s8_s8_512(xq, yq);
        else p = VNNI ? dot_u8_s8_512_vnni(xq, yq) : dot_u8_s8_512(xq, yq);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc);
        if constexpr (!F::kSigned)
            accm = _mm_fmadd_ps(_mm_setr_ps(half(x[i].m), half(x[i + 1].m), 0, 0),
                                _mm_setr_ps(half(y[i].s), half(y[i + 1].s), 0, 0), accm);
    }
    __m256 tail = _mm256_setzero_ps(), tailm = _mm256_setzero_ps();
    if (i < nb) block_dot_avx2<F>(x[i], y[i], tail, tailm);
    if constexpr (F::kSigned) return hsum(acc) + hsum(tail);
    else return hsum(acc) + hsum(_mm256_add_ps(_mm256_add_ps(tail, tailm), _mm256_zextps128_ps256(accm)));
}

// GEMM tile, AVX-512 (gemm_tile.h): R weight rows x 4 tokens, two blocks per register as in dot_avx512, and per
// output the same float steps: acc = fma(float(p), d_x * d_y, acc) per block pair, the m*s terms into lanes 0
// and 1 of a 128-bit accumulator, an odd last block through block_dot_avx2 into its own accumulators, and the
// same final sums. The quants of each weight block pair are unpacked once for the 4 tokens, the activations
// joined once for the R rows. The four tokens' m*s accumulators share one 512-bit register (one 128-bit lane
// per token: lane for lane the same operations).
// Only the exact integer p of signed formats is formed differently with VNNI: vpdpbusd wants one unsigned
// operand, and instead of moving the weights' signs onto the activations for every (row, token) pair, the
// weights are made unsigned once, x + 128 (x ^ 0x80), and each token's 128 * (sum of 4 activations) is
// subtracted once per block pair: sum (x + 128) y - 128 sum y = sum x y, exactly, in each int32 lane.
template <class F, bool VNNI, int R>
SLM_TARGET_AVX512VNNI void micro_avx512(const GemmTile& g, int64_t r, int64_t t) {
    using namespace simd;
    constexpr int T = 4;
    const int64_t nb = g.n_in / 32;
    const typename F::X* x[R];
    const typename F::Y* y[T];
    for (int j = 0; j < R; j++) x[j] = reinterpret_cast<const typename F::X*>(g.w + (r + j) * g.w_stride);
    for (int k = 0; k < T; k++) y[k] = reinterpret_cast<const typename F::Y*>(g.x + (t + k) * g.x_stride);
    __m512 acc[R][T], accm[R];
    for (int j = 0; j < R; j++) {
        accm[j] = _mm512_setzero_ps();
        for (int k = 0; k < T; k++) acc[j][k] = _mm512_setzero_ps();
    }
    const __m512i bias = _mm512_set1_epi8(char(0x80));
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i yq[T], corr[T];
        __m512 dy[T];
        for (int k = 0; k < T; k++) {
            yq[k] = join(load32(y[k][i].qs), load32(y[k][i + 1].qs));
            dy[k] = join_scales(half(y[k][i].d), half(y[k][i + 1].d));
            if constexpr (VNNI && F::kSigned)
                corr[k] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, yq[k]));
        }
        __m512 s4 = _mm512_setzero_ps();
        if constexpr (!F::kSigned)
            s4 = _mm512_setr_ps(half(y[0][i].s), half(y[0][i + 1].s), 0, 0, half(y[1][i].s), half(y[1][i + 1].s), 0, 0,
                                half(y[2][i].s), half(y[2][i + 1].s), 0, 0, half(y[3][i].s), half(y[3][i + 1].s), 0, 0);
        for (int j = 0; j < R; j++) {
            __m512i xq = F::quants_512(x[j][i], x[j][i + 1]);
            const __m512 dx = join_scales(half(x[j][i].d), half(x[j][i + 1].d));
            if constexpr (!F::kSigned)
                accm[j] = _mm512_fmadd_ps(_mm512_broadcast_f32x4(_mm_setr_ps(half(x[j][i].m), half(x[j][i + 1].m), 0, 0)), s4,
                                          accm[j]);
            if constexpr (VNNI && F::kSigned) xq = _mm512_xor_si512(xq, bias);
            for (int k = 0; k < T; k++) {
                __m512i p;
                if constexpr (VNNI) p = _mm512_dpbusd_epi32(F::kSigned ? corr[k] : _mm512_setzero_si512(), xq, yq[k]);
                else if constexpr (F::kSigned) p = dot_s8_s8_512(xq, yq[k]);
                else p = dot_u8_s8_512(xq, yq[k]);
                acc[j][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dx, dy[k]), acc[j][k]);
            }
        }
    }
    for (int j = 0; j < R; j++) {
        const __m128 m[T] = {_mm512_castps512_ps128(accm[j]), _mm512_extractf32x4_ps(accm[j], 1),
                             _mm512_extractf32x4_ps(accm[j], 2), _mm512_extractf32x4_ps(accm[j], 3)};
        for (int k = 0; k < T; k++) {
            __m256 tail = _mm256_setzero_ps(), tailm = _mm256_setzero_ps();
            if (i < nb) block_dot_avx2<F>(x[j][i], y[k][i], tail, tailm);
            float v;
            if constexpr (F::kSigned) v = hsum(acc[j][k]) + hsum(tail);
            else v = hsum(acc[j][k]) + hsum(_mm256_add_ps(_mm256_add_ps(tail, tailm), _mm256_zextps128_ps256(m[k])));
            g.y[(t + k) * g.y_stride + r + j] = v;
        }
    }
}

template <class F, bool VNNI>
SLM_TARGET_AVX512VNNI void gemm_avx512(const GemmTile& g) {
    gemm_tiles<4, 4>(g, micro_avx512<F, VNNI, 4>);
}

}  // namespace slm::kernels::legacy
