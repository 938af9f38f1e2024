// The scaling and rounding of one 32-value block shared by the Q8_0 and Q8_1 quantizers (q8_0.cpp, q8_1.cpp):
// d = amax / 127 (amax = largest |x| in the block), then one of two roundings of the quants:
//  - Q8Rounding::weight, ggml's reference quantizers (what llama-quantize writes): q = x * (1/d) rounded half
//    away from zero;
//  - Q8Rounding::activation, what ggml's x86 SIMD code does to activations at run time: q = x * (127/amax)
//    rounded half to even. 127/amax and 1/(amax/127) differ in the last bit now and then, which moves a quant
//    by one; slm converts activations this way so a forward pass sees the quants llama.cpp sees.
// The scalar and AVX2 forms make the same float products and the same roundings: identical quants.
#pragma once
#include <cmath>
#include <cstdint>

#include "cpu/simd.h"

namespace slm::kernels {

enum class Q8Rounding { weight, activation };

// Quantizes x[0..32) into q; returns d (before its rounding to fp16: the quants use the float d).
template <Q8Rounding R>
inline float q8_block_scalar(const float* x, int8_t* q) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
    const float d = amax / 127;
    if constexpr (R == Q8Rounding::weight) {
        const float id = d != 0 ? 1.0f / d : 0.0f;
        for (int j = 0; j < 32; j++) q[j] = int8_t(std::round(x[j] * id));
    } else {
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        for (int j = 0; j < 32; j++) q[j] = int8_t(std::nearbyint(x[j] * id));  // half to even
    }
    return d;
}

// The same, 8 lanes at a time: the rounded quants of x[0..32) as exact small integers in r[0..4) (8 each,
// in order); returns d.
template <Q8Rounding R>
SLM_TARGET_AVX2 inline float q8_block_avx2(const float* x, __m256 r[4]) {
    using namespace simd;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 v[4] = {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)};
    const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                                   _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127;
    if constexpr (R == Q8Rounding::weight) {
        const __m256 idv = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f);
        for (int k = 0; k < 4; k++) r[k] = round_half_away(_mm256_mul_ps(v[k], idv));
    } else {
        const __m256 idv = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
        for (int k = 0; k < 4; k++) r[k] = _mm256_round_ps(_mm256_mul_ps(v[k], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    return d;
}

}  // namespace slm::kernels
