// Q8_K block layout, shared by the K-quant dot products (see q8_K.cpp for the format).
#pragma once
#include <cstdint>

#include "cpu/kquant_common.h"

namespace slm::kernels {

struct block_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
};
static_assert(sizeof(block_q8_K) == 292, "block_q8_K must be 292 bytes");

void quantize_row_q8_K(const float* x, void* y, int64_t n);
void dequantize_row_q8_K(const void* x, float* y, int64_t n);

}  // namespace slm::kernels
