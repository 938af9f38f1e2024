// Q2_K: 2-bit K-quant, 256 values per super-block in 16 sub-blocks of 16, each with a 4-bit scale and a
// 4-bit minimum (x ~= scale * q - min).
//
// block_q2_K (84 bytes, 2.625 bits per weight):
//   offset  bytes  field
//        0     16  scales[16]  sub-block j: low nibble = scale sc_j, high nibble = min m_j (both 0..15)
//       16     64  qs[64]      2-bit quants: value e = 128*h + 32*s + l sits in qs[32*h + l], bits 2s..2s+1
//       80      2  d           fp16 super-block scale of the scales
//       82      2  dmin        fp16 super-block scale of the mins
//
//   value[e] = (d * sc_j) * q - (dmin * m_j)      j = e / 16, q in [0, 3]
//
// Dot product partner: Q8_K (y = dy * qy, bsums = sums of 16 consecutive qy):
//   dot = d * dy * sum_j sc_j * (sum_{e in j} q_e * qy_e)  -  dmin * dy * sum_j m_j * bsum_j
#include "cpu/q2_K.h"

#include "cpu/simd.h"

#include <cmath>
#include <cstring>

#include "cpu/kernels.h"
#include "cpu/kquant_common.h"
#include "cpu/q8_K.h"

namespace slm::kernels {

namespace {

// The 16 quants of sub-block j (values 16j .. 16j+15), each in [0, 3].
inline void q2_sub_block(const block_q2_K& b, int j, int q[16]) {
    const int e0 = 16 * j;
    const uint8_t* bytes = b.qs + 32 * (e0 / 128) + e0 % 32;  // 2-bit field (e0 % 128) / 32 of these bytes
    const int shift = 2 * ((e0 % 128) / 32);
    for (int k = 0; k < 16; k++) q[k] = (bytes[k] >> shift) & 3;
}

}  // namespace

void quantize_row_q2_K(const float* x, void* vy, int64_t n) {
    block_q2_K* y = static_cast<block_q2_K*>(vy);
    const int64_t nb = n / QK_K;
    uint8_t L[QK_K];
    uint8_t Laux[16];
    float weights[16];
    float mins[QK_K / 16];
    float scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        // 1. each sub-block's best (scale, min) with |x|-weighted absolute error
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        // 2. scales and mins to 4 bits against the largest of each (byte arithmetic wraps exactly as ggml's)
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = uint8_t(nearest_int(iscale * scales[j]));
            y[i].d = fp32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = 0;
            y[i].d = fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] = uint8_t(y[i].scales[j] | (nearest_int(iscale * mins[j]) << 4));
            y[i].dmin = fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = fp32_to_fp16(0.f);
        }
        // 3. re-quantize with the stored (rounded) scale and min; a sub-block with stored scale 0 keeps the
        //    quants of step 1, as ggml does
        const float d_all = fp16_to_fp32(y[i].d), m_all = fp16_to_fp32(y[i].dmin);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = d_all * float(y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = m_all * float(y[i].scales[j] >> 4);
            for (int k = 0; k < 16; k++) {
                int l = nearest_int((x[16 * j + k] + dm) / d);
                L[16 * j + k] = uint8_t(std::max(0, std::min(3, l)));
            }
        }
        // 4. pack four quants per byte
        for (int h = 0; h < QK_K / 128; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t* q = L + 128 * h + l;
                y[i].qs[32 * h + l] = uint8_t(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
            }
    }
}

void dequantize_row_q2_K(const void* vx, float* y, int64_t n) {
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_to_fp32(x[i].d), dmin = fp16_to_fp32(x[i].dmin);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d * float(x[i].scales[j] & 0xF);
            const float ml = dmin * float(x[i].scales[j] >> 4);
            int q[16];
            q2_sub_block(x[i], j, q);
            for (int k = 0; k < 16; k++) *y++ = dl * float(q[k]) - ml;
        }
    }
}

namespace {

// The reference: exact int32 sums per super-block (|sum| <= 256 * 3 * 127 * 15), then two float terms.
float dot_q2_K_q8_K_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t isum = 0, summs = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int q[16];
            q2_sub_block(x[i], j, q);
            int32_t s = 0;
            for (int k = 0; k < 16; k++) s += q[k] * int32_t(y[i].qs[16 * j + k]);
            isum += (x[i].scales[j] & 0xF) * s;
            summs += (x[i].scales[j] >> 4) * int32_t(y[i].bsums[j]);
        }
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = fp16_to_fp32(x[i].dmin) * y[i].d;
        sum += d * float(isum) - dmin * float(summs);
    }
    return sum;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// AVX2: 32 values (sub-blocks 2k, 2k+1) per register; maddubs(q, qy) then madd with the scales.
namespace {

SLM_TARGET_AVX2 float dot_q2_K_q8_K_avx2(int64_t n, const void* vx, const void* vy) {
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m15 = _mm_set1_epi8(15);
    const __m256i shuf[4] = {simd::k16_scale_pair_shuffle(0), simd::k16_scale_pair_shuffle(1),
                             simd::k16_scale_pair_shuffle(2), simd::k16_scale_pair_shuffle(3)};
    // One accumulator takes both terms, the min term first (-dmin * mins.bsums, then d * scales.q.a), per
    // block in order: ggml's summation order, so the result equals llama.cpp's to the bit.
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = _cvtsh_ss(x[i].d) * y[i].d;
        const float dmin = -(_cvtsh_ss(x[i].dmin) * y[i].d);

        const __m128i sm = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sm, m15));
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m15));
        const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(_mm256_madd_epi16(mins16, bsums)), acc);

        const __m256i sc_lo = _mm256_permute2x128_si256(sc16, sc16, 0x00);  // scales 0..7 in both lanes
        const __m256i sc_hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);  // scales 8..15 in both lanes
        const __m256i q_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs));
        const __m256i q_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32));
        const int8_t* qy = y[i].qs;
        __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};  // two chains: fewer stalls
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const __m256i qsrc = k < 4 ? q_lo : q_hi;
            const int s = k % 4;
            const __m256i u = _mm256_and_si256(_mm256_srli_epi16(qsrc, 2 * s), m3);
            const __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qy + 32 * k)));
            const __m256i scv = _mm256_shuffle_epi8(k < 4 ? sc_lo : sc_hi, shuf[s]);
            sumi[k % 2] = _mm256_add_epi32(sumi[k % 2], _mm256_madd_epi16(p, scv));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1])), acc);
    }
    return simd::hsum(acc);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// AVX-512: 64 values (sub-blocks 4m..4m+3) per register. The 32 bytes of qs that hold them are broadcast to
// both 256-bit halves, which shift by different amounts; each 128-bit lane then holds one 16-value sub-block,
// so the scales go per lane.
namespace {

// The 2-bit quants of the 64 values 64m..64m+63.
SLM_TARGET_AVX512 inline __m512i q2_u_512(__m512i q_lo2, __m512i q_hi2, int m) {
    const __m512i qsrc = m < 2 ? q_lo2 : q_hi2;
    const int s = 2 * (m % 2);
    const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi16(int16_t(2 * s)), _mm256_set1_epi16(int16_t(2 * s + 2)), 1);
    return _mm512_and_si512(_mm512_srlv_epi16(qsrc, shift), _mm512_set1_epi8(3));
}

struct Q2Block512 {
    __m512i q_lo2, q_hi2, sc512;
    __m256i summs;  // m_j * bsum_j, 8 int32
};

SLM_TARGET_AVX512 inline Q2Block512 q2_load_512(const block_q2_K& x, const block_q8_K& y) {
    Q2Block512 b;
    const __m128i m15 = _mm_set1_epi8(15);
    const __m128i sm = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sm, m15));
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m15));
    b.summs = _mm256_madd_epi16(mins16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
    b.sc512 = _mm512_inserti64x4(_mm512_setzero_si512(), sc16, 0);
    b.q_lo2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)));
    b.q_hi2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32)));
    return b;
}

// One body for both instruction sets (simd.h's k16_products_512): with VNNI, dpbusd sums q * qy over 4 values
// into int32 (|sum| <= 4 * 3 * 127, so it fits in int16) and dpwssd multiplies it by the scale; without,
// maddubs then madd.
template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q2_K_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m512i idx[4] = {k16_scale_index(0), k16_scale_index(1), k16_scale_index(2), k16_scale_index(3)};
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = _cvtsh_ss(x[i].d) * y[i].d;
        const float dmin = _cvtsh_ss(x[i].dmin) * y[i].d;
        const Q2Block512 b = q2_load_512(x[i], y[i]);
        const __m512i sc = k16_scales_512<VNNI>(b.sc512);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(b.summs), acc_min);
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++)
            sumi = k16_products_512<VNNI>(sumi, q2_u_512(b.q_lo2, b.q_hi2, m), _mm512_loadu_si512(y[i].qs + 64 * m), idx[m], sc);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(_mm512_insertf32x8(_mm512_setzero_ps(), acc_min, 0));
}

}  // namespace

SLM_TARGET_AVX512 static float dot_q2_K_q8_K_avx512_plain(int64_t n, const void* x, const void* y) { return dot_q2_K_avx512_body<false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q2_K_q8_K_avx512_vnni(int64_t n, const void* x, const void* y) { return dot_q2_K_avx512_body<true>(n, x, y); }

TypeKernels kernels_q2_K() {
    return dot_kernels({GgmlType::Q2_K, quantize_row_q2_K, dequantize_row_q2_K, GgmlType::Q8_K, dot_q2_K_q8_K_scalar},
                       dot_q2_K_q8_K_avx2, dot_q2_K_q8_K_avx512_plain, dot_q2_K_q8_K_avx512_vnni);
}

}  // namespace slm::kernels
