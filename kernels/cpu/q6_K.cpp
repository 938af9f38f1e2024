// Q6_K: 6-bit weights in super-blocks of 256 values, sixteen sub-blocks of 16 with a signed 8-bit scale and
// no min. In the _M mixes it holds output/token_embd and some attn_v / ffn_down tensors.
//
// block_q6_K (210 bytes = 6.5625 bits per weight):
//   offset  size
//     0    128   ql       low 4 bits, two halves of 64 bytes; in half h (values 128h..128h+127), byte l < 32:
//                           ql[64h + l]      low nibble -> value 128h + l        high nibble -> 128h + 64 + l
//                           ql[64h + 32 + l] low nibble -> value 128h + 32 + l   high nibble -> 128h + 96 + l
//   128     64   qh       high 2 bits, two halves of 32 bytes; qh[32h + l] holds, from bit 0 up, the high bits
//                         of values 128h + l, +32, +64, +96 (2 bits each)
//   192     16   scales   int8 scale sc_j of sub-block j = value/16
//   208      2   fp16 d
//
//   q_i = low4_i | high2_i << 4  (0..63);  value i = d * sc_j * (q_i - 32)
//
// Dot with Q8_K (y = dy * a_i): d*dy * sum_j sc_j * sum_{i in j} (q_i - 32) a_i, computed as
//   d*dy * (sum_j sc_j * sum_{i in j} q_i a_i  -  32 * sum_j sc_j * bsums[j])
// so the SIMD code multiplies unsigned 6-bit quants (maddubs / dpbusd want an unsigned operand) and takes the
// offset from the activation block sums. All integer, exact (|.| < 2^28).
#include "cpu/q6_K.h"

#include <cmath>
#include <cstring>

#include "common.h"
#include "cpu/gemm_tile.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "cpu/q8_K.h"

namespace slm::kernels {

// ggml's quantize_row_q6_K_ref, operation for operation (byte-identical output).
void quantize_row_q6_K(const float* x, void* vy, int64_t n) {
    if (n % QK_K != 0) fail("q6_K: row length %lld is not a multiple of %d", (long long)n, QK_K);
    block_q6_K* y = static_cast<block_q6_K*>(vy);
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        // 1. Each sub-block of 16: best signed scale for levels -32..31 (weights x^2), keep the one of
        //    largest magnitude (with its sign).
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, nullptr);
            scales[ib] = scale;
            const float abs_scale = std::fabs(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {  // an all-zero super-block: all bytes 0
            std::memset(&y[i], 0, sizeof(block_q6_K));
            continue;
        }

        // 2. Sub-block scales to int8 against the largest (mapped to -128, so the others land in -128..127).
        const float iscale = -128.f / max_scale;
        y[i].d = fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const int s = nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = int8_t(s < 127 ? s : 127);
        }

        // 3. Requantize with the stored scales (a sub-block with scale 0 keeps its step-1 levels).
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = fp16_to_fp32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = int8_t(clamp_level(l, -32, 31) + 32);
            }
        }

        // 4. Pack (levels are 0..63 here).
        uint8_t* ql = y[i].ql;
        uint8_t* qh = y[i].qh;
        for (int h0 = 0; h0 < QK_K; h0 += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = uint8_t(L[h0 + l]), q2 = uint8_t(L[h0 + l + 32]);
                const uint8_t q3 = uint8_t(L[h0 + l + 64]), q4 = uint8_t(L[h0 + l + 96]);
                ql[l] = uint8_t((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = uint8_t((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void dequantize_row_q6_K(const void* vx, float* y, int64_t n) {
    if (n % QK_K != 0) fail("q6_K: row length %lld is not a multiple of %d", (long long)n, QK_K);
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_to_fp32(x[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t* ql = x[i].ql + 64 * h;
            const uint8_t* qh = x[i].qh + 32 * h;
            const int8_t* sc = x[i].scales + 8 * h;
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

// ---- dot products with Q8_K ----

static float dot_q6_K_q8_K_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];  // the signed quants, in value order
        for (int h = 0; h < 2; h++) {
            const uint8_t* ql = x[i].ql + 64 * h;
            const uint8_t* qh = x[i].qh + 32 * h;
            int8_t* o = q + 128 * h;
            for (int l = 0; l < 32; ++l) {
                o[l] = int8_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                o[l + 32] = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int32_t sumi = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * j + l] * y[i].qs[16 * j + l];
            sumi += x[i].scales[j] * s;
        }
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(sumi);
    }
    return sum;
}

// AVX2: per half of 128 values, one 32-byte load of qh and two of ql give the four 32-value groups as
// unsigned 6-bit quants; maddubs with the activations (at most 2*63*127 per 16-bit lane: exact), madd with
// the two sub-block scales of the group (low 128-bit lane: first 16 values, high lane: next 16).
SLM_TARGET_AVX2 static float dot_q6_K_q8_K_avx2(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i low2 = _mm256_set1_epi8(0x03);
    // pick[k]: shuffle that fills the low 128-bit lane with 16-bit element 2k and the high lane with 2k+1
    // of a register holding 8 int16 scales in both lanes (byte pair (2e, 2e+1) = element e).
    __m256i pick[4];
    for (int k = 0; k < 4; k++)
        pick[k] = _mm256_setr_m128i(_mm_set1_epi16(short(0x0100 + 0x0202 * (2 * k))),
                                    _mm_set1_epi16(short(0x0100 + 0x0202 * (2 * k + 1))));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = half(x[i].d) * y[i].d;
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
        // 32 * sum_j sc_j * bsums_j: the -32 offset of every quant
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), load32(y[i].bsums)), 5);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t* ql = x[i].ql + 64 * h;
            const int8_t* a = y[i].qs + 128 * h;
            const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(h ? _mm_srli_si128(sc8, 8) : sc8));
            const __m256i qh = load32(x[i].qh + 32 * h);
            const __m256i ql0 = load32(ql), ql1 = load32(ql + 32);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4));
            for (int k = 0; k < 4; k++) {
                const __m256i p = _mm256_maddubs_epi16(q[k], load32(a + 32 * k));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(scales, pick[k])));
            }
        }
        sumi = _mm256_sub_epi32(sumi, offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

// AVX-512: a 64-byte load of ql is a whole half; its low nibbles are values 0..63 of the half in order and
// its high nibbles values 64..127, each 16-value sub-block one 128-bit lane. The high bits come from qh
// copied into both 32-byte halves and shifted per half (variable 16-bit shifts).
namespace {

template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q6_K_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i low2 = _mm512_set1_epi8(0x03);
    const __m512i shift_lo = join(_mm256_set1_epi16(0), _mm256_set1_epi16(2));  // values 0..31 | 32..63
    const __m512i shift_hi = join(_mm256_set1_epi16(4), _mm256_set1_epi16(6));  // values 64..95 | 96..127
    // lane -> sub-block within a group of four (each 16-value sub-block is four s32 lanes)
    const __m512i quad = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i low16 = _mm512_set1_epi32(0xFFFF);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = half(x[i].d) * y[i].d;
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), load32(y[i].bsums)), 5);
        // Scales as s32 lanes. dpwssd (VNNI) reads only the low 16 bits of each scale lane: the high half must
        // be 0, not the sign extension. madd (no VNNI) wants the scale in both 16-bit halves.
        const __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
        const __m512i sc_lanes = VNNI ? _mm512_and_si512(sc32, low16)
                                      : _mm512_or_si512(_mm512_and_si512(sc32, low16), _mm512_slli_epi32(sc32, 16));
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i qlv = _mm512_loadu_si512(x[i].ql + 64 * h);
            const __m256i qh256 = load32(x[i].qh + 32 * h);
            const __m512i qh = join(qh256, qh256);
            const __m512i hi_lo = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_lo), low2), 4);
            const __m512i hi_hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_hi), low2), 4);
            const __m512i q_lo = _mm512_or_si512(_mm512_and_si512(qlv, low4), hi_lo);
            const __m512i q_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qlv, 4), low4), hi_hi);
            const int8_t* a = y[i].qs + 128 * h;
            const __m512i a_lo = _mm512_loadu_si512(a), a_hi = _mm512_loadu_si512(a + 64);
            const __m512i s_lo = _mm512_permutexvar_epi32(_mm512_add_epi32(quad, _mm512_set1_epi32(8 * h)), sc_lanes);
            const __m512i s_hi = _mm512_permutexvar_epi32(_mm512_add_epi32(quad, _mm512_set1_epi32(8 * h + 4)), sc_lanes);
            if constexpr (VNNI) {
                // dpbusd lanes are within +-4*63*127 = 32004: they fit the 16 bits dpwssd reads
                const __m512i zero = _mm512_setzero_si512();
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, q_lo, a_lo), s_lo);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, q_hi, a_hi), s_hi);
            } else {
                const __m512i p_lo = _mm512_madd_epi16(_mm512_maddubs_epi16(q_lo, a_lo), s_lo);
                const __m512i p_hi = _mm512_madd_epi16(_mm512_maddubs_epi16(q_hi, a_hi), s_hi);
                sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(p_lo, p_hi));
            }
        }
        // fold the 16 lanes to 8 and remove the offset
        const __m256i sum8 = _mm256_sub_epi32(
            _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1)), offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum8), acc);
    }
    return hsum(acc);
}

}  // namespace

SLM_TARGET_AVX512 static float dot_q6_K_q8_K_avx512_plain(int64_t n, const void* x, const void* y) {
    return dot_q6_K_avx512_body<false>(n, x, y);
}
SLM_TARGET_AVX512VNNI static float dot_q6_K_q8_K_avx512_vnni(int64_t n, const void* x, const void* y) {
    return dot_q6_K_avx512_body<true>(n, x, y);
}
// GEMM tile, AVX512-VNNI (gemm_tile.h): R weight rows x 4 tokens. Per super-block each row's 6-bit levels and
// permuted scales are made once for the 4 tokens. Per output the steps are dot_q6_K_avx512_body's: the exact
// integer sum folded to 8 lanes minus the offset 32 * sum_j sc_j * bsums[j], then
// acc = fma(d_w * d_a, float(sum8), acc) per super-block and hsum(acc).
namespace {

template <int R>
SLM_TARGET_AVX512VNNI void q6_K_micro_vnni(const GemmTile& g, int64_t r, int64_t t) {
    using namespace simd;
    constexpr int T = 4;
    const int64_t nb = g.n_in / QK_K;
    const block_q6_K* w[R];
    const block_q8_K* a[T];
    for (int j = 0; j < R; j++) w[j] = reinterpret_cast<const block_q6_K*>(g.w + (r + j) * g.w_stride);
    for (int k = 0; k < T; k++) a[k] = reinterpret_cast<const block_q8_K*>(g.x + (t + k) * g.x_stride);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i low2 = _mm512_set1_epi8(0x03);
    const __m512i shift_lo = join(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
    const __m512i shift_hi = join(_mm256_set1_epi16(4), _mm256_set1_epi16(6));
    const __m512i quad = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i low16 = _mm512_set1_epi32(0xFFFF);
    const __m512i zero = _mm512_setzero_si512();
    __m256 acc[R][T];
    for (int j = 0; j < R; j++)
        for (int k = 0; k < T; k++) acc[j][k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        for (int j = 0; j < R; j++) {
            const block_q6_K& b = w[j][i];
            const float dw = half(b.d);
            const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
            const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
            const __m512i sc_lanes = _mm512_and_si512(_mm512_cvtepi8_epi32(sc8), low16);
            __m512i q[4], s[4];  // per half h: low values (q[2h]), high values (q[2h+1])
            for (int h = 0; h < 2; h++) {
                const __m512i qlv = _mm512_loadu_si512(b.ql + 64 * h);
                const __m256i qh256 = load32(b.qh + 32 * h);
                const __m512i qh = join(qh256, qh256);
                const __m512i hi_lo = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_lo), low2), 4);
                const __m512i hi_hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_hi), low2), 4);
                q[2 * h] = _mm512_or_si512(_mm512_and_si512(qlv, low4), hi_lo);
                q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qlv, 4), low4), hi_hi);
                s[2 * h] = _mm512_permutexvar_epi32(_mm512_add_epi32(quad, _mm512_set1_epi32(8 * h)), sc_lanes);
                s[2 * h + 1] = _mm512_permutexvar_epi32(_mm512_add_epi32(quad, _mm512_set1_epi32(8 * h + 4)), sc_lanes);
            }
            for (int k = 0; k < T; k++) {
                const block_q8_K& y = a[k][i];
                const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load32(y.bsums)), 5);
                __m512i sumi = _mm512_dpwssd_epi32(zero, _mm512_dpbusd_epi32(zero, q[0], _mm512_loadu_si512(y.qs)), s[0]);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, q[1], _mm512_loadu_si512(y.qs + 64)), s[1]);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, q[2], _mm512_loadu_si512(y.qs + 128)), s[2]);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, q[3], _mm512_loadu_si512(y.qs + 192)), s[3]);
                const __m256i sum8 = _mm256_sub_epi32(
                    _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1)), offset);
                acc[j][k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y.d), _mm256_cvtepi32_ps(sum8), acc[j][k]);
            }
        }
    }
    for (int j = 0; j < R; j++)
        for (int k = 0; k < T; k++) g.y[(t + k) * g.y_stride + r + j] = hsum(acc[j][k]);
}

SLM_TARGET_AVX512VNNI void gemm_q6_K_avx512vnni(const GemmTile& g) { gemm_tiles<4, 4>(g, q6_K_micro_vnni<4>); }

}  // namespace

TypeKernels kernels_q6_K() {
    TypeKernels k = dot_kernels({GgmlType::Q6_K, quantize_row_q6_K, dequantize_row_q6_K, GgmlType::Q8_K, dot_q6_K_q8_K_scalar},
                                dot_q6_K_q8_K_avx2, dot_q6_K_q8_K_avx512_plain, dot_q6_K_q8_K_avx512_vnni);
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q6_K_avx512vnni;
    return k;
}

}  // namespace slm::kernels
