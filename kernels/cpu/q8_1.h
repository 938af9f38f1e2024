// Q8_1: the activation partner of Q4_1 and Q5_1 (see q8_1.cpp for the format).
#pragma once
#include <cstdint>

#include "cpu/kernels.h"
#include "types.h"

namespace slm::kernels {

constexpr int QK8_1 = 32;  // elements per block

struct block_q8_1 {
    fp16_t d;           // scale
    fp16_t s;           // d * sum(qs), rounded to fp16: lets Q4_1/Q5_1 add their minimum with one multiply
    int8_t qs[QK8_1];   // value j = d * qs[j]
};
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 must be 36 bytes");

// ggml's reference quantizer (quantize_row_q8_1_ref) and an AVX2 version with byte-identical output;
// quantize_row_q8_1 picks the fastest one this CPU runs.
void quantize_row_q8_1_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_1_avx2(const float* x, void* y, int64_t n);
void quantize_row_q8_1(const float* x, void* y, int64_t n);
// The activation quantizer (TypeOps::quantize_activation): the rounding of ggml's x86 SIMD quantize_row_q8_1
// (quants = x * (127/amax) rounded half to even). Scalar and AVX2 versions give identical bytes.
void quantize_row_q8_1_act_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_1_act_avx2(const float* x, void* y, int64_t n);
void quantize_row_q8_1_act(const float* x, void* y, int64_t n);

// The AVX-512 dot products of Q4_1 / Q5_1 x Q8_1 with and without VNNI (TypeOps::dot_avx512 picks one at
// run time); named here so the tests can run both where the CPU allows.
float dot_q4_1_q8_1_avx512bw(int64_t n, const void* x, const void* y);
float dot_q4_1_q8_1_avx512vnni(int64_t n, const void* x, const void* y);
float dot_q5_1_q8_1_avx512bw(int64_t n, const void* x, const void* y);
float dot_q5_1_q8_1_avx512vnni(int64_t n, const void* x, const void* y);

}  // namespace slm::kernels
