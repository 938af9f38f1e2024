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

#include "cpu/legacy_dot.h"
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

// How Q4_0's blocks unpack for the shared SIMD loops (legacy_dot.h): the 32 quants as signed bytes q - 8,
// in element order.
struct Q4_0 {
    using X = block_q4_0;
    using Y = block_q8_0;
    static constexpr bool kSigned = true;
    SLM_TARGET_AVX2 static __m256i quants(const X& x) { return _mm256_sub_epi8(simd::unpack_nibbles(x.qs), _mm256_set1_epi8(8)); }
    SLM_TARGET_AVX512 static __m512i quants_512(const X& a, const X& b) { return simd::join(quants(a), quants(b)); }
};

SLM_TARGET_AVX2 float dot_q4_0_q8_0_avx2(int64_t n, const void* x, const void* y) { return legacy::dot_avx2<Q4_0>(n, x, y); }

}  // namespace

SLM_TARGET_AVX512 static float dot_q4_0_q8_0_avx512bw(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q4_0, false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q4_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q4_0, true>(n, x, y); }

// GEMM tiles (legacy_dot.h): AVX-512 and VNNI, each summing as that level's dot.
SLM_TARGET_AVX512 static void gemm_q4_0_avx512bw(const GemmTile& g) { legacy::gemm_avx512<Q4_0, false>(g); }
SLM_TARGET_AVX512VNNI static void gemm_q4_0_avx512vnni(const GemmTile& g) { legacy::gemm_avx512<Q4_0, true>(g); }

TypeKernels kernels_q4_0() {
    TypeKernels k = dot_kernels({GgmlType::Q4_0, quantize_row_q4_0, dequantize_row_q4_0, GgmlType::Q8_0, dot_q4_0_q8_0_scalar},
                                dot_q4_0_q8_0_avx2, dot_q4_0_q8_0_avx512bw, dot_q4_0_q8_0_avx512vnni);
    k.level[int(SimdLevel::avx512)].gemm = gemm_q4_0_avx512bw;
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q4_0_avx512vnni;
    return k;
}

}  // namespace slm::kernels
