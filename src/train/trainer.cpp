#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "common.h"
#include "gguf.h"
#include "model.h"
#include "ops.h"
#include "output_file.h"
#include "threadpool.h"

namespace slm::train {

static const char* const kProjName[N_PROJ] = {"q", "k", "v", "o", "gate", "up", "down"};
static const char* const kProjTensor[N_PROJ] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
const char* proj_name(int p) { return kProjName[p]; }
const char* proj_tensor(int p) { return kProjTensor[p]; }

std::array<bool, N_PROJ> parse_targets(const std::string& list) {
    std::array<bool, N_PROJ> t{};
    size_t pos = 0;
    bool any = false;
    while (pos <= list.size()) {
        const size_t comma = std::min(list.find(',', pos), list.size());
        const std::string item = list.substr(pos, comma - pos);
        int found = -1;
        for (int p = 0; p < N_PROJ; p++)
            if (item == kProjName[p]) found = p;
        if (found < 0) fail("--targets: unknown projection \"%s\" (choose from q,k,v,o,gate,up,down)", item.c_str());
        t[size_t(found)] = any = true;
        pos = comma + 1;
    }
    if (!any) fail("--targets: empty list");
    return t;
}

int Sequence::n_targets() const {
    int c = 0;
    for (size_t t = 1; t < mask.size(); t++) c += mask[t] != 0;
    return c;
}

namespace {

// One linear layer as the trainer sees it.
struct Lin {
    Weight base;            // the frozen weight (any type), or the F32 master copy in full mode; no LoRA pairs
    float* dW = nullptr;    // full mode: its gradient [n_out][n_in]
    int64_t n_in = 0, n_out = 0;
    int r = 0;              // LoRA rank, 0: not adapted
    float scale = 0;        // alpha / r
    float *A = nullptr, *B = nullptr, *dA = nullptr, *dB = nullptr;  // A [r][n_in], B [n_out][r]
};

struct LayerT {
    std::array<Lin, N_PROJ> p;
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    float* d_attn_norm = nullptr;  // full mode
    float* d_ffn_norm = nullptr;
};

WeightView f32_matrix(const float* data, int64_t n_in, int64_t n_out) {
    return ggml_view(GgmlType::F32, data, n_in, n_out);
}

}  // namespace

struct Trainer::Impl {
    std::vector<LayerT> layers;
    WeightView tok_embd;            // what the embedding lookup reads (the base's, or the master copy)
    float* d_tok_embd = nullptr;    // full mode
    Lin output;                     // the output projection (tok_embd when tied)
    const float* out_norm = nullptr;
    float* d_out_norm = nullptr;
    std::vector<double> inv_freq;

    std::vector<LayerActs> acts;
    HeadActs head;
    // Scratch of one batch.
    std::vector<float> x, xn, y, d_act, dx, dh, dxn, datt, dq, dk, dv, dgate, dup, dact, du, logits, rope_cs;
    std::vector<int> seg_off, seg_len;
    std::vector<double> row_loss;
    std::vector<size_t> prob_off;
};

Trainer::~Trainer() = default;

Trainer::Trainer(const Model& model, Backend& backend, ThreadPool& pool, const TrainerOptions& opt)
    : model_(model), be_(backend), pool_(pool), opt_(opt), impl_(std::make_unique<Impl>()) {
    const ModelConfig& c = model.config();
    Impl& I = *impl_;
    const int r = opt.lora.rank;
    if (!opt.full) {
        if (r <= 0) fail("--rank must be positive (got %d)", r);
        if (!(opt.lora.alpha > 0) || !std::isfinite(opt.lora.alpha)) fail("--alpha must be positive (got %g)", double(opt.lora.alpha));
    }
    // 1. Lay the parameters out.
    auto add = [&](const std::string& name, std::vector<int64_t> ne, bool decay) {
        Param p;
        p.name = name;
        p.ne = std::move(ne);
        p.size = 1;
        for (int64_t d : p.ne) p.size *= size_t(d);
        p.offset = plist_.empty() ? 0 : plist_.back().offset + plist_.back().size;
        p.decay = decay;
        plist_.push_back(p);
        return plist_.size() - 1;
    };
    I.layers.resize(size_t(c.n_layer));
    struct Slot { size_t a = SIZE_MAX, b = SIZE_MAX, w = SIZE_MAX; };
    std::vector<std::array<Slot, N_PROJ>> slots(size_t(c.n_layer));
    std::vector<std::array<size_t, 2>> norm_slots(size_t(c.n_layer));
    size_t embd_slot = SIZE_MAX, out_slot = SIZE_MAX, onorm_slot = SIZE_MAX;
    if (opt.full) {
        embd_slot = add("token_embd.weight", {c.n_embd, c.n_vocab}, true);
        onorm_slot = add("output_norm.weight", {c.n_embd}, false);
        if (!c.tied_embeddings) out_slot = add("output.weight", {c.n_embd, c.n_vocab}, true);
    }
    for (int il = 0; il < c.n_layer; il++) {
        const LayerWeights& L = model.layers()[size_t(il)];
        const Weight* ws[N_PROJ] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
        if (opt.full) {
            norm_slots[size_t(il)][0] = add(strfmt("blk.%d.attn_norm.weight", il), {c.n_embd}, false);
            norm_slots[size_t(il)][1] = add(strfmt("blk.%d.ffn_norm.weight", il), {c.n_embd}, false);
        }
        for (int p = 0; p < N_PROJ; p++) {
            const WeightView& w = ws[p]->w;
            if (!be_.supports(w)) fail("%s: type %s: the backend cannot train through it", ws[p]->name.c_str(), type_name(w.type));
            if (opt.full) {
                slots[size_t(il)][size_t(p)].w = add(ws[p]->name, {w.n_in, w.n_out}, true);
            } else if (opt.lora.targets[size_t(p)]) {
                if (r > std::min(w.n_in, w.n_out))
                    fail("--rank %d is larger than %s (%lld x %lld)", r, ws[p]->name.c_str(), (long long)w.n_out, (long long)w.n_in);
                slots[size_t(il)][size_t(p)].a = add(ws[p]->name + ".lora_a", {w.n_in, r}, true);
                slots[size_t(il)][size_t(p)].b = add(ws[p]->name + ".lora_b", {r, w.n_out}, true);
            }
        }
    }
    const size_t total = plist_.empty() ? 0 : plist_.back().offset + plist_.back().size;
    if (total == 0) fail("nothing to train (no LoRA targets)");
    theta_.assign(total, 0.0f);
    grad_.assign(total, 0.0f);
    auto P = [&](size_t slot) { return theta_.data() + plist_[slot].offset; };
    auto G = [&](size_t slot) { return grad_.data() + plist_[slot].offset; };

    // Dequantizes a whole base matrix into a master copy (full mode) through the backend's embedding lookup.
    auto load_master = [&](const WeightView& w, float* dst) {
        std::vector<int32_t> rows(static_cast<size_t>(std::min<int64_t>(w.n_out, 1024)));
        for (int64_t r0 = 0; r0 < w.n_out; r0 += int64_t(rows.size())) {
            const int nr = int(std::min<int64_t>(int64_t(rows.size()), w.n_out - r0));
            for (int i = 0; i < nr; i++) rows[size_t(i)] = int32_t(r0 + i);
            be_.embed(w, rows.data(), nr, dst + size_t(r0) * size_t(w.n_in));
        }
    };

    // 2. Initialise and point every layer at its weights.
    std::mt19937_64 rng(opt.seed);
    for (int il = 0; il < c.n_layer; il++) {
        const LayerWeights& L = model.layers()[size_t(il)];
        const Weight* ws[N_PROJ] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
        LayerT& T = I.layers[size_t(il)];
        T.attn_norm = L.attn_norm.data();
        T.ffn_norm = L.ffn_norm.data();
        if (opt.full) {
            float* an = P(norm_slots[size_t(il)][0]);
            float* fn = P(norm_slots[size_t(il)][1]);
            std::copy(L.attn_norm.begin(), L.attn_norm.end(), an);
            std::copy(L.ffn_norm.begin(), L.ffn_norm.end(), fn);
            T.attn_norm = an;
            T.ffn_norm = fn;
            T.d_attn_norm = G(norm_slots[size_t(il)][0]);
            T.d_ffn_norm = G(norm_slots[size_t(il)][1]);
        }
        for (int p = 0; p < N_PROJ; p++) {
            Lin& l = T.p[size_t(p)];
            l.base.name = ws[p]->name;
            l.base.w = ws[p]->w;
            l.n_in = l.base.w.n_in;
            l.n_out = l.base.w.n_out;
            const Slot& s = slots[size_t(il)][size_t(p)];
            if (s.w != SIZE_MAX) {
                load_master(ws[p]->w, P(s.w));
                l.base.w = f32_matrix(P(s.w), l.n_in, l.n_out);
                l.dW = G(s.w);
            }
            if (s.a != SIZE_MAX) {
                l.r = r;
                l.scale = opt.lora.alpha / float(r);
                l.A = P(s.a);
                l.B = P(s.b);
                l.dA = G(s.a);
                l.dB = G(s.b);
                // PEFT: kaiming_uniform_(a = sqrt(5)) on A, i.e. U(-1/sqrt(n_in), 1/sqrt(n_in)); B = 0. Raw
                // 53-bit draws mapped by hand so the values do not depend on the standard library.
                const double bound = 1.0 / std::sqrt(double(l.n_in));
                for (size_t i = 0; i < plist_[s.a].size; i++)
                    l.A[i] = float(bound * (double(rng() >> 11) / double(uint64_t(1) << 53) * 2.0 - 1.0));
            }
        }
    }
    I.tok_embd = model.tok_embd();
    I.out_norm = model.output_norm().data();
    I.output.base.name = model.output().name;
    I.output.base.w = model.output().w;
    if (opt.full) {
        float* e = P(embd_slot);
        load_master(model.tok_embd(), e);
        I.tok_embd = f32_matrix(e, c.n_embd, c.n_vocab);
        I.d_tok_embd = G(embd_slot);
        float* on = P(onorm_slot);
        std::copy(model.output_norm().begin(), model.output_norm().end(), on);
        I.out_norm = on;
        I.d_out_norm = G(onorm_slot);
        if (c.tied_embeddings) {
            I.output.base.w = I.tok_embd;
            I.output.dW = I.d_tok_embd;
        } else {
            load_master(model.output().w, P(out_slot));
            I.output.base.w = f32_matrix(P(out_slot), c.n_embd, c.n_vocab);
            I.output.dW = G(out_slot);
        }
    }
    if (!be_.supports(I.output.base.w)) fail("%s: type %s: the backend cannot train through it", I.output.base.name.c_str(), type_name(I.output.base.w.type));
    I.output.n_in = I.output.base.w.n_in;
    I.output.n_out = I.output.base.w.n_out;
    I.inv_freq = ops::rope_inv_freq(c.n_rot, c.rope_freq_base, model.rope_freqs());
    I.acts.resize(size_t(c.n_layer));
}

void Trainer::zero_grads() { std::fill(grad_.begin(), grad_.end(), 0.0f); }

namespace {

// y[n][n_out] = x W^T + scale B (A x); saves u = A x.
void lin_forward(Backend& be, const Lin& l, const float* x, int n, float* y, std::vector<float>& u) {
    if (!l.r) {
        be.matmul_train(l.base.w, x, n, y, nullptr);
        return;
    }
    u.resize(size_t(n) * size_t(l.r));
    Backend::LoraTerm lt;
    lt.A = l.A;
    lt.B = l.B;
    lt.r = l.r;
    lt.scale = l.scale;
    lt.u = u.data();
    be.matmul_train(l.base.w, x, n, y, &lt);
}

// dx (+)= dy W + scale (dy B) A;  dW += dy^T x;  dB += scale dy^T u;  dA += (scale dy B)^T x.
void lin_backward(Backend& be, const Lin& l, const float* x, const std::vector<float>& u, int n, const float* dy,
                  float* dx, bool accumulate, std::vector<float>& du) {
    be.matmul_dx(l.base.w, dy, n, dx, accumulate);
    if (l.dW) be.matmul_dw(dy, x, n, int(l.n_out), int(l.n_in), 1.0f, l.dW);
    if (!l.r) return;
    du.resize(size_t(n) * size_t(l.r));
    be.matmul_dx(f32_matrix(l.B, l.r, l.n_out), dy, n, du.data(), false);  // dy B
    for (float& v : du) v *= l.scale;
    be.matmul_dw(dy, u.data(), n, int(l.n_out), l.r, l.scale, l.dB);
    be.matmul_dw(du.data(), x, n, l.r, int(l.n_in), 1.0f, l.dA);
    be.matmul_dx(f32_matrix(l.A, l.n_in, l.r), du.data(), n, dx, true);
}

}  // namespace

double Trainer::run(const std::vector<const Sequence*>& batch, bool backward, double loss_scale, std::vector<float>* all_logits) {
    const ModelConfig& c = model_.config();
    Impl& I = *impl_;
    const int E = c.n_embd, Dq = c.n_embd_q(), Dkv = c.n_embd_kv(), F = c.n_ff, V = c.n_vocab, H = c.n_head;
    const AttentionShape ashape{c.n_head, c.n_head_kv, c.head_dim};

    // Pack the batch.
    I.seg_off.clear();
    I.seg_len.clear();
    I.prob_off.clear();
    std::vector<int32_t> ids;
    int max_len = 0;
    size_t n_prob = 0;
    HeadActs& hd = I.head;
    hd.rows.clear();
    hd.targets.clear();
    for (const Sequence* s : batch) {
        const int L = int(s->ids.size());
        if (L == 0) continue;
        I.seg_off.push_back(int(ids.size()));
        I.seg_len.push_back(L);
        I.prob_off.push_back(n_prob);
        n_prob += size_t(L) * size_t(H) * size_t(L);
        for (int t = 0; t < L; t++) {
            if (s->ids[size_t(t)] < 0 || s->ids[size_t(t)] >= V) fail("train: token id %d out of range", s->ids[size_t(t)]);
            if (all_logits) {
                hd.rows.push_back(int32_t(ids.size()) + t);
                hd.targets.push_back(-1);
            } else if (t > 0 && size_t(t) < s->mask.size() && s->mask[size_t(t)]) {
                hd.rows.push_back(int32_t(ids.size()) + t - 1);
                hd.targets.push_back(s->ids[size_t(t)]);
            }
        }
        ids.insert(ids.end(), s->ids.begin(), s->ids.end());
        max_len = std::max(max_len, L);
    }
    const int n = int(ids.size());
    const int m = int(hd.rows.size());
    if (n == 0 || m == 0) return 0.0;
    const size_t nE = size_t(n) * size_t(E);
    const int n_seg = int(I.seg_off.size());

    // RoPE tables for positions 0..max_len-1 (every sequence starts at position 0).
    I.rope_cs.resize(size_t(max_len) * size_t(c.n_rot));
    for (int p = 0; p < max_len; p++) ops::rope_angles(c.n_rot, p, I.inv_freq.data(), I.rope_cs.data() + size_t(p) * size_t(c.n_rot));
    auto cs = [&](int row, int seg) { return I.rope_cs.data() + size_t(row - I.seg_off[size_t(seg)]) * size_t(c.n_rot); };
    std::vector<int> seg_of(static_cast<size_t>(n));
    for (int s = 0; s < n_seg; s++)
        for (int t = 0; t < I.seg_len[size_t(s)]; t++) seg_of[size_t(I.seg_off[size_t(s)] + t)] = s;

    // ---- forward ----
    I.x.resize(nE);
    I.xn.resize(nE);
    float* x = I.x.data();
    float* xn = I.xn.data();
    be_.embed(I.tok_embd, ids.data(), n, x);
    for (int il = 0; il < c.n_layer; il++) {
        const LayerT& T = I.layers[size_t(il)];
        LayerActs& A = I.acts[size_t(il)];
        A.x.assign(x, x + nE);
        A.rms1.resize(size_t(n));
        for (int t = 0; t < n; t++) A.rms1[size_t(t)] = ops::rmsnorm(x + size_t(t) * E, T.attn_norm, xn + size_t(t) * E, E, c.rms_eps);
        A.q.resize(size_t(n) * Dq);
        A.k.resize(size_t(n) * Dkv);
        A.v.resize(size_t(n) * Dkv);
        lin_forward(be_, T.p[P_Q], xn, n, A.q.data(), A.u[P_Q]);
        lin_forward(be_, T.p[P_K], xn, n, A.k.data(), A.u[P_K]);
        lin_forward(be_, T.p[P_V], xn, n, A.v.data(), A.u[P_V]);
        for (int t = 0; t < n; t++) {
            const float* tab = cs(t, seg_of[size_t(t)]);
            ops::rope_rotate(A.q.data() + size_t(t) * Dq, c.n_head, c.head_dim, c.n_rot, tab);
            ops::rope_rotate(A.k.data() + size_t(t) * Dkv, c.n_head_kv, c.head_dim, c.n_rot, tab);
        }
        A.probs.resize(n_prob);
        A.att.resize(size_t(n) * Dq);
        be_.attention_train(A.q.data(), A.k.data(), A.v.data(), I.seg_off.data(), I.seg_len.data(), I.prob_off.data(),
                            n_seg, ashape, A.att.data(), A.probs.data());
        I.y.resize(nE);
        float* y = I.y.data();
        lin_forward(be_, T.p[P_O], A.att.data(), n, y, A.u[P_O]);
        for (size_t i = 0; i < nE; i++) x[i] += y[i];
        A.h.assign(x, x + nE);
        A.rms2.resize(size_t(n));
        for (int t = 0; t < n; t++) A.rms2[size_t(t)] = ops::rmsnorm(x + size_t(t) * E, T.ffn_norm, xn + size_t(t) * E, E, c.rms_eps);
        A.gate.resize(size_t(n) * F);
        A.up.resize(size_t(n) * F);
        lin_forward(be_, T.p[P_GATE], xn, n, A.gate.data(), A.u[P_GATE]);
        lin_forward(be_, T.p[P_UP], xn, n, A.up.data(), A.u[P_UP]);
        I.dact.resize(size_t(n) * F);
        be_.swiglu_train(A.gate.data(), A.up.data(), int64_t(n) * F, I.dact.data());  // the activation (recomputed later)
        lin_forward(be_, T.p[P_DOWN], I.dact.data(), n, y, A.u[P_DOWN]);
        for (size_t i = 0; i < nE; i++) x[i] += y[i];
    }
    // Head: only the rows that predict a target.
    hd.xn.resize(size_t(m) * E);
    hd.rms.resize(size_t(m));
    for (int i = 0; i < m; i++)
        hd.rms[size_t(i)] = ops::rmsnorm(x + size_t(hd.rows[size_t(i)]) * E, I.out_norm, hd.xn.data() + size_t(i) * E, E, c.rms_eps);
    I.logits.resize(size_t(m) * size_t(V));
    lin_forward(be_, I.output, hd.xn.data(), m, I.logits.data(), hd.u);
    if (all_logits) {
        *all_logits = I.logits;
        return 0.0;
    }
    // Loss (and, for the backward, dlogits in place over the logits) of every target row.
    I.row_loss.resize(size_t(m));
    be_.cross_entropy(I.logits.data(), m, V, hd.targets.data(), loss_scale, backward, I.row_loss.data());
    double loss = 0;
    for (double l : I.row_loss) loss += l;
    if (!backward) return loss;

    // ---- backward ----
    I.dxn.resize(std::max(I.dxn.size(), size_t(m) * E));
    lin_backward(be_, I.output, hd.xn.data(), hd.u, m, I.logits.data(), I.dxn.data(), false, I.du);
    I.dx.assign(nE, 0.0f);
    for (int i = 0; i < m; i++) {
        const size_t row = size_t(hd.rows[size_t(i)]);
        ops::rmsnorm_backward(x + row * E, I.out_norm, hd.rms[size_t(i)], I.dxn.data() + size_t(i) * E,
                              I.dx.data() + row * E, I.d_out_norm, E);
    }
    I.dh.resize(nE);
    I.dxn.resize(std::max(I.dxn.size(), nE));
    I.datt.resize(size_t(n) * Dq);
    I.dq.resize(size_t(n) * Dq);
    I.dk.resize(size_t(n) * Dkv);
    I.dv.resize(size_t(n) * Dkv);
    I.dgate.resize(size_t(n) * F);
    I.dup.resize(size_t(n) * F);
    for (int il = c.n_layer - 1; il >= 0; il--) {
        const LayerT& T = I.layers[size_t(il)];
        LayerActs& A = I.acts[size_t(il)];
        // FFN block: x_out = h + down(swiglu(gate(xn2), up(xn2))), I.dx = d x_out.
        be_.swiglu_train(A.gate.data(), A.up.data(), int64_t(n) * F, I.dact.data());  // recomputed activation
        I.d_act.resize(size_t(n) * F);
        lin_backward(be_, T.p[P_DOWN], I.dact.data(), A.u[P_DOWN], n, I.dx.data(), I.d_act.data(), false, I.du);
        be_.swiglu_backward(A.gate.data(), A.up.data(), I.d_act.data(), int64_t(n) * F, I.dgate.data(), I.dup.data());
        for (int t = 0; t < n; t++)  // recomputed rmsnorm(h)
            ops::rmsnorm(A.h.data() + size_t(t) * E, T.ffn_norm, xn + size_t(t) * E, E, c.rms_eps);
        lin_backward(be_, T.p[P_GATE], xn, A.u[P_GATE], n, I.dgate.data(), I.dxn.data(), false, I.du);
        lin_backward(be_, T.p[P_UP], xn, A.u[P_UP], n, I.dup.data(), I.dxn.data(), true, I.du);
        std::copy(I.dx.begin(), I.dx.end(), I.dh.begin());  // residual: dh = dx_out + (through the norm)
        for (int t = 0; t < n; t++)
            ops::rmsnorm_backward(A.h.data() + size_t(t) * E, T.ffn_norm, A.rms2[size_t(t)], I.dxn.data() + size_t(t) * E,
                                  I.dh.data() + size_t(t) * E, T.d_ffn_norm, E);
        // Attention block: h = x + o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1))).
        lin_backward(be_, T.p[P_O], A.att.data(), A.u[P_O], n, I.dh.data(), I.datt.data(), false, I.du);
        std::fill(I.dq.begin(), I.dq.end(), 0.0f);
        std::fill(I.dk.begin(), I.dk.end(), 0.0f);
        std::fill(I.dv.begin(), I.dv.end(), 0.0f);
        be_.attention_train_backward(A.q.data(), A.k.data(), A.v.data(), A.probs.data(), I.seg_off.data(),
                                     I.seg_len.data(), I.prob_off.data(), n_seg, ashape, I.datt.data(), I.dq.data(),
                                     I.dk.data(), I.dv.data());
        for (int t = 0; t < n; t++) {
            const float* tab = cs(t, seg_of[size_t(t)]);
            ops::rope_rotate_backward(I.dq.data() + size_t(t) * Dq, c.n_head, c.head_dim, c.n_rot, tab);
            ops::rope_rotate_backward(I.dk.data() + size_t(t) * Dkv, c.n_head_kv, c.head_dim, c.n_rot, tab);
        }
        for (int t = 0; t < n; t++)  // recomputed rmsnorm(x)
            ops::rmsnorm(A.x.data() + size_t(t) * E, T.attn_norm, xn + size_t(t) * E, E, c.rms_eps);
        lin_backward(be_, T.p[P_Q], xn, A.u[P_Q], n, I.dq.data(), I.dxn.data(), false, I.du);
        lin_backward(be_, T.p[P_K], xn, A.u[P_K], n, I.dk.data(), I.dxn.data(), true, I.du);
        lin_backward(be_, T.p[P_V], xn, A.u[P_V], n, I.dv.data(), I.dxn.data(), true, I.du);
        std::copy(I.dh.begin(), I.dh.end(), I.dx.begin());
        for (int t = 0; t < n; t++)
            ops::rmsnorm_backward(A.x.data() + size_t(t) * E, T.attn_norm, A.rms1[size_t(t)], I.dxn.data() + size_t(t) * E,
                                  I.dx.data() + size_t(t) * E, T.d_attn_norm, E);
    }
    if (I.d_tok_embd) ops::embedding_backward(ids.data(), n, I.dx.data(), E, I.d_tok_embd);
    return loss;
}

double Trainer::forward_backward(const std::vector<const Sequence*>& batch, double loss_scale) {
    return run(batch, true, loss_scale, nullptr);
}
double Trainer::loss(const std::vector<const Sequence*>& batch) { return run(batch, false, 0.0, nullptr); }
std::vector<float> Trainer::logits(const std::vector<int32_t>& ids) {
    Sequence s;
    s.ids = ids;
    std::vector<float> out;
    run({&s}, false, 0.0, &out);
    return out;
}

size_t Trainer::activation_bytes(int64_t tokens, int64_t seq_len) const {
    const ModelConfig& c = model_.config();
    int64_t per_tok = 2 * c.n_embd + 2 + c.n_embd_q() * 2 + 2 * c.n_embd_kv() + 2 * c.n_ff;
    for (int p = 0; p < N_PROJ; p++) per_tok += impl_->layers.empty() ? 0 : impl_->layers[0].p[size_t(p)].r;
    const int64_t probs = tokens * c.n_head * seq_len;  // each token's row of its sequence's [L][H][L]
    return size_t((per_tok * tokens + probs) * c.n_layer) * sizeof(float);
}

double Trainer::flops_per_token(int64_t seq_len, double target_fraction) const {
    const ModelConfig& c = model_.config();
    const Impl& I = *impl_;
    double f = 0;  // multiply-adds per token, forward
    for (const Lin& l : I.layers.empty() ? std::array<Lin, N_PROJ>{} : I.layers[0].p)
        f += double(l.n_in) * double(l.n_out) + double(l.r) * double(l.n_in + l.n_out);
    f *= c.n_layer;
    f += 2.0 * double(seq_len) / 2 * c.n_embd_q() * c.n_layer;  // attention scores and sum (causal: half)
    const double head = double(c.n_embd) * double(c.n_vocab) * target_fraction;
    // backward: dx through every matmul (1x the forward), plus dW of the trained weights (LoRA: small; full: 1x).
    const double fwd = f + head;
    const double bwd = opt_.full ? 2 * fwd : fwd;
    return 2.0 * (fwd + bwd);
}

void Trainer::save(const std::string& path) const {
    OutputFile out(path);
    save(out);
}

void Trainer::save(OutputFile& file) const {
    const ModelConfig& c = model_.config();
    gguf::Writer w;
    if (opt_.full) {
        gguf::Writer out;
        for (const gguf::KV& kv : model_.file().metadata()) out.set(kv.key, kv.value);
        out.set("general.file_type", gguf::Value::make_u32(0));  // all F32
        // Every tensor of the base, replaced by its trained master copy where there is one.
        for (const gguf::TensorInfo& t : model_.file().tensors()) {
            const Param* p = nullptr;
            for (const Param& q : plist_)
                if (q.name == t.name) p = &q;
            std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
            if (p) {
                out.add_tensor_view(t.name, GgmlType::F32, ne, theta_.data() + p->offset, p->size * sizeof(float));
            } else {
                out.add_tensor_view(t.name, t.type, ne, model_.file().tensor_data(t), t.nbytes);
            }
        }
        out.write(file);
        file.commit();
        return;
    }
    w.set("general.architecture", gguf::Value::make_string(c.arch));
    w.set("general.type", gguf::Value::make_string("adapter"));
    w.set("adapter.type", gguf::Value::make_string("lora"));
    w.set("adapter.lora.alpha", gguf::Value::make_f32(opt_.lora.alpha));
    w.set("general.name", gguf::Value::make_string("slm LoRA adapter" + (c.name.empty() ? std::string() : " for " + c.name)));
    for (const Param& p : plist_)
        w.add_tensor_view(p.name, GgmlType::F32, p.ne, theta_.data() + p.offset, p.size * sizeof(float));
    w.write(file);
    file.commit();
}

}  // namespace slm::train
