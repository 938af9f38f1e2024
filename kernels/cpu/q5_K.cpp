// Q5_K: 5-bit weights in super-blocks of 256 values, eight sub-blocks of 32 with their own 6-bit scale and
// 6-bit min. Q4_K plus one high bit per value; the bulk of a Q5_K_M model.
//
// block_q5_K (176 bytes = 5.5 bits per weight):
//   offset  size
//     0      2   fp16 d      scale of the sub-block scales
//     2      2   fp16 dmin   scale of the sub-block mins
//     4     12   scales      eight 6-bit scales sc_j and eight 6-bit mins m_j, packed as in Q4_K
//                            (get_scale_min_k4 in kquant_common.h)
//    16     32   qh          high bits: byte l, bit 2c   -> value 64c + l       (c = 0..3)
//                                       byte l, bit 2c+1 -> value 64c + 32 + l
//    48    128   qs          low 4 bits, as Q4_K: chunk c of 32 bytes, byte l low nibble -> value 64c + l,
//                            high nibble -> value 64c + 32 + l
//
//   q_i = low4_i + 16 * high_i (0..31);  value i (sub-block j = i/32) = d * sc_j * q_i - dmin * m_j
//
// Dot with Q8_K, as for Q4_K:
//   sum_i x_i y_i = d*dy * sum_j sc_j * (sum_{i in j} q_i a_i)  -  dmin*dy * sum_j m_j * (bsums[2j] + bsums[2j+1])
#include "cpu/q5_K.h"

#include <cmath>
#include <cstring>

#include "common.h"
#include "cpu/gemm_tile.h"
#include "cpu/k4_gemm.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "cpu/q8_K.h"

namespace slm::kernels {

// ggml's quantize_row_q5_K_ref, operation for operation (byte-identical output).
void quantize_row_q5_K(const float* x, void* vy, int64_t n) {
    if (n % QK_K != 0) fail("q5_K: row length %lld is not a multiple of %d", (long long)n, QK_K);
    block_q5_K* y = static_cast<block_q5_K*>(vy);
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        // 1-3. Sub-block scales and mins, their 6-bit forms, the levels (kquant_common.h).
        quantize_superblock_k4(x, 31, -0.5f, 15, y[i], L);

        // 4. Pack low nibbles like Q4_K and the fifth bits into qh (bit 2c / 2c+1 for chunk c).
        uint8_t* qh = y[i].qh;
        uint8_t* ql = y[i].qs;
        std::memset(qh, 0, QK_K / 8);
        uint8_t bit_lo = 1, bit_hi = 2;
        for (int c0 = 0; c0 < QK_K; c0 += 64, ql += 32, bit_lo <<= 2, bit_hi <<= 2) {
            for (int l = 0; l < 32; ++l) {
                int l1 = L[c0 + l], l2 = L[c0 + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[l] |= bit_lo;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[l] |= bit_hi;
                }
                ql[l] = uint8_t(l1 | (l2 << 4));
            }
        }
    }
}

void dequantize_row_q5_K(const void* vx, float* y, int64_t n) {
    if (n % QK_K != 0) fail("q5_K: row length %lld is not a multiple of %d", (long long)n, QK_K);
    const block_q5_K* x = static_cast<const block_q5_K*>(vx);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_to_fp32(x[i].d);
        const float dmin = fp16_to_fp32(x[i].dmin);
        const uint8_t* ql = x[i].qs;
        const uint8_t* qh = x[i].qh;
        for (int c = 0; c < 4; c++, ql += 32) {
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const uint8_t bit_lo = uint8_t(1 << (2 * c)), bit_hi = uint8_t(2 << (2 * c));
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & bit_lo ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & bit_hi ? 16 : 0)) - m2;
        }
    }
}

// ---- dot products with Q8_K ----

static float dot_q5_K_q8_K_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q5_K* x = static_cast<const block_q5_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];  // scales 0..7, mins 0..7
        unpack_scales_mins_k4(x[i].scales, sm);
        int32_t sum_q = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t* ql = x[i].qs + 32 * c;
            const uint8_t* qh = x[i].qh;
            const int8_t* a = y[i].qs + 64 * c;
            int32_t lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                const int q_lo = (ql[l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4);
                const int q_hi = (ql[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                lo += q_lo * a[l];
                hi += q_hi * a[32 + l];
            }
            sum_q += sm[2 * c] * lo + sm[2 * c + 1] * hi;
        }
        int32_t sum_m = 0;
        for (int j = 0; j < 8; j++) sum_m += sm[8 + j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(sum_q) - fp16_to_fp32(x[i].dmin) * y[i].d * float(sum_m);
    }
    return sum;
}

// AVX2: as Q4_K, with the fifth bit of each quant OR-ed in from qh (shifted down by 2 per chunk; after the
// shift only bit 0 of each byte is used, so the 16-bit shift leaking bits across bytes does not matter).
// maddubs stays exact: at most 2*31*127 per 16-bit lane.
SLM_TARGET_AVX2 static float dot_q5_K_q8_K_avx2(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q5_K* x = static_cast<const block_q5_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    __m256i pick[8];  // pick[e]: element e of the scales, in every 16-bit lane
    for (int e = 0; e < 8; e++) pick[e] = broadcast16_control(e);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = half(x[i].d) * y[i].d;
        const float dmin = half(x[i].dmin) * y[i].d;
        __m256i scales;  // the 8 scales in both lanes
        const __m128i prod_m = k4_block_scales_avx2(x[i].scales, y[i].bsums, &scales);
        // The min term is summed in integers over the block and accumulated as one scalar (ggml's order;
        // a Q4_K-style vector of 4 partial sums rounds differently).
        __m128i hs = _mm_add_epi32(prod_m, _mm_shuffle_epi32(prod_m, 0x4E));
        hs = _mm_add_epi32(hs, _mm_shuffle_epi32(hs, 0xB1));
        summs = std::fma(dmin, float(_mm_cvtsi128_si32(hs)), summs);

        const uint8_t* q = x[i].qs;
        const int8_t* a = y[i].qs;
        __m256i hbits = load32(x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++, q += 32, a += 64) {
            const __m256i qb = load32(q);
            const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
            const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4);
            hbits = _mm256_srli_epi16(hbits, 2);
            const __m256i q_lo = _mm256_or_si256(_mm256_and_si256(qb, low4), h_lo);
            const __m256i q_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), low4), h_hi);
            sumi = k4_chunk_avx2(sumi, q_lo, q_hi, a, scales, pick, c);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - summs;
}

// AVX-512: the Q4_K layout (one 64-byte load = chunks c and c+1, low nibbles = sub-blocks 2c and 2c+2, high
// nibbles = 2c+1 and 2c+3); the fifth bits come from qh copied into both 32-byte halves and tested per byte
// against the chunk's bit (a mask register), adding 16 where set.
namespace {

template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q5_K_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q5_K* x = static_cast<const block_q5_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i sixteen = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = half(x[i].d) * y[i].d;
        const __m512i sc32 = k4_block_scales_512<VNNI>(x[i].scales, y[i].bsums, half(x[i].dmin) * y[i].d, acc_m);
        const __m256i qh256 = load32(x[i].qh);
        const __m512i hb = join(qh256, qh256);
        const uint8_t* q = x[i].qs;
        const int8_t* a = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; c += 2, q += 64, a += 128) {
            const __m512i bit_lo = join(_mm256_set1_epi8(char(1 << (2 * c))), _mm256_set1_epi8(char(1 << (2 * c + 2))));
            const __m512i bit_hi = _mm512_add_epi8(bit_lo, bit_lo);  // the next bit up: 2c+1 and 2c+3
            const __m512i qb = _mm512_loadu_si512(q);
            __m512i q_lo = _mm512_and_si512(qb, low4);
            __m512i q_hi = _mm512_and_si512(_mm512_srli_epi16(qb, 4), low4);
            q_lo = _mm512_mask_add_epi8(q_lo, _mm512_test_epi8_mask(hb, bit_lo), q_lo, sixteen);
            q_hi = _mm512_mask_add_epi8(q_hi, _mm512_test_epi8_mask(hb, bit_hi), q_hi, sixteen);
            sumi = k4_chunk_pair_512<VNNI>(sumi, q_lo, q_hi, a, sc32, c);
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(acc_m);
}

}  // namespace

SLM_TARGET_AVX512 static float dot_q5_K_q8_K_avx512_plain(int64_t n, const void* x, const void* y) {
    return dot_q5_K_avx512_body<false>(n, x, y);
}
SLM_TARGET_AVX512VNNI static float dot_q5_K_q8_K_avx512_vnni(int64_t n, const void* x, const void* y) {
    return dot_q5_K_avx512_body<true>(n, x, y);
}
// GEMM tile, AVX512-VNNI: k4_gemm.h's micro-kernel (shared with Q4_K), the levels with their fifth bits as in
// dot_q5_K_avx512_body.
namespace {

struct Q5_K_levels {
    using Block = block_q5_K;
    SLM_TARGET_AVX512VNNI static void levels(const Block& b, __m512i q[4]) {
        using namespace simd;
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        const __m512i sixteen = _mm512_set1_epi8(16);
        const __m256i qh256 = load32(b.qh);
        const __m512i hb = join(qh256, qh256);
        for (int c = 0; c < 4; c += 2) {
            const __m512i bit_lo = join(_mm256_set1_epi8(char(1 << (2 * c))), _mm256_set1_epi8(char(1 << (2 * c + 2))));
            const __m512i bit_hi = _mm512_add_epi8(bit_lo, bit_lo);
            const __m512i qb = _mm512_loadu_si512(b.qs + 32 * c);
            const __m512i q_lo = _mm512_and_si512(qb, low4);
            const __m512i q_hi = _mm512_and_si512(_mm512_srli_epi16(qb, 4), low4);
            q[c] = _mm512_mask_add_epi8(q_lo, _mm512_test_epi8_mask(hb, bit_lo), q_lo, sixteen);
            q[c + 1] = _mm512_mask_add_epi8(q_hi, _mm512_test_epi8_mask(hb, bit_hi), q_hi, sixteen);
        }
    }
};

SLM_TARGET_AVX512VNNI void gemm_q5_K_avx512vnni(const GemmTile& g) { gemm_tiles<4, 4>(g, k4_micro_vnni<Q5_K_levels, 4>); }

}  // namespace

TypeKernels kernels_q5_K() {
    TypeKernels k = dot_kernels({GgmlType::Q5_K, quantize_row_q5_K, dequantize_row_q5_K, GgmlType::Q8_K, dot_q5_K_q8_K_scalar},
                                dot_q5_K_q8_K_avx2, dot_q5_K_q8_K_avx512_plain, dot_q5_K_q8_K_avx512_vnni);
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q5_K_avx512vnni;
    return k;
}

}  // namespace slm::kernels
