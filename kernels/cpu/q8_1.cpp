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
#include "q8_1.h"

#include <cmath>

#include "cpu_features.h"
#include "simd_legacy.h"

namespace slm::kernels {

namespace {

// Two roundings of the same scheme, as for Q8_0 (see q8_0.cpp): WEIGHT is ggml's reference quantizer,
// qs = roundf(x * (1/d)); ACTIVATION is ggml's x86 SIMD code, qs = x * (127/amax) rounded half to even.
// s = fp16(float(sum of qs) * d) either way.
enum class Rounding { weight, activation };

template <Rounding R>
void quantize_scalar(const float* x, void* vy, int64_t n) {
    block_q8_1* y = static_cast<block_q8_1*>(vy);
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float amax = 0;
        for (int j = 0; j < QK8_1; j++) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
        const float d = amax / 127;
        y[i].d = fp32_to_fp16(d);
        int sum = 0;
        if constexpr (R == Rounding::weight) {
            const float id = d != 0 ? 1.0f / d : 0.0f;
            for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j] = int8_t(std::round(x[j] * id));
        } else {
            const float id = amax != 0 ? 127.0f / amax : 0.0f;
            for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j] = int8_t(std::nearbyint(x[j] * id));
        }
        y[i].s = fp32_to_fp16(float(sum) * d);
    }
}

// Same arithmetic, 8 lanes at a time (same products, same rounding): bytes identical to quantize_scalar's.
template <Rounding R>
SLM_TARGET_AVX2 void quantize_avx2(const float* x, void* vy, int64_t n) {
    using namespace legacy_simd;
    block_q8_1* y = static_cast<block_q8_1*>(vy);
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
                                 _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127;
        y[i].d = fp32_to_fp16(d);
        __m256 r0, r1, r2, r3;
        if constexpr (R == Rounding::weight) {
            const __m256 idv = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f);
            r0 = round_half_away(_mm256_mul_ps(v0, idv)), r1 = round_half_away(_mm256_mul_ps(v1, idv));
            r2 = round_half_away(_mm256_mul_ps(v2, idv)), r3 = round_half_away(_mm256_mul_ps(v3, idv));
        } else {
            const __m256 idv = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
            constexpr int even = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
            r0 = _mm256_round_ps(_mm256_mul_ps(v0, idv), even), r1 = _mm256_round_ps(_mm256_mul_ps(v1, idv), even);
            r2 = _mm256_round_ps(_mm256_mul_ps(v2, idv), even), r3 = _mm256_round_ps(_mm256_mul_ps(v3, idv), even);
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), pack_to_int8(r0, r1, r2, r3));
        // The rounded values are small integers, so their float sum is exact (|sum| <= 32*127).
        const float sum = hsum(_mm256_add_ps(_mm256_add_ps(r0, r1), _mm256_add_ps(r2, r3)));
        y[i].s = fp32_to_fp16(sum * d);
    }
}

}  // namespace

void quantize_row_q8_1_ref(const float* x, void* y, int64_t n) { quantize_scalar<Rounding::weight>(x, y, n); }
void quantize_row_q8_1_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Rounding::weight>(x, y, n); }
void quantize_row_q8_1(const float* x, void* y, int64_t n) {
    if (simd_level() >= SimdLevel::avx2) quantize_row_q8_1_avx2(x, y, n);
    else quantize_row_q8_1_ref(x, y, n);
}

void quantize_row_q8_1_act_ref(const float* x, void* y, int64_t n) { quantize_scalar<Rounding::activation>(x, y, n); }
void quantize_row_q8_1_act_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Rounding::activation>(x, y, n); }
void quantize_row_q8_1_act(const float* x, void* y, int64_t n) {
    if (simd_level() >= SimdLevel::avx2) quantize_row_q8_1_act_avx2(x, y, n);
    else quantize_row_q8_1_act_ref(x, y, n);
}

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

const TypeOps& ops_q8_1() {
    static const TypeOps ops{GgmlType::Q8_1, quantize_row_q8_1, dequantize_row_q8_1, GgmlType::Q8_1,
                             dot_q8_1_q8_1_scalar, nullptr, nullptr, quantize_row_q8_1_act};
    return ops;
}

}  // namespace slm::kernels
