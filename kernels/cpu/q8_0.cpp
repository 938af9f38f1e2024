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
// rounded slightly differently, as ggml's SIMD code does (see q8_block.h).
#include "cpu/q8_0.h"
#include "cpu/kernels.h"

#include <cmath>
#include <cstring>

#include "cpu/q8_block.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

// The block scaling and the two roundings (weights, activations) are q8_block.h's.
template <Q8Rounding R>
void quantize_scalar(const float* x, void* vy, int64_t n) {
    block_q8_0* y = static_cast<block_q8_0*>(vy);
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) y[i].d = fp32_to_fp16(q8_block_scalar<R>(x, y[i].qs));
}

template <Q8Rounding R>
SLM_TARGET_AVX2 void quantize_avx2(const float* x, void* vy, int64_t n) {
    block_q8_0* y = static_cast<block_q8_0*>(vy);
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        __m256 r[4];
        y[i].d = fp32_to_fp16(q8_block_avx2<R>(x, r));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), simd::pack_to_int8(r[0], r[1], r[2], r[3]));
    }
}

}  // namespace

static void quantize_row_q8_0_ref(const float* x, void* y, int64_t n) { quantize_scalar<Q8Rounding::weight>(x, y, n); }
static void quantize_row_q8_0_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Q8Rounding::weight>(x, y, n); }

static void quantize_row_q8_0_act_ref(const float* x, void* y, int64_t n) { quantize_scalar<Q8Rounding::activation>(x, y, n); }
static void quantize_row_q8_0_act_avx2(const float* x, void* y, int64_t n) { quantize_avx2<Q8Rounding::activation>(x, y, n); }

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
    using namespace simd;
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
    return simd::hsum(acc);
}

}  // namespace

// AVX-512: two blocks per 64-byte register; an odd last block goes through the AVX2 code.
// One body for both instruction sets: VNNI selects vpdpbusd for the byte products (the two instantiations
// differ in nothing else).
template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q8_0_q8_0_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
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
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(VNNI ? dot_s8_s8_512_vnni(xq, yq) : dot_s8_s8_512(xq, yq)), d, acc);
    }
    __m256 tail = _mm256_setzero_ps();
    if (i < nb) tail = block_dot_avx2(x[i], y[i], tail);
    return hsum(acc) + hsum(tail);
}
SLM_TARGET_AVX512 static float dot_q8_0_q8_0_avx512bw(int64_t n, const void* x, const void* y) { return dot_q8_0_q8_0_avx512_body<false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q8_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y) { return dot_q8_0_q8_0_avx512_body<true>(n, x, y); }


// Dequantization for training's weight tiles: float(q) * d, as the reference (bit-identical).
SLM_TARGET_AVX512 static void dequantize_row_q8_0_avx512(const void* vx, float* y, int64_t n) {
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const __m512 d = _mm512_set1_ps(simd::half(x[i].d));
        const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
        const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs + 16));
        _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d));
    }
}

TypeKernels kernels_q8_0() {
    TypeKernels k;
    k.ref = {GgmlType::Q8_0, quantize_row_q8_0_ref, dequantize_row_q8_0, GgmlType::Q8_0, dot_q8_0_q8_0_scalar,
             quantize_row_q8_0_act_ref};
    LevelKernels& avx2 = k.level[int(SimdLevel::avx2)];
    avx2.dot = dot_q8_0_q8_0_avx2;
    avx2.quantize = quantize_row_q8_0_avx2;
    avx2.quantize_activation = quantize_row_q8_0_act_avx2;
    k.level[int(SimdLevel::avx512)].dot = dot_q8_0_q8_0_avx512bw;
    k.level[int(SimdLevel::avx512)].dequantize = dequantize_row_q8_0_avx512;
    k.level[int(SimdLevel::avx512_vnni)].dot = dot_q8_0_q8_0_avx512vnni;
    return k;
}

}  // namespace slm::kernels
