// Q4_1: 4-bit quants with a scale and a minimum per block of 32 (asymmetric). Partner: Q8_1.
//
// block_q4_1 (20 bytes, 32 values):
//   byte 0..1    fp16 d        scale
//   byte 2..3    fp16 m        minimum (offset)
//   byte 4..19   uint8 qs[16]  byte j: element j in the low nibble, element j+16 in the high nibble
//   value = d * q + m,  q in 0..15
//
// ggml's reference quantizer (quantize_row_q4_1_ref): m = the block's minimum, d = (max - min) / 15,
// q = min(15, trunc((x - min) * (1/d) + 0.5)) with the float min and d (before their fp16 rounding).
//
// Dot with Q8_1 (activation value d8 * a): sum_j (d*q_j + m) * d8*a_j = d*d8 * sum(q_j*a_j) + m * s8, where
// s8 = d8 * sum(a_j) is stored in the Q8_1 block.
#include <cmath>

#include "cpu/legacy_quant.h"
#include "cpu/q8_1.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

constexpr int QK4_1 = 32;

struct block_q4_1 {
    fp16_t d;
    fp16_t m;
    uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 must be 20 bytes");

void quantize_row_q4_1(const float* x, void* vy, int64_t n) {
    block_q4_1* y = static_cast<block_q4_1*>(vy);
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min = 3.40282347e38f, max = -3.40282347e38f;  // FLT_MAX, as ggml starts
        for (int j = 0; j < QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int q0 = std::min(15, int(ggml_float_to_int8((x[j] - min) * id + 0.5f)));
            const int q1 = std::min(15, int(ggml_float_to_int8((x[j + QK4_1 / 2] - min) * id + 0.5f)));
            y[i].qs[j] = uint8_t(uint8_t(q0) | (uint8_t(q1) << 4));
        }
    }
}

void dequantize_row_q4_1(const void* vx, float* y, int64_t n) {
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = float(x[i].qs[j] & 0x0f) * d + m;
            y[j + QK4_1 / 2] = float(x[i].qs[j] >> 4) * d + m;
        }
    }
}

// The reference: an exact integer dot product per block, scaled, plus the minimum times Q8_1's sum.
float dot_q4_1_q8_1_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            sumi += (x[i].qs[j] & 0x0f) * int32_t(y[i].qs[j]);
            sumi += (x[i].qs[j] >> 4) * int32_t(y[i].qs[j + QK4_1 / 2]);
        }
        sum += float(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d)) +
               fp16_to_fp32(x[i].m) * fp16_to_fp32(y[i].s);
    }
    return sum;
}

// One block: 8 int32 partial sums of q*a, scaled and accumulated in float lanes; the m*s term goes to
// lane 0 of a second accumulator (so it costs one FMA, not a horizontal step).
SLM_TARGET_AVX2 inline void block_dot_avx2(const block_q4_1& x, const block_q8_1& y, __m256& acc, __m256& accm) {
    using namespace simd;
    __m256i p = dot_u8_s8(unpack_nibbles(x.qs), load32(y.qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(half(x.d) * half(y.d)), acc);
    accm = _mm256_fmadd_ps(_mm256_setr_ps(half(x.m), 0, 0, 0, 0, 0, 0, 0), _mm256_set1_ps(half(y.s)), accm);
}

SLM_TARGET_AVX2 float dot_q4_1_q8_1_avx2(int64_t n, const void* vx, const void* vy) {
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    const int64_t nb = n / QK4_1;
    // One accumulator, blocks in order, the m*s terms summed apart and added last: ggml's own summation
    // order, so slm's results equal llama.cpp's to the bit.
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) block_dot_avx2(x[i], y[i], acc, accm);
    return simd::hsum(acc) + _mm256_cvtss_f32(accm);
}

}  // namespace

// AVX-512: two blocks per 64-byte register; an odd last block goes through the AVX2 code. The m*s terms of
// both blocks go into one 128-bit accumulator, lanes 0 and 1.
// One body for both instruction sets: VNNI selects vpdpbusd for the byte products (the two instantiations
// differ in nothing else).
template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q4_1_q8_1_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    const int64_t nb = n / QK4_1;
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i xq = join(unpack_nibbles(x[i].qs), unpack_nibbles(x[i + 1].qs));
        __m512i yq = join(load32(y[i].qs), load32(y[i + 1].qs));
        __m512 d = join_scales(half(x[i].d) * half(y[i].d), half(x[i + 1].d) * half(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(VNNI ? dot_u8_s8_512_vnni(xq, yq) : dot_u8_s8_512(xq, yq)), d, acc);
        accm = _mm_fmadd_ps(_mm_setr_ps(half(x[i].m), half(x[i + 1].m), 0, 0),
                            _mm_setr_ps(half(y[i].s), half(y[i + 1].s), 0, 0), accm);
    }
    __m256 tail = _mm256_setzero_ps(), tailm = _mm256_setzero_ps();
    if (i < nb) block_dot_avx2(x[i], y[i], tail, tailm);
    return hsum(acc) + hsum(_mm256_add_ps(_mm256_add_ps(tail, tailm), _mm256_zextps128_ps256(accm)));
}
SLM_TARGET_AVX512 static float dot_q4_1_q8_1_avx512bw(int64_t n, const void* x, const void* y) { return dot_q4_1_q8_1_avx512_body<false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q4_1_q8_1_avx512vnni(int64_t n, const void* x, const void* y) { return dot_q4_1_q8_1_avx512_body<true>(n, x, y); }

// Dequantization for training's weight tiles: the reference's d * q + m, unfused (bit-identical).
SLM_TARGET_AVX512 static void dequantize_row_q4_1_avx512(const void* vx, float* y, int64_t n) {
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    const __m128i low = _mm_set1_epi8(0x0f);
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const __m512 d = _mm512_set1_ps(simd::half(x[i].d)), m = _mm512_set1_ps(simd::half(x[i].m));
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
        const __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, low)));
        const __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), low)));
        _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(q0, d), m));
        _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(q1, d), m));
    }
}

TypeKernels kernels_q4_1() {
    TypeKernels k;
    k.ref = {GgmlType::Q4_1, quantize_row_q4_1, dequantize_row_q4_1, GgmlType::Q8_1, dot_q4_1_q8_1_scalar};
    k.level[int(SimdLevel::avx2)].dot = dot_q4_1_q8_1_avx2;
    k.level[int(SimdLevel::avx512)].dot = dot_q4_1_q8_1_avx512bw;
    k.level[int(SimdLevel::avx512)].dequantize = dequantize_row_q4_1_avx512;
    k.level[int(SimdLevel::avx512_vnni)].dot = dot_q4_1_q8_1_avx512vnni;
    return k;
}

}  // namespace slm::kernels
