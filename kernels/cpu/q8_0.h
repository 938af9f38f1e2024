// Q8_0 and the other legacy 32-element block layouts share this size; Q8_0 is also the activation partner of
// Q4_0, Q5_0 and Q8_0 (see q8_0.cpp for the format).
#pragma once
#include <cstdint>

#include "cpu/kernels.h"
#include "types.h"

namespace slm::kernels {

constexpr int QK8_0 = 32;  // elements per block

struct block_q8_0 {
    fp16_t d;           // scale
    int8_t qs[QK8_0];   // value j = d * qs[j]
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes");

// ggml's reference quantizer (quantize_row_q8_0_ref: weights) and an AVX2 version with byte-identical output;
// quantize_row_q8_0 picks the fastest one this CPU runs.
void quantize_row_q8_0_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_0_avx2(const float* x, void* y, int64_t n);
void quantize_row_q8_0(const float* x, void* y, int64_t n);
// The activation quantizer (TypeOps::quantize_activation): the rounding of ggml's x86 SIMD quantize_row_q8_0
// (quants = x * (127/amax) rounded half to even). Scalar and AVX2 versions give identical bytes.
void quantize_row_q8_0_act_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_0_act_avx2(const float* x, void* y, int64_t n);
void quantize_row_q8_0_act(const float* x, void* y, int64_t n);

// The AVX-512 dot products of Q4_0 / Q5_0 / Q8_0 x Q8_0 with and without VNNI (TypeOps::dot_avx512 picks one
// at run time); named here so the tests can run both where the CPU allows.
float dot_q4_0_q8_0_avx512bw(int64_t n, const void* x, const void* y);
float dot_q4_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y);
float dot_q5_0_q8_0_avx512bw(int64_t n, const void* x, const void* y);
float dot_q5_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y);
float dot_q8_0_q8_0_avx512bw(int64_t n, const void* x, const void* y);
float dot_q8_0_q8_0_avx512vnni(int64_t n, const void* x, const void* y);

}  // namespace slm::kernels
