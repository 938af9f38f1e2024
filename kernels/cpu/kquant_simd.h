// Small SIMD helpers shared by the K-quant dot products (q4_K.cpp, q5_K.cpp, q6_K.cpp).
//
// Each helper carries its own target attribute, so this header can be included from baseline x86-64 code;
// a helper may only be called from a function compiled for the same (or a wider) target.
#pragma once
// GCC 12 warns about the deliberately undefined registers inside its own AVX-512 intrinsics when they are
// used through target attributes (GCC bug 105593, fixed in later releases); the warnings point into the
// intrinsic headers, so they are silenced for those headers only. Include this header before anything that
// might include <immintrin.h> for the silencing to take effect.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>

namespace slm::kernels::simd {

#define KQ_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KQ_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define KQ_TARGET_AVX512VNNI \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

// Sum of the 8 floats of v.
KQ_TARGET_AVX2 inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Sum of the 4 floats of v.
KQ_TARGET_AVX2 inline float hsum_ps128(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

// IEEE half -> float with the F16C instruction (exact, like slm::fp16_to_fp32).
KQ_TARGET_AVX2 inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// 32 unaligned bytes.
KQ_TARGET_AVX2 inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Two 32-byte halves into one 64-byte register: lo in bytes 0..31, hi in bytes 32..63.
KQ_TARGET_AVX512 inline __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K / Q5_K block, as unpack_scales_mins_k4
// computes them, but assembled in a register: writing four words to memory and reading them back as one
// 16-byte load would stall on store forwarding (~12 cycles per block, a large share of the dot's time).
KQ_TARGET_AVX2 inline __m128i scales_mins_k4(const uint8_t* q) {
    uint32_t w0, w1, w2;
    std::memcpy(&w0, q, 4);
    std::memcpy(&w1, q + 4, 4);
    std::memcpy(&w2, q + 8, 4);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    const uint32_t sc_lo = w0 & low6;
    const uint32_t mn_lo = w1 & low6;
    const uint32_t sc_hi = (w2 & low4) | (((w0 >> 6) & low2) << 4);
    const uint32_t mn_hi = ((w2 >> 4) & low4) | (((w1 >> 6) & low2) << 4);
    return _mm_setr_epi32(int(sc_lo), int(sc_hi), int(mn_lo), int(mn_hi));
}

// Shuffle control that fills every 16-bit element of a 128-bit lane with element e of that lane
// (bytes 2e, 2e+1), for _mm256_shuffle_epi8 / _mm_shuffle_epi8.
KQ_TARGET_AVX2 inline __m256i broadcast16_control(int e) { return _mm256_set1_epi16(short(0x0100 + 0x0202 * e)); }

// Lanes 0..7 = lane a of v, lanes 8..15 = lane b of v (32-bit lanes): the scales of two 32-value
// sub-blocks laid out to match a 64-byte register holding one sub-block in each half.
KQ_TARGET_AVX512 inline __m512i pick_pair32(__m512i v, int a, int b) {
    const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
    return _mm512_permutexvar_epi32(idx, v);
}

}  // namespace slm::kernels::simd
