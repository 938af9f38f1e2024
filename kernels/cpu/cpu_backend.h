// The CPU backend: src/backend.h implemented with the kernels of this folder. Matrix products go through
// matmul.cpp (the kernel set of this CPU's SIMD level), attention through attention.cpp, the small elementwise
// ops through the scalar references of src/ops.cpp (they are a few percent of a token's time).
#pragma once
#include <map>
#include <tuple>
#include <vector>

#include "backend.h"
#include "cpu/matmul.h"
#include "threadpool.h"

namespace slm::cpu_train {
// Reused buffers of the training products (cpu_backend_train.cpp), so a step allocates nothing.
struct Scratch {
    std::vector<float> xt;                        // a transposed operand (X^T, (scale dY)^T)
    std::vector<float> ut, wt;                    // LoRA's (scale) u^T [r][n]; a transposed dW
    std::vector<std::vector<float>> tiles, yt;    // per thread: a dequantized weight tile, a block of Y^T
    std::vector<std::vector<float>> att;          // per thread: attention's transposes and score matrices
};
}  // namespace slm::cpu_train

namespace slm::kernels {

// The KV cache in host memory. Per layer, K is [n_ctx][Dkv] (one row per position) and V is stored transposed,
// [Dkv][n_ctx], so the attention-weighted sum over positions is one dot product per output dimension, done by
// the same f32/f16 dot kernels as the matmuls.
class CpuKvCache final : public KvCache {
public:
    std::vector<std::vector<uint8_t>> k, v;  // [n_layer] byte arrays of `type` elements
    size_t bytes() const override;
};

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(ThreadPool& pool);
    std::string name() const override;
    bool supports(const WeightView& w) const override;

    Buffer alloc(size_t n_floats) override;
    std::unique_ptr<KvCache> make_kv_cache(int n_layer, int n_ctx, int n_embd_kv, GgmlType type) override;
    void to_host(const float* src, float* host, size_t n) override;

    void embed(const WeightView& table, const int32_t* ids, int n, float* x) override;
    void rmsnorm(const float* x, const WeightView& w, int n, float eps, float* out) override;
    void matmul(const Weight& W, const float* x, int n, float* y, Numerics num) override;
    void rope(float* q, int n_head, float* k, int n_head_kv, int n, int pos0, const RopeConfig& rc,
              Numerics num) override;
    void store_kv(KvCache& kv, int il, const float* k, const float* v, int n, int pos0) override;
    void attention(const KvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s, float* out,
                   Numerics num) override;
    void swiglu(const float* gate, const float* up, int64_t n, float* out) override;
    void add(float* x, const float* y, int64_t n) override;
    void logits(const float* x, int n, const WeightView& norm, float eps, const Weight& out, float* scratch,
                float* logits_host, Numerics num) override;

    // ---- training ops (cpu_backend_train.cpp) ----
    void matmul_train(const WeightView& W, const float* x, int n, float* y, const LoraTerm* lora) override;
    void matmul_dx(const WeightView& W, const float* dy, int n, float* dx, bool accumulate) override;
    void matmul_dw(const float* dy, const float* x, int n, int n_out, int n_in, float scale, float* dW) override;
    void swiglu_train(const float* gate, const float* up, int64_t n, float* out) override;
    void swiglu_backward(const float* gate, const float* up, const float* dout, int64_t n, float* dgate,
                         float* dup) override;
    void cross_entropy(float* z, int m, int V, const int32_t* targets, double dloss, bool backward,
                       double* loss) override;
    void attention_train(const float* q, const float* k, const float* v, const int* seg_off, const int* seg_len,
                         const size_t* prob_off, int n_seg, const AttentionShape& s, float* out, float* probs) override;
    void attention_train_backward(const float* q, const float* k, const float* v, const float* probs,
                                  const int* seg_off, const int* seg_len, const size_t* prob_off, int n_seg,
                                  const AttentionShape& s, const float* dout, float* dq, float* dk,
                                  float* dv) override;

    ThreadPool& pool() { return pool_; }

private:
    const std::vector<double>& inv_freq(const RopeConfig& rc);

    ThreadPool& pool_;
    MatmulScratch mm_;
    cpu_train::Scratch train_;
    std::vector<float> lora_tmp_, rope_cs_, scores_;
    std::map<std::tuple<int, float, const float*>, std::vector<double>> inv_freq_;  // per rope configuration
};

}  // namespace slm::kernels
