// The f32 GEMM micro-kernel every training product runs on (cpu_backend_train.cpp: the forward Y = X W^T of a
// frozen or trained weight, dX = dY W and dW = dY^T X), one variant per SIMD level, and the blocked loop that
// drives it over a block of rows x columns:
//
//   d[r][c] += sum_{k < K} a[r][k] * b[k][c]      for r < M, c < N
//
// a is read one scalar at a time (broadcast), b one vector of columns at a time, d stays in registers over the
// whole K loop: a tile of MR rows x NC columns (AVX-512: 8 x 32, AVX2: 6 x 16) costs MR + NC/width loads per
// MR * NC/width FMAs. Rows and columns that do not fill a tile run the same code with fewer rows and masked
// columns, so awkward shapes stay vectorized.
//
// Summation order (the same at every level, so results differ between levels only by FMA rounding): each d
// element gets ONE partial sum over k = 0..K-1 in order, started at 0, added to d at the end. Callers that
// split K into blocks add the blocks in a fixed order; nothing depends on the thread count.
//
// (The same micro-kernel could serve inference prefill, Y = X W^T over many tokens, with the weights
// dequantized tile by tile as the training forward does: the CPU-speed issue's GEMM. Inference keeps its own
// quantized-activation matmul (matmul.cpp) for now, so its logits stay bit for bit as pinned.)
#pragma once
#include <cstdint>

#include "cpu/cpu_features.h"

namespace slm::kernels::gemm_f32 {

// One tile: mr <= max_rows() rows, nc <= max_cols() columns (strides in floats).
using ukernel_fn = void (*)(int mr, int nc, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float* d,
                            int64_t ldd);

// dst[c][r] = scale * src[r][c] for r < rows, c < cols (strides in floats); accumulate: += instead. Every
// level gives the scalar reference's bits (a multiply, then an add: no fused rounding).
using transpose_fn = void (*)(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd,
                              float scale, bool accumulate);

struct Kernel {
    ukernel_fn fn = nullptr;
    transpose_fn transpose = nullptr;  // the same level's transpose
    int mr = 1, nc = 1;  // the full tile
    const char* name = "";
};

// The kernel of level l (the highest variant at or below it; scalar is the reference).
Kernel for_level(SimdLevel l);

// d[M][N] += a[M][K] b[K][N] with kernel k, tile by tile (columns outer, so a K x nc panel of b is reused for
// all rows; copied into a contiguous buffer first when there are four row blocks or more).
void gemm(const Kernel& k, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* d, int64_t ldd);

// The same product with b already in panels: columns [j nc, (j+1) nc) of b are rows of nc floats at
// bp + j * panel_stride (nc = k.nc; a last, narrower panel's extra columns are never read). Same sums, same bits.
void gemm_panels(const Kernel& k, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* bp,
                 int64_t panel_stride, float* d, int64_t ldd);

// dst[c][r] = scale * src[r][c] for r < rows, c < cols with kernel k's level (see transpose_fn).
void transpose(const Kernel& k, const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd, float scale,
               bool accumulate);

}  // namespace slm::kernels::gemm_f32
