// Q8_0 and the other legacy 32-element block layouts share this size; Q8_0 is also the activation partner of
// Q4_0, Q5_0 and Q8_0 (see q8_0.cpp for the format).
#pragma once
#include <cstdint>

#include "types.h"

namespace slm::kernels {

constexpr int QK8_0 = 32;  // elements per block

struct block_q8_0 {
    fp16_t d;           // scale
    int8_t qs[QK8_0];   // value j = d * qs[j]
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes");

}  // namespace slm::kernels
