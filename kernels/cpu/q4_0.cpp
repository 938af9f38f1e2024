// Q4_0: 4-bit quants with one scale per block of 32, symmetric (no offset). Partner: Q8_0.
//
// block_q4_0 (18 bytes, 32 values):
//   byte 0..1    fp16 d        scale
//   byte 2..17   uint8 qs[16]  byte j: element j in the low nibble, element j+16 in the high nibble
//   value = d * (q - 8),  q in 0..15
//
// ggml's reference quantizer (quantize_row_q4_0_ref): take the element of largest magnitude, max (with its
// sign); d = max / -8, so max itself maps to q = 0 (value -8*d = max) and the range -8..7 is used fully on
// max's side. q = min(15, trunc(x/d + 8.5)), with x/d computed as x * (1/d).
#include <cmath>

#include "cpu/legacy_quant.h"
#include "cpu/q8_0.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

constexpr int QK4_0 = 32;

struct block_q4_0 {
    fp16_t d;
    uint8_t qs[QK4_0 / 2];
};
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes");

void quantize_row_q4_0(const float* x, void* vy, int64_t n) {
    block_q4_0* y = static_cast<block_q4_0*>(vy);
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int q0 = std::min(15, int(ggml_float_to_int8(x[j] * id + 8.5f)));
            const int q1 = std::min(15, int(ggml_float_to_int8(x[j + QK4_0 / 2] * id + 8.5f)));
            y[i].qs[j] = uint8_t(uint8_t(q0) | (uint8_t(q1) << 4));
        }
    }
}

void dequantize_row_q4_0(const void* vx, float* y, int64_t n) {
    const block_q4_0* x = static_cast<const block_q4_0*>(vx);
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = float((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + QK4_0 / 2] = float((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

// The reference: an exact integer dot product per block, scaled by both blocks' scales.
float dot_q4_0_q8_0_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q4_0* x = static_cast<const block_q4_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0f) - 8) * int32_t(y[i].qs[j]);
            sumi += ((x[i].qs[j] >> 4) - 8) * int32_t(y[i].qs[j + QK4_0 / 2]);
        }
        sum += float(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return sum;
}

// x's 32 quants as signed bytes q - 8, in element order.
SLM_TARGET_AVX2 inline __m256i signed_quants(const block_q4_0& x) {
    return _mm256_sub_epi8(simd::unpack_nibbles(x.qs), _mm256_set1_epi8(8));
}

// One block: 8 int32 partial sums, scaled and accumulated in float lanes.
SLM_TARGET_AVX2 inline __m256 block_dot_avx2(const block_q4_0& x, const block_q8_0& y, __m256 acc) {
    using namespace simd;
    __m256i p = dot_s8_s8(signed_quants(x), load32(y.qs));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(half(x.d) * half(y.d)), acc);
}

SLM_TARGET_AVX2 float dot_q4_0_q8_0_avx2(int64_t n, const void* vx, const void* vy) {
    const block_q4_0* x = static_cast<const block_q4_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int64_t nb = n / QK4_0;
    // One accumulator, blocks in order, then the horizontal sum: ggml's own summation order, so slm's
    // results equal llama.cpp's to the bit (the integer work per block hides the FMA latency anyway).
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) acc = block_dot_avx2(x[i], y[i], acc);
    return simd::hsum(acc);
}

}  // namespace

// AVX-512: two blocks per 64-byte register; an odd last block goes through the AVX2 code.
// One body for both instruction sets: VNNI selects vpdpbusd for the byte products (the two instantiations
// differ in nothing else).
template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q4_0_q8_0_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q4_0* x = static_cast<const block_q4_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int64_t nb = n / QK4_0;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i xq = join(signed_quants(x[i]), signed_quants(x[i + 1]));
        __m512i yq = join(load32(y[i].qs), load32(y[i + 1].qs));
        __m512 d = join_scales(half(x[i].d) * half(y[i].d), half(x[i + 1].d) * half(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(VNNI ? dot_s8_s8_512_vnni(xq, yq) : dot_s8_s8_512(xq, yq)), d, acc);
    }
    __m256 tail = _mm256_setzero_ps();
    if (i < nb) tail = block_dot_avx2(x[i], y[i], tail);
    return hsum(acc) + hsum(tail);
}
SLM_TARGET_AVX512 static float dot_q4_0_q8_0_avx512bw(int64_t n, const void* x, const void* y) { return dot_q4_0_q8_0_avx512_body<false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q4_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y) { return dot_q4_0_q8_0_avx512_body<true>(n, x, y); }


TypeKernels kernels_q4_0() {
    TypeKernels k;
    k.ref = {GgmlType::Q4_0, quantize_row_q4_0, dequantize_row_q4_0, GgmlType::Q8_0, dot_q4_0_q8_0_scalar};
    k.level[int(SimdLevel::avx2)].dot = dot_q4_0_q8_0_avx2;
    k.level[int(SimdLevel::avx512)].dot = dot_q4_0_q8_0_avx512bw;
    k.level[int(SimdLevel::avx512_vnni)].dot = dot_q4_0_q8_0_avx512vnni;
    return k;
}

}  // namespace slm::kernels
