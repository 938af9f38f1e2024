// The one product every layer uses: Y = X * W^T for a weight matrix of ANY ggml type, through the kernel table
// (kernels::TypeOps). Quantized types slot in by adding their TypeOps; nothing here changes.
//
// A weight matrix is stored the ggml way: n_out rows of n_in elements each (ne = [n_in, n_out]), every row
// encoded in `type`. Activations are plain float rows. Each activation row is converted ONCE to the type's
// partner format (vec_dot_type: F32 for the float types, Q8_0 / Q8_1 / Q8_K for the quantized ones), then every
// output element is one call of the dot kernel: Y[t][o] = dot(W row o, X row t).
//
// Determinism: each output element is computed by exactly one kernel call whatever the thread count, so the
// result does not depend on how rows are split over threads.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"
#include "threadpool.h"
#include "types.h"

namespace slm {

// Reusable buffer for the converted activations (so the layer loop does not allocate per call).
struct MatmulScratch {
    std::vector<uint8_t> act;
};

// Which summation order the dot products follow. The kernels already sum as ggml's vec_dot does; `llamacpp`
// also follows llama.cpp where it uses other kernels: on AVX2 CPUs it repacks Q4_K matrices whose row count is
// a multiple of 8 and multiplies them by a GEMM for the first n_tok - n_tok % 4 tokens and a GEMV for the
// rest, each rounding in its own order (kernels/cpu/q4_K.cpp); and on AVX-512 CPUs it still runs its AVX2
// vec_dot code, so `llamacpp` runs slm's AVX2 kernels there. Slower; for comparisons only.
enum class MatmulOrder { fastest, llamacpp };

// Y[n_tok x n_out] = X[n_tok x n_in] * W^T (row-major, f32). Overwrites Y. Throws slm::Error if the type has no
// kernels or n_in is not a multiple of the block sizes involved.
void matmul(const WeightView& W, const float* X, int64_t n_tok, float* Y, ThreadPool& pool, MatmulScratch& scratch,
            MatmulOrder order = MatmulOrder::fastest);

// The plain reference: dequantize each weight row and accumulate in double. For tests.
void matmul_reference(const WeightView& W, const float* X, int64_t n_tok, float* Y);

// Dequantize one row of W into out[n_in] (embedding lookup of any type).
void dequantize_row(const WeightView& W, int64_t row, float* out);

}  // namespace slm
