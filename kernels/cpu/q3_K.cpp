// Q3_K: 3-bit K-quant, 256 values per super-block in 16 sub-blocks of 16, signed scales, no minimum.
// The core of Q3_K_M.
//
// block_q3_K (110 bytes, 3.4375 bits per weight):
//   offset  bytes  field
//        0     32  hmask[32]   high bit of each 3-bit quant: bit k of hmask[l] belongs to value 32*k + l
//       32     64  qs[64]      low 2 bits: value e = 128*h + 32*s + l sits in qs[32*h + l], bits 2s..2s+1
//       96     12  scales[12]  16 sub-block scales of 6 bits, stored as (scale + 32) in 0..63:
//                                low 4 bits of scale j:  j < 8: scales[j] & 0xF;  j >= 8: scales[j-8] >> 4
//                                high 2 bits of scale j: (scales[8 + j%4] >> (2*(j/4))) & 3
//      108      2  d           fp16 super-block scale
//
//   q  = (low 2 bits) - (high bit set ? 0 : 4)          in [-4, 3]
//   value[e] = d * (scale[e/16] - 32) * q               (float: (d * sc) * q, in that order)
//
// Dot product partner: Q8_K (y = dy * qy, with bsums = sums of 16 consecutive qy). The SIMD variants use the
// unsigned form u = q + 4 in [0, 7] (which is exactly (low bits) | (high bit << 2)) so that
// u * qy can go through maddubs / dpbusd, and subtract 4 * scale * bsum per sub-block afterwards:
//   sum_e sc * q * qy = sum_j sc_j * (sum_{e in j} u_e * qy_e - 4 * bsum_j).
#include "cpu/q3_K.h"

#include "cpu/simd.h"

#include <cmath>
#include <cstring>

#include "cpu/gemm_tile.h"
#include "cpu/kernels.h"
#include "cpu/kquant_common.h"
#include "cpu/q8_K.h"

namespace slm::kernels {

namespace {

// ggml's make_q3_quants(n = 16, nmax = 4, do_rmse = true), the only form the Q3_K reference uses: start from
// the quants of the plain scale -4/max, then up to 5 passes that move single quants to whatever value
// improves the x^2-weighted least-squares fit (checked with the exact cross-multiplied criterion).
// L receives quants in [0, 7] (offset +4); returns the sub-block scale (may be negative).
float make_q3_quants(const float* x, int8_t* L) {
    constexpr int n = 16, nmax = 4;
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        L[i] = int8_t(l);
        float w = x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            if (slx > 0) {
                float sl2 = suml2 - w * float(L[i]) * float(L[i]);
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = std::max(-nmax, std::min(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * float(new_l);
                    sl2 += w * float(new_l) * float(new_l);
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = int8_t(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = int8_t(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Scale j (0..15) of a block, with the +32 offset removed: -32..31.
inline int q3_scale(const uint8_t* s, int j) {
    int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// The 16 quants of sub-block j (values 16j .. 16j+15), each in [-4, 3].
inline void q3_sub_block(const block_q3_K& b, int j, int q[16]) {
    const int e0 = 16 * j;
    const uint8_t* low = b.qs + 32 * (e0 / 128) + e0 % 32;  // 2-bit field (e0 % 128) / 32 of these bytes
    const int shift = 2 * ((e0 % 128) / 32);
    const uint8_t* high = b.hmask + e0 % 32;                // bit e0 / 32 of these bytes
    const int bit = e0 / 32;
    for (int k = 0; k < 16; k++) q[k] = ((low[k] >> shift) & 3) - (((high[k] >> bit) & 1) ? 0 : 4);
}

}  // namespace

void quantize_row_q3_K(const float* x, void* vy, int64_t n) {
    block_q3_K* y = static_cast<block_q3_K*>(vy);
    const int64_t nb = n / QK_K;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        // 1. each sub-block's own best scale; the largest in magnitude (with its sign) sets the block scale
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(x + 16 * j, L + 16 * j);
            float a = std::fabs(scales[j]);
            if (a > amax) {
                amax = a;
                max_scale = scales[j];
            }
        }
        // 2. scales to 6 bits: max_scale maps to -32, so d = max_scale / -32
        std::memset(y[i].scales, 0, sizeof(y[i].scales));
        if (max_scale != 0) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l8 = int8_t(nearest_int(iscale * scales[j]));
                int l = std::max(-32, std::min(31, int(l8))) + 32;
                if (j < 8)
                    y[i].scales[j] = uint8_t(l & 0xF);
                else
                    y[i].scales[j - 8] |= uint8_t((l & 0xF) << 4);
                y[i].scales[8 + j % 4] |= uint8_t((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = fp32_to_fp16(0.f);
        }
        // 3. re-quantize each value with the scale as stored (rounded); a sub-block whose stored scale is 0
        //    keeps the quants from step 1, as ggml does
        const float d_all = fp16_to_fp32(y[i].d);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = d_all * float(q3_scale(y[i].scales, j));
            if (!d) continue;
            for (int k = 0; k < 16; k++) {
                int l = nearest_int(x[16 * j + k] / d);
                l = std::max(-4, std::min(3, l));
                L[16 * j + k] = int8_t(l + 4);
            }
        }
        // 4. pack: high bits into hmask, low 2 bits into qs
        std::memset(y[i].hmask, 0, sizeof(y[i].hmask));
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 3) {
                y[i].hmask[e % 32] |= uint8_t(1 << (e / 32));
                L[e] = int8_t(L[e] - 4);
            }
        }
        for (int h = 0; h < QK_K / 128; h++)
            for (int l = 0; l < 32; l++) {
                const int8_t* q = L + 128 * h + l;
                y[i].qs[32 * h + l] = uint8_t(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
            }
    }
}

void dequantize_row_q3_K(const void* vx, float* y, int64_t n) {
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d_all = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d_all * float(q3_scale(x[i].scales, j));
            int q[16];
            q3_sub_block(x[i], j, q);
            for (int k = 0; k < 16; k++) *y++ = dl * float(q[k]);
        }
    }
}

namespace {

// The reference: integer dot per sub-block, times its scale, summed exactly in int32 per super-block
// (|sum| <= 256 * 4 * 127 * 32 < 2^23), then one float multiply-add per super-block.
float dot_q3_K_q8_K_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t isum = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int q[16];
            q3_sub_block(x[i], j, q);
            int32_t s = 0;
            for (int k = 0; k < 16; k++) s += q[k] * int32_t(y[i].qs[16 * j + k]);
            isum += q3_scale(x[i].scales, j) * s;
        }
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(isum);
    }
    return sum;
}

// The 16 scales of a block, still with their +32 offset, as four 32-bit words: word w holds scales
// 4w..4w+3. Their low nibbles come from bytes 0..3 (w = 0, 2: low / high nibble) or 4..7 (w = 1, 3), their
// high 2 bits from bytes 8..11 shifted right by 2*w. (The SIMD variants build a register from these words
// directly: going through memory would stall on store forwarding.)
inline void q3_scale_words(const uint8_t* s, uint32_t w[4]) {
    uint32_t a[3];
    std::memcpy(a, s, 12);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
    w[0] = (a[0] & m4) | (((a[2] >> 0) & m2) << 4);
    w[1] = (a[1] & m4) | (((a[2] >> 2) & m2) << 4);
    w[2] = ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4);
    w[3] = ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// AVX2
namespace {

// The 16 scales of a block as int16, offset removed.
SLM_TARGET_AVX2 inline __m256i q3_scales_avx2(const uint8_t* s) {
    uint32_t w[4];
    q3_scale_words(s, w);
    const __m128i sc8 = _mm_sub_epi8(_mm_set_epi32(int(w[3]), int(w[2]), int(w[1]), int(w[0])), _mm_set1_epi8(32));
    return _mm256_cvtepi8_epi16(sc8);
}

SLM_TARGET_AVX2 float dot_q3_K_q8_K_avx2(int64_t n, const void* vx, const void* vy) {
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i m4 = _mm256_set1_epi8(4);
    const __m256i shuf[4] = {simd::k16_scale_pair_shuffle(0), simd::k16_scale_pair_shuffle(1),
                             simd::k16_scale_pair_shuffle(2), simd::k16_scale_pair_shuffle(3)};
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = _cvtsh_ss(x[i].d) * y[i].d;

        const __m256i sc16 = q3_scales_avx2(x[i].scales);
        __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};  // two chains: fewer stalls on the adds
        const __m256i sc_lo = _mm256_permute2x128_si256(sc16, sc16, 0x00);  // scales 0..7 in both lanes
        const __m256i sc_hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);  // scales 8..15 in both lanes

        const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].hmask));
        const __m256i q_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs));
        const __m256i q_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32));
        const int8_t* qy = y[i].qs;
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {  // 32 values at a time: sub-blocks 2k and 2k+1
            const __m256i qsrc = k < 4 ? q_lo : q_hi;
            const int s = k % 4;
            // 16-bit shifts are fine: the masks drop whatever crossed from the neighbouring byte
            __m256i u = _mm256_and_si256(_mm256_srli_epi16(qsrc, 2 * s), m3);
            const __m256i hb = k >= 2 ? _mm256_srli_epi16(hm, k - 2) : _mm256_slli_epi16(hm, 2 - k);
            u = _mm256_or_si256(u, _mm256_and_si256(hb, m4));  // bit k of hmask -> value 4
            // (u - 4) * a in pairs: u*a minus 4*a, so each 32-bit lane holds the terms of the same four values
            // as ggml's (its float sums then round identically); at most 7*127*2 per 16-bit lane
            const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qy + 32 * k));
            const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(u, a), _mm256_maddubs_epi16(m4, a));
            const __m256i scv = _mm256_shuffle_epi8(k < 4 ? sc_lo : sc_hi, shuf[s]);
            sumi[k % 2] = _mm256_add_epi32(sumi[k % 2], _mm256_madd_epi16(p, scv));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1])), acc);
    }
    return simd::hsum(acc);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// AVX-512: 64 values (sub-blocks 4m..4m+3) per register. The 32 bytes of qs / hmask that hold them are
// broadcast to both 256-bit halves, which then shift by different amounts (the two 32-value sub-block pairs
// 2m and 2m+1). Each 128-bit lane then holds one 16-value sub-block, so scales go per lane.
namespace {

// The unsigned 3-bit values u = q + 4 of the 64 values 64m..64m+63.
SLM_TARGET_AVX512 inline __m512i q3_u_512(__m512i q_lo2, __m512i q_hi2, __m512i hm2, int m) {
    const __m512i qsrc = m < 2 ? q_lo2 : q_hi2;
    const int s = 2 * (m % 2);  // pair 2m uses bits 2s.., pair 2m+1 bits 2s+2..
    const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi16(int16_t(2 * s)), _mm256_set1_epi16(int16_t(2 * s + 2)), 1);
    __m512i u = _mm512_and_si512(_mm512_srlv_epi16(qsrc, shift), _mm512_set1_epi8(3));
    const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8(char(1 << (2 * m))), _mm256_set1_epi8(char(1 << (2 * m + 1))), 1);
    const __mmask64 high = _mm512_test_epi8_mask(hm2, bit);
    return _mm512_mask_add_epi8(u, high, u, _mm512_set1_epi8(4));
}

struct Q3Block512 {
    __m512i q_lo2, q_hi2, hm2, sc512;
    __m256i offset;  // -4 * sc_j * bsum_j, 8 int32
};

SLM_TARGET_AVX512 inline Q3Block512 q3_load_512(const block_q3_K& x, const block_q8_K& y) {
    Q3Block512 b;
    const __m256i sc16 = q3_scales_avx2(x.scales);
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums));
    b.offset = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums), 2));
    b.sc512 = _mm512_inserti64x4(_mm512_setzero_si512(), sc16, 0);
    b.hm2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.hmask)));
    b.q_lo2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)));
    b.q_hi2 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32)));
    return b;
}

// One body for both instruction sets (simd.h's k16_products_512): with VNNI, dpbusd sums u * qy over 4 values
// into int32 (|sum| <= 4 * 7 * 127, so it fits in int16) and dpwssd multiplies it by the scale; without,
// maddubs then madd.
template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q3_K_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m512i idx[4] = {k16_scale_index(0), k16_scale_index(1), k16_scale_index(2), k16_scale_index(3)};
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = _cvtsh_ss(x[i].d) * y[i].d;
        const Q3Block512 b = q3_load_512(x[i], y[i]);
        const __m512i sc = k16_scales_512<VNNI>(b.sc512);
        __m512i sumi = _mm512_inserti64x4(_mm512_setzero_si512(), b.offset, 0);
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) {
            const __m512i u = q3_u_512(b.q_lo2, b.q_hi2, b.hm2, m);
            sumi = k16_products_512<VNNI>(sumi, u, _mm512_loadu_si512(y[i].qs + 64 * m), idx[m], sc);
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

}  // namespace

SLM_TARGET_AVX512 static float dot_q3_K_q8_K_avx512_plain(int64_t n, const void* x, const void* y) { return dot_q3_K_avx512_body<false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q3_K_q8_K_avx512_vnni(int64_t n, const void* x, const void* y) { return dot_q3_K_avx512_body<true>(n, x, y); }

// GEMM tile, AVX512-VNNI (gemm_tile.h): R weight rows x 4 tokens. Per super-block each row's unsigned levels
// u and per-lane scales are made once for the 4 tokens. Per output the steps are dot_q3_K_avx512_body's: the
// integer sum starts from the offset -4 * sc_j * bsum_j in lanes 0..7, takes the four sub-block groups, and
// acc = fma(d_w * d_a, float(sumi), acc) per super-block; hsum(acc).
namespace {

template <int R>
SLM_TARGET_AVX512VNNI void q3_K_micro_vnni(const GemmTile& g, int64_t r, int64_t t) {
    using namespace simd;
    constexpr int T = 4;
    const int64_t nb = g.n_in / QK_K;
    const block_q3_K* w[R];
    const block_q8_K* a[T];
    for (int j = 0; j < R; j++) w[j] = reinterpret_cast<const block_q3_K*>(g.w + (r + j) * g.w_stride);
    for (int k = 0; k < T; k++) a[k] = reinterpret_cast<const block_q8_K*>(g.x + (t + k) * g.x_stride);
    const __m512i idx[4] = {k16_scale_index(0), k16_scale_index(1), k16_scale_index(2), k16_scale_index(3)};
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[R][T];
    for (int j = 0; j < R; j++)
        for (int k = 0; k < T; k++) acc[j][k] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        for (int j = 0; j < R; j++) {
            const block_q3_K& b = w[j][i];
            const float dw = _cvtsh_ss(b.d);
            const __m256i sc16 = q3_scales_avx2(b.scales);
            const __m512i sc = k16_scales_512<true>(_mm512_inserti64x4(zero, sc16, 0));
            const __m512i hm2 = _mm512_broadcast_i64x4(load32(b.hmask));
            const __m512i q_lo2 = _mm512_broadcast_i64x4(load32(b.qs));
            const __m512i q_hi2 = _mm512_broadcast_i64x4(load32(b.qs + 32));
            __m512i u[4], s[4];
            for (int m = 0; m < 4; m++) {
                u[m] = q3_u_512(q_lo2, q_hi2, hm2, m);
                s[m] = _mm512_permutexvar_epi32(idx[m], sc);
            }
            for (int k = 0; k < T; k++) {
                const block_q8_K& y = a[k][i];
                const __m256i offset = _mm256_sub_epi32(_mm256_setzero_si256(),
                                                        _mm256_slli_epi32(_mm256_madd_epi16(sc16, load32(y.bsums)), 2));
                __m512i sumi = _mm512_inserti64x4(zero, offset, 0);
                for (int m = 0; m < 4; m++)
                    sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, u[m], _mm512_loadu_si512(y.qs + 64 * m)), s[m]);
                acc[j][k] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y.d), _mm512_cvtepi32_ps(sumi), acc[j][k]);
            }
        }
    }
    for (int j = 0; j < R; j++)
        for (int k = 0; k < T; k++) g.y[(t + k) * g.y_stride + r + j] = hsum(acc[j][k]);
}

SLM_TARGET_AVX512VNNI void gemm_q3_K_avx512vnni(const GemmTile& g) { gemm_tiles<4, 4>(g, q3_K_micro_vnni<4>); }

}  // namespace

TypeKernels kernels_q3_K() {
    TypeKernels k = dot_kernels({GgmlType::Q3_K, quantize_row_q3_K, dequantize_row_q3_K, GgmlType::Q8_K, dot_q3_K_q8_K_scalar},
                                dot_q3_K_q8_K_avx2, dot_q3_K_q8_K_avx512_plain, dot_q3_K_q8_K_avx512_vnni);
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q3_K_avx512vnni;
    return k;
}

}  // namespace slm::kernels
