// GPTQ 4-bit weights on the CPU: the format's scalar reference (dequantize, dot) and its matmul. The layout is
// drawn in gptq.cpp, the format's one file; the CUDA kernels (kernels/cuda/gemv_int4.cu) cite it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor.h"

namespace slm {
class ThreadPool;
}

namespace slm::kernels {

// The GGUF tensor names of a GPTQ weight's parts, from the weight's base name ("blk.0.attn_q"):
// "blk.0.attn_q.qweight", ".scales", ".zeros" and, with act-order, ".perm".
inline constexpr const char* kGptqRoles[4] = {"qweight", "scales", "zeros", "perm"};

// Checks a GPTQ view's parts (types, shapes, group size, zero range is not checked: any nibble is valid);
// returns "" when the view is well formed, else what is wrong (for an error naming the tensor).
std::string gptq_check(const WeightView& w);

// The parts of a GPTQ view as typed pointers (the view must pass gptq_check).
struct GptqParts {
    const uint32_t* qweight = nullptr;  // [n_out][n_in / 8]
    const fp16_t* scales = nullptr;     // [n_out][n_groups]
    const int8_t* zeros = nullptr;      // [n_out][n_groups]
    const int32_t* perm = nullptr;      // [n_in] or nullptr
    int64_t n_groups = 0;
};
GptqParts gptq_parts(const WeightView& w);

// A view over parts held elsewhere (perm may be null). The arrays must outlive the view.
WeightView gptq_view(int64_t n_in, int64_t n_out, int64_t group_size, const uint32_t* qweight, const fp16_t* scales,
                     const int8_t* zeros, const int32_t* perm);

// Row `row` of W as floats, in INPUT column order (out[perm[k]] = stored column k).
void gptq_dequantize_row(const WeightView& w, int64_t row, float* out);

// The scalar reference dot of row `row` with x[n_in] (input order), accumulated in double.
double gptq_dot_reference(const WeightView& w, int64_t row, const float* x);

// Y[n][n_out] = X[n][n_in] W^T. Per token: x permuted once (act-order), one sum of x per group, then per row
// y = sum_g scale_g * (sum_k q_k x_k - zero_g * sum_g x). Rows split over the pool; each output element is
// computed by one thread in a fixed order, so results do not depend on the thread count.
void gptq_matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);

}  // namespace slm::kernels
