// Q6_K block layout and reference quantizers (the format and the kernels are described in q6_K.cpp; the
// kernels are reached through the kernel sets, kernels.h).
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

}  // namespace slm::kernels
