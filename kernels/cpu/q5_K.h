// Q5_K block layout and the individual dot-product variants (the tests call each one; everyone else goes
// through type_ops(GgmlType::Q5_K)). The format is described in q5_K.cpp.
#pragma once
#include <cstdint>

#include "cpu/kquant_common.h"
#include "types.h"

namespace slm::kernels {

struct block_q5_K {
    fp16_t d;              // super-block scale of the 6-bit sub-block scales
    fp16_t dmin;           // super-block scale of the 6-bit sub-block mins
    uint8_t scales[12];    // 8 scales + 8 mins, 6 bits each (see get_scale_min_k4)
    uint8_t qh[QK_K / 8];  // high (5th) bit of each quant
    uint8_t qs[QK_K / 2];  // low 4 bits of each quant
};
static_assert(sizeof(block_q5_K) == 176, "block_q5_K must be 176 bytes");

void quantize_row_q5_K(const float* x, void* y, int64_t n);
void dequantize_row_q5_K(const void* x, float* y, int64_t n);

// Dot product of a Q5_K row with a Q8_K row of n elements (n a multiple of 256).
float dot_q5_K_q8_K_scalar(int64_t n, const void* x, const void* y);
float dot_q5_K_q8_K_avx2(int64_t n, const void* x, const void* y);          // AVX2+FMA+F16C
float dot_q5_K_q8_K_avx512(int64_t n, const void* x, const void* y);        // picks one of the two below
float dot_q5_K_q8_K_avx512_plain(int64_t n, const void* x, const void* y);  // AVX512 F/BW/VL/DQ
float dot_q5_K_q8_K_avx512_vnni(int64_t n, const void* x, const void* y);   // + AVX512-VNNI

}  // namespace slm::kernels
