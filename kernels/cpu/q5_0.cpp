// Q5_0: 5-bit quants with one scale per block of 32, symmetric (no offset). Partner: Q8_0.
//
// block_q5_0 (22 bytes, 32 values):
//   byte 0..1    fp16 d        scale
//   byte 2..5    uint32 qh     (little-endian) bit j = the 5th (high) bit of element j
//   byte 6..21   uint8 qs[16]  low 4 bits: byte j holds element j in the low nibble, j+16 in the high nibble
//   value = d * (q - 16),  q = low4 | high1 << 4 in 0..31
//
// ggml's reference quantizer (quantize_row_q5_0_ref): max = the element of largest magnitude (with its
// sign), d = max / -16, q = min(31, trunc(x * (1/d) + 16.5)).
#include <cmath>
#include <cstring>

#include "cpu/legacy_dot.h"
#include "cpu/legacy_quant.h"
#include "cpu/q8_0.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

constexpr int QK5_0 = 32;

struct block_q5_0 {
    fp16_t d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
};
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 must be 22 bytes");

inline uint32_t high_bits(const block_q5_0& b) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return qh;
}

void quantize_row_q5_0(const float* x, void* vy, int64_t n) {
    block_q5_0* y = static_cast<block_q5_0*>(vy);
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK5_0; j++) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const uint8_t q0 = uint8_t(std::min(31, int(ggml_float_to_int8(x[j] * id + 16.5f))));
            const uint8_t q1 = uint8_t(std::min(31, int(ggml_float_to_int8(x[j + QK5_0 / 2] * id + 16.5f))));
            y[i].qs[j] = uint8_t((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= uint32_t((q0 >> 4) & 1) << j;
            qh |= uint32_t((q1 >> 4) & 1) << (j + QK5_0 / 2);
        }
        std::memcpy(y[i].qh, &qh, 4);
    }
}

// The 5-bit quants of elements j and j + 16 (j < 16): both live in byte j of qs.
inline int quant_lo(const block_q5_0& b, uint32_t qh, int j) { return (b.qs[j] & 0x0f) | int((qh >> j) & 1) << 4; }
inline int quant_hi(const block_q5_0& b, uint32_t qh, int j) {
    return (b.qs[j] >> 4) | int((qh >> (j + QK5_0 / 2)) & 1) << 4;
}

void dequantize_row_q5_0(const void* vx, float* y, int64_t n) {
    const block_q5_0* x = static_cast<const block_q5_0*>(vx);
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = fp16_to_fp32(x[i].d);
        const uint32_t qh = high_bits(x[i]);
        for (int j = 0; j < QK5_0 / 2; j++) {
            y[j] = float(quant_lo(x[i], qh, j) - 16) * d;
            y[j + QK5_0 / 2] = float(quant_hi(x[i], qh, j) - 16) * d;
        }
    }
}

// The reference: an exact integer dot product per block, scaled by both blocks' scales.
float dot_q5_0_q8_0_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q5_0* x = static_cast<const block_q5_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const uint32_t qh = high_bits(x[i]);
        int32_t sumi = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            sumi += (quant_lo(x[i], qh, j) - 16) * int32_t(y[i].qs[j]);
            sumi += (quant_hi(x[i], qh, j) - 16) * int32_t(y[i].qs[j + QK5_0 / 2]);
        }
        sum += float(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d));
    }
    return sum;
}

// How Q5_0's blocks unpack for the shared SIMD loops (legacy_dot.h): the 32 quants as signed bytes q - 16,
// in element order. With the high bit set, q - 16 is just the low nibble; without it, q - 16 = low - 16,
// which as a byte is low | 0xf0. For two blocks, their 64 high bits are exactly an AVX-512 byte mask.
struct Q5_0 {
    using X = block_q5_0;
    using Y = block_q8_0;
    static constexpr bool kSigned = true;
    SLM_TARGET_AVX2 static __m256i quants(const X& x) {
        using namespace simd;
        __m256i high_clear = _mm256_andnot_si256(bits_to_bytes(high_bits(x)), _mm256_set1_epi8(int8_t(0xf0)));
        return _mm256_or_si256(unpack_nibbles(x.qs), high_clear);
    }
    SLM_TARGET_AVX512 static __m512i quants_512(const X& a, const X& b) {
        using namespace simd;
        __m512i low = join(unpack_nibbles(a.qs), unpack_nibbles(b.qs));
        __mmask64 high = __mmask64(high_bits(a)) | (__mmask64(high_bits(b)) << 32);
        // blend takes its second operand where the mask bit is set: high bit set -> low, clear -> low | 0xf0.
        return _mm512_mask_blend_epi8(high, _mm512_or_si512(low, _mm512_set1_epi8(int8_t(0xf0))), low);
    }
};

SLM_TARGET_AVX2 float dot_q5_0_q8_0_avx2(int64_t n, const void* x, const void* y) { return legacy::dot_avx2<Q5_0>(n, x, y); }

}  // namespace

SLM_TARGET_AVX512 static float dot_q5_0_q8_0_avx512bw(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q5_0, false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q5_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q5_0, true>(n, x, y); }

// GEMM tiles (legacy_dot.h): AVX-512 and VNNI, each summing as that level's dot.
SLM_TARGET_AVX512 static void gemm_q5_0_avx512bw(const GemmTile& g) { legacy::gemm_avx512<Q5_0, false>(g); }
SLM_TARGET_AVX512VNNI static void gemm_q5_0_avx512vnni(const GemmTile& g) { legacy::gemm_avx512<Q5_0, true>(g); }

TypeKernels kernels_q5_0() {
    TypeKernels k = dot_kernels({GgmlType::Q5_0, quantize_row_q5_0, dequantize_row_q5_0, GgmlType::Q8_0, dot_q5_0_q8_0_scalar},
                                dot_q5_0_q8_0_avx2, dot_q5_0_q8_0_avx512bw, dot_q5_0_q8_0_avx512vnni);
    k.level[int(SimdLevel::avx512)].gemm = gemm_q5_0_avx512bw;
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q5_0_avx512vnni;
    return k;
}

}  // namespace slm::kernels
