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

#include "cpu/legacy_dot.h"
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

// How Q8_0's blocks unpack for the shared SIMD loops (legacy_dot.h): the quants are the bytes themselves.
struct Q8_0 {
    using X = block_q8_0;
    using Y = block_q8_0;
    static constexpr bool kSigned = true;
    SLM_TARGET_AVX2 static __m256i quants(const X& x) { return simd::load32(x.qs); }
    SLM_TARGET_AVX512 static __m512i quants_512(const X& a, const X& b) { return simd::join(quants(a), quants(b)); }
};

SLM_TARGET_AVX2 float dot_q8_0_q8_0_avx2(int64_t n, const void* x, const void* y) { return legacy::dot_avx2<Q8_0>(n, x, y); }

}  // namespace

SLM_TARGET_AVX512 static float dot_q8_0_q8_0_avx512bw(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q8_0, false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q8_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q8_0, true>(n, x, y); }

// GEMM tiles (legacy_dot.h): AVX-512 and VNNI, each summing as that level's dot.
SLM_TARGET_AVX512 static void gemm_q8_0_avx512bw(const GemmTile& g) { legacy::gemm_avx512<Q8_0, false>(g); }
SLM_TARGET_AVX512VNNI static void gemm_q8_0_avx512vnni(const GemmTile& g) { legacy::gemm_avx512<Q8_0, true>(g); }

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
    TypeKernels k = dot_kernels({GgmlType::Q8_0, quantize_row_q8_0_ref, dequantize_row_q8_0, GgmlType::Q8_0,
                                 dot_q8_0_q8_0_scalar, quantize_row_q8_0_act_ref},
                                dot_q8_0_q8_0_avx2, dot_q8_0_q8_0_avx512bw, dot_q8_0_q8_0_avx512vnni);
    k.level[int(SimdLevel::avx2)].quantize = quantize_row_q8_0_avx2;
    k.level[int(SimdLevel::avx2)].quantize_activation = quantize_row_q8_0_act_avx2;
    k.level[int(SimdLevel::avx512)].dequantize = dequantize_row_q8_0_avx512;
    k.level[int(SimdLevel::avx512)].gemm = gemm_q8_0_avx512bw;
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q8_0_avx512vnni;
    return k;
}

}  // namespace slm::kernels
