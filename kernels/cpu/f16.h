// F16 kernels beyond the kernel set's (the format is drawn in f16.cpp).
#pragma once
#include "types.h"

namespace slm::kernels {

// ggml_vec_dot_f16 (f16 row x f32 row) summed in the order of ggml's AVX2 code, for llama.cpp-order attention
// scores: scalar, the same on every CPU.
float dot_f16_ggml_order(int n, const fp16_t* x, const float* y);

}  // namespace slm::kernels
