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

}  // namespace slm::kernels::legacy
