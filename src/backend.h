// The one compute interface. The layer loop (forward.cpp) and training (train/) reach compute only through a
// Backend; the CPU backend implements it in kernels/cpu/backend.cpp, the CUDA backend in kernels/cuda/.
//
// Memory. Every `float*` a method takes is backend memory (from alloc(); device memory on a GPU) unless its
// comment says "host". Activations are row-major: a batch of n tokens of width d is n rows of d floats.
// Weights are WeightViews into host memory (the GGUF mapping); a GPU backend uploads them once, at prepare().
//
// Shapes used below: E = n_embd, Dq = n_head * head_dim, Dkv = n_head_kv * head_dim, n = tokens in the batch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "tensor.h"
#include "types.h"

namespace slm {

class ThreadPool;

// Which roundings the numerics follow. `fast`: slm's own (more accurate where it differs). `llamacpp`: those of
// llama.cpp's CPU backend (rope angles accumulated in float, f16 flash attention, its repacked Q4_K GEMM/GEMV
// summation orders), to compare logits with llama.cpp's like for like; needs an f16 KV cache.
enum class Numerics { fast, llamacpp };

// Backend memory for n floats; released with the Buffer. data() is not dereferenceable on the host for a GPU
// backend.
class Buffer {
public:
    Buffer() = default;
    Buffer(std::shared_ptr<float> p, size_t n) : p_(std::move(p)), n_(n) {}
    float* data() const { return p_.get(); }
    size_t size() const { return n_; }

private:
    std::shared_ptr<float> p_;
    size_t n_ = 0;
};

// One sequence's KV cache, in whatever layout the backend prefers. K and V of n_layer layers, n_ctx positions
// of Dkv values each, stored as `type` (F16 or F32).
class KvCache {
public:
    virtual ~KvCache() = default;
    int n_layer = 0, n_ctx = 0, n_embd_kv = 0;
    GgmlType type = GgmlType::F16;
    virtual size_t bytes() const = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    // "cpu avx512_vnni, 2 threads", "cuda NVIDIA H200": for --verbose and reports.
    virtual std::string name() const = 0;

    // Whether this backend can compute with the weight (format, type, shape). Model::load asks it for every
    // matrix, so an unsupported file is refused at load with the tensor's name, not in the middle of a run.
    virtual bool supports(const WeightView& w) const = 0;
    // Why supports(w) is false, for the load error ("" when it is true or the backend gives no reason).
    virtual std::string why_unsupported(const WeightView& w) const {
        (void)w;
        return "";
    }
    // Called once per model before the first op (a GPU backend uploads the weights). The CPU does nothing.
    virtual void prepare(const WeightView&) {}

    // ---- memory ----
    virtual Buffer alloc(size_t n_floats) = 0;
    virtual std::unique_ptr<KvCache> make_kv_cache(int n_layer, int n_ctx, int n_embd_kv, GgmlType type) = 0;
    // host[0..n) = src[0..n)
    virtual void to_host(const float* src, float* host, size_t n) = 0;

    // ---- the ops of the forward pass ----
    // x[n][E] = row ids[t] of the embedding table, dequantized (ids: host, each in [0, table.n_out)).
    virtual void embed(const WeightView& table, const int32_t* ids, int n, float* x) = 0;
    // out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w for each of n rows of w.n_in (out may alias x).
    virtual void rmsnorm(const float* x, const WeightView& w, int n, float eps, float* out) = 0;
    // y[n][W.n_out] = x[n][W.n_in] W^T, plus scale * B (A x) for each LoRA pair of W. Overwrites y.
    virtual void matmul(const Weight& W, const float* x, int n, float* y, Numerics num) = 0;
    // Rotates q[n][Dq] (n_head heads) and k[n][Dkv] (n_head_kv heads) in place; token t is at position pos0 + t.
    virtual void rope(float* q, int n_head, float* k, int n_head_kv, int n, int pos0, const RopeConfig& rc,
                      Numerics num) = 0;
    // Stores k[n][Dkv] and v[n][Dkv] as positions pos0..pos0+n-1 of layer il.
    virtual void store_kv(KvCache& kv, int il, const float* k, const float* v, int n, int pos0) = 0;
    // Causal attention of n new tokens at positions pos0..pos0+n-1 over layer il's cache (positions 0..pos0+t
    // for token t, already stored): out[n][Dq] = softmax(q k^T / sqrt(head_dim)) v per query head.
    virtual void attention(const KvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s,
                           float* out, Numerics num) = 0;
    // out[i] = silu(gate[i]) * up[i], i < n (out may alias gate or up).
    virtual void swiglu(const float* gate, const float* up, int64_t n, float* out) = 0;
    // x[i] += y[i], i < n (the residual connection).
    virtual void add(float* x, const float* y, int64_t n) = 0;
    // The head of the model for n rows of the residual stream x[n][E]: logits_host[n][out.n_out] =
    // rmsnorm(x, norm) out^T, written to host memory. `scratch` holds at least n * E floats.
    virtual void logits(const float* x, int n, const WeightView& norm, float eps, const Weight& out, float* scratch,
                        float* logits_host, Numerics num) = 0;

    // ---- measuring (slm bench, slm run --verbose); the defaults say "nothing to report" ----
    // Memory this backend holds outside the host's heap (a GPU's VRAM), by use; all 0 for the CPU.
    struct DeviceMemory {
        size_t weights = 0, kv = 0, scratch = 0;
        size_t total() const { return weights + kv + scratch; }
    };
    virtual DeviceMemory device_memory() const { return {}; }
    // Per-kernel-kind profile: while on, each op's device time is measured alone (a GPU backend serializes the
    // ops to do so, so a profiled run is slower) and counted with the bytes and flops of its speed of light (the
    // fewest bytes it must move, the operations it must do). take_profile returns the counts since the last call.
    struct KernelTime {
        std::string kind;  // "gemv f16", "gemv int4", "gemm f16", "attention", "elementwise", ...
        int64_t calls = 0;
        double seconds = 0, bytes = 0, flops = 0;
    };
    virtual bool can_profile() const { return false; }
    virtual void set_profiling(bool on) { (void)on; }
    virtual std::vector<KernelTime> take_profile() { return {}; }
    // The device's memory ceiling measured now: GB/s (1e9 bytes) of a device-to-device copy, read + write
    // counted; 0 when the backend has no device.
    virtual double copy_bandwidth_gbs() { return 0; }

    // ---- training (src/train/) ----
    // What backpropagation needs beyond inference: the two transposed products of a linear layer. A backend
    // that does not train keeps these defaults, which throw "not supported by this backend".
    //
    // The forward product of training: y[n][W.n_out] = x[n][W.n_in] W^T, plus scale * (x A^T) B^T when `lora`
    // is given (A [r][n_in], B [W.n_out][r], PEFT's shapes; lora->u receives u = x A^T [n][r], which the
    // backward needs). Overwrites y. All in f32: a quantized W, frozen, is dequantized tile by tile inside, and
    // the activations are not quantized (unlike matmul(), whose numerics inference pins).
    struct LoraTerm {
        const float* A = nullptr;
        const float* B = nullptr;
        int r = 0;
        float scale = 0;
        float* u = nullptr;
    };
    virtual void matmul_train(const WeightView& W, const float* x, int n, float* y, const LoraTerm* lora) {
        (void)W, (void)x, (void)n, (void)y, (void)lora;
        not_supported("matmul_train");
    }
    // dx[n][W.n_in] = dy[n][W.n_out] W (the gradient through a weight of any type supports() accepts; a
    // quantized frozen base is dequantized tile by tile inside, never stored whole). accumulate: dx += instead.
    // The LoRA pairs of W are not included (the trainer differentiates those itself).
    virtual void matmul_dx(const WeightView& W, const float* dy, int n, float* dx, bool accumulate) {
        (void)W, (void)dy, (void)n, (void)dx, (void)accumulate;
        not_supported("matmul_dx");
    }
    // dW[n_out][n_in] += scale * dy[n][n_out]^T x[n][n_in], all f32 (LoRA A/B gradients, full training).
    virtual void matmul_dw(const float* dy, const float* x, int n, int n_out, int n_in, float scale, float* dW) {
        (void)dy, (void)x, (void)n, (void)n_out, (void)n_in, (void)scale, (void)dW;
        not_supported("matmul_dw");
    }

    // The rest of a layer in f32 with the backend's own exp (training only; inference's swiglu and attention
    // keep their numerics). Host memory on the CPU.
    // out[i] = silu(gate[i]) * up[i], i < n.
    virtual void swiglu_train(const float* gate, const float* up, int64_t n, float* out) {
        (void)gate, (void)up, (void)n, (void)out;
        not_supported("swiglu_train");
    }
    // dgate[i] = dout[i] up[i] s (1 + g (1 - s)), dup[i] = dout[i] g s with s = sigmoid(g) (overwrites both).
    virtual void swiglu_backward(const float* gate, const float* up, const float* dout, int64_t n, float* dgate,
                                 float* dup) {
        (void)gate, (void)up, (void)dout, (void)n, (void)dgate, (void)dup;
        not_supported("swiglu_backward");
    }
    // Softmax cross-entropy of m rows of logits z[m][V] against targets[m]: loss[i] = -log softmax(z_i)[target_i].
    // z is scratch: with backward, each row becomes dloss * (softmax(z_i) - onehot(target_i)).
    virtual void cross_entropy(float* z, int m, int V, const int32_t* targets, double dloss, bool backward,
                               double* loss) {
        (void)z, (void)m, (void)V, (void)targets, (void)dloss, (void)backward, (void)loss;
        not_supported("cross_entropy");
    }
    // Causal attention over a packed batch of n_seg sequences (sequence s: rows seg_off[s] .. + seg_len[s] of
    // q [n][Dq], k, v [n][Dkv], positions from 0), as ops::attention per sequence: out [n][Dq], and the softmax
    // weights of sequence s at probs + prob_off[s], laid out [L_s][n_head][L_s] (zero beyond each token).
    virtual void attention_train(const float* q, const float* k, const float* v, const int* seg_off, const int* seg_len,
                                 const size_t* prob_off, int n_seg, const AttentionShape& s, float* out, float* probs) {
        (void)q, (void)k, (void)v, (void)seg_off, (void)seg_len, (void)prob_off, (void)n_seg, (void)s, (void)out, (void)probs;
        not_supported("attention_train");
    }
    // Its backward from the saved probs, as ops::attention_backward per sequence: dq, dk, dv += (GQA sums the
    // query heads of a group into their KV head).
    virtual void attention_train_backward(const float* q, const float* k, const float* v, const float* probs,
                                          const int* seg_off, const int* seg_len, const size_t* prob_off, int n_seg,
                                          const AttentionShape& s, const float* dout, float* dq, float* dk, float* dv) {
        (void)q, (void)k, (void)v, (void)probs, (void)seg_off, (void)seg_len, (void)prob_off, (void)n_seg, (void)s;
        (void)dout, (void)dq, (void)dk, (void)dv;
        not_supported("attention_train_backward");
    }

protected:
    [[noreturn]] void not_supported(const char* op) const {
        fail("%s: training is not supported by this backend (%s)", op, name().c_str());
    }
};

// The CPU backend (kernels/cpu/backend.cpp): the best kernels this CPU runs (SLM_SIMD caps the level), work
// split over the caller's pool. The pool must outlive the backend.
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool);
// The CUDA backend on device `device` (kernels/cuda/backend.cu, linked by `make cuda` into build/slm-cuda). The
// CPU-only build has a stand-in that throws slm::Error ("built without CUDA"), so it needs no toolkit.
std::unique_ptr<Backend> make_cuda_backend(int device);

// ---- host-side format codecs ----
// Files are made and read on the host whatever backend computes: the quantizers, dequantizers and the
// F16/BF16 conversions of every ggml type, implemented once in kernels/cpu/ (one file per format).
// ---- machine probes (slm bench's ceilings), implemented with the CPU kernels (kernels/cpu/probe.cpp) ----
namespace probe {
// GB/s (1e9 bytes) of streaming reads by all the pool's threads over a buffer of `bytes` (much larger than the
// caches), read as decode reads weights (each thread streams its own contiguous part through the active kernel
// set's f32 dot). Best of `reps` passes.
double read_bandwidth_gbs(ThreadPool& pool, size_t bytes = size_t(1) << 30, int reps = 5);
// GFLOP/s of f32 fused multiply-adds held in registers at the active SIMD level, all the pool's threads: the
// compute ceiling prefill is measured against.
double peak_gflops(ThreadPool& pool, double seconds = 0.2);

// The dot products of weight type t that the CPU kernel sets hold, for a benchmark that times the kernels
// themselves (tools/bench/dot_bench.cpp): the scalar reference first, then each SIMD level up to this run's
// (SLM_SIMD caps it) that has a variant of its own. Empty for a type without kernels.
struct DotVariant {
    const char* level;                                        // "scalar", "avx2", "avx512", "avx512_vnni"
    float (*dot)(int64_t n, const void* w_row, const void* x_row);  // x_row: n values of vec_dot_type(t)
};
std::vector<DotVariant> dot_variants(GgmlType t);
// The type activations are converted to for t's dot products, and that conversion as the forward pass does it.
GgmlType vec_dot_type(GgmlType t);
void quantize_activation(GgmlType t, const float* x, void* x_row, int64_t n);
}  // namespace probe

namespace codec {
bool can_dequantize(GgmlType t);
bool can_quantize(GgmlType t);
// The type the CPU converts activations to before a dot product with a weight of type t (ggml's vec_dot_type:
// Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F32 for F16/BF16/F32). A backend that
// computes with such a weight dequantized rounds its activations the same way, so its logits match the CPU's.
GgmlType activation_type(GgmlType t);
// y[0..n) = dequantized x (n a multiple of the type's block size). Throws slm::Error for a type without one.
void dequantize_row(GgmlType t, const void* x, float* y, int64_t n);
// The reference quantizer (byte-identical to ggml's, no importance matrix). Throws for a type without one.
void quantize_row(GgmlType t, const float* x, void* y, int64_t n);
// Any weight view, multi-part formats (GPTQ) included: "" when its parts are well formed (types, shapes, a
// GPTQ permutation that is one), else what is wrong; and row `row` dequantized in input order (n_in floats).
std::string check_weight(const WeightView& w);
void dequantize_weight_row(const WeightView& w, int64_t row, float* out);
}  // namespace codec

}  // namespace slm
