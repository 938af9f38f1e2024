// The one SIMD dialect of the CPU kernels: the target macros and the small helpers every kernel file shares.
//
// The binary is built for baseline x86-64. A SIMD function carries its target in an attribute (never a
// `#pragma GCC target` region: clang ignores those), and may only call helpers of the same or a narrower
// target. Lambdas do not inherit their enclosing function's target under clang: write a named helper with the
// attribute instead. Each SIMD level (cpu_features.h) is exactly one of these targets:
//   avx2         SLM_TARGET_AVX2        AVX2 + FMA + F16C
//   avx512       SLM_TARGET_AVX512      + AVX512 F/BW/VL/DQ
//   avx512_vnni  SLM_TARGET_AVX512VNNI  + AVX512-VNNI (vpdpbusd / vpdpwssd)
#pragma once
// GCC 12 warns about deliberately undefined registers inside its own AVX-512 intrinsics when they are used
// through target attributes (GCC bug 105593); silence that for the intrinsic header only. Include this header
// before anything else that includes <immintrin.h>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstring>

#define SLM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SLM_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define SLM_TARGET_AVX512VNNI \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace slm::kernels::simd {

// ---------------------------------------------------------------- horizontal sums
// One summation order for every width: halves added pairwise down to one float ((0+2)+(1+3) at the end),
// the order of GCC's _mm512_reduce_add_ps too, so either spelling gives the same bits.

SLM_TARGET_AVX2 static inline float hsum(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}
SLM_TARGET_AVX2 static inline float hsum(__m256 v) {
    return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}
SLM_TARGET_AVX512 static inline float hsum(__m512 v) {
    return hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

// ---------------------------------------------------------------- loads and conversions

// IEEE half -> float with F16C (exact, like slm::fp16_to_fp32, without its branches).
SLM_TARGET_AVX2 static inline float half(uint16_t h) { return _cvtsh_ss(h); }

// 32 unaligned bytes.
SLM_TARGET_AVX2 static inline __m256i load32(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// The 16 bytes of a 4-bit block (element j in the low nibble of byte j, element j+16 in the high nibble)
// as 32 bytes in element order, each 0..15.
SLM_TARGET_AVX2 static inline __m256i unpack_nibbles(const uint8_t* qs) {
    __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// 32 bits -> 32 bytes: byte j is 0xff where bit j of `bits` is set, else 0.
SLM_TARGET_AVX2 static inline __m256i bits_to_bytes(uint32_t bits) {
    // Byte j first gets byte j/8 of `bits`, then keeps only bit j%8 and compares.
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int32_t(bits)), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// Round to nearest, ties away from zero, like C's roundf: truncate, then step away from zero where the
// dropped fraction is >= 1/2 (v - trunc(v) is exact in float, so the comparison is exact too).
SLM_TARGET_AVX2 static inline __m256 round_half_away(__m256 v) {
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, t));
    __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign_bit), _mm256_set1_ps(1.0f));  // +-1 with v's sign
    __m256 need = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_add_ps(t, _mm256_and_ps(need, step));
}

// 32 floats already rounded to integers in [-127, 127] -> 32 int8 in element order.
SLM_TARGET_AVX2 static inline __m256i pack_to_int8(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256i ab = _mm256_packs_epi32(_mm256_cvtps_epi32(a), _mm256_cvtps_epi32(b));
    __m256i cd = _mm256_packs_epi32(_mm256_cvtps_epi32(c), _mm256_cvtps_epi32(d));
    __m256i abcd = _mm256_packs_epi16(ab, cd);
    // The packs work within 128-bit lanes: the dwords come out in the order 0,4,1,5,2,6,3,7.
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// ---------------------------------------------------------------- byte dot products (AVX2)

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

// ---------------------------------------------------------------- K-quant scales

// The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K / Q5_K block, as unpack_scales_mins_k4
// computes them, but assembled in a register: writing four words to memory and reading them back as one
// 16-byte load would stall on store forwarding (~12 cycles per block, a large share of the dot's time).
SLM_TARGET_AVX2 static inline __m128i scales_mins_k4(const uint8_t* q) {
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
SLM_TARGET_AVX2 static inline __m256i broadcast16_control(int e) { return _mm256_set1_epi16(short(0x0100 + 0x0202 * e)); }

// ---------------------------------------------------------------- AVX-512

// Two 32-byte halves into one 64-byte register: lo in bytes 0..31, hi in bytes 32..63.
SLM_TARGET_AVX512 static inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// One scale per 32-byte half: lanes 0..7 get a, lanes 8..15 get b.
SLM_TARGET_AVX512 static inline __m512 join_scales(float a, float b) {
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

// Lanes 0..7 = lane a of v, lanes 8..15 = lane b of v (32-bit lanes): the scales of two 32-value
// sub-blocks laid out to match a 64-byte register holding one sub-block in each half.
SLM_TARGET_AVX512 static inline __m512i pick_pair32(__m512i v, int a, int b) {
    const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
    return _mm512_permutexvar_epi32(idx, v);
}

// As dot_u8_s8 / dot_s8_s8 above, 64 bytes into 16 int32 lanes. AVX-512 has no sign_epi8: negate y where
// x is negative with a byte mask instead.
SLM_TARGET_AVX512 static inline __m512i dot_u8_s8_512(__m512i a_u8, __m512i b_s8) {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(a_u8, b_s8), _mm512_set1_epi16(1));
}
SLM_TARGET_AVX512 static inline __m512i signed_to_unsigned_512(__m512i x_s8, __m512i* y_s8) {
    __mmask64 neg = _mm512_movepi8_mask(x_s8);
    *y_s8 = _mm512_mask_sub_epi8(*y_s8, neg, _mm512_setzero_si512(), *y_s8);
    return _mm512_abs_epi8(x_s8);
}
SLM_TARGET_AVX512 static inline __m512i dot_s8_s8_512(__m512i x_s8, __m512i y_s8) {
    __m512i ax = signed_to_unsigned_512(x_s8, &y_s8);
    return dot_u8_s8_512(ax, y_s8);
}

// The same with AVX512-VNNI: vpdpbusd does the 4 products and their sum in one instruction (no int16
// intermediate, so no saturation at all).
SLM_TARGET_AVX512VNNI static inline __m512i dot_u8_s8_512_vnni(__m512i a_u8, __m512i b_s8) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), a_u8, b_s8);
}
SLM_TARGET_AVX512VNNI static inline __m512i dot_s8_s8_512_vnni(__m512i x_s8, __m512i y_s8) {
    __m512i ax = signed_to_unsigned_512(x_s8, &y_s8);
    return dot_u8_s8_512_vnni(ax, y_s8);
}

// ---------------------------------------------------------------- Q4_K / Q5_K, AVX2

// Per block: the 8 scales as s16, in both 128-bit lanes (*scales), and the min products m_j * (sum of the
// activations of sub-block j) as 4 s32 lanes (the bsums pairs 0+1, 2+3, ... are the sub-blocks' sums);
// each format accumulates the min term in its own (ggml's) order.
SLM_TARGET_AVX2 static inline __m128i k4_block_scales_avx2(const uint8_t* scales12, const int16_t* bsums, __m256i* scales) {
    const __m256i sm16 = _mm256_cvtepu8_epi16(scales_mins_k4(scales12));  // 8 scales, 8 mins
    *scales = _mm256_permute2x128_si256(sm16, sm16, 0x00);
    const __m256i bs = load32(bsums);
    const __m128i sub_sums = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), sub_sums);
}

// sumi + the levels q_lo (sub-block 2c) and q_hi (2c+1) of chunk c times the activations a (its 64 bytes),
// each sub-block times its scale: maddubs (u8 x s8, pairs summed to s16, exact for levels <= 31), then madd
// by the scale picked with pick[e] = broadcast16_control(e).
SLM_TARGET_AVX2 static inline __m256i k4_chunk_avx2(__m256i sumi, __m256i q_lo, __m256i q_hi, const int8_t* a, __m256i scales,
                                                    const __m256i* pick, int c) {
    const __m256i scale_lo = _mm256_shuffle_epi8(scales, pick[2 * c]);
    const __m256i scale_hi = _mm256_shuffle_epi8(scales, pick[2 * c + 1]);
    const __m256i p_lo = _mm256_madd_epi16(scale_lo, _mm256_maddubs_epi16(q_lo, load32(a)));
    const __m256i p_hi = _mm256_madd_epi16(scale_hi, _mm256_maddubs_epi16(q_hi, load32(a + 32)));
    return _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
}

// ---------------------------------------------------------------- Q4_K / Q5_K, AVX-512

// The two share the scale layout (8 scales and 8 mins of 6 bits) and the AVX-512 loop: one 64-byte load of
// levels covers chunks c and c+1, its low nibbles sub-blocks 2c and 2c+2, its high nibbles 2c+1 and 2c+3
// (Q5_K adds its fifth bits before the products). Levels are at most 31, so maddubs (2*31*127) and dpbusd
// (4*31*127) are exact and their results fit the 16 bits madd / dpwssd read.

// Per block: adds the min term dmin * sum_j m_j * (sum of the activations of sub-block j) to acc_m (4 lanes)
// and returns the 8 scales as s32 lanes; for the madd form each scale is repeated in both 16-bit halves,
// for VNNI only the low half holds it (dpwssd's high-half product is then 0).
template <bool VNNI>
SLM_TARGET_AVX512VNNI static inline __m512i k4_block_scales_512(const uint8_t* scales, const int16_t* bsums, float dmin,
                                                                __m128& acc_m) {
    const __m128i sm8 = scales_mins_k4(scales);  // 8 scales, 8 mins
    const __m256i bs = load32(bsums);
    const __m128i sub_sums = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    const __m128i prod_m = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm8, 8)), sub_sums);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod_m), acc_m);
    __m512i sc32 = _mm512_cvtepu8_epi32(sm8);
    if (!VNNI) sc32 = _mm512_or_si512(sc32, _mm512_slli_epi32(sc32, 16));
    return sc32;
}

// sumi + the products of the levels q_lo (sub-blocks 2c, 2c+2) and q_hi (2c+1, 2c+3) with the activations
// of chunks c and c+1 (a: their 128 bytes), each sub-block times its scale (sc32 from k4_block_scales_512).
template <bool VNNI>
SLM_TARGET_AVX512VNNI static inline __m512i k4_chunk_pair_512(__m512i sumi, __m512i q_lo, __m512i q_hi, const int8_t* a,
                                                              __m512i sc32, int c) {
    const __m512i a_lo = join(load32(a), load32(a + 64));
    const __m512i a_hi = join(load32(a + 32), load32(a + 96));
    const __m512i s_lo = pick_pair32(sc32, 2 * c, 2 * c + 2);
    const __m512i s_hi = pick_pair32(sc32, 2 * c + 1, 2 * c + 3);
    if constexpr (VNNI) {
        const __m512i zero = _mm512_setzero_si512();
        sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, q_lo, a_lo), s_lo);
        return _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, q_hi, a_hi), s_hi);
    } else {
        const __m512i p_lo = _mm512_madd_epi16(s_lo, _mm512_maddubs_epi16(q_lo, a_lo));
        const __m512i p_hi = _mm512_madd_epi16(s_hi, _mm512_maddubs_epi16(q_hi, a_hi));
        return _mm512_add_epi32(sumi, _mm512_add_epi32(p_lo, p_hi));
    }
}

// ---------------------------------------------------------------- Q2_K / Q3_K

// AVX2 (32 values, sub-blocks 2k and 2k+1, per register): the pshufb control that, applied to a register
// holding 8 int16 scales in both 128-bit lanes, broadcasts scale 2t over the low lane and scale 2t+1 over the
// high lane (the two 16-value halves of sub-block pair t).
SLM_TARGET_AVX2 static inline __m256i k16_scale_pair_shuffle(int t) {
    const __m128i lo = _mm_set1_epi16(int16_t(((4 * t + 1) << 8) | (4 * t)));
    const __m128i hi = _mm_set1_epi16(int16_t(((4 * t + 3) << 8) | (4 * t + 2)));
    return _mm256_set_m128i(hi, lo);
}

// AVX-512

// Both have 16 sub-blocks of 16 values with one scale each. 64 values (sub-blocks 4m..4m+3) per register,
// one sub-block per 128-bit lane; the 16 scales are s16 in the low 256 bits of sc512.

// Lane g (of 4) of the result: int16 index 4m+g repeated, for _mm512_permutexvar_epi16 (and, as the low 4
// bits of each 32-bit lane are 4m+g too, for _mm512_permutexvar_epi32).
SLM_TARGET_AVX512 static inline __m512i k16_scale_index(int m) {
    const int a = (4 * m) * 0x10001, b = (4 * m + 1) * 0x10001, c = (4 * m + 2) * 0x10001,
              e = (4 * m + 3) * 0x10001;
    return _mm512_set_epi32(e, e, e, e, c, c, c, c, b, b, b, b, a, a, a, a);
}

// The scales in the form k16_products_512 reads: as they are for the madd form; for VNNI each in the low
// half of a 32-bit lane (scale, 0), so dpwssd's high-half product is 0.
template <bool VNNI>
SLM_TARGET_AVX512VNNI static inline __m512i k16_scales_512(__m512i sc512) {
    if constexpr (VNNI) return _mm512_cvtepu16_epi32(_mm512_castsi512_si256(sc512));
    else return sc512;
}

// sumi + the unsigned levels u of sub-blocks 4m..4m+3 times the activations a (their 64 bytes), each
// sub-block times its scale (idx = k16_scale_index(m), sc = k16_scales_512). The products of 4 values fit
// 16 bits for levels <= 7 (4*7*127), so dpbusd + dpwssd and maddubs + madd give the same sums.
template <bool VNNI>
SLM_TARGET_AVX512VNNI static inline __m512i k16_products_512(__m512i sumi, __m512i u, __m512i a, __m512i idx, __m512i sc) {
    if constexpr (VNNI) {
        const __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, a);
        return _mm512_dpwssd_epi32(sumi, t, _mm512_permutexvar_epi32(idx, sc));
    } else {
        const __m512i p = _mm512_maddubs_epi16(u, a);
        return _mm512_add_epi32(sumi, _mm512_madd_epi16(p, _mm512_permutexvar_epi16(idx, sc)));
    }
}

}  // namespace slm::kernels::simd
