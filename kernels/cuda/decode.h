// A whole Llama forward pass on the GPU from the kernels in kernels/cuda/, for FP16 and GPTQ-4 weights, with
// batch-1 decode captured as ONE CUDA graph per token (token id and position live in device memory, so the
// same graph replays for every token; greedy argmax runs on the device, so a generation loop never waits for
// the host). This is an explicit mirror of forward.cpp's layer loop (DESIGN.md): the same steps in the same
// order, tested against the scalar reference ops (src/ops.h) on the same weights (tests/cuda/test_kernels.cu).
//
// Plain C++ header (no CUDA types) so host code can include it; the implementation is decode.cu.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace slm::cuda {

struct LlamaShape {
    int n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0, n_vocab = 0, n_rot = 0;
    int n_ctx = 0;  // KV cache positions
    float rms_eps = 1e-5f, rope_base = 10000.0f;
};

// One weight matrix in host memory: fp16 [n_out][n_in], or GPTQ-4 parts (kernels/cpu/gptq.cpp's layout).
struct HostMatrix {
    int n_in = 0, n_out = 0;
    const uint16_t* f16 = nullptr;
    const uint32_t* qweight = nullptr;
    const uint16_t* scales = nullptr;
    const int8_t* zeros = nullptr;
    const int32_t* perm = nullptr;
    int group_size = 0;
    bool gptq() const { return qweight != nullptr; }
};

struct HostLayer {
    const float* attn_norm = nullptr;  // [n_embd]
    const float* ffn_norm = nullptr;
    HostMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

struct HostLlama {
    LlamaShape shape;
    HostMatrix output;                   // [n_embd -> n_vocab], also the token embedding (tied), fp16 or GPTQ-4
    const float* output_norm = nullptr;
    std::vector<double> inv_freq;        // n_rot/2 rope frequencies (ops::rope_inv_freq)
    std::vector<HostLayer> layers;
};

class CudaLlama {
public:
    // Uploads every weight once (device 0 must be current). Throws std::runtime_error on CUDA errors or
    // shapes the kernels do not handle.
    explicit CudaLlama(const HostLlama& m);
    ~CudaLlama();
    CudaLlama(const CudaLlama&) = delete;
    CudaLlama& operator=(const CudaLlama&) = delete;

    // Runs n tokens at positions pos..pos+n-1 (n > 1: the tensor-core GEMM path) and returns the last token's
    // logits (host, n_vocab floats).
    const std::vector<float>& eval(const int32_t* ids, int n, int pos);
    // Greedy decode of n_tokens after the last eval: each step one graph launch (the first one captures it);
    // returns the generated ids. Positions continue from the last eval.
    std::vector<int32_t> generate_greedy(int n_tokens);
    // Times `reps` decode graph replays (after the last eval, without moving the cache position back) and
    // returns seconds per token (CUDA events, median of 5 batches).
    double time_decode(int reps);
    // Seconds for an eval of n tokens from position 0 (prefill), median of `reps`.
    double time_prefill(const int32_t* ids, int n, int reps);

    size_t weight_bytes() const { return weight_bytes_; }
    int position() const { return pos_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    size_t weight_bytes_ = 0;
    int pos_ = 0;
    std::vector<float> logits_;
};

}  // namespace slm::cuda
