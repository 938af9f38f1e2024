// Q5_K block layout and reference quantizers (the format and the kernels are described in q5_K.cpp; the
// kernels are reached through the kernel sets, kernels.h).
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

}  // namespace slm::kernels
