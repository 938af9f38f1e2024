// The one product every layer uses: Y = X * W^T for a weight matrix of ANY ggml type, through a kernel set
// (kernels.h). Quantized types slot in by adding their kernel table; nothing here changes.
//
// A weight matrix is stored the ggml way: n_out rows of n_in elements each (ne = [n_in, n_out]), every row
// encoded in `type`. Activations are plain float rows. Each activation row is converted ONCE to the type's
// partner format (vec_dot_type: F32 for the float types, Q8_0 / Q8_1 / Q8_K for the quantized ones), then every
// output element is one dot product, Y[t][o] = dot(W row o, X row t): by the type's GEMM tile where the set has
// one, else one call of its dot kernel.
//
// Determinism: each output element is computed the same way whatever the thread count, so the result does not
// depend on how rows are split over threads.
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

namespace kernels { class KernelSet; }

// Which summation order the dot products follow: `fastest`, the active kernel set (kernels::active()), whose
// kernels already sum as ggml's vec_dot does; `llamacpp`, the set that also follows llama.cpp where it uses other
// kernels (kernels::KernelSet::llamacpp(): its AVX2 code on AVX-512 CPUs, its repacked Q4_K GEMM/GEMV orders).
// Slower; for comparisons only.
enum class MatmulOrder { fastest, llamacpp };

// Y[n_tok x n_out] = X[n_tok x n_in] * W^T (row-major, f32) with the kernels of `ks`. Overwrites Y. Throws
// slm::Error if the type has no kernels or n_in is not a multiple of the block sizes involved.
void matmul(const kernels::KernelSet& ks, const WeightView& W, const float* X, int64_t n_tok, float* Y, ThreadPool& pool,
            MatmulScratch& scratch);
// The same with the active set (or its llama.cpp-order twin).
void matmul(const WeightView& W, const float* X, int64_t n_tok, float* Y, ThreadPool& pool, MatmulScratch& scratch,
            MatmulOrder order = MatmulOrder::fastest);

// The plain reference: dequantize each weight row and accumulate in double. For tests.
void matmul_reference(const WeightView& W, const float* X, int64_t n_tok, float* Y);

// Dequantize one row of W into out[n_in] (embedding lookup of any type).
void dequantize_row(const WeightView& W, int64_t row, float* out);

}  // namespace slm
