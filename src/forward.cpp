#include "forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "cpu/f16.h"
#include "cpu/kernels.h"

namespace slm {

// ---------------------------------------------------------------------------------------------------------
// ops

void rmsnorm(const float* x, const float* w, float* out, int n, float eps) {
    double ss = 0;  // in double: the sum of n squares is where f32 loses digits
    for (int i = 0; i < n; i++) ss += double(x[i]) * double(x[i]);
    const float scale = float(1.0 / std::sqrt(ss / n + double(eps)));
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

std::vector<double> rope_inv_freq(int n_rot, float base, const std::vector<float>& rope_freqs) {
    if (n_rot <= 0 || n_rot % 2) fail("rope: rotated dimension count %d must be even and positive", n_rot);
    if (!rope_freqs.empty() && int(rope_freqs.size()) != n_rot / 2)
        fail("rope: rope_freqs has %zu entries, expected n_rot/2 = %d", rope_freqs.size(), n_rot / 2);
    std::vector<double> f(size_t(n_rot / 2));
    for (int i = 0; i < n_rot / 2; i++) {
        f[size_t(i)] = std::pow(double(base), -2.0 * i / n_rot);
        // Llama 3.x rope scaling: rope_freqs.weight holds a divisor per frequency (1 for the high ones, the
        // scaling factor for the low ones, a smooth blend between); ggml divides the angle by it.
        if (!rope_freqs.empty()) f[size_t(i)] /= double(rope_freqs[size_t(i)]);
    }
    return f;
}

void rope_angles(int n_rot, int pos, const double* inv_freq, float* cs) {
    for (int i = 0; i < n_rot / 2; i++) {
        const double theta = double(pos) * inv_freq[i];
        cs[2 * i] = float(std::cos(theta));
        cs[2 * i + 1] = float(std::sin(theta));
    }
}

// llama.cpp's rope (ggml_rope_cache_init + rope_yarn with ext_factor 0, freq_scale 1, mscale 1): the angle
// starts at the position as a float and is multiplied by theta_scale = base^(-2/n_rot) once per pair, in
// float, then divided by the pair's frequency factor; cosf/sinf of that. The rounding drift of that product
// (a few ulps by the last pair) is what llama.cpp rotates by, so it is reproduced here to compare like with like.
void rope_angles_ggml(int n_rot, int pos, float base, const float* freq_factors, float* cs) {
    const float theta_scale = std::pow(base, -2.0f / float(n_rot));
    float theta = float(pos);
    for (int i = 0; i < n_rot / 2; i++) {
        const float th = theta / (freq_factors ? freq_factors[i] : 1.0f);
        cs[2 * i] = std::cos(th);
        cs[2 * i + 1] = std::sin(th);
        theta *= theta_scale;
    }
}

void rope_rotate(float* x, int n_heads, int head_dim, int n_rot, const float* cs) {
    for (int i = 0; i < n_rot / 2; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        for (int h = 0; h < n_heads; h++) {
            float* p = x + size_t(h) * size_t(head_dim) + size_t(2 * i);
            const float x0 = p[0], x1 = p[1];
            p[0] = x0 * c - x1 * s;
            p[1] = x0 * s + x1 * c;
        }
    }
}

void rope(float* x, int n_heads, int head_dim, int n_rot, int pos, const double* inv_freq) {
    std::vector<float> cs(static_cast<size_t>(n_rot));
    rope_angles(n_rot, pos, inv_freq, cs.data());
    rope_rotate(x, n_heads, head_dim, n_rot, cs.data());
}

void rope_ggml(float* x, int n_heads, int head_dim, int n_rot, int pos, float base, const float* freq_factors) {
    std::vector<float> cs(static_cast<size_t>(n_rot));
    rope_angles_ggml(n_rot, pos, base, freq_factors, cs.data());
    rope_rotate(x, n_heads, head_dim, n_rot, cs.data());
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void softmax(float* x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = std::max(mx, x[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = float(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

double log_sum_exp(const float* x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = std::max(mx, x[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += std::exp(double(x[i]) - double(mx));
    return double(mx) + std::log(sum);
}

// ---------------------------------------------------------------------------------------------------------
// Context

Context::Context(const Model& m, const ContextOptions& opt, ThreadPool& pool) : model_(m), pool_(pool) {
    const ModelConfig& c = m.config();
    if (opt.n_ctx < 0) fail("context: n_ctx must be >= 0 (got %d)", opt.n_ctx);
    n_ctx_ = opt.n_ctx > 0 ? opt.n_ctx
                           : (c.n_ctx_train > 0 ? std::min(c.n_ctx_train, ContextOptions::kDefaultMaxCtx)
                                                : ContextOptions::kDefaultMaxCtx);
    if (opt.kv_type != GgmlType::F32 && opt.kv_type != GgmlType::F16)
        fail("context: KV cache type must be f32 or f16 (got %s)", type_name(opt.kv_type));
    kv_type_ = opt.kv_type;
    if (opt.ggml_numerics && kv_type_ != GgmlType::F16) fail("context: llama.cpp-compatible numerics (ggml_numerics) need an f16 KV cache");
    ggml_numerics_ = opt.ggml_numerics;
    if (opt.n_batch <= 0) fail("context: n_batch must be > 0 (got %d)", opt.n_batch);
    n_batch_ = std::min(opt.n_batch, n_ctx_);
    inv_freq_ = rope_inv_freq(c.n_rot, c.rope_freq_base, m.rope_freqs());
    rope_cs_.resize(size_t(c.n_rot));

    const size_t kv_row = size_t(row_bytes(kv_type_, c.n_embd_kv()));
    k_cache_.assign(size_t(c.n_layer), std::vector<uint8_t>(kv_row * size_t(n_ctx_)));
    v_cache_.assign(size_t(c.n_layer), std::vector<uint8_t>(kv_row * size_t(n_ctx_)));

    const size_t nb = size_t(n_batch_);
    x_.resize(nb * size_t(c.n_embd));
    xn_.resize(nb * size_t(c.n_embd));
    q_.resize(nb * size_t(c.n_embd_q()));
    k_.resize(nb * size_t(c.n_embd_kv()));
    v_.resize(nb * size_t(c.n_embd_kv()));
    att_out_.resize(nb * size_t(c.n_embd_q()));
    gate_.resize(nb * size_t(c.n_ff));
    up_.resize(nb * size_t(c.n_ff));
    tmp_.resize(nb * size_t(std::max({c.n_embd, c.n_embd_q(), c.n_ff})));
    scores_.resize(size_t(pool.size()) * size_t(n_ctx_));
}

size_t Context::kv_bytes() const {
    size_t s = 0;
    for (auto& k : k_cache_) s += k.size();
    for (auto& v : v_cache_) s += v.size();
    return s;
}

void Context::truncate(int n) {
    if (n < 0 || n > n_past_) fail("context: cannot truncate to %d (have %d positions)", n, n_past_);
    n_past_ = n;  // positions >= n are simply overwritten by later tokens
}

const float* Context::eval(const int32_t* ids, int n, bool all_logits) {
    const ModelConfig& c = model_.config();
    if (n <= 0) fail("context: eval needs at least one token");
    if (int64_t(n_past_) + n > n_ctx_)
        fail("context full: %d positions used + %d new tokens exceed the context size %d (use a larger --ctx)",
             n_past_, n, n_ctx_);
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

// y[n_tok x n_out] = W x, plus each LoRA pair's scale * B (A x).
void Context::apply(const Weight& w, const float* x, int64_t n_tok, float* y) {
    matmul(w.w, x, n_tok, y, pool_, mm_, ggml_numerics_ ? MatmulOrder::llamacpp : MatmulOrder::fastest);
    for (const LoraPair& lp : w.lora) {
        const int64_t r = lp.a.n_out, n_out = w.w.n_out;
        const size_t need = size_t(n_tok * (r + n_out));
        if (lora_tmp_.size() < need) lora_tmp_.resize(need);
        float* ax = lora_tmp_.data();
        float* bax = ax + n_tok * r;
        matmul(lp.a, x, n_tok, ax, pool_, mm_);
        matmul(lp.b, ax, n_tok, bax, pool_, mm_);
        for (int64_t i = 0; i < n_tok * n_out; i++) y[i] += lp.scale * bax[i];
    }
}

void Context::store_kv(int il, int n) {
    const ModelConfig& c = model_.config();
    const int64_t d = c.n_embd_kv();
    uint8_t* kc = k_cache_[size_t(il)].data();
    uint8_t* vc = v_cache_[size_t(il)].data();
    for (int t = 0; t < n; t++) {
        const int64_t pos = n_past_ + t;
        const float* k = k_.data() + t * d;
        const float* v = v_.data() + t * d;
        if (kv_type_ == GgmlType::F32) {
            std::memcpy(reinterpret_cast<float*>(kc) + pos * d, k, size_t(d) * sizeof(float));
            float* vt = reinterpret_cast<float*>(vc);
            for (int64_t i = 0; i < d; i++) vt[i * n_ctx_ + pos] = v[i];
        } else {
            fp16_t* kr = reinterpret_cast<fp16_t*>(kc) + pos * d;
            for (int64_t i = 0; i < d; i++) kr[i] = fp32_to_fp16(k[i]);
            fp16_t* vt = reinterpret_cast<fp16_t*>(vc);
            for (int64_t i = 0; i < d; i++) vt[i * n_ctx_ + pos] = fp32_to_fp16(v[i]);
        }
    }
}

// Causal attention of the n new tokens over the cache (positions 0..n_past+t for token t). One work item per
// (token, head), each computed by one thread start to finish: the result does not depend on the thread count.
void Context::attention(int il, int n) {
    const ModelConfig& c = model_.config();
    const int hd = c.head_dim, n_head = c.n_head, group = c.n_head / c.n_head_kv;
    const int64_t d_kv = c.n_embd_kv();
    const size_t kv_el = kv_type_ == GgmlType::F32 ? 4 : 2;
    const uint8_t* kc = k_cache_[size_t(il)].data();
    const uint8_t* vc = v_cache_[size_t(il)].data();
    const kernels::vec_dot_fn dot = kernels::active().dot(kv_type_);  // f32 or f16 row . f32 row
    const float scale = float(1.0 / std::sqrt(double(hd)));
    // Each item costs ~4 * n_pos * hd flops; keep chunks big enough that waking the pool pays.
    const int64_t item_work = 4 * int64_t(n_past_ + n) * hd;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / item_work);
    pool_.parallel_for(int64_t(n) * n_head, grain, [&](int64_t i0, int64_t i1, int thread) {
        float* s = scores_.data() + size_t(thread) * size_t(n_ctx_);
        for (int64_t item = i0; item < i1; item++) {
            const int t = int(item / n_head), h = int(item % n_head), kvh = h / group;
            const int n_pos = n_past_ + t + 1;
            const float* q = q_.data() + size_t(t) * size_t(c.n_embd_q()) + size_t(h) * size_t(hd);
            for (int j = 0; j < n_pos; j++) s[j] = dot(hd, kc + (size_t(j) * size_t(d_kv) + size_t(kvh) * size_t(hd)) * kv_el, q) * scale;
            softmax(s, n_pos);
            float* o = att_out_.data() + size_t(t) * size_t(c.n_embd_q()) + size_t(h) * size_t(hd);
            for (int dd = 0; dd < hd; dd++)
                o[dd] = dot(n_pos, vc + (size_t(kvh) * size_t(hd) + size_t(dd)) * size_t(n_ctx_) * kv_el, s);
        }
    });
}

// The same attention with llama.cpp's roundings (ggml's CPU flash-attention kernel for an F16 cache): q is
// rounded to f16 like K, and the output is accumulated in f16 while the softmax runs online (rescale the
// accumulator by exp(M_old - M_new) whenever a larger score arrives). Single-threaded per (token, head) item.
void Context::attention_ggml(int il, int n) {
    const ModelConfig& c = model_.config();
    const int hd = c.head_dim, n_head = c.n_head, group = c.n_head / c.n_head_kv;
    const int64_t d_kv = c.n_embd_kv();
    const fp16_t* kc = reinterpret_cast<const fp16_t*>(k_cache_[size_t(il)].data());
    const fp16_t* vc = reinterpret_cast<const fp16_t*>(v_cache_[size_t(il)].data());
    const float scale = 1.0f / std::sqrt(float(hd));
    pool_.parallel_for(int64_t(n) * n_head, 1, [&](int64_t i0, int64_t i1, int) {
        std::vector<float> qr(size_t(hd), 0.0f);
        std::vector<fp16_t> acc(static_cast<size_t>(hd));
        for (int64_t item = i0; item < i1; item++) {
            const int t = int(item / n_head), h = int(item % n_head), kvh = h / group;
            const int n_pos = n_past_ + t + 1;
            const float* q = q_.data() + size_t(t) * size_t(c.n_embd_q()) + size_t(h) * size_t(hd);
            for (int i = 0; i < hd; i++) qr[size_t(i)] = fp16_to_fp32(fp32_to_fp16(q[i]));
            std::fill(acc.begin(), acc.end(), fp16_t(0));
            float M = -INFINITY, S = 0;
            for (int j = 0; j < n_pos; j++) {
                const float sc = kernels::dot_f16_ggml_order(hd, kc + size_t(j) * size_t(d_kv) + size_t(kvh) * size_t(hd), qr.data()) * scale;
                float ms = 1, vs = 1;
                if (sc > M) {
                    ms = std::exp(M - sc);  // exp(-inf) = 0 on the first position
                    M = sc;
                    for (int d = 0; d < hd; d++) acc[size_t(d)] = fp32_to_fp16(fp16_to_fp32(acc[size_t(d)]) * ms);
                } else {
                    vs = std::exp(sc - M);
                }
                for (int d = 0; d < hd; d++) {
                    const float v = fp16_to_fp32(vc[(size_t(kvh) * size_t(hd) + size_t(d)) * size_t(n_ctx_) + size_t(j)]);
                    acc[size_t(d)] = fp32_to_fp16(std::fma(v, vs, fp16_to_fp32(acc[size_t(d)])));  // ggml_vec_mad_f16: FMA
                }
                S = S * ms + vs;
            }
            float* o = att_out_.data() + size_t(t) * size_t(c.n_embd_q()) + size_t(h) * size_t(hd);
            const float s_inv = 1.0f / S;
            for (int d = 0; d < hd; d++) o[d] = fp16_to_fp32(acc[size_t(d)]) * s_inv;
        }
    });
}

void Context::eval_batch(const int32_t* ids, int n, bool all_logits, float* logits_out) {
    const ModelConfig& c = model_.config();
    const int E = c.n_embd;
    float* x = x_.data();
    float* xn = xn_.data();

    for (int t = 0; t < n; t++) dequantize_row(model_.tok_embd(), ids[t], x + size_t(t) * size_t(E));

    const float* rope_ff = model_.rope_freqs().empty() ? nullptr : model_.rope_freqs().data();
    for (int il = 0; il < c.n_layer; il++) {
        const LayerWeights& L = model_.layers()[size_t(il)];
        for (int t = 0; t < n; t++) rmsnorm(x + size_t(t) * E, L.attn_norm.data(), xn + size_t(t) * E, E, c.rms_eps);
        apply(L.wq, xn, n, q_.data());
        apply(L.wk, xn, n, k_.data());
        apply(L.wv, xn, n, v_.data());
        // One cos/sin table per position serves Q and K.
        for (int t = 0; t < n; t++) {
            float* cs = rope_cs_.data();
            if (ggml_numerics_) rope_angles_ggml(c.n_rot, n_past_ + t, c.rope_freq_base, rope_ff, cs);
            else rope_angles(c.n_rot, n_past_ + t, inv_freq_.data(), cs);
            rope_rotate(q_.data() + size_t(t) * size_t(c.n_embd_q()), c.n_head, c.head_dim, c.n_rot, cs);
            rope_rotate(k_.data() + size_t(t) * size_t(c.n_embd_kv()), c.n_head_kv, c.head_dim, c.n_rot, cs);
        }
        store_kv(il, n);
        if (ggml_numerics_) attention_ggml(il, n);
        else attention(il, n);
        apply(L.wo, att_out_.data(), n, tmp_.data());
        for (size_t i = 0; i < size_t(n) * size_t(E); i++) x[i] += tmp_[i];

        for (int t = 0; t < n; t++) rmsnorm(x + size_t(t) * E, L.ffn_norm.data(), xn + size_t(t) * E, E, c.rms_eps);
        apply(L.w_gate, xn, n, gate_.data());
        apply(L.w_up, xn, n, up_.data());
        swiglu(gate_.data(), up_.data(), gate_.data(), int64_t(n) * c.n_ff);
        apply(L.w_down, gate_.data(), n, tmp_.data());
        for (size_t i = 0; i < size_t(n) * size_t(E); i++) x[i] += tmp_[i];
    }
    n_past_ += n;

    if (!logits_out) return;
    const int first = all_logits ? 0 : n - 1;  // only the last row when that is all the caller wants
    for (int t = first; t < n; t++)
        rmsnorm(x + size_t(t) * E, model_.output_norm().data(), xn + size_t(t - first) * E, E, c.rms_eps);
    apply(model_.output(), xn, n - first, logits_out);
}

}  // namespace slm
