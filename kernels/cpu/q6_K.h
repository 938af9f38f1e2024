// Q6_K block layout and the individual dot-product variants (the tests call each one; everyone else goes
// through type_ops(GgmlType::Q6_K)). The format is described in q6_K.cpp.
#pragma once
#include <cstdint>

#include "cpu/kquant_common.h"
#include "types.h"

namespace slm::kernels {

struct block_q6_K {
    uint8_t ql[QK_K / 2];      // low 4 bits of each quant
    uint8_t qh[QK_K / 4];      // high 2 bits of each quant
    int8_t scales[QK_K / 16];  // 8-bit signed scale of each 16-value sub-block
    fp16_t d;                  // super-block scale
};
static_assert(sizeof(block_q6_K) == 210, "block_q6_K must be 210 bytes");

void quantize_row_q6_K(const float* x, void* y, int64_t n);
void dequantize_row_q6_K(const void* x, float* y, int64_t n);

// Dot product of a Q6_K row with a Q8_K row of n elements (n a multiple of 256).
float dot_q6_K_q8_K_scalar(int64_t n, const void* x, const void* y);
float dot_q6_K_q8_K_avx2(int64_t n, const void* x, const void* y);          // AVX2+FMA+F16C
float dot_q6_K_q8_K_avx512(int64_t n, const void* x, const void* y);        // picks one of the two below
float dot_q6_K_q8_K_avx512_plain(int64_t n, const void* x, const void* y);  // AVX512 F/BW/VL/DQ
float dot_q6_K_q8_K_avx512_vnni(int64_t n, const void* x, const void* y);   // + AVX512-VNNI

}  // namespace slm::kernels
