// Q8_1: the activation partner of Q4_1 and Q5_1 (see q8_1.cpp for the format).
#pragma once
#include <cstdint>

#include "types.h"

namespace slm::kernels {

constexpr int QK8_1 = 32;  // elements per block

struct block_q8_1 {
    fp16_t d;           // scale
    fp16_t s;           // d * sum(qs), rounded to fp16: lets Q4_1/Q5_1 add their minimum with one multiply
    int8_t qs[QK8_1];   // value j = d * qs[j]
};
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 must be 36 bytes");

}  // namespace slm::kernels
