// Running a model over a sequence. Session is what every caller takes (generate, eval, audit, chat, run,
// logits), so a backend may stand in its own implementation; Context is the standard one: the KV cache and
// scratch of one sequence, and THE layer loop of the Llama forward pass (forward.cpp), written against
// backend.h and readable top to bottom (the ops it calls are drawn in ops.h).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"
#include "model.h"
#include "types.h"

namespace slm {

struct ContextOptions {
    int n_ctx = 0;                      // 0: the model's context length, capped at kDefaultMaxCtx
    bool ctx_beyond_train = false;      // allow n_ctx above the model's trained context (else capped there)
    GgmlType kv_type = GgmlType::F16;   // F16 or F32
    int n_batch = 256;                  // prompt tokens processed together through each matmul
    // Reproduce the roundings of llama.cpp's CPU backend where they differ from slm's more accurate defaults, so
    // logits can be compared with llama.cpp's like for like (tests, audits), not to run models (Numerics in
    // backend.h says what changes). Needs kv_type F16.
    bool ggml_numerics = false;
    static constexpr int kDefaultMaxCtx = 8192;  // Llama 3.2 says 131072: a 4 GiB cache nobody asked for
};

// The context length a Context gets: n_ctx 0 means the model's trained context (llama.context_length) capped
// at kDefaultMaxCtx; a request above the trained context is capped at it (with a warning) unless
// ctx_beyond_train is set (then granted, with a warning that the model was not trained that far). The KV cache
// is allocated for the result at once, so this is what bounds it. Throws slm::Error for n_ctx < 0.
int resolve_n_ctx(const ModelConfig& c, const ContextOptions& opt, std::string* warning);

// One sequence being evaluated: the tokens it holds (positions 0..n_past()-1) and their KV cache.
class Session {
public:
    virtual ~Session() = default;

    // Appends n tokens at positions n_past()..n_past()+n-1. Returns the logits of the last token (n_vocab
    // floats, host memory), or with all_logits, n x n_vocab floats (one row per appended token). Valid until
    // the next call. Throws slm::Error if n_past()+n would exceed n_ctx() or an id is out of range.
    virtual const float* eval(const int32_t* ids, int n, bool all_logits = false) = 0;
    const float* eval(const std::vector<int32_t>& ids, bool all_logits = false) {
        return eval(ids.data(), int(ids.size()), all_logits);
    }
    // Forget positions >= n. n must be in [0, n_past()].
    virtual void truncate(int n) = 0;
    void clear() { truncate(0); }

    virtual int n_ctx() const = 0;
    virtual GgmlType kv_type() const = 0;
    virtual size_t kv_bytes() const = 0;  // memory held by the KV cache
    virtual const Model& model() const = 0;

    int n_past() const { return int(tokens_.size()); }
    const std::vector<int32_t>& tokens() const { return tokens_; }

    // Prefix reuse, the one rule for chat and eval: keeps the longest common prefix of what the session holds
    // and `ids`, but always leaves at least one token of `ids` to evaluate (so its logits come out); forgets
    // the rest. Returns how many positions were kept: the caller evaluates ids[kept..].
    int reuse_prefix(const std::vector<int32_t>& ids);

protected:
    std::vector<int32_t> tokens_;  // the ids at positions 0..n_past()-1 (kept by eval and truncate)
};

// The standard Session: the layer loop over any Backend.
class Context final : public Session {
public:
    Context(const Model& m, Backend& backend, const ContextOptions& opt = {});

    const float* eval(const int32_t* ids, int n, bool all_logits = false) override;
    using Session::eval;
    void truncate(int n) override;
    int n_ctx() const override { return n_ctx_; }
    GgmlType kv_type() const override { return kv_->type; }
    size_t kv_bytes() const override { return kv_->bytes(); }
    const Model& model() const override { return model_; }

private:
    void eval_batch(const int32_t* ids, int n, bool all_logits, float* logits_out);

    const Model& model_;
    Backend& be_;
    Numerics num_ = Numerics::fast;
    int n_ctx_ = 0, n_batch_ = 0;
    RopeConfig rope_;
    std::vector<double> rope_inv_freq_;  // what rope_.inv_freq points to
    AttentionShape attn_;
    std::unique_ptr<KvCache> kv_;

    // backend memory for one batch of n_batch tokens
    Buffer x_, xn_, q_, k_, v_, att_out_, gate_, up_, tmp_;
    std::vector<float> logits_;  // host: n_batch or 1 rows of n_vocab, or n x n_vocab with all_logits
};

}  // namespace slm
