// Q3_K block layout (see q3_K.cpp for the format and the kernels).
#pragma once
#include <cstdint>

#include "cpu/kquant_common.h"
#include "types.h"

namespace slm::kernels {

struct block_q3_K {
    uint8_t hmask[QK_K / 8];  // high (third) bit of each quant
    uint8_t qs[QK_K / 4];     // low 2 bits of each quant
    uint8_t scales[12];       // 16 sub-block scales, 6 bits each, stored with +32 offset
    fp16_t d;                 // super-block scale
};
static_assert(sizeof(block_q3_K) == 110, "block_q3_K must be 110 bytes");

void quantize_row_q3_K(const float* x, void* y, int64_t n);
void dequantize_row_q3_K(const void* x, float* y, int64_t n);

}  // namespace slm::kernels
