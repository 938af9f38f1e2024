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

#include "cpu/legacy_dot.h"
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

// How Q4_1's blocks unpack for the shared SIMD loops (legacy_dot.h): the quants 0..15 as bytes, in element
// order; the offset term m*s is the loops' own.
struct Q4_1 {
    using X = block_q4_1;
    using Y = block_q8_1;
    static constexpr bool kSigned = false;
    SLM_TARGET_AVX2 static __m256i quants(const X& x) { return simd::unpack_nibbles(x.qs); }
    SLM_TARGET_AVX512 static __m512i quants_512(const X& a, const X& b) { return simd::join(quants(a), quants(b)); }
};

SLM_TARGET_AVX2 float dot_q4_1_q8_1_avx2(int64_t n, const void* x, const void* y) { return legacy::dot_avx2<Q4_1>(n, x, y); }

}  // namespace

SLM_TARGET_AVX512 static float dot_q4_1_q8_1_avx512bw(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q4_1, false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q4_1_q8_1_avx512vnni(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q4_1, true>(n, x, y); }

// GEMM tiles (legacy_dot.h): AVX-512 and VNNI, each summing as that level's dot.
SLM_TARGET_AVX512 static void gemm_q4_1_avx512bw(const GemmTile& g) { legacy::gemm_avx512<Q4_1, false>(g); }
SLM_TARGET_AVX512VNNI static void gemm_q4_1_avx512vnni(const GemmTile& g) { legacy::gemm_avx512<Q4_1, true>(g); }

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
    TypeKernels k = dot_kernels({GgmlType::Q4_1, quantize_row_q4_1, dequantize_row_q4_1, GgmlType::Q8_1, dot_q4_1_q8_1_scalar},
                                dot_q4_1_q8_1_avx2, dot_q4_1_q8_1_avx512bw, dot_q4_1_q8_1_avx512vnni);
    k.level[int(SimdLevel::avx512)].dequantize = dequantize_row_q4_1_avx512;
    k.level[int(SimdLevel::avx512)].gemm = gemm_q4_1_avx512bw;
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q4_1_avx512vnni;
    return k;
}

}  // namespace slm::kernels
