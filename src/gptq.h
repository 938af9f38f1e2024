// GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022): 4-bit weight quantization that rounds one input column at
// a time and pushes each column's rounding error onto the columns not yet rounded, weighted by the inverse
// Hessian of the layer's squared output error. The storage layout is kernels/cpu/gptq.cpp's.
//
// For a linear layer y = W x (W: n_out x n_in) and calibration inputs x_1..x_T, the output error of a
// quantized W' is sum_t ||(W - W') x_t||^2 = sum_rows (w - w')^T H (w - w') / 2 with H = 2/T sum_t x_t x_t^T.
// Rows are independent; each row is quantized column by column (optimal brain surgeon, one weight at a time):
//   Hinv = (H + damp I)^-1, U = its upper Cholesky factor (Hinv = U^T U)
//   for column j: q_j = round(w_j);  e = (w_j - q_j) / U[j][j];  w_k -= e * U[j][k] for k > j
// Lazy batches: within a block of 128 columns the update touches only the block; the rest of the row is updated
// once per block by the block's errors (the same arithmetic, reordered for cache).
// Act-order quantizes columns in order of decreasing H[j][j] (the most salient first); groups are then formed
// over that order and the file stores the permutation.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor.h"

namespace slm {
class Backend;
class ThreadPool;
}

namespace slm::gptq {

struct Options {
    int64_t group_size = 128;  // input columns per scale/zero group (a multiple of 8)
    bool act_order = false;    // quantize columns by decreasing Hessian diagonal
    bool sym = false;          // symmetric grid: zero point fixed at 8
    double damp = 0.01;        // added to H's diagonal, as a fraction of its mean
    int64_t block = 128;       // lazy-batch width
};

// The running Hessian 2/T sum x x^T of one layer input (n x n, double).
class Hessian {
public:
    explicit Hessian(int64_t n) : n_(n), h_(size_t(n * n), 0.0) {}
    // Adds rows x[rows][n] (host memory; the products run on a CPU backend in float over chunks of 1024
    // rows, summed in double).
    void add(const float* x, int64_t rows, Backend& be);
    int64_t n() const { return n_; }
    int64_t count() const { return count_; }
    // H = 2/T sum x x^T (row-major n x n).
    std::vector<double> matrix() const;

private:
    int64_t n_;
    std::vector<double> h_;  // sum x x^T
    int64_t count_ = 0;
};

// One quantized matrix in the file's layout (kernels/cpu/gptq.cpp).
struct Quantized {
    int64_t n_in = 0, n_out = 0, group_size = 0;
    std::vector<uint32_t> qweight;  // [n_out][n_in / 8]
    std::vector<fp16_t> scales;     // [n_out][n_groups]
    std::vector<int8_t> zeros;      // [n_out][n_groups]
    std::vector<int32_t> perm;      // [n_in] with act-order, else empty
    double loss = 0;                // GPTQ's own estimate: sum over weights of (w - q)^2 / Hinv_jj / 2
    WeightView view() const;        // a view over this struct (valid while it lives)
};

// GPTQ on W (row-major n_out x n_in floats) with the Hessian H (row-major n_in x n_in). Throws slm::Error for
// shapes the format cannot hold or a Hessian that stays indefinite after damping.
Quantized quantize(const float* W, int64_t n_out, int64_t n_in, std::vector<double> H, const Options& opt,
                   ThreadPool& pool);
// Round to nearest on the same grid (scale and zero from each group's min/max), no error feedback: the baseline.
Quantized quantize_rtn(const float* W, int64_t n_out, int64_t n_in, const Options& opt);

// ---- the algebra, exposed for tests ----
// In-place Cholesky A = L L^T of a symmetric positive definite matrix (row-major n x n; L in the lower
// triangle, upper triangle zeroed). Returns false if A is not positive definite.
bool cholesky(std::vector<double>& a, int64_t n);
// The upper factor U with (H + damp)^-1 = U^T U, as GPTQ uses it (H already damped by the caller).
std::vector<double> inverse_upper_factor(const std::vector<double>& h, int64_t n);

// ---- the whole model ----
struct ModelOptions {
    Options gptq;
    std::string calib_path;  // the `messages` JSONL of `slm gen-data`
    int calib_n = 300;       // messages used
    int max_tokens = 512;    // per message (longer ones are cut)
    bool allow_requantize = false;
    bool progress = true;
    bool rtn = false;  // round to nearest on GPTQ's grid instead (the baseline it is measured against)
};
struct ModelResult {
    int n_messages = 0;
    int64_t n_tokens = 0;
    int64_t n_distinct = 0;  // tokens that entered the Hessians (shared prefixes counted once)
    int n_matrices = 0;
    double seconds = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
    // The first calibration message's token ids and its residual stream after the last (quantized) layer,
    // [tokens][n_embd]: what the engine computes on the output file (a test compares the two).
    std::vector<int32_t> first_ids;
    std::vector<float> first_hidden;
};
// Reads an F32/F16/BF16 llama model, calibrates every layer's seven matrices on the outputs of the layers
// already quantized before it (true-sequential: q/k/v, then o, then gate/up, then down within a layer), and
// writes out_path with every other tensor copied and the key slm.gptq.group_size. A progress line on stderr.
ModelResult quantize_model(const std::string& in_path, const std::string& out_path, const ModelOptions& opt,
                           ThreadPool& pool);

}  // namespace slm::gptq
