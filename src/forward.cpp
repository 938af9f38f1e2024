#include "forward.h"

#include <algorithm>
#include <cstdio>
#include <new>

#include "common.h"
#include "ops.h"

namespace slm {

int Session::reuse_prefix(const std::vector<int32_t>& ids) {
    size_t keep = 0;
    while (keep < tokens_.size() && keep + 1 < ids.size() && tokens_[keep] == ids[keep]) keep++;
    truncate(int(keep));
    return int(keep);
}

int resolve_n_ctx(const ModelConfig& c, const ContextOptions& opt, std::string* warning) {
    if (warning) warning->clear();
    if (opt.n_ctx < 0) fail("context: n_ctx must be >= 0 (got %d)", opt.n_ctx);
    const int train = c.n_ctx_train > 0 ? c.n_ctx_train : ContextOptions::kDefaultMaxCtx;
    if (opt.n_ctx == 0) return std::min(train, ContextOptions::kDefaultMaxCtx);
    if (opt.n_ctx <= train) return opt.n_ctx;
    if (!opt.ctx_beyond_train) {
        if (warning)
            *warning = strfmt("context %d is more than the model's trained context %d: using %d (--ctx-beyond-train "
                              "to go past it)", opt.n_ctx, train, train);
        return train;
    }
    if (warning)
        *warning = strfmt("context %d is more than the model's trained context %d: positions past %d are outside "
                          "what the model was trained on", opt.n_ctx, train, train);
    return opt.n_ctx;
}

Context::Context(const Model& m, Backend& backend, const ContextOptions& opt) : model_(m), be_(backend) {
    const ModelConfig& c = m.config();
    std::string warning;
    n_ctx_ = resolve_n_ctx(c, opt, &warning);
    if (!warning.empty()) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    if (opt.kv_type != GgmlType::F32 && opt.kv_type != GgmlType::F16)
        fail("context: KV cache type must be f32 or f16 (got %s)", type_name(opt.kv_type));
    if (opt.ggml_numerics && opt.kv_type != GgmlType::F16)
        fail("context: llama.cpp-compatible numerics (ggml_numerics) need an f16 KV cache");
    num_ = opt.ggml_numerics ? Numerics::llamacpp : Numerics::fast;
    if (opt.n_batch <= 0) fail("context: n_batch must be > 0 (got %d)", opt.n_batch);
    n_batch_ = std::min(opt.n_batch, n_ctx_);
    rope_ = RopeConfig{c.n_rot, c.head_dim, c.rope_freq_base, m.rope_freqs().empty() ? nullptr : m.rope_freqs().data()};
    // The angle rates once per Context, not looked up per layer and call.
    std::vector<float> factors;
    if (rope_.freq_factors) factors.assign(rope_.freq_factors, rope_.freq_factors + c.n_rot / 2);
    rope_inv_freq_ = ops::rope_inv_freq(c.n_rot, c.rope_freq_base, factors);
    rope_.inv_freq = rope_inv_freq_.data();
    attn_ = AttentionShape{c.n_head, c.n_head_kv, c.head_dim};
    try {
        kv_ = be_.make_kv_cache(c.n_layer, n_ctx_, c.n_embd_kv(), opt.kv_type);
    } catch (const std::bad_alloc&) {
        fail("context: out of memory for a KV cache of %d positions (%.1f MiB; --ctx)", n_ctx_,
             2.0 * c.n_layer * double(n_ctx_) * c.n_embd_kv() * (opt.kv_type == GgmlType::F16 ? 2 : 4) / 1048576.0);
    }

    const size_t nb = size_t(n_batch_);
    x_ = be_.alloc(nb * size_t(c.n_embd));
    xn_ = be_.alloc(nb * size_t(c.n_embd));
    q_ = be_.alloc(nb * size_t(c.n_embd_q()));
    k_ = be_.alloc(nb * size_t(c.n_embd_kv()));
    v_ = be_.alloc(nb * size_t(c.n_embd_kv()));
    att_out_ = be_.alloc(nb * size_t(c.n_embd_q()));
    gate_ = be_.alloc(nb * size_t(c.n_ff));
    up_ = be_.alloc(nb * size_t(c.n_ff));
    tmp_ = be_.alloc(nb * size_t(std::max({c.n_embd, c.n_embd_q(), c.n_ff})));
}

void Context::truncate(int n) {
    if (n < 0 || n > n_past()) fail("context: cannot truncate to %d (have %d positions)", n, n_past());
    tokens_.resize(size_t(n));  // positions >= n are simply overwritten by later tokens
}

const float* Context::eval(const int32_t* ids, int n, bool all_logits) {
    const ModelConfig& c = model_.config();
    if (n <= 0) fail("context: eval needs at least one token");
    if (int64_t(n_past()) + n > n_ctx_)
        fail("context full: %d positions used + %d new tokens exceed the context size %d (use a larger --ctx)",
             n_past(), n, n_ctx_);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c.n_vocab) fail("token id %d at index %d is out of range [0, %d)", ids[i], i, c.n_vocab);
    const size_t nv = size_t(c.n_vocab);
    logits_.resize(all_logits ? size_t(n) * nv : nv);
    for (int b = 0; b < n; b += n_batch_) {
        const int nb = std::min(n_batch_, n - b);
        float* out = nullptr;  // intermediate batches need no logits unless all were asked for
        if (all_logits) out = logits_.data() + size_t(b) * nv;
        else if (b + nb == n) out = logits_.data();
        eval_batch(ids + b, nb, all_logits, out);
    }
    return logits_.data();
}

// The layer loop: n tokens at positions pos0..pos0+n-1, every op through the backend.
void Context::eval_batch(const int32_t* ids, int n, bool all_logits, float* logits_out) {
    const ModelConfig& c = model_.config();
    const int64_t E = c.n_embd, nE = int64_t(n) * E;
    const int pos0 = n_past();
    float *x = x_.data(), *xn = xn_.data(), *q = q_.data(), *k = k_.data(), *v = v_.data();
    float *att = att_out_.data(), *gate = gate_.data(), *up = up_.data(), *tmp = tmp_.data();

    be_.embed(model_.tok_embd(), ids, n, x);  // x: the residual stream, [n][E]
    for (int il = 0; il < c.n_layer; il++) {
        const LayerWeights& L = model_.layers()[size_t(il)];
        // attention block: x += Wo · attention(rope(Wq xn), rope(Wk xn), Wv xn), xn = rmsnorm(x)
        be_.rmsnorm(x, f32_view(L.attn_norm), n, c.rms_eps, xn);
        be_.matmul(L.wq, xn, n, q, num_);
        be_.matmul(L.wk, xn, n, k, num_);
        be_.matmul(L.wv, xn, n, v, num_);
        be_.rope(q, c.n_head, k, c.n_head_kv, n, pos0, rope_, num_);
        be_.store_kv(*kv_, il, k, v, n, pos0);
        be_.attention(*kv_, il, q, n, pos0, attn_, att, num_);
        be_.matmul(L.wo, att, n, tmp, num_);
        be_.add(x, tmp, nE);
        // feed-forward block: x += Wdown · (silu(Wgate xn) * (Wup xn)), xn = rmsnorm(x)
        be_.rmsnorm(x, f32_view(L.ffn_norm), n, c.rms_eps, xn);
        be_.matmul(L.w_gate, xn, n, gate, num_);
        be_.matmul(L.w_up, xn, n, up, num_);
        be_.swiglu(gate, up, int64_t(n) * c.n_ff, gate);
        be_.matmul(L.w_down, gate, n, tmp, num_);
        be_.add(x, tmp, nE);
    }
    tokens_.insert(tokens_.end(), ids, ids + n);

    if (!logits_out) return;
    const int first = all_logits ? 0 : n - 1;  // only the last row when that is all the caller wants
    be_.logits(x + size_t(first) * size_t(E), n - first, f32_view(model_.output_norm()), c.rms_eps, model_.output(),
               xn, logits_out, num_);
}

}  // namespace slm
