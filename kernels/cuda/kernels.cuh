// The CUDA kernels of slm's GPU backend, as host-callable launchers (each .cu file holds one kernel family and
// opens with its speed-of-light line). Every launcher takes device pointers and a stream and checks the launch.
//
// Activations are float rows as everywhere in slm (src/backend.h); weights are fp16 (F16 matrices, the
// embedding) or GPTQ-4 (kernels/cpu/gptq.cpp's layout, unchanged on the device); the KV cache is fp16.
// Positions: a kernel that needs them reads pos0 from `pos_dev` when it is not null (so a captured CUDA graph
// replays for every token without being rebuilt), else uses the `pos0` argument.
#pragma once
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace slm::cuda {

[[noreturn]] inline void cuda_fail(cudaError_t e, const char* what, const char* file, int line) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "CUDA error %s (%s) in %s at %s:%d", cudaGetErrorName(e), cudaGetErrorString(e),
                  what, file, line);
    throw std::runtime_error(buf);
}
#define SLM_CUDA(call)                                                                 \
    do {                                                                               \
        cudaError_t e_ = (call);                                                       \
        if (e_ != cudaSuccess) ::slm::cuda::cuda_fail(e_, #call, __FILE__, __LINE__); \
    } while (0)
#define SLM_CUDA_LAUNCH(name) SLM_CUDA(cudaGetLastError())

// Programmatic dependent launch (Hopper), opt-in with SLM_CUDA_PDL=1: the GEMVs are then launched so that they
// may start while the kernel before them finishes (their weight prefetch overlapping its tail and the launch
// gap). Every kernel calls pdl_trigger() first (no effect unless the next kernel was launched that way); a
// GEMV calls pdl_wait() before it touches anything earlier kernels wrote (it returns once they have completed
// and their writes are visible). Off by default: measured on an H200 it made the GEMVs slower (2048x8192 int4
// 10.3 -> 17.6 us, decode 832 -> 787 tok/s; kernels/cuda/NOTES.md, v4).
#ifdef __CUDACC__
__device__ __forceinline__ void pdl_trigger() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
#endif
bool pdl_enabled();

// A GPTQ-4 matrix on the device (parts as in the file; perm null without act-order).
struct GptqDev {
    const uint32_t* qweight = nullptr;  // [n_out][n_in / 8]
    const __half* scales = nullptr;     // [n_out][n_groups]
    const int8_t* zeros = nullptr;      // [n_out][n_groups]
    const int32_t* perm = nullptr;      // [n_in] or null
    int n_in = 0, n_out = 0, group_size = 0, n_groups = 0;
};

// ---- GEMV (batch-1 decode) ----
// Whether the fused int4 GEMV handles the shape (n_in and group_size multiples of 32).
bool gemv_int4_supported(int n_in, int group_size);
// What the GEMV reads as its input vector: x[n_in] itself; silu(x[k]) * x[n_in + k] of a [gate | up] vector
// of 2 * n_in floats (the FFN's SwiGLU fused into the down projection); or rmsnorm(x) * norm_w (the RMSNorm
// before the q|k|v, gate|up and output matrices fused into their GEMV: each block reduces x's sum of squares
// itself, GemvFuse::norm_w and eps).
enum class GemvInput { plain, swiglu, rmsnorm };
// What it does with each output row: stores it, adds it (the residual connection), or, for a fused [q | k | v]
// matrix of n_out = (n_head + 2 n_kv) * hd rows, rotates q and k by RoPE (adjacent pairs, as rope()), writes
// q into y and k, v as fp16 into the caches at the position (as store_kv()): the attention's three small
// kernels before it fused into the GEMV's epilogue (a row pair is always one warp's).
enum class GemvOutput { store, add, rope_kv };
struct GemvFuse {
    const float* norm_w = nullptr;  // GemvInput::rmsnorm: [n_in]
    float eps = 1e-5f;
    int n_head = 0, n_kv = 0, hd = 0, n_rot = 0;  // GemvOutput::rope_kv: the shape
    int pos0 = 0;                                 // the position (read from pos_dev when that is not null)
    const int* pos_dev = nullptr;
    const double* inv_freq = nullptr;  // n_rot/2 (device)
    __half *k_cache = nullptr, *v_cache = nullptr;  // one layer's [n_ctx][n_kv*hd]
};
// y[n_out] = W x (GemvOutput::add: y += W x), x float in input order (act-order gathers it by perm while
// staging). Combinations: rope_kv only with rmsnorm input.
void gemv_int4(const GptqDev& w, const float* x, float* y, cudaStream_t st, GemvInput in = GemvInput::plain,
               GemvOutput out = GemvOutput::store, const GemvFuse& f = {});
// The same for fp16 W [n_out][n_in] row-major (n_in a multiple of 8).
void gemv_f16(const __half* w, int n_in, int n_out, const float* x, float* y, cudaStream_t st,
              GemvInput in = GemvInput::plain, GemvOutput out = GemvOutput::store, const GemvFuse& f = {});

// The same for fp32 W [n_out][n_in] (f32.cu: the exact form of the other ggml types), n rows of x and y
// (n_in a multiple of 4).
void gemv_f32(const float* w, int n_in, int n_out, const float* x, int n, float* y, cudaStream_t st);
// Y[n][N] = X[n][K] W^T with W fp32 [N][K] (f32.cu, prefill of those types).
void gemm_f32(const float* w, int K, int N, const float* x, int n, float* y, cudaStream_t st);
// x[t] = row ids[t] of an fp32 table [rows][d] (ids: device).
void embed_f32(const float* table, const int32_t* ids, int n, int d, float* x, cudaStream_t st);

// ---- prefill ----
// Y[n][N] = X[n][K] W^T with W fp16 [N][K] on the tensor cores (fp16 inputs, fp32 accumulation). `xh` is
// scratch of at least n*K halves (X is rounded to fp16 there first). K a multiple of 8.
void gemm_f16(const __half* w, int K, int N, const float* x, int n, float* y, __half* xh, cudaStream_t st);
// W16[n_out][n_in] = the dequantized GPTQ matrix in input order (for the prefill GEMM).
void gptq_dequantize_f16(const GptqDev& w, __half* out, cudaStream_t st);

// ---- attention over an fp16 KV cache ----
// k_cache/v_cache: [n_ctx][n_kv*hd] of one layer. n query tokens at positions pos0..pos0+n-1 (already stored):
// out[n][n_head*hd] = softmax(q k^T / sqrt(hd)) v, causal, GQA.
void attention(const float* q, const __half* k_cache, const __half* v_cache, int n, int pos0, const int* pos_dev,
               int n_head, int n_kv, int hd, int n_ctx, float* out, cudaStream_t st);
// Stores k, v [n][dkv] as fp16 at positions pos0.. of one layer's cache.
void store_kv(const float* k, const float* v, int n, int dkv, int pos0, const int* pos_dev, __half* k_cache,
              __half* v_cache, cudaStream_t st);

// ---- the CPU's activation rounding (activations.cu), for ggml weights computed dequantized ----
// none: F16/BF16/F32 weights (the CPU keeps activations f32); q8_32: Q8_0/Q8_1 blocks of 32 (weights Q4_0,
// Q5_0, Q8_0, Q4_1, Q5_1); q8_K: Q8_K blocks of 256 (the K-quants).
enum class ActRound { none, q8_32, q8_K };
int act_round_block(ActRound r);  // 32, 256, or 1 for none
// out[0..n) = x rounded as the CPU rounds it, as floats (n a multiple of the block; out may alias x).
void round_activations(ActRound r, const float* x, int64_t n, float* out, cudaStream_t st);

// ---- profiling aid ----
// A kernel that spins for `ns` nanoseconds: launched before a timed op, it keeps the device busy while the host
// queues the op, so the op's events measure the kernel and not the launch latency.
void spin(int ns, cudaStream_t st);

// ---- fused elementwise ----
// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, n rows of d (out may alias x).
void rmsnorm(const float* x, const float* w, int n, int d, float eps, float* out, cudaStream_t st);
// Rotates q [n][n_head*hd] and k [n][n_kv*hd] in place (llama.cpp's "normal" adjacent-pair layout); inv_freq:
// device, n_rot/2 doubles.
void rope(float* q, int n_head, float* k, int n_kv, int hd, int n_rot, int n, int pos0, const int* pos_dev,
          const double* inv_freq, cudaStream_t st);
void swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t st);
void add(float* x, const float* y, int64_t n, cudaStream_t st);
// x[t] = row ids[t] of an fp16 table [rows][d] (ids: device).
void embed_f16(const __half* table, const int32_t* ids, int n, int d, float* x, cudaStream_t st);
// x[t] = row ids[t] of a GPTQ-4 matrix, dequantized in input order (a tied embedding stored as GPTQ).
void embed_gptq(const GptqDev& table, const int32_t* ids, int n, float* x, cudaStream_t st);
void f32_to_f16(const float* x, int64_t n, __half* out, cudaStream_t st);
// dst[t][0..w) = src[t][off..off+w) for n rows of src_width (splits a fused [q | k | v] or [gate | up] GEMM output).
void split_columns(const float* src, int n, int src_width, int off, int w, float* dst, cudaStream_t st);

}  // namespace slm::cuda
