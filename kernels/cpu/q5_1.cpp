// Q5_1: 5-bit quants with a scale and a minimum per block of 32 (asymmetric). Partner: Q8_1.
//
// block_q5_1 (24 bytes, 32 values):
//   byte 0..1    fp16 d        scale
//   byte 2..3    fp16 m        minimum (offset)
//   byte 4..7    uint32 qh     (little-endian) bit j = the 5th (high) bit of element j
//   byte 8..23   uint8 qs[16]  low 4 bits: byte j holds element j in the low nibble, j+16 in the high nibble
//   value = d * q + m,  q = low4 | high1 << 4 in 0..31
//
// ggml's reference quantizer (quantize_row_q5_1_ref): m = the block's minimum, d = (max - min) / 31,
// q = trunc((x - min) * (1/d) + 0.5) (no clamp: the largest element lands on 31), with the float min and d.
//
// Dot with Q8_1: as for Q4_1, d*d8 * sum(q_j*a_j) + m * s8 (s8 = d8 * sum(a_j), stored in the Q8_1 block).
#include <cmath>
#include <cstring>

#include "cpu/legacy_dot.h"
#include "cpu/legacy_quant.h"
#include "cpu/q8_1.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

constexpr int QK5_1 = 32;

struct block_q5_1 {
    fp16_t d;
    fp16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 must be 24 bytes");

inline uint32_t high_bits(const block_q5_1& b) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return qh;
}

void quantize_row_q5_1(const float* x, void* vy, int64_t n) {
    block_q5_1* y = static_cast<block_q5_1*>(vy);
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min = 3.40282347e38f, max = -3.40282347e38f;  // FLT_MAX, as ggml starts
        for (int j = 0; j < QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            const uint8_t q0 = ggml_float_to_uint8((x[j] - min) * id + 0.5f);
            const uint8_t q1 = ggml_float_to_uint8((x[j + QK5_1 / 2] - min) * id + 0.5f);
            y[i].qs[j] = uint8_t((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= uint32_t((q0 >> 4) & 1) << j;
            qh |= uint32_t((q1 >> 4) & 1) << (j + QK5_1 / 2);
        }
        std::memcpy(y[i].qh, &qh, 4);
    }
}

// The 5-bit quants of elements j and j + 16 (j < 16): both live in byte j of qs.
inline int quant_lo(const block_q5_1& b, uint32_t qh, int j) { return (b.qs[j] & 0x0f) | int((qh >> j) & 1) << 4; }
inline int quant_hi(const block_q5_1& b, uint32_t qh, int j) {
    return (b.qs[j] >> 4) | int((qh >> (j + QK5_1 / 2)) & 1) << 4;
}

void dequantize_row_q5_1(const void* vx, float* y, int64_t n) {
    const block_q5_1* x = static_cast<const block_q5_1*>(vx);
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
        const uint32_t qh = high_bits(x[i]);
        for (int j = 0; j < QK5_1 / 2; j++) {
            y[j] = float(quant_lo(x[i], qh, j)) * d + m;
            y[j + QK5_1 / 2] = float(quant_hi(x[i], qh, j)) * d + m;
        }
    }
}

// The reference: an exact integer dot product per block, scaled, plus the minimum times Q8_1's sum.
float dot_q5_1_q8_1_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q5_1* x = static_cast<const block_q5_1*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const uint32_t qh = high_bits(x[i]);
        int32_t sumi = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            sumi += quant_lo(x[i], qh, j) * int32_t(y[i].qs[j]);
            sumi += quant_hi(x[i], qh, j) * int32_t(y[i].qs[j + QK5_1 / 2]);
        }
        sum += float(sumi) * (fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d)) +
               fp16_to_fp32(x[i].m) * fp16_to_fp32(y[i].s);
    }
    return sum;
}

// How Q5_1's blocks unpack for the shared SIMD loops (legacy_dot.h): the quants 0..31 as bytes, in element
// order (the fifth bit adds 16). For two blocks, their 64 high bits are exactly an AVX-512 byte mask.
struct Q5_1 {
    using X = block_q5_1;
    using Y = block_q8_1;
    static constexpr bool kSigned = false;
    SLM_TARGET_AVX2 static __m256i quants(const X& x) {
        using namespace simd;
        __m256i high = _mm256_and_si256(bits_to_bytes(high_bits(x)), _mm256_set1_epi8(0x10));
        return _mm256_or_si256(unpack_nibbles(x.qs), high);
    }
    SLM_TARGET_AVX512 static __m512i quants_512(const X& a, const X& b) {
        using namespace simd;
        __m512i low = join(unpack_nibbles(a.qs), unpack_nibbles(b.qs));
        __mmask64 high = __mmask64(high_bits(a)) | (__mmask64(high_bits(b)) << 32);
        return _mm512_mask_add_epi8(low, high, low, _mm512_set1_epi8(0x10));  // +16 where the high bit is set
    }
};

SLM_TARGET_AVX2 float dot_q5_1_q8_1_avx2(int64_t n, const void* x, const void* y) { return legacy::dot_avx2<Q5_1>(n, x, y); }

}  // namespace

SLM_TARGET_AVX512 static float dot_q5_1_q8_1_avx512bw(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q5_1, false>(n, x, y); }
SLM_TARGET_AVX512VNNI static float dot_q5_1_q8_1_avx512vnni(int64_t n, const void* x, const void* y) { return legacy::dot_avx512<Q5_1, true>(n, x, y); }

// GEMM tiles (legacy_dot.h): AVX-512 and VNNI, each summing as that level's dot.
SLM_TARGET_AVX512 static void gemm_q5_1_avx512bw(const GemmTile& g) { legacy::gemm_avx512<Q5_1, false>(g); }
SLM_TARGET_AVX512VNNI static void gemm_q5_1_avx512vnni(const GemmTile& g) { legacy::gemm_avx512<Q5_1, true>(g); }

TypeKernels kernels_q5_1() {
    TypeKernels k = dot_kernels({GgmlType::Q5_1, quantize_row_q5_1, dequantize_row_q5_1, GgmlType::Q8_1, dot_q5_1_q8_1_scalar},
                                dot_q5_1_q8_1_avx2, dot_q5_1_q8_1_avx512bw, dot_q5_1_q8_1_avx512vnni);
    k.level[int(SimdLevel::avx512)].gemm = gemm_q5_1_avx512bw;
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q5_1_avx512vnni;
    return k;
}

}  // namespace slm::kernels
