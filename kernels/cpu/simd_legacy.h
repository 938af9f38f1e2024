// Small SIMD helpers shared by the float and legacy block kernels (f32, f16, bf16, q4_0 ... q8_1).
// Each helper carries its own target attribute, so including this header keeps the binary baseline x86-64;
// only functions compiled for the same (or a wider) target call them.
#pragma once
#include <immintrin.h>

namespace slm::kernels::simd {

#define SLM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SLM_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define SLM_TARGET_AVX512VNNI \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

// Sum of the 8 floats of a 256-bit register.
SLM_TARGET_AVX2 static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Sum of the 16 floats of a 512-bit register (fold to 256 bits first, then as above).
SLM_TARGET_AVX512 static inline float hsum(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return hsum(_mm256_add_ps(lo, hi));
}

// Products a[i]*b[i] of unsigned bytes a and signed bytes b, summed in groups of 4 into 8 int32 lanes.
// maddubs saturates its int16 pair sums, which never happens here: callers pass a <= 128 and |b| <= 127
// (b comes from slm's activation quantizers), so a pair sums to at most 2*128*127 = 32512.
SLM_TARGET_AVX2 static inline __m256i dot_u8_s8(__m256i a_u8, __m256i b_s8) {
    __m256i p16 = _mm256_maddubs_epi16(a_u8, b_s8);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

// Signed x signed byte dot product into 8 int32 lanes: maddubs needs one unsigned operand, so move x's sign
// onto y (|x| * sign(x)*y == x*y).
SLM_TARGET_AVX2 static inline __m256i dot_s8_s8(__m256i x_s8, __m256i y_s8) {
    return dot_u8_s8(_mm256_sign_epi8(x_s8, x_s8), _mm256_sign_epi8(y_s8, x_s8));
}

}  // namespace slm::kernels::simd
