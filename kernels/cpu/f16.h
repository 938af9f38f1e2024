// F16 helpers other CPU kernels call directly (the layout and the dot kernels are in f16.cpp).
#pragma once
#include <cstdint>

#include "types.h"

namespace slm::kernels {

// An f16 x f32 dot product summed in the order of ggml's AVX2 ggml_vec_dot_f16 (Numerics::llamacpp attention).
float dot_f16_ggml_order(int n, const fp16_t* x, const float* y);

}  // namespace slm::kernels
