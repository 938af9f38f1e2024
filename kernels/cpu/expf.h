// A float exp for training's softmaxes and SiLU, one algorithm at every width (scalar reference, AVX2,
// AVX-512), so the levels differ only by FMA rounding:
//
//   x clamped to [-87.33, 88.37] (below: the result is flushed to 0);  n = round(x log2 e);
//   r = x - n ln2 (ln2 split in two, Cody-Waite);  e^r = 1 + r + r^2 P(r), P Cephes' degree-5 expf polynomial;
//   e^x = e^r 2^n (n added to the exponent bits).
//
// Max relative error against std::exp in double: 7.8e-8 (under 1 ulp) over the whole range, measured
// by tests/test_train_cpu_ops.cpp (which fails above 1.5e-7). Inference does not use it (its logits are pinned).
#pragma once
#include "cpu/simd.h"

#include <cstdint>
#include <cstring>

namespace slm::kernels::expf_poly {

constexpr float kLo = -87.33f, kHi = 88.37f, kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

// The reference.
inline float exp_scalar(float x) {
    if (!(x >= kLo)) return x != x ? x : 0.0f;  // NaN stays NaN, tiny -> 0
    if (x > kHi) x = kHi;
    const float n = __builtin_nearbyintf(x * kLog2e);
    float r = x - n * kLn2Hi;
    r = r - n * kLn2Lo;
    float p = kP0;
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    const float e = (p * r) * r + r + 1.0f;
    uint32_t bits;
    std::memcpy(&bits, &e, 4);
    bits += uint32_t(int32_t(n)) << 23;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

#if defined(__x86_64__)
SLM_TARGET_AVX2 static inline __m256 exp_avx2(__m256 x) {
    const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(kLo), _CMP_NGE_UQ);  // x < lo or NaN
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kLo)), _mm256_set1_ps(kHi));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
    __m256 p = _mm256_set1_ps(kP0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
    const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_add_epi32(_mm256_castps_si256(e), _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23));
    const __m256 out = _mm256_andnot_ps(tiny, _mm256_castsi256_ps(bits));
    return _mm256_blendv_ps(out, x, nan);
}

SLM_TARGET_AVX512 static inline __m512 exp_avx512(__m512 x) {
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kLo), _CMP_GE_OQ);  // false for tiny and NaN
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kLo)), _mm512_set1_ps(kHi));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
    __m512 p = _mm512_set1_ps(kP0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
    const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_add_epi32(_mm512_castps_si512(e), _mm512_slli_epi32(_mm512_cvtps_epi32(n), 23));
    const __m512 out = _mm512_maskz_mov_ps(keep, _mm512_castsi512_ps(bits));
    return _mm512_mask_mov_ps(out, nan, x);
}
#endif

}  // namespace slm::kernels::expf_poly
