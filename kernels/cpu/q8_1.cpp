// Q8_1: 8-bit quants with one scale per block of 32, plus the block's scaled sum. Never a weight format in
// practice: it is what activations are converted to before a dot product with Q4_1 or Q5_1 weights.
//
// block_q8_1 (36 bytes, 32 values):
//   byte 0..1    fp16 d        scale
//   byte 2..3    fp16 s        d * (qs[0] + ... + qs[31])
//   byte 4..35   int8 qs[32]   quants, value j = d * qs[j]
//
// Why s: a Q4_1 / Q5_1 value is d_w*q + m, so sum_j (d_w*q_j + m) * d*a_j = d_w*d*sum(q_j*a_j) + m*(d*sum(a_j));
// the second term is m * s.
//
// ggml's reference quantizer (quantize_row_q8_1_ref): d = amax / 127, qs[j] = roundf(x[j] * (1/d)) (half
// away from zero), s = fp16(float(sum of qs) * d) with the float d (before d itself is rounded to fp16).
#include "cpu/q8_1.h"
#include "cpu/kernels.h"

#include <cmath>

#include "cpu/q8_block.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

// The block scaling and the two roundings (weights, activations) are q8_block.h's; s = fp16(float(sum of
// quants) * d) either way.
template <Q8Rounding R>
void quantize_scalar(const float* x, void* vy, int64_t n) {
    block_q8_1* y = static_cast<block_q8_1*>(vy);
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = q8_block_scalar<R>(x, y[i].qs);
        y[i].d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j];
        y[i].s = fp32_to_fp16(float(sum) * d);
    }
}

template <Q8Rounding R>
SLM_TARGET_AVX2 void quantize_avx2(const float* x, void* vy, int64_t n) {
    using namespace simd;
    block_q8_1* y = static_cast<block_q8_1*>(vy);
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        __m256 r[4];
        const float d = q8_block_avx2<R>(x, r);
        y[i].d = fp32_to_fp16(d);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), pack_to_int8(r[0], r[1], r[2], r[3]));
        // The rounded values are small integers, so their float sum is exact (|sum| <= 32*127).
        const float sum = hsum(_mm256_add_ps(_mm256_add_ps(r[0], r[1]), _mm256_add_ps(r[2], r[3])));
        y[i].s = fp32_to_fp16(sum * d);
    }
}

}  // namespace

static void quantize_row_q8_1_ref(const float* x, void* y, int64_t n) { quantize_scalar<Q8Rounding::weight>(x, y, n); }
static void quantize_row_q8_1_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Q8Rounding::weight>(x, y, n); }

static void quantize_row_q8_1_act_ref(const float* x, void* y, int64_t n) { quantize_scalar<Q8Rounding::activation>(x, y, n); }
static void quantize_row_q8_1_act_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Q8Rounding::activation>(x, y, n); }

namespace {

void dequantize_row_q8_1(const void* vx, float* y, int64_t n) {
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_1; j++) *y++ = float(x[i].qs[j]) * d;
    }
}

// Q8_1 x Q8_1 exists only so the table is complete (ggml has no such dot): scalar only.
float dot_q8_1_q8_1_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK8_1; j++) sumi += int32_t(x[i].qs[j]) * int32_t(y[i].qs[j]);
        sum += float(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return sum;
}

}  // namespace

TypeKernels kernels_q8_1() {  // no dot product of its own: Q8_1 is Q4_1's and Q5_1's activation type
    TypeKernels k = dot_kernels({GgmlType::Q8_1, quantize_row_q8_1_ref, dequantize_row_q8_1, GgmlType::Q8_1,
                                 dot_q8_1_q8_1_scalar, quantize_row_q8_1_act_ref},
                                nullptr);
    k.level[int(SimdLevel::avx2)].quantize = quantize_row_q8_1_avx2;
    k.level[int(SimdLevel::avx2)].quantize_activation = quantize_row_q8_1_act_avx2;
    return k;
}

}  // namespace slm::kernels
