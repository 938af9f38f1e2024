// The Llama forward pass on the CPU: the ops as plain functions with explicit inputs and outputs (so backward
// functions can sit beside them later), and Context, which owns one sequence's KV cache and scratch and runs
// the layer loop over a Model.
//
// Per layer (pre-norm residual blocks, as Llama):
//   h   = x + Wo · attention(rope(Wq · rmsnorm(x)), rope(Wk · rmsnorm(x)), Wv · rmsnorm(x))
//   out = h + Wdown · (silu(Wgate · rmsnorm(h)) * (Wup · rmsnorm(h)))
// then logits = Woutput · rmsnorm(x_last).
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/matmul.h"
#include "model.h"
#include "threadpool.h"
#include "types.h"

namespace slm {

// ---- ops (one token row unless said otherwise) ----

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]   (out may alias x)
void rmsnorm(const float* x, const float* w, float* out, int n, float eps);

// Rotary position embedding, llama.cpp's "normal" layout for llama GGUF files: within each head, rotate the
// adjacent pairs (x[2i], x[2i+1]) by angle pos * inv_freq[i], for i < n_rot/2; dims >= n_rot pass through.
// inv_freq[i] = base^(-2i/n_rot) / rope_freqs[i] (see rope_inv_freq).
//   rope_angles: the table cs[2i] = cos, cs[2i+1] = sin of each pair's angle at pos (n_rot floats);
//   rope_rotate: rotates every head of x by such a table (one table serves Q and K of a position);
//   rope:        both.
void rope_angles(int n_rot, int pos, const double* inv_freq, float* cs);
void rope_rotate(float* x, int n_heads, int head_dim, int n_rot, const float* cs);
void rope(float* x, int n_heads, int head_dim, int n_rot, int pos, const double* inv_freq);
// The ggml_numerics forms (ContextOptions): the angles computed as llama.cpp's CPU backend does, accumulated
// in float (freq_factors: rope_freqs or nullptr), and rope with them (attention's f16 dot in ggml's order is
// kernels::dot_f16_ggml_order, kernels/cpu/f16.h).
void rope_angles_ggml(int n_rot, int pos, float base, const float* freq_factors, float* cs);
void rope_ggml(float* x, int n_heads, int head_dim, int n_rot, int pos, float base, const float* freq_factors);
// The per-pair inverse frequencies, with Llama 3's per-frequency divisors (rope_freqs.weight) when given.
std::vector<double> rope_inv_freq(int n_rot, float base, const std::vector<float>& rope_freqs);

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x)   (out may alias gate or up)
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// In-place softmax of x[0..n) (max-subtracted).
void softmax(float* x, int n);

// log(sum(exp(x))) computed stably in double.
double log_sum_exp(const float* x, int n);

// ---- the KV cache and the sequence context ----

struct ContextOptions {
    int n_ctx = 0;                      // 0: the model's context length, capped at kDefaultMaxCtx
    GgmlType kv_type = GgmlType::F16;   // F16 or F32
    int n_batch = 256;                  // prompt tokens processed together through each matmul
    // Reproduce the roundings of llama.cpp's CPU backend where they differ from slm's more accurate defaults, so
    // logits can be compared with llama.cpp's like for like (tests, audits), not to run models:
    //  - rope: the angle of pair i is pos * theta_scale^i accumulated in float (slm: pos * base^(-2i/n_rot) in
    //    double), then divided by the pair's rope_freqs factor, rotated by cosf/sinf;
    //  - flash attention with an f16 cache: Q rounded to f16, q.k summed in ggml's AVX2 order, the weighted
    //    sum of V accumulated in f16 (fused multiply-add) with an online softmax.
    //  - matmuls in MatmulOrder::llamacpp (its repacked Q4_K GEMM/GEMV orders; the other kernels already sum
    //    as ggml's vec_dot does).
    // Needs kv_type F16.
    bool ggml_numerics = false;
    static constexpr int kDefaultMaxCtx = 8192;  // Llama 3.2 says 131072: a 4 GiB cache nobody asked for
};

// One sequence: the KV cache and the scratch buffers. Not thread-safe; splits its work over the caller's pool.
class Context {
public:
    Context(const Model& m, const ContextOptions& opt, ThreadPool& pool);

    // Appends n tokens at positions n_past()..n_past()+n-1, in batches of n_batch. Returns the logits of the
    // last token (n_vocab floats), or with all_logits, n x n_vocab floats (one row per appended token). Valid
    // until the next call. Throws slm::Error if n_past()+n would exceed n_ctx() or an id is out of range.
    const float* eval(const int32_t* ids, int n, bool all_logits = false);
    const float* eval(const std::vector<int32_t>& ids, bool all_logits = false) {
        return eval(ids.data(), int(ids.size()), all_logits);
    }

    int n_past() const { return n_past_; }
    int n_ctx() const { return n_ctx_; }
    GgmlType kv_type() const { return kv_type_; }
    const Model& model() const { return model_; }
    // Forget positions >= n (prefix reuse: keep a cached system prompt). n must be in [0, n_past()].
    void truncate(int n);
    void clear() { truncate(0); }
    size_t kv_bytes() const;  // memory held by the KV cache

private:
    void eval_batch(const int32_t* ids, int n, bool all_logits, float* logits_out);
    void apply(const Weight& w, const float* x, int64_t n_tok, float* y);
    void attention(int il, int n);
    void attention_ggml(int il, int n);
    void store_kv(int il, int n);

    const Model& model_;
    ThreadPool& pool_;
    int n_ctx_ = 0, n_batch_ = 0, n_past_ = 0;
    GgmlType kv_type_ = GgmlType::F16;
    bool ggml_numerics_ = false;
    std::vector<double> inv_freq_;
    std::vector<float> rope_cs_;  // one position's rope cos/sin table

    // KV cache per layer. K: [n_ctx][n_embd_kv] (one row per position). V is stored transposed,
    // [n_embd_kv][n_ctx], so the attention-weighted sum over positions is one dot product per output dim,
    // done by the same f32/f16 dot kernels as the matmuls.
    std::vector<std::vector<uint8_t>> k_cache_, v_cache_;

    // scratch for one batch (sized once for n_batch tokens)
    std::vector<float> x_, xn_, q_, k_, v_, att_out_, gate_, up_, tmp_, lora_tmp_;
    std::vector<float> scores_;  // [n_threads][n_ctx]
    std::vector<float> logits_;  // n_batch or 1 rows of n_vocab, or n x n_vocab with all_logits
    std::vector<float> out_tmp_; // logits of one batch when all_logits spans several batches
    MatmulScratch mm_;
};

}  // namespace slm
