// Q8_0: 8-bit quants with one scale per block of 32. The weight format of `slm quantize --type Q8_0`, and
// the activation partner (vec_dot_type) of Q4_0, Q5_0 and Q8_0.
//
// block_q8_0 (34 bytes, 32 values):
//   byte 0..1    fp16 d        scale
//   byte 2..33   int8 qs[32]   quants, value j = d * qs[j]
//
// ggml's reference quantizer: d = amax / 127 (amax = largest |x| in the block), qs[j] = roundf(x[j] / d)
// computed as x[j] * (1/d), rounded half away from zero. d is stored as fp16 but the quants are computed
// with the float d before that rounding (byte-identity with llama.cpp depends on it). Activations are
// rounded slightly differently, as ggml's SIMD code does (see quantize_scalar).
#include "q8_0.h"

#include <cmath>
#include <cstring>

#include "cpu_features.h"
#include "simd_legacy.h"

namespace slm::kernels {

namespace {

// Two roundings of the same scheme (d = amax / 127):
//  - WEIGHT, ggml's reference quantizer (quantize_row_q8_0_ref, what llama-quantize writes): qs = x * (1/d)
//    rounded half away from zero;
//  - ACTIVATION, what ggml's x86 SIMD code does to activations at run time: qs = x * (127/amax) rounded half
//    to even. 127/amax and 1/(amax/127) differ in the last bit now and then, which moves a quant by one.
// slm converts activations the second way so a forward pass sees the quants llama.cpp sees.
enum class Rounding { weight, activation };

template <Rounding R>
void quantize_scalar(const float* x, void* vy, int64_t n) {
    block_q8_0* y = static_cast<block_q8_0*>(vy);
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
        const float d = amax / 127;
        y[i].d = fp32_to_fp16(d);
        if constexpr (R == Rounding::weight) {
            const float id = d != 0 ? 1.0f / d : 0.0f;
            for (int j = 0; j < QK8_0; j++) y[i].qs[j] = int8_t(std::round(x[j] * id));
        } else {
            const float id = amax != 0 ? 127.0f / amax : 0.0f;
            for (int j = 0; j < QK8_0; j++) y[i].qs[j] = int8_t(std::nearbyint(x[j] * id));  // half to even
        }
    }
}

// Same arithmetic, 8 lanes at a time: the same float products and the same rounding, so the bytes are
// identical to quantize_scalar's.
template <Rounding R>
SLM_TARGET_AVX2 void quantize_avx2(const float* x, void* vy, int64_t n) {
    using namespace legacy_simd;
    block_q8_0* y = static_cast<block_q8_0*>(vy);
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
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
        __m256i q;
        if constexpr (R == Rounding::weight) {
            const __m256 idv = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f);
            q = pack_to_int8(round_half_away(_mm256_mul_ps(v0, idv)), round_half_away(_mm256_mul_ps(v1, idv)),
                             round_half_away(_mm256_mul_ps(v2, idv)), round_half_away(_mm256_mul_ps(v3, idv)));
        } else {
            const __m256 idv = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
            constexpr int even = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
            q = pack_to_int8(_mm256_round_ps(_mm256_mul_ps(v0, idv), even), _mm256_round_ps(_mm256_mul_ps(v1, idv), even),
                             _mm256_round_ps(_mm256_mul_ps(v2, idv), even), _mm256_round_ps(_mm256_mul_ps(v3, idv), even));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), q);
    }
}

}  // namespace

void quantize_row_q8_0_ref(const float* x, void* y, int64_t n) { quantize_scalar<Rounding::weight>(x, y, n); }
void quantize_row_q8_0_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Rounding::weight>(x, y, n); }
void quantize_row_q8_0(const float* x, void* y, int64_t n) {
    if (simd_level() >= SimdLevel::avx2) quantize_row_q8_0_avx2(x, y, n);
    else quantize_row_q8_0_ref(x, y, n);
}

void quantize_row_q8_0_act_ref(const float* x, void* y, int64_t n) { quantize_scalar<Rounding::activation>(x, y, n); }
void quantize_row_q8_0_act_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Rounding::activation>(x, y, n); }
void quantize_row_q8_0_act(const float* x, void* y, int64_t n) {
    if (simd_level() >= SimdLevel::avx2) quantize_row_q8_0_act_avx2(x, y, n);
    else quantize_row_q8_0_act_ref(x, y, n);
}

namespace {

void dequantize_row_q8_0(const void* vx, float* y, int64_t n) {
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_0; j++) *y++ = float(x[i].qs[j]) * d;
    }
}

// The reference: an exact integer dot product per block, scaled by both blocks' scales.
float dot_q8_0_q8_0_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += int32_t(x[i].qs[j]) * int32_t(y[i].qs[j]);
        sum += float(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return sum;
}

// One block: 8 int32 partial sums, scaled and accumulated in float lanes.
SLM_TARGET_AVX2 inline __m256 block_dot_avx2(const block_q8_0& x, const block_q8_0& y, __m256 acc) {
    using namespace legacy_simd;
    __m256i p = dot_s8_s8(load32(x.qs), load32(y.qs));
    const float d = half(x.d) * half(y.d);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
}

SLM_TARGET_AVX2 float dot_q8_0_q8_0_avx2(int64_t n, const void* vx, const void* vy) {
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int64_t nb = n / QK8_0;
    // One accumulator, blocks in order, then the horizontal sum: ggml's own summation order, so slm's
    // results equal llama.cpp's to the bit (the integer work per block hides the FMA latency anyway).
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) acc = block_dot_avx2(x[i], y[i], acc);
    return legacy_simd::hsum(acc);
}

}  // namespace

// AVX-512: two blocks per 64-byte register; an odd last block goes through the AVX2 code.
SLM_TARGET_AVX512 float dot_q8_0_q8_0_avx512bw(int64_t n, const void* vx, const void* vy) {
    using namespace legacy_simd;
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int64_t nb = n / QK8_0;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i xq = join(load32(x[i].qs), load32(x[i + 1].qs));
        __m512i yq = join(load32(y[i].qs), load32(y[i + 1].qs));
        __m512 d = join_scales(half(x[i].d) * half(y[i].d),
                               half(x[i + 1].d) * half(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_s8_s8_512(xq, yq)), d, acc);
    }
    __m256 tail = _mm256_setzero_ps();
    if (i < nb) tail = block_dot_avx2(x[i], y[i], tail);
    return hsum(acc) + hsum(tail);
}

SLM_TARGET_AVX512VNNI float dot_q8_0_q8_0_avx512vnni(int64_t n, const void* vx, const void* vy) {
    using namespace legacy_simd;
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int64_t nb = n / QK8_0;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i xq = join(load32(x[i].qs), load32(x[i + 1].qs));
        __m512i yq = join(load32(y[i].qs), load32(y[i + 1].qs));
        __m512 d = join_scales(half(x[i].d) * half(y[i].d),
                               half(x[i + 1].d) * half(y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_s8_s8_512_vnni(xq, yq)), d, acc);
    }
    __m256 tail = _mm256_setzero_ps();
    if (i < nb) tail = block_dot_avx2(x[i], y[i], tail);
    return hsum(acc) + hsum(tail);
}

namespace {
float dot_q8_0_q8_0_avx512(int64_t n, const void* x, const void* y) {
    return cpu_features().avx512vnni ? dot_q8_0_q8_0_avx512vnni(n, x, y) : dot_q8_0_q8_0_avx512bw(n, x, y);
}
}  // namespace

const TypeOps& ops_q8_0() {
    static const TypeOps ops{GgmlType::Q8_0,         quantize_row_q8_0,  dequantize_row_q8_0, GgmlType::Q8_0,
                             dot_q8_0_q8_0_scalar,   dot_q8_0_q8_0_avx2, dot_q8_0_q8_0_avx512,
                             quantize_row_q8_0_act};
    return ops;
}

}  // namespace slm::kernels
