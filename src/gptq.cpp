// GPTQ: the algorithm (gptq.h says what it computes) and the model driver behind `slm quantize ... GPTQ-4`.
#include "gptq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "backend.h"
#include "chat_template.h"
#include "common.h"
#include "gguf.h"
#include "input_file.h"
#include "json.h"
#include "model.h"
#include "output_file.h"
#include "ops.h"
#include "threadpool.h"
#include "tokenizer.h"

namespace slm::gptq {

namespace {

constexpr int kMaxQ = 15;  // 4 bits

Weight f32_matrix(const float* w, int64_t n_in, int64_t n_out) {
    Weight m;
    m.name = "gptq scratch";
    m.w.type = GgmlType::F32;
    m.w.data = w;
    m.w.n_in = n_in;
    m.w.n_out = n_out;
    return m;
}

// The scale and zero point of one group (GPTQ's quantizer: the range is widened to include 0, the scale is
// rounded to the stored fp16 first so that quantizing and dequantizing use the same number).
struct Grid {
    float scale = 1;
    int zero = 0;
};
Grid find_grid(const double* w, int64_t n, bool sym) {
    double lo = 0, hi = 0;
    for (int64_t i = 0; i < n; i++) lo = std::min(lo, w[i]), hi = std::max(hi, w[i]);
    if (sym) {
        hi = std::max(-lo, hi);
        if (lo < 0) lo = -hi;
    }
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    double s = (hi - lo) / kMaxQ;
    Grid g;
    g.scale = fp16_to_fp32(fp32_to_fp16(float(std::min(s, 65504.0))));
    if (!(g.scale > 0)) g.scale = fp16_to_fp32(1);  // below fp16's smallest subnormal: one ulp (2^-24)
    g.zero = sym ? (kMaxQ + 1) / 2 : int(std::clamp(std::nearbyint(-lo / g.scale), 0.0, double(kMaxQ)));
    return g;
}
int quantize_value(double w, const Grid& g) {
    return int(std::clamp(std::nearbyint(w / g.scale) + g.zero, 0.0, double(kMaxQ)));
}

void check_shape(int64_t n_out, int64_t n_in, const Options& opt) {
    if (n_out <= 0 || n_in <= 0) fail("gptq: empty matrix %lld x %lld", (long long)n_out, (long long)n_in);
    if (n_in % 8) fail("gptq: %lld input columns are not a multiple of 8", (long long)n_in);
    if (opt.group_size < 8 || opt.group_size % 8)
        fail("gptq: group size %lld is not a positive multiple of 8", (long long)opt.group_size);
    if (opt.block < 1) fail("gptq: block width %lld must be positive", (long long)opt.block);
}

Quantized empty_result(int64_t n_out, int64_t n_in, const Options& opt) {
    Quantized q;
    q.n_in = n_in;
    q.n_out = n_out;
    q.group_size = opt.group_size;
    const int64_t ng = (n_in + opt.group_size - 1) / opt.group_size;
    q.qweight.assign(size_t(n_out * (n_in / 8)), 0);
    q.scales.assign(size_t(n_out * ng), 0);
    q.zeros.assign(size_t(n_out * ng), 0);
    return q;
}

void store(Quantized& q, int64_t row, int64_t col, int v) {
    q.qweight[size_t(row * (q.n_in / 8) + col / 8)] |= uint32_t(v) << (4 * (col % 8));
}

}  // namespace

// ---- Hessian ----

void Hessian::add(const float* x, int64_t rows, Backend& be) {
    // sum_t x_t x_t^T = Xt Xt^T with Xt = X transposed (n x chunk): one f32 matmul of the backend per chunk
    // (host memory: a CPU backend).
    constexpr int64_t kChunk = 1024;
    std::vector<float> xt, prod(size_t(n_ * n_));
    for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
        const int64_t m = std::min(kChunk, rows - r0);
        xt.assign(size_t(n_ * m), 0.0f);
        for (int64_t t = 0; t < m; t++)
            for (int64_t i = 0; i < n_; i++) xt[size_t(i * m + t)] = x[(r0 + t) * n_ + i];
        be.matmul(f32_matrix(xt.data(), m, n_), xt.data(), int(n_), prod.data(), Numerics::fast);
        for (size_t i = 0; i < h_.size(); i++) h_[i] += double(prod[i]);
    }
    count_ += rows;
}

std::vector<double> Hessian::matrix() const {
    std::vector<double> h(h_);
    const double f = count_ > 0 ? 2.0 / double(count_) : 0.0;
    for (double& v : h) v *= f;
    return h;
}

// ---- algebra ----

bool cholesky(std::vector<double>& a, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double* aj = &a[size_t(j * n)];
        double d = aj[j];
        for (int64_t k = 0; k < j; k++) d -= aj[k] * aj[k];
        if (!(d > 0)) return false;
        const double ljj = std::sqrt(d);
        aj[j] = ljj;
        for (int64_t i = j + 1; i < n; i++) {
            double* ai = &a[size_t(i * n)];
            double s = ai[j];
            for (int64_t k = 0; k < j; k++) s -= ai[k] * aj[k];
            ai[j] = s / ljj;
        }
        for (int64_t k = j + 1; k < n; k++) aj[k] = 0;
    }
    return true;
}

std::vector<double> inverse_upper_factor(const std::vector<double>& h, int64_t n) {
    // H^-1 = U^T U with U upper  <=>  H = V V^T with V = U^-1 upper. Reversing the index order J turns V into
    // a lower factor: J H J = (J V J)(J V J)^T, an ordinary Cholesky. So: L = chol(J H J), U = J L^-1 J.
    std::vector<double> r(size_t(n * n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) r[size_t(i * n + j)] = h[size_t((n - 1 - i) * n + (n - 1 - j))];
    if (!cholesky(r, n)) fail("gptq: the damped Hessian is not positive definite (too few calibration tokens?)");
    // X = L^-1, row by row: X[i] = (e_i - sum_{k<i} L[i][k] X[k]) / L[i][i] (X[k] is zero beyond column k).
    std::vector<double> x(size_t(n * n), 0.0);
    for (int64_t i = 0; i < n; i++) {
        double* xi = &x[size_t(i * n)];
        const double* li = &r[size_t(i * n)];
        xi[i] = 1.0;
        for (int64_t k = 0; k < i; k++) {
            const double c = li[k];
            const double* xk = &x[size_t(k * n)];
            for (int64_t j = 0; j <= k; j++) xi[j] -= c * xk[j];
        }
        const double inv = 1.0 / li[i];
        for (int64_t j = 0; j <= i; j++) xi[j] *= inv;
    }
    std::vector<double> u(size_t(n * n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) u[size_t(i * n + j)] = x[size_t((n - 1 - i) * n + (n - 1 - j))];
    return u;
}

// ---- quantizers ----

WeightView Quantized::view() const {
    // kernels/cpu/gptq.cpp's layout: parts qweight [n_in/8, n_out] I32, scales and zeros [n_groups, n_out],
    // perm [n_in] with act-order.
    const int64_t ng = (n_in + group_size - 1) / group_size;
    WeightView w;
    w.format = WeightFormat::gptq;
    w.type = GgmlType::I32;
    w.data = qweight.data();
    w.n_in = n_in;
    w.n_out = n_out;
    w.group_size = group_size;
    w.parts[0] = {"qweight", GgmlType::I32, qweight.data(), n_in / 8, n_out};
    w.parts[1] = {"scales", GgmlType::F16, scales.data(), ng, n_out};
    w.parts[2] = {"zeros", GgmlType::I8, zeros.data(), ng, n_out};
    w.n_parts = 3;
    if (!perm.empty()) w.parts[size_t(w.n_parts++)] = {"perm", GgmlType::I32, perm.data(), n_in, 1};
    return w;
}

Quantized quantize_rtn(const float* W, int64_t n_out, int64_t n_in, const Options& opt) {
    check_shape(n_out, n_in, opt);
    Quantized q = empty_result(n_out, n_in, opt);
    const int64_t G = opt.group_size, ng = (n_in + G - 1) / G;
    std::vector<double> w(static_cast<size_t>(n_in));
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t k = 0; k < n_in; k++) w[size_t(k)] = W[o * n_in + k];
        for (int64_t g = 0; g < ng; g++) {
            const int64_t k0 = g * G, k1 = std::min(n_in, k0 + G);
            const Grid grid = find_grid(&w[size_t(k0)], k1 - k0, opt.sym);
            q.scales[size_t(o * ng + g)] = fp32_to_fp16(grid.scale);
            q.zeros[size_t(o * ng + g)] = int8_t(grid.zero);
            for (int64_t k = k0; k < k1; k++) store(q, o, k, quantize_value(w[size_t(k)], grid));
        }
    }
    return q;
}

Quantized quantize(const float* W, int64_t n_out, int64_t n_in, std::vector<double> H, const Options& opt,
                   ThreadPool& pool) {
    check_shape(n_out, n_in, opt);
    const int64_t K = n_in, G = opt.group_size, ng = (K + G - 1) / G;
    if (int64_t(H.size()) != K * K) fail("gptq: Hessian has %zu entries, expected %lld", H.size(), (long long)(K * K));
    Quantized q = empty_result(n_out, n_in, opt);

    // Columns no calibration input ever reached carry no information: zero them, give them a unit diagonal.
    std::vector<uint8_t> dead(size_t(K), 0);
    for (int64_t k = 0; k < K; k++)
        if (H[size_t(k * K + k)] == 0) dead[size_t(k)] = 1, H[size_t(k * K + k)] = 1;

    std::vector<int32_t> perm(static_cast<size_t>(K));
    std::iota(perm.begin(), perm.end(), 0);
    if (opt.act_order)
        std::stable_sort(perm.begin(), perm.end(),
                         [&](int32_t a, int32_t b) { return H[size_t(a) * size_t(K + 1)] > H[size_t(b) * size_t(K + 1)]; });
    std::vector<double> hp(size_t(K * K));
    double mean_diag = 0;
    for (int64_t i = 0; i < K; i++) {
        for (int64_t j = 0; j < K; j++) hp[size_t(i * K + j)] = H[size_t(perm[size_t(i)]) * size_t(K) + size_t(perm[size_t(j)])];
        mean_diag += hp[size_t(i * K + i)];
    }
    mean_diag /= double(K);
    for (int64_t i = 0; i < K; i++) hp[size_t(i * K + i)] += opt.damp * mean_diag;
    const std::vector<double> U = inverse_upper_factor(hp, K);
    hp.clear();
    hp.shrink_to_fit();

    std::vector<double> row_loss(size_t(n_out), 0.0);
    const int64_t B = opt.block;
    pool.parallel_for(n_out, 4, [&](int64_t r0, int64_t r1, int) {
        std::vector<double> w(static_cast<size_t>(K)), err(static_cast<size_t>(B));
        Grid grid;
        for (int64_t o = r0; o < r1; o++) {
            for (int64_t k = 0; k < K; k++) w[size_t(k)] = dead[size_t(perm[size_t(k)])] ? 0.0 : W[o * K + perm[size_t(k)]];
            double loss = 0;
            for (int64_t b1 = 0; b1 < K; b1 += B) {
                const int64_t b2 = std::min(K, b1 + B);
                for (int64_t j = b1; j < b2; j++) {
                    if (j % G == 0) {  // a new group: its grid from the columns' current (error-updated) values
                        const int64_t g = j / G;
                        grid = find_grid(&w[size_t(j)], std::min(K, j + G) - j, opt.sym);
                        q.scales[size_t(o * ng + g)] = fp32_to_fp16(grid.scale);
                        q.zeros[size_t(o * ng + g)] = int8_t(grid.zero);
                    }
                    const int v = quantize_value(w[size_t(j)], grid);
                    store(q, o, j, v);
                    const double deq = double(grid.scale) * double(v - grid.zero);
                    const double* uj = &U[size_t(j * K)];
                    const double e = (w[size_t(j)] - deq) / uj[j];
                    loss += (w[size_t(j)] - deq) * (w[size_t(j)] - deq) / (uj[j] * uj[j]) / 2;
                    for (int64_t k = j + 1; k < b2; k++) w[size_t(k)] -= e * uj[k];
                    err[size_t(j - b1)] = e;
                }
                // The lazy update of the columns after the block, by the block's errors.
                for (int64_t j = b1; j < b2; j++) {
                    const double e = err[size_t(j - b1)];
                    const double* uj = &U[size_t(j * K)];
                    for (int64_t k = b2; k < K; k++) w[size_t(k)] -= e * uj[k];
                }
            }
            row_loss[size_t(o)] = loss;
        }
    });
    for (double l : row_loss) q.loss += l;
    if (opt.act_order) q.perm = std::move(perm);
    return q;
}

// ---- the model driver ----

namespace {

// A weight matrix as row-major floats (dequantized from whatever type the file holds).
std::vector<float> to_f32(const WeightView& w) {
    std::vector<float> out(size_t(w.n_in * w.n_out));
    for (int64_t r = 0; r < w.n_out; r++) codec::dequantize_weight_row(w, r, &out[size_t(r * w.n_in)]);
    return out;
}

// The first n_max calibration conversations, rendered with the model's chat template (chat_template.h: the
// family recognized in tokenizer.chat_template, as eval and chat render them), each cut to max_tokens.
std::vector<std::vector<int32_t>> read_calibration(const std::string& path, const Tokenizer& tok,
                                                   const std::string& template_text, int n_max, int max_tokens) {
    const chat::Template tmpl = chat::resolve(tok, template_text);
    const std::string text = read_input_file(path, "a JSONL calibration file (the messages format of slm gen-data)");
    std::vector<std::vector<int32_t>> seqs;
    for (const json::JsonlLine& jl : json::jsonl_lines(text)) {  // the JSONL rule (BOM, blank lines)
        if (int(seqs.size()) >= n_max) break;
        const int line_no = int(jl.line_no);
        const std::string_view line = jl.text;
        json::Value v;
        try {
            v = json::parse(line);
        } catch (const Error& e) {
            fail("%s:%d: %s", path.c_str(), line_no, e.what());
        }
        const json::Value* m = v.is_object() ? v.find("messages") : nullptr;
        if (!m || !m->is_array() || m->as_array().empty())
            fail("%s:%d: expected an object with a non-empty \"messages\" array (the format of slm gen-data)",
                 path.c_str(), line_no);
        std::vector<chat::Message> msgs;
        for (const json::Value& e : m->as_array()) {
            const json::Value* role = e.is_object() ? e.find("role") : nullptr;
            const json::Value* content = e.is_object() ? e.find("content") : nullptr;
            if (!role || !content || !role->is_string() || !content->is_string())
                fail("%s:%d: every message needs string fields \"role\" and \"content\"", path.c_str(), line_no);
            msgs.push_back({role->as_string(), content->as_string()});
        }
        std::vector<int32_t> ids = chat::render(tok, tmpl, msgs, false).ids;
        if (int(ids.size()) > max_tokens) ids.resize(static_cast<size_t>(max_tokens));
        if (ids.size() >= 2) seqs.push_back(std::move(ids));
    }
    if (seqs.empty()) fail("%s: no calibration messages", path.c_str());
    return seqs;
}

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

}  // namespace

ModelResult quantize_model(const std::string& in_path, const std::string& out_path, const ModelOptions& opt,
                           ThreadPool& pool) {
    const auto t0 = std::chrono::steady_clock::now();
    check_shape(1, 8, opt.gptq);
    if (opt.calib_n < 1 || opt.calib_n > 1000000) fail("--calib-n %d: expected 1..1000000", opt.calib_n);
    OutputFile out(out_path);  // before the work: a bad target fails now, not after the calibration
    std::unique_ptr<Backend> be = make_cpu_backend(pool);
    std::unique_ptr<Model> model = Model::load(in_path, *be);
    const ModelConfig& c = model->config();
    for (const LayerWeights& L : model->layers())
        for (const Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
            if (w->w.format != WeightFormat::ggml)
                fail("%s: tensor %s is already GPTQ; quantize from the float model", in_path.c_str(), w->name.c_str());
            if (!is_float_type(w->w.type) && !opt.allow_requantize)
                fail("%s: tensor %s is %s; GPTQ starts from F32/F16/BF16 weights (or pass --allow-requantize)",
                     in_path.c_str(), w->name.c_str(), type_name(w->w.type));
            if (w->w.n_in % 8) fail("%s: tensor %s: %lld input columns are not a multiple of 8", in_path.c_str(),
                                    w->name.c_str(), (long long)w->w.n_in);
        }

    const std::vector<std::vector<int32_t>> seqs =
        read_calibration(opt.calib_path, model->tokenizer(), model->file().get_string("tokenizer.chat_template", ""),
                         opt.calib_n, std::min(opt.max_tokens, c.n_ctx_train));
    // Messages share their system prompt, and under causal attention a shared prefix has the same activations
    // in every message: each message after the first keeps only the rows past its common prefix with the
    // first one (`shared`), and its attention reads the first message's keys and values for that prefix. The
    // Hessians thus count every distinct prefix once (300 copies of the system prompt would outweigh the
    // shoppers' messages) and the forward pass runs on distinct tokens only.
    std::vector<size_t> shared(seqs.size(), 0);
    std::vector<int64_t> off(seqs.size() + 1, 0);
    for (size_t s = 0; s < seqs.size(); s++) {
        if (s > 0) {
            size_t n = 0;
            while (n < seqs[s].size() && n < seqs[0].size() && seqs[s][n] == seqs[0][n]) n++;
            shared[s] = std::min(n, seqs[s].size());
        }
        off[s + 1] = off[s] + int64_t(seqs[s].size() - shared[s]);
    }
    const int64_t T = off.back(), E = c.n_embd, Dq = c.n_embd_q(), Dkv = c.n_embd_kv(), F = c.n_ff;
    ModelResult res;
    res.n_messages = int(seqs.size());
    for (const auto& sq : seqs) res.n_tokens += int64_t(sq.size());
    res.n_distinct = T;
    auto hessian = [&](const float* x, int64_t n) {
        Hessian hs(n);
        hs.add(x, T, *be);
        return hs.matrix();
    };

    // The residual stream of every calibration row, after the layers quantized so far.
    std::vector<float> h(size_t(T * E)), x(size_t(T * std::max(E, Dq))), qb(size_t(T * Dq)), kb(size_t(T * Dkv)),
        vb(size_t(T * Dkv)), att(size_t(T * Dq)), gate(size_t(T * F)), up(size_t(T * F)), tmp(size_t(T * E));
    for (size_t s = 0; s < seqs.size(); s++)
        for (size_t t = shared[s]; t < seqs[s].size(); t++) {
            const int32_t id = seqs[s][t];
            if (id < 0 || id >= c.n_vocab) fail("calibration token %d out of range", int(id));
            codec::dequantize_weight_row(model->tok_embd(), id, &h[size_t((off[s] + int64_t(t - shared[s])) * E)]);
        }
    const std::vector<double> inv_freq = ops::rope_inv_freq(c.n_rot, c.rope_freq_base, model->rope_freqs());
    const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};

    std::vector<std::pair<std::string, Quantized>> done;  // by tensor name
    const int n_mat = 7 * c.n_layer;
    auto progress = [&](int il, const char* what) {
        if (!opt.progress) return;
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int n = int(done.size());
        const double eta = n > 0 ? el / n * (n_mat - n) : 0;
        std::fprintf(stderr, "\rgptq: layer %d/%d %-9s %d/%d matrices, %lld tokens, %.2f matrices/s, ETA %.0fs   ",
                     il + 1, c.n_layer, what, n, n_mat, (long long)T, el > 0 ? n / el : 0.0, eta);
        std::fflush(stderr);
    };
    // GPTQ of one weight on the Hessian of its input; returns the dequantized weight (what later layers see).
    auto quantize_weight = [&](const Weight& w, const std::vector<double>& H) {
        const std::vector<float> wf = to_f32(w.w);
        Quantized qz = opt.rtn ? quantize_rtn(wf.data(), w.w.n_out, w.w.n_in, opt.gptq)
                               : quantize(wf.data(), w.w.n_out, w.w.n_in, H, opt.gptq, pool);
        std::vector<float> deq(wf.size());
        const WeightView v = qz.view();
        for (int64_t r = 0; r < v.n_out; r++) codec::dequantize_weight_row(v, r, &deq[size_t(r * v.n_in)]);
        std::string base = w.name;
        if (base.size() > 7 && base.compare(base.size() - 7, 7, ".weight") == 0) base.resize(base.size() - 7);
        done.push_back({base, std::move(qz)});
        return deq;
    };
    auto linear = [&](const std::vector<float>& w, int64_t n_in, int64_t n_out, const float* in, float* out) {
        be->matmul(f32_matrix(w.data(), n_in, n_out), in, int(T), out, Numerics::fast);
    };
    auto rmsnorm_all = [&](const std::vector<float>& wn, float* out) {
        pool.parallel_for(T, 64, [&](int64_t a, int64_t b, int) {
            for (int64_t t = a; t < b; t++) ops::rmsnorm(&h[size_t(t * E)], wn.data(), out + t * E, int(E), c.rms_eps);
        });
    };

    for (int il = 0; il < c.n_layer; il++) {
        const LayerWeights& L = model->layers()[size_t(il)];
        // attention: q, k, v on rmsnorm(h)
        progress(il, "attn_qkv");
        rmsnorm_all(L.attn_norm, x.data());
        const std::vector<double> H1 = hessian(x.data(), E);
        linear(quantize_weight(L.wq, H1), E, Dq, x.data(), qb.data());
        linear(quantize_weight(L.wk, H1), E, Dkv, x.data(), kb.data());
        linear(quantize_weight(L.wv, H1), E, Dkv, x.data(), vb.data());
        pool.parallel_for(int64_t(seqs.size()), 1, [&](int64_t a, int64_t b, int) {
            for (int64_t s = a; s < b; s++) {
                const int p0 = int(shared[size_t(s)]), n = int(off[size_t(s) + 1] - off[size_t(s)]);
                const int64_t r0 = off[size_t(s)];
                for (int t = 0; t < n; t++) {
                    ops::rope(&qb[size_t((r0 + t) * Dq)], c.n_head, c.head_dim, c.n_rot, p0 + t, inv_freq.data());
                    ops::rope(&kb[size_t((r0 + t) * Dkv)], c.n_head_kv, c.head_dim, c.n_rot, p0 + t, inv_freq.data());
                }
            }
        });
        pool.parallel_for(int64_t(seqs.size()), 1, [&](int64_t a, int64_t b, int) {
            std::vector<float> kc, vc;
            for (int64_t s = a; s < b; s++) {
                const size_t p0 = shared[size_t(s)];
                const int64_t r0 = off[size_t(s)], n = off[size_t(s) + 1] - r0;
                // keys/values: the first message's rows for the shared prefix, then this message's own
                kc.assign(kb.begin(), kb.begin() + int64_t(p0) * Dkv);
                vc.assign(vb.begin(), vb.begin() + int64_t(p0) * Dkv);
                kc.insert(kc.end(), kb.begin() + r0 * Dkv, kb.begin() + (r0 + n) * Dkv);
                vc.insert(vc.end(), vb.begin() + r0 * Dkv, vb.begin() + (r0 + n) * Dkv);
                ops::attention(&qb[size_t(r0 * Dq)], kc.data(), vc.data(), int(n), int(p0), shape, &att[size_t(r0 * Dq)]);
            }
        });
        progress(il, "attn_out");
        linear(quantize_weight(L.wo, hessian(att.data(), Dq)), Dq, E, att.data(), tmp.data());
        for (size_t i = 0; i < h.size(); i++) h[i] += tmp[i];
        // feed-forward: gate, up on rmsnorm(h), then down on swiglu
        progress(il, "ffn_gate");
        rmsnorm_all(L.ffn_norm, x.data());
        const std::vector<double> H3 = hessian(x.data(), E);
        linear(quantize_weight(L.w_gate, H3), E, F, x.data(), gate.data());
        linear(quantize_weight(L.w_up, H3), E, F, x.data(), up.data());
        ops::swiglu(gate.data(), up.data(), gate.data(), T * F);
        progress(il, "ffn_down");
        linear(quantize_weight(L.w_down, hessian(gate.data(), F)), F, E, gate.data(), tmp.data());
        for (size_t i = 0; i < h.size(); i++) h[i] += tmp[i];
    }
    progress(c.n_layer - 1, "done");
    res.first_ids = seqs[0];
    res.first_hidden.assign(h.begin(), h.begin() + int64_t(seqs[0].size()) * E);
    if (opt.progress) std::fprintf(stderr, "\n");

    // The output file: every input tensor in order, each quantized matrix replaced by its parts.
    const gguf::File& in = model->file();
    gguf::Writer w;
    for (const gguf::KV& kv : in.metadata()) w.set(kv.key, kv.value);
    w.remove("general.file_type");  // no ggml file type describes GPTQ
    for (const char* k : {"split.no", "split.count", "split.tensors.count"}) w.remove(k);
    w.set("slm.gptq.bits", gguf::Value::make_u32(4));
    w.set("slm.gptq.group_size", gguf::Value::make_u32(uint32_t(opt.gptq.group_size)));
    w.set("slm.gptq.act_order", gguf::Value::make_bool(opt.gptq.act_order));
    w.set("slm.gptq.sym", gguf::Value::make_bool(opt.gptq.sym));
    auto bytes_of = [](const auto& v) {
        std::vector<uint8_t> b(v.size() * sizeof(v[0]));
        std::memcpy(b.data(), v.data(), b.size());
        return b;
    };
    for (const gguf::TensorInfo& ti : in.tensors()) {
        res.bytes_in += ti.nbytes;
        auto it = std::find_if(done.begin(), done.end(), [&](const auto& d) { return d.first + ".weight" == ti.name; });
        if (it == done.end()) {
            std::vector<int64_t> ne(ti.ne.begin(), ti.ne.begin() + std::max<uint32_t>(ti.n_dims, 1));
            w.add_tensor_view(ti.name, ti.type, ne, in.tensor_data(ti), ti.nbytes);
            res.bytes_out += ti.nbytes;
            continue;
        }
        const Quantized& qz = it->second;
        const int64_t ng = (qz.n_in + qz.group_size - 1) / qz.group_size;
        const std::string& b = it->first;
        res.bytes_out += qz.qweight.size() * 4 + qz.scales.size() * 2 + qz.zeros.size() + qz.perm.size() * 4;
        w.add_tensor(b + ".qweight", GgmlType::I32, {qz.n_in / 8, qz.n_out}, bytes_of(qz.qweight));
        w.add_tensor(b + ".scales", GgmlType::F16, {ng, qz.n_out}, bytes_of(qz.scales));
        w.add_tensor(b + ".zeros", GgmlType::I8, {ng, qz.n_out}, bytes_of(qz.zeros));
        if (!qz.perm.empty()) w.add_tensor(b + ".perm", GgmlType::I32, {qz.n_in}, bytes_of(qz.perm));
        res.n_matrices++;
    }
    w.write(out);
    out.commit();
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

}  // namespace slm::gptq
