// IQ4_NL: 4-bit non-linear quants, one scale per block of 32. Partner: Q8_0.
//
// block_iq4_nl (18 bytes, 32 values; the same bytes as Q4_0, read differently):
//   byte 0..1    fp16 d        scale
//   byte 2..17   uint8 qs[16]  byte j: index of element j in the low nibble, of element j+16 in the high nibble
//   value = d * kvalues[q],  q in 0..15
//
//   kvalues = -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113
//
// The 16 levels are not evenly spaced: they are dense near zero and sparse at the ends, where weights are
// rare, so for bell-shaped weights the same 4 bits give a lower error than Q4_0's even grid. They are int8,
// so a dot product with Q8_0 activations stays in integers: look each index up in the table (one pshufb for
// 32 of them), then multiply bytes as Q4_0 does.
//
// The quantizer (ggml's quantize_iq4_nl without an importance matrix, what llama-quantize writes):
//   per block: weights w_j = x_j^2; max = the element of largest magnitude (with its sign, the first one on
//   ties); skip the block (all zero) when |max| < GROUP_MAX_EPS.
//   1. d = max / 127 (max lands on the top level, 113), indices l_j = the level nearest to x_j / d, then the
//      weighted least-squares scale for those indices: d = sum w x q / sum w q^2, with the score d * sum w x q
//      (the larger, the lower the weighted squared error).
//   2. 15 more grids, 1/d = (t - 127) / max for t = -7..7: negative scales, so max lands near the bottom
//      level -127, the end with the larger magnitude; indices from that grid, least-squares d, kept when its
//      score is higher (compared as sumqx^2 > best * sumq2, without a division).
//   3. store fp16(d) and recompute every index against the chosen float d (nearest level to x_j / d).
// Note: ggml's quantize_row_iq4_nl_ref (used for its run-time conversions, not by llama-quantize) skips steps
// 2 and 3 (ntry = -1); slm only writes files, so it has only the llama-quantize form.
// Every float operation is written in ggml's order (see kquant_common.h): keep it out of FMA-target code.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/kquant_common.h"
#include "cpu/q8_0.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

constexpr int QK4_NL = 32;

struct block_iq4_nl {
    fp16_t d;
    uint8_t qs[QK4_NL / 2];
};
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl must be 18 bytes");

alignas(16) constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                  1,    13,   25,  38,  53,  69,  89,  113};

// Index of the level nearest to x (the upper one on a tie), clamped to the ends. A binary search as ggml's
// best_index_int8 does it, so a NaN lands where it lands there (index 15).
int nearest_level(float x) {
    const int8_t* v = kvalues_iq4nl;
    if (x <= v[0]) return 0;
    if (x >= v[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < v[mid]) hi = mid;
        else lo = mid;
    }
    return x - v[hi - 1] < v[hi] - x ? hi - 1 : hi;
}

// Steps 1-3 of the header for one block of 32.
void quantize_block_iq4_nl(const float* x, block_iq4_nl& y) {
    constexpr int ntry = 7;
    float weight[QK4_NL];
    uint8_t L[QK4_NL];
    for (int j = 0; j < QK4_NL; j++) weight[j] = x[j] * x[j];
    float amax = 0, max = 0;
    for (int j = 0; j < QK4_NL; j++) {
        const float ax = std::fabs(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    float d = 0;
    if (amax >= GROUP_MAX_EPS) {
        const float v0 = float(kvalues_iq4nl[0]);
        d = -max / v0;
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < QK4_NL; j++) {
            const float q = float(kvalues_iq4nl[nearest_level(id * x[j])]);
            const float w = weight[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = float(itry + kvalues_iq4nl[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < QK4_NL; j++) {
                const float q = float(kvalues_iq4nl[nearest_level(id * x[j])]);
                const float w = weight[j];
                sumqx += w * q * x[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
    }
    // A skipped block keeps d = 0, and its indices come out as nearest_level(0 * x) like any other's.
    y.d = fp32_to_fp16(d);
    const float id = d != 0 ? 1 / d : 0;
    for (int j = 0; j < QK4_NL; j++) L[j] = uint8_t(nearest_level(id * x[j]));
    for (int j = 0; j < QK4_NL / 2; j++) y.qs[j] = uint8_t(L[j] | (L[j + QK4_NL / 2] << 4));
}

void quantize_row_iq4_nl(const float* x, void* vy, int64_t n) {
    block_iq4_nl* y = static_cast<block_iq4_nl*>(vy);
    for (int64_t i = 0; i < n / QK4_NL; i++) quantize_block_iq4_nl(x + i * QK4_NL, y[i]);
}

void dequantize_row_iq4_nl(const void* vx, float* y, int64_t n) {
    const block_iq4_nl* x = static_cast<const block_iq4_nl*>(vx);
    for (int64_t i = 0; i < n / QK4_NL; i++, y += QK4_NL) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[j] = d * float(kvalues_iq4nl[x[i].qs[j] & 0x0f]);
            y[j + QK4_NL / 2] = d * float(kvalues_iq4nl[x[i].qs[j] >> 4]);
        }
    }
}

// One block's exact integer dot product, sum over j of kvalues[q_j] * y_j.
int32_t block_sumi(const block_iq4_nl& x, const block_q8_0& y) {
    int32_t lo = 0, hi = 0;
    for (int j = 0; j < QK4_NL / 2; j++) {
        lo += int32_t(y.qs[j]) * kvalues_iq4nl[x.qs[j] & 0x0f];
        hi += int32_t(y.qs[j + QK4_NL / 2]) * kvalues_iq4nl[x.qs[j] >> 4];
    }
    return lo + hi;
}

// The reference: per block the exact integer dot, scaled by both blocks' scales, summed in block order.
float dot_iq4_nl_q8_0_scalar(int64_t n, const void* vx, const void* vy) {
    const block_iq4_nl* x = static_cast<const block_iq4_nl*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_NL; i++)
        sum += (fp16_to_fp32(y[i].d) * fp16_to_fp32(x[i].d)) * float(block_sumi(x[i], y[i]));
    return sum;
}

// x's 32 levels as signed bytes in element order: the nibbles (simd.h) looked up in the table, 16 at a time
// (pshufb picks byte q of the table for index q; the indices are 0..15, so no lane ever reads a zeroing index).
SLM_TARGET_AVX2 inline __m256i levels(const block_iq4_nl& x) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
    return _mm256_shuffle_epi8(table, simd::unpack_nibbles(x.qs));
}

// One block: 8 int32 partial sums, scaled and accumulated in float lanes.
SLM_TARGET_AVX2 inline __m256 block_dot_avx2(const block_iq4_nl& x, const block_q8_0& y, __m256 acc) {
    using namespace simd;
    // |level| <= 127 and |y| <= 127: a maddubs pair sums to at most 2 * 127 * 127 = 32258, no saturation.
    const __m256i p = dot_s8_s8(levels(x), load32(y.qs));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(half(y.d) * half(x.d)), acc);
}

// ggml's order (ggml_vec_dot_iq4_nl_q8_0, AVX2): even blocks into one accumulator, odd blocks into another,
// their sum reduced horizontally, then an odd last block added as the scalar code does. The integer sums are
// exact, so this gives llama.cpp's result to the bit.
SLM_TARGET_AVX2 float dot_iq4_nl_q8_0_avx2(int64_t n, const void* vx, const void* vy) {
    const block_iq4_nl* x = static_cast<const block_iq4_nl*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int64_t nb = n / QK4_NL;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        acc0 = block_dot_avx2(x[i], y[i], acc0);
        acc1 = block_dot_avx2(x[i + 1], y[i + 1], acc1);
    }
    float sum = simd::hsum(_mm256_add_ps(acc0, acc1));
    if (i < nb) sum += (simd::half(y[i].d) * simd::half(x[i].d)) * float(block_sumi(x[i], y[i]));
    return sum;
}

}  // namespace

// AVX-512: two blocks per 64-byte register, the table lookup on all four 16-byte lanes at once; an odd last
// block goes through the AVX2 code. VNNI selects vpdpbusd for the byte products (nothing else differs).
template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_iq4_nl_q8_0_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_iq4_nl* x = static_cast<const block_iq4_nl*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int64_t nb = n / QK4_NL;
    const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
    // 16-byte lanes: block i's raw bytes, the same >> 4, block i+1's, the same >> 4.
    const __m512i spread = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3);
    const __m512i shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);  // per 64-bit element, as srlv_epi64 takes it
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256i raw = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i + 1].qs)),
                                             _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs)));
        // Shifting 64-bit elements by 4 moves bits across byte boundaries, but the mask keeps each byte's
        // own high nibble (bits 4..7 of the byte land in bits 0..3 of the same byte).
        const __m512i nib = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutexvar_epi64(spread, _mm512_castsi256_si512(raw)), shift), low4);
        const __m512i xq = _mm512_shuffle_epi8(table, nib);
        const __m512i yq = join(load32(y[i].qs), load32(y[i + 1].qs));
        const __m512 d = join_scales(half(y[i].d) * half(x[i].d), half(y[i + 1].d) * half(x[i + 1].d));
        const __m512i p = VNNI ? dot_s8_s8_512_vnni(xq, yq) : dot_s8_s8_512(xq, yq);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc);
    }
    __m256 tail = _mm256_setzero_ps();
    if (i < nb) tail = block_dot_avx2(x[i], y[i], tail);
    return hsum(acc) + hsum(tail);
}
SLM_TARGET_AVX512 static float dot_iq4_nl_q8_0_avx512bw(int64_t n, const void* x, const void* y) { return dot_iq4_nl_q8_0_avx512_body<false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_iq4_nl_q8_0_avx512vnni(int64_t n, const void* x, const void* y) { return dot_iq4_nl_q8_0_avx512_body<true>(n, x, y); }

// llama.cpp's order (KernelOrder::llamacpp) is the AVX2 dot above; not modelled: on AVX2 CPUs llama.cpp repacks
// IQ4_NL matrices whose row count is a multiple of 8 for its iq4_nl_8x8 GEMM/GEMV (as it does Q4_K, see
// q4_K.cpp), which sums in another order, so --llamacpp-numerics logits of an IQ4_NL model may differ from
// llama.cpp's in the last bits.
TypeKernels kernels_iq4_nl() {
    TypeKernels k;
    k.ref = {GgmlType::IQ4_NL, quantize_row_iq4_nl, dequantize_row_iq4_nl, GgmlType::Q8_0, dot_iq4_nl_q8_0_scalar};
    k.level[int(SimdLevel::avx2)].dot = dot_iq4_nl_q8_0_avx2;
    k.level[int(SimdLevel::avx512)].dot = dot_iq4_nl_q8_0_avx512bw;
    k.level[int(SimdLevel::avx512_vnni)].dot = dot_iq4_nl_q8_0_avx512vnni;
    return k;
}

}  // namespace slm::kernels
