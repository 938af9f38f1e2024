// The AVX512-VNNI GEMM micro-kernel of Q4_K and Q5_K (gemm_tile.h): the two share the scale layout (eight
// 6-bit scales and mins, simd.h's k4_*) and the AVX-512 dot loop; they differ only in how the levels unpack,
// which the format passes as F:
//     using Block = block_q4_K;                          // d, dmin, scales[12], ... per super-block
//     static void levels(const Block&, __m512i q[4]);    // chunk pairs (0,1), (2,3): low, high sub-blocks
#pragma once
#include <cstdint>

#include "cpu/kernels.h"
#include "cpu/q8_K.h"
#include "cpu/simd.h"

namespace slm::kernels {

// R weight rows x 4 tokens. Per super-block each row's levels (F::levels) and its eight scales, permuted for
// the chunk pairs, are made once for the 4 tokens; each token's activations are joined once for the R rows.
// Per output the float steps are those of dot_q4_K_avx512_body and dot_q5_K_avx512_body:
// acc = fma(d_w * d_a, float(sumi), acc), acc_m = fma(dmin_w * d_a, float(min products), acc_m), then
// hsum(acc) - hsum(acc_m). The four tokens' acc_m (4 lanes each) share one 512-bit register, one 128-bit lane
// per token: lane for lane the same operations.
template <class F, int R>
SLM_TARGET_AVX512VNNI void k4_micro_vnni(const GemmTile& g, int64_t r, int64_t t) {
    using namespace simd;
    constexpr int T = 4;
    const int64_t nb = g.n_in / QK_K;
    const typename F::Block* w[R];
    const block_q8_K* a[T];
    for (int j = 0; j < R; j++) w[j] = reinterpret_cast<const typename F::Block*>(g.w + (r + j) * g.w_stride);
    for (int k = 0; k < T; k++) a[k] = reinterpret_cast<const block_q8_K*>(g.x + (t + k) * g.x_stride);
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[R][T], acc_m[R];
    for (int j = 0; j < R; j++) {
        acc_m[j] = _mm512_setzero_ps();
        for (int k = 0; k < T; k++) acc[j][k] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        // The activations of the 4 tokens: chunk pairs (0,1) and (2,3), low and high sub-blocks.
        __m512i act[T][4];
        __m128i sub_sums[T];
        float da[T];
        for (int k = 0; k < T; k++) {
            const int8_t* q8 = a[k][i].qs;
            act[k][0] = join(load32(q8), load32(q8 + 64));
            act[k][1] = join(load32(q8 + 32), load32(q8 + 96));
            act[k][2] = join(load32(q8 + 128), load32(q8 + 192));
            act[k][3] = join(load32(q8 + 160), load32(q8 + 224));
            const __m256i bs = load32(a[k][i].bsums);
            sub_sums[k] = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
            da[k] = a[k][i].d;
        }
        const __m512i sub_sums4 = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_set_m128i(sub_sums[1], sub_sums[0])), _mm256_set_m128i(sub_sums[3], sub_sums[2]), 1);
        const __m512 da4 = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set_m128(_mm_set1_ps(da[1]), _mm_set1_ps(da[0]))),
                                              _mm256_set_m128(_mm_set1_ps(da[3]), _mm_set1_ps(da[2])), 1);
        for (int j = 0; j < R; j++) {
            const typename F::Block& b = w[j][i];
            const __m128i sm8 = scales_mins_k4(b.scales);  // 8 scales, 8 mins
            const __m512i mins4 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_srli_si128(sm8, 8)));
            const __m512 prod_m = _mm512_cvtepi32_ps(_mm512_madd_epi16(mins4, sub_sums4));
            acc_m[j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(half(b.dmin)), da4), prod_m, acc_m[j]);
            const __m512i sc32 = _mm512_cvtepu8_epi32(sm8);
            __m512i ql[4];  // levels of chunk pairs (0,1) and (2,3): low sub-blocks, high sub-blocks
            F::levels(b, ql);
            const __m512i sc[4] = {pick_pair32(sc32, 0, 2), pick_pair32(sc32, 1, 3), pick_pair32(sc32, 4, 6),
                                   pick_pair32(sc32, 5, 7)};
            const float dw = half(b.d);
            for (int k = 0; k < T; k++) {
                __m512i sumi = _mm512_dpwssd_epi32(zero, _mm512_dpbusd_epi32(zero, ql[0], act[k][0]), sc[0]);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, ql[1], act[k][1]), sc[1]);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, ql[2], act[k][2]), sc[2]);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_dpbusd_epi32(zero, ql[3], act[k][3]), sc[3]);
                acc[j][k] = _mm512_fmadd_ps(_mm512_set1_ps(dw * da[k]), _mm512_cvtepi32_ps(sumi), acc[j][k]);
            }
        }
    }
    for (int j = 0; j < R; j++) {
        __m128 m[T] = {_mm512_castps512_ps128(acc_m[j]), _mm512_extractf32x4_ps(acc_m[j], 1), _mm512_extractf32x4_ps(acc_m[j], 2),
                       _mm512_extractf32x4_ps(acc_m[j], 3)};
        for (int k = 0; k < T; k++) g.y[(t + k) * g.y_stride + r + j] = hsum(acc[j][k]) - hsum(m[k]);
    }
}

}  // namespace slm::kernels
