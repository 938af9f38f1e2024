// Q4_K block layout and reference quantizers (the format and the kernels are described in q4_K.cpp; the
// kernels are reached through the kernel sets, kernels.h).
#pragma once
#include <cstdint>

#include "cpu/kquant_common.h"
#include "types.h"

namespace slm::kernels {

struct block_q4_K {
    fp16_t d;              // super-block scale of the 6-bit sub-block scales
    fp16_t dmin;           // super-block scale of the 6-bit sub-block mins
    uint8_t scales[12];    // 8 scales + 8 mins, 6 bits each (see get_scale_min_k4)
    uint8_t qs[QK_K / 2];  // 4-bit quants
};
static_assert(sizeof(block_q4_K) == 144, "block_q4_K must be 144 bytes");

void quantize_row_q4_K(const float* x, void* y, int64_t n);
void dequantize_row_q4_K(const void* x, float* y, int64_t n);

// The same dot product summed in the order of llama.cpp's repacked Q4_K GEMM (one fused multiply-add per 64
// values) and GEMV (one per 256) on AVX2 CPUs; scalar, for comparisons with llama.cpp (see q4_K.cpp).
float dot_q4_K_q8_K_llamacpp_gemm(int64_t n, const void* x, const void* y);
float dot_q4_K_q8_K_llamacpp_gemv(int64_t n, const void* x, const void* y);

}  // namespace slm::kernels
