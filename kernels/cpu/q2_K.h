// Q2_K block layout (see q2_K.cpp for the format and the kernels).
#pragma once
#include <cstdint>

#include "cpu/kquant_common.h"
#include "types.h"

namespace slm::kernels {

struct block_q2_K {
    uint8_t scales[QK_K / 16];  // per 16 values: low nibble = scale, high nibble = min
    uint8_t qs[QK_K / 4];       // 2-bit quants, four per byte
    fp16_t d;                   // super-block scale for the scales
    fp16_t dmin;                // super-block scale for the mins
};
static_assert(sizeof(block_q2_K) == 84, "block_q2_K must be 84 bytes");

void quantize_row_q2_K(const float* x, void* y, int64_t n);
void dequantize_row_q2_K(const void* x, float* y, int64_t n);

}  // namespace slm::kernels
