// Every CUDA kernel against the CPU reference (kernels/cpu/gptq.cpp, src/ops.cpp, double-precision products)
// on random inputs of awkward shapes, outputs poisoned with NaN first so an unwritten element fails; then a
// whole random Llama on the GPU (FP16 and GPTQ-4, prefill, single-token eval and the captured decode graph)
// against a CPU forward built from the reference ops on the same weights: logits within 1e-2.
// Then the CUDA backend through Context (what `slm --gpu` runs) against the CPU backend on the same GGUF files:
// a random model quantized to ggml types the GPU computes dequantized, logits within 1e-2.
// Without a GPU it prints "skipped" and exits 0 (CI has none). Run: build/slm-gpu-tests.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "cpu/gptq.h"
#include "cpu/kernels.h"
#include "forward.h"
#include "model.h"
#include "quantize.h"
#include "synth.h"
#include "threadpool.h"
#include "cuda/decode.h"
#include "cuda/kernels.cuh"
#include "gptq.h"
#include "ops.h"
#include "types.h"

using namespace slm;

namespace {

int g_fail = 0, g_pass = 0;
std::mt19937 rng(20261202);

void check(bool ok, const std::string& what) {
    if (ok) g_pass++;
    else {
        g_fail++;
        std::printf("FAIL: %s\n", what.c_str());
    }
}

template <typename T>
struct Dev {
    T* p = nullptr;
    size_t n = 0;
    explicit Dev(size_t n_) : n(n_) { SLM_CUDA(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T))); }
    Dev(const std::vector<T>& h) : Dev(h.size()) { SLM_CUDA(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice)); }
    ~Dev() { cudaFree(p); }
    std::vector<T> get() const {
        std::vector<T> h(n);
        SLM_CUDA(cudaDeviceSynchronize());
        SLM_CUDA(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
        return h;
    }
    void poison() { SLM_CUDA(cudaMemset(p, 0xff, n * sizeof(T))); }  // NaN for float, -1 for ints
};

std::vector<float> randn(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (float& f : v) f = nd(rng);
    return v;
}
std::vector<uint16_t> to_f16(const std::vector<float>& v) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); i++) h[i] = fp32_to_fp16(v[i]);
    return h;
}
float f16r(float v) { return fp16_to_fp32(fp32_to_fp16(v)); }

// Largest |got - ref| relative to the sum of |terms| (mag) of each output, and whether every output was written.
struct Cmp {
    double worst = 0;
    bool all_written = true;
    void add(double got, double ref, double mag) {
        if (!std::isfinite(got)) all_written = false;
        worst = std::max(worst, std::fabs(got - ref) / std::max(mag, 1e-30));
    }
};

gptq::Quantized random_gptq(int n_out, int n_in, int g, bool act) {
    std::vector<float> w = randn(size_t(n_out) * n_in, 0.05f);
    gptq::Options o;
    o.group_size = g;
    gptq::Quantized q = gptq::quantize_rtn(w.data(), n_out, n_in, o);
    if (act) {
        q.perm.resize(static_cast<size_t>(n_in));
        std::iota(q.perm.begin(), q.perm.end(), 0);
        std::shuffle(q.perm.begin(), q.perm.end(), rng);
    }
    return q;
}

struct DevGptq {
    Dev<uint32_t> qw;
    Dev<uint16_t> sc;
    Dev<int8_t> z;
    Dev<int32_t> perm;
    cuda::GptqDev d;
    explicit DevGptq(const gptq::Quantized& q)
        : qw(q.qweight), sc(q.scales), z(q.zeros), perm(q.perm.empty() ? std::vector<int32_t>{0} : q.perm) {
        d.qweight = qw.p, d.scales = reinterpret_cast<const __half*>(sc.p), d.zeros = z.p;
        d.perm = q.perm.empty() ? nullptr : perm.p;
        d.n_in = int(q.n_in), d.n_out = int(q.n_out), d.group_size = int(q.group_size);
        d.n_groups = int((q.n_in + q.group_size - 1) / q.group_size);
    }
};

void test_gemv_int4() {
    struct S {
        int n_out, n_in, g;
        bool act;
    };
    for (S s : {S{1, 32, 32, false}, S{37, 96, 32, true}, S{300, 576, 128, false}, S{300, 576, 128, true},
                S{1000, 2048, 128, true}, S{77, 8192, 128, false}, S{4099, 256, 64, false}}) {
        const gptq::Quantized q = random_gptq(s.n_out, s.n_in, s.g, s.act);
        const WeightView v = q.view();
        DevGptq dq(q);
        const std::vector<float> x = randn(static_cast<size_t>(s.n_in));
        Dev<float> dx(x), dy(static_cast<size_t>(s.n_out));
        dy.poison();
        cuda::gemv_int4(dq.d, dx.p, dy.p, nullptr);
        const std::vector<float> y = dy.get();
        Cmp c;
        std::vector<float> row(static_cast<size_t>(s.n_in));
        for (int o = 0; o < s.n_out; o++) {
            kernels::gptq_dequantize_row(v, o, row.data());
            double mag = 0;
            for (int k = 0; k < s.n_in; k++) mag += std::fabs(double(row[size_t(k)]) * x[size_t(k)]);
            c.add(y[size_t(o)], kernels::gptq_dot_reference(v, o, x.data()), mag);
        }
        char buf[160];
        std::snprintf(buf, sizeof buf, "gemv_int4 %dx%d g%d%s: rel err %.2e", s.n_out, s.n_in, s.g,
                      s.act ? " act-order" : "", c.worst);
        check(c.all_written && c.worst < 2e-3, buf);
    }
}

void test_gemv_f16() {
    for (auto [n_out, n_in] : std::vector<std::pair<int, int>>{{1, 8}, {37, 200}, {513, 2048}, {33, 8192}, {3001, 64}}) {
        const std::vector<uint16_t> w = to_f16(randn(size_t(n_out) * n_in, 0.05f));
        const std::vector<float> x = randn(static_cast<size_t>(n_in));
        Dev<uint16_t> dw(w);
        Dev<float> dx(x), dy(static_cast<size_t>(n_out));
        dy.poison();
        cuda::gemv_f16(reinterpret_cast<const __half*>(dw.p), n_in, n_out, dx.p, dy.p, nullptr);
        const std::vector<float> y = dy.get();
        Cmp c;
        for (int o = 0; o < n_out; o++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < n_in; k++) {
                const double t = double(fp16_to_fp32(w[size_t(o) * n_in + k])) * x[size_t(k)];
                ref += t, mag += std::fabs(t);
            }
            c.add(y[size_t(o)], ref, mag);
        }
        check(c.all_written && c.worst < 1e-5, "gemv_f16 " + std::to_string(n_out) + "x" + std::to_string(n_in) +
                                                   ": rel err " + std::to_string(c.worst));
    }
}

// The fused GEMV modes of both formats against the reference ops on the dequantized matrix: y = W (rmsnorm(x)
// * norm_w) (ops::rmsnorm), y = y0 + W x, and the attention's [q | k | v] with RoPE applied (ops::rope, partial
// rotation) and k, v stored as fp16 at the position read from device memory (every other cache position must
// stay untouched: poisoned before, poisoned after).
void test_gemv_fused() {
    struct S {
        int E, g;
        bool act;
    };
    for (S sh : {S{288, 96, true}, S{2048, 128, false}}) {
        const int E = sh.E, n_head = 3, n_kv = 2, hd = 32, n_rot = 24, n_ctx = 7, pos = 5;
        const int Dq = n_head * hd, Dkv = n_kv * hd, N = Dq + 2 * Dkv;
        const std::vector<float> x = randn(size_t(E), 3.0f), y0 = randn(size_t(N));
        std::vector<float> nw = randn(size_t(E), 0.2f);
        for (float& f : nw) f += 1.0f;
        std::vector<float> xn(static_cast<size_t>(E));
        ops::rmsnorm(x.data(), nw.data(), xn.data(), E, 1e-5f);
        const std::vector<double> inv = ops::rope_inv_freq(n_rot, 500000.0f, {});
        Dev<float> dx(x), dnw(nw), dy(static_cast<size_t>(N));
        Dev<double> dinv(inv);
        Dev<int> dpos(std::vector<int>{pos});
        Dev<uint16_t> dkc(size_t(n_ctx) * Dkv), dvc(size_t(n_ctx) * Dkv);
        for (int fmt = 0; fmt < 2; fmt++) {  // 0: GPTQ-4, 1: fp16
            std::vector<float> W(size_t(N) * E);
            gptq::Quantized q = random_gptq(N, E, sh.g, sh.act);
            std::vector<uint16_t> w16;
            if (fmt == 0) {
                for (int o = 0; o < N; o++) kernels::gptq_dequantize_row(q.view(), o, &W[size_t(o) * E]);
            } else {
                w16 = to_f16(randn(size_t(N) * E, 0.05f));
                for (size_t i = 0; i < W.size(); i++) W[i] = fp16_to_fp32(w16[i]);
            }
            DevGptq dq(q);
            Dev<uint16_t> dw16(fmt == 1 ? w16 : std::vector<uint16_t>{0});
            auto run = [&](const float* in, float* out, cuda::GemvInput gi, cuda::GemvOutput go, const cuda::GemvFuse& f) {
                if (fmt == 0) cuda::gemv_int4(dq.d, in, out, nullptr, gi, go, f);
                else cuda::gemv_f16(reinterpret_cast<const __half*>(dw16.p), E, N, in, out, nullptr, gi, go, f);
            };
            // ref[o] = sum_k W[o][k] v[k] in double; mag[o] the sum of |terms|
            auto ref_of = [&](const std::vector<float>& v, std::vector<double>& ref, std::vector<double>& mag) {
                ref.assign(size_t(N), 0.0), mag.assign(size_t(N), 0.0);
                for (int o = 0; o < N; o++)
                    for (int k = 0; k < E; k++) {
                        const double t = double(W[size_t(o) * E + k]) * v[size_t(k)];
                        ref[size_t(o)] += t, mag[size_t(o)] += std::fabs(t);
                    }
            };
            const double tol = fmt == 0 ? 2e-3 : 1e-5;
            const std::string name = std::string(fmt == 0 ? "gemv_int4" : "gemv_f16") + " fused " + std::to_string(N) +
                                     "x" + std::to_string(E) + (fmt == 0 && sh.act ? " act-order" : "");
            std::vector<double> ref, mag;
            cuda::GemvFuse f;
            f.norm_w = dnw.p, f.eps = 1e-5f;
            {  // rmsnorm input, store
                ref_of(xn, ref, mag);
                dy.poison();
                run(dx.p, dy.p, cuda::GemvInput::rmsnorm, cuda::GemvOutput::store, f);
                const std::vector<float> y = dy.get();
                Cmp c;
                for (int o = 0; o < N; o++) c.add(y[size_t(o)], ref[size_t(o)], mag[size_t(o)]);
                check(c.all_written && c.worst < tol, name + " rmsnorm input: rel err " + std::to_string(c.worst));
            }
            {  // plain input, add
                ref_of(x, ref, mag);
                Dev<float> dy0(y0);
                run(dx.p, dy0.p, cuda::GemvInput::plain, cuda::GemvOutput::add, f);
                const std::vector<float> y = dy0.get();
                Cmp c;
                for (int o = 0; o < N; o++)
                    c.add(y[size_t(o)], ref[size_t(o)] + y0[size_t(o)], mag[size_t(o)] + std::fabs(y0[size_t(o)]));
                check(c.all_written && c.worst < tol, name + " add output: rel err " + std::to_string(c.worst));
            }
            {  // rmsnorm input, RoPE + KV cache output
                ref_of(xn, ref, mag);
                std::vector<float> rq(static_cast<size_t>(N));
                for (int o = 0; o < N; o++) rq[size_t(o)] = float(ref[size_t(o)]);
                ops::rope(rq.data(), n_head, hd, n_rot, pos, inv.data());
                ops::rope(rq.data() + Dq, n_kv, hd, n_rot, pos, inv.data());
                dy.poison(), dkc.poison(), dvc.poison();
                f.n_head = n_head, f.n_kv = n_kv, f.hd = hd, f.n_rot = n_rot, f.pos0 = 0, f.pos_dev = dpos.p;
                f.inv_freq = dinv.p;
                f.k_cache = reinterpret_cast<__half*>(dkc.p), f.v_cache = reinterpret_cast<__half*>(dvc.p);
                run(dx.p, dy.p, cuda::GemvInput::rmsnorm, cuda::GemvOutput::rope_kv, f);
                const std::vector<float> y = dy.get();
                const std::vector<uint16_t> kc = dkc.get(), vc = dvc.get();
                Cmp cq, ckv;
                bool others_untouched = true;
                for (int o = 0; o < N; o++) {
                    const double pm = mag[size_t(o & ~1)] + mag[size_t(o | 1)];  // a rotated pair mixes two rows
                    if (o < Dq) cq.add(y[size_t(o)], rq[size_t(o)], pm);
                    else {
                        const uint16_t got = o < Dq + Dkv ? kc[size_t(pos) * Dkv + size_t(o - Dq)] : vc[size_t(pos) * Dkv + size_t(o - Dq - Dkv)];
                        ckv.add(fp16_to_fp32(got), rq[size_t(o)], pm);
                    }
                }
                for (int t = 0; t < n_ctx; t++)
                    for (int i = 0; i < Dkv && t != pos; i++)
                        others_untouched = others_untouched && kc[size_t(t) * Dkv + size_t(i)] == 0xffff && vc[size_t(t) * Dkv + size_t(i)] == 0xffff;
                check(cq.all_written && cq.worst < tol, name + " rope_kv q: rel err " + std::to_string(cq.worst));
                check(ckv.all_written && ckv.worst < tol + 1e-3 && others_untouched,
                      name + " rope_kv k,v cache: rel err " + std::to_string(ckv.worst) + (others_untouched ? "" : ", other positions written"));
            }
            {  // bad combinations are refused
                bool threw = false;
                try {
                    run(dx.p, dy.p, cuda::GemvInput::plain, cuda::GemvOutput::rope_kv, f);
                } catch (const std::runtime_error&) {
                    threw = true;
                }
                check(threw, name + ": rope_kv without rmsnorm input refused");
            }
        }
    }
}

void test_gemm_and_dequant() {
    struct S {
        int n, N, K;
    };
    for (S s : {S{1, 5, 8}, S{17, 70, 40}, S{64, 64, 64}, S{130, 200, 264}, S{3, 1000, 576}}) {
        const std::vector<uint16_t> w = to_f16(randn(size_t(s.N) * s.K, 0.05f));
        const std::vector<float> x = randn(size_t(s.n) * s.K);
        Dev<uint16_t> dw(w);
        Dev<float> dx(x), dy(size_t(s.n) * s.N);
        Dev<uint16_t> xh(size_t(s.n) * s.K);
        dy.poison();
        cuda::gemm_f16(reinterpret_cast<const __half*>(dw.p), s.K, s.N, dx.p, s.n, dy.p, reinterpret_cast<__half*>(xh.p),
                       nullptr);
        const std::vector<float> y = dy.get();
        Cmp c;
        for (int t = 0; t < s.n; t++)
            for (int o = 0; o < s.N; o++) {
                double ref = 0, mag = 0;
                for (int k = 0; k < s.K; k++) {
                    const double a = double(fp16_to_fp32(w[size_t(o) * s.K + k])) * f16r(x[size_t(t) * s.K + k]);
                    ref += a, mag += std::fabs(a);
                }
                c.add(y[size_t(t) * s.N + o], ref, mag);
            }
        check(c.all_written && c.worst < 1e-5, "gemm_f16 n=" + std::to_string(s.n) + " " + std::to_string(s.N) + "x" +
                                                   std::to_string(s.K) + ": rel err " + std::to_string(c.worst));
    }
    for (bool act : {false, true}) {
        const gptq::Quantized q = random_gptq(45, 576, 128, act);
        DevGptq dq(q);
        Dev<uint16_t> out(size_t(45) * 576);
        out.poison();
        cuda::gptq_dequantize_f16(dq.d, reinterpret_cast<__half*>(out.p), nullptr);
        const std::vector<uint16_t> h = out.get();
        std::vector<float> row(576);
        bool same = true;
        for (int o = 0; o < 45; o++) {
            kernels::gptq_dequantize_row(q.view(), o, row.data());
            for (int k = 0; k < 576; k++) same = same && h[size_t(o) * 576 + k] == fp32_to_fp16(row[size_t(k)]);
        }
        check(same, std::string("gptq_dequantize_f16 equals the reference rounded to fp16") + (act ? " (act-order)" : ""));
        // The GPTQ embedding lookup.
        const std::vector<int32_t> ids = {44, 0, 7, 7};
        Dev<int32_t> did(ids);
        Dev<float> dx(4 * 576);
        dx.poison();
        cuda::embed_gptq(dq.d, did.p, 4, dx.p, nullptr);
        const std::vector<float> x = dx.get();
        same = true;
        for (int t = 0; t < 4; t++) {
            kernels::gptq_dequantize_row(q.view(), ids[size_t(t)], row.data());
            for (int k = 0; k < 576; k++) same = same && std::fabs(x[size_t(t) * 576 + k] - row[size_t(k)]) <= 1e-6f * std::fabs(row[size_t(k)]);
        }
        check(same, std::string("embed_gptq equals the reference rows") + (act ? " (act-order)" : ""));
    }
}

void test_attention() {
    struct S {
        int n, pos0, n_head, n_kv, hd;
    };
    for (S s : {S{1, 0, 4, 4, 64}, S{1, 100, 8, 2, 64}, S{7, 5, 6, 3, 48}, S{33, 0, 4, 1, 128}}) {
        const int n_ctx = s.pos0 + s.n + 3, dq = s.n_head * s.hd, dkv = s.n_kv * s.hd, n_all = s.pos0 + s.n;
        std::vector<float> q = randn(size_t(s.n) * dq), k = randn(size_t(n_all) * dkv), v = randn(size_t(n_all) * dkv);
        for (float& f : k) f = f16r(f);
        for (float& f : v) f = f16r(f);
        std::vector<float> kpad(size_t(n_ctx) * dkv, 0.0f), vpad(kpad);
        std::copy(k.begin(), k.end(), kpad.begin());
        std::copy(v.begin(), v.end(), vpad.begin());
        Dev<uint16_t> kc(to_f16(kpad)), vc(to_f16(vpad));
        Dev<float> dq_(q), dout(size_t(s.n) * dq);
        Dev<int> dpos(std::vector<int>{s.pos0});
        for (bool from_dev : {false, true}) {
            dout.poison();
            cuda::attention(dq_.p, reinterpret_cast<const __half*>(kc.p), reinterpret_cast<const __half*>(vc.p), s.n,
                            from_dev ? -1000 : s.pos0, from_dev ? dpos.p : nullptr, s.n_head, s.n_kv, s.hd, n_ctx, dout.p,
                            nullptr);
            const std::vector<float> out = dout.get();
            std::vector<float> ref(size_t(s.n) * dq);
            ops::attention(q.data(), k.data(), v.data(), s.n, s.pos0, AttentionShape{s.n_head, s.n_kv, s.hd}, ref.data());
            Cmp c;
            for (size_t i = 0; i < ref.size(); i++) c.add(out[i], ref[i], 1.0);
            check(c.all_written && c.worst < 1e-4, "attention n=" + std::to_string(s.n) + " pos0=" + std::to_string(s.pos0) +
                                                       " heads " + std::to_string(s.n_head) + "/" + std::to_string(s.n_kv) +
                                                       " hd " + std::to_string(s.hd) + (from_dev ? " (pos on device)" : "") +
                                                       ": abs err " + std::to_string(c.worst));
        }
    }
}

void test_elementwise() {
    for (int d : {33, 576, 2048}) {
        const int n = 3;
        const std::vector<float> x = randn(size_t(n) * d, 3.0f), w = randn(static_cast<size_t>(d));
        Dev<float> dx(x), dw(w), dout(size_t(n) * d);
        dout.poison();
        cuda::rmsnorm(dx.p, dw.p, n, d, 1e-5f, dout.p, nullptr);
        const std::vector<float> out = dout.get();
        std::vector<float> ref(static_cast<size_t>(d));
        Cmp c;
        for (int t = 0; t < n; t++) {
            ops::rmsnorm(&x[size_t(t) * d], w.data(), ref.data(), d, 1e-5f);
            for (int i = 0; i < d; i++) c.add(out[size_t(t) * d + i], ref[size_t(i)], std::fabs(ref[size_t(i)]) + 1e-3);
        }
        check(c.all_written && c.worst < 1e-5, "rmsnorm d=" + std::to_string(d) + ": rel err " + std::to_string(c.worst));
    }
    {  // rope, partial rotation (n_rot < hd), positions from a device scalar
        const int n = 4, n_head = 3, n_kv = 1, hd = 64, n_rot = 48, pos0 = 1000;
        const std::vector<double> inv = ops::rope_inv_freq(n_rot, 500000.0f, {});
        std::vector<float> q = randn(size_t(n) * n_head * hd), k = randn(size_t(n) * n_kv * hd);
        Dev<float> dq(q), dk(k);
        Dev<double> dinv(inv);
        Dev<int> dpos(std::vector<int>{pos0});
        cuda::rope(dq.p, n_head, dk.p, n_kv, hd, n_rot, n, 0, dpos.p, dinv.p, nullptr);
        const std::vector<float> gq = dq.get(), gk = dk.get();
        Cmp c;
        for (int t = 0; t < n; t++) {
            ops::rope(&q[size_t(t) * n_head * hd], n_head, hd, n_rot, pos0 + t, inv.data());
            ops::rope(&k[size_t(t) * n_kv * hd], n_kv, hd, n_rot, pos0 + t, inv.data());
        }
        for (size_t i = 0; i < q.size(); i++) c.add(gq[i], q[i], 1.0);
        for (size_t i = 0; i < k.size(); i++) c.add(gk[i], k[i], 1.0);
        check(c.worst < 1e-5, "rope (partial, pos on device): abs err " + std::to_string(c.worst));
    }
    {
        const int64_t n = 1000003;
        const std::vector<float> g = randn(size_t(n), 4.0f), u = randn(static_cast<size_t>(n));
        Dev<float> dg(g), du(u), dout(static_cast<size_t>(n));
        dout.poison();
        cuda::swiglu(dg.p, du.p, n, dout.p, nullptr);
        std::vector<float> out = dout.get(), ref(static_cast<size_t>(n));
        ops::swiglu(g.data(), u.data(), ref.data(), n);
        Cmp c;
        for (int64_t i = 0; i < n; i++) c.add(out[size_t(i)], ref[size_t(i)], std::fabs(ref[size_t(i)]) + 1e-6);
        check(c.all_written && c.worst < 1e-5, "swiglu: rel err " + std::to_string(c.worst));
        cuda::add(dg.p, du.p, n, nullptr);
        out = dg.get();
        bool ok = true;
        for (int64_t i = 0; i < n; i++) ok = ok && out[size_t(i)] == g[size_t(i)] + u[size_t(i)];
        check(ok, "add is exact");
    }
    {
        const int rows = 50, d = 40, n = 5, dkv = 24, n_ctx = 12, pos0 = 6;
        const std::vector<uint16_t> table = to_f16(randn(size_t(rows) * d));
        const std::vector<int32_t> ids = {49, 0, 3, 3, 17};
        Dev<uint16_t> dt(table);
        Dev<int32_t> di(ids);
        Dev<float> dx(size_t(n) * d);
        dx.poison();
        cuda::embed_f16(reinterpret_cast<const __half*>(dt.p), di.p, n, d, dx.p, nullptr);
        const std::vector<float> x = dx.get();
        bool ok = true;
        for (int t = 0; t < n; t++)
            for (int i = 0; i < d; i++) ok = ok && x[size_t(t) * d + i] == fp16_to_fp32(table[size_t(ids[size_t(t)]) * d + i]);
        check(ok, "embed_f16 is exact");
        const std::vector<float> k = randn(size_t(n) * dkv), v = randn(size_t(n) * dkv);
        Dev<float> dk(k), dv(v);
        Dev<uint16_t> kc(size_t(n_ctx) * dkv), vc(size_t(n_ctx) * dkv);
        SLM_CUDA(cudaMemset(kc.p, 0, kc.n * 2));
        SLM_CUDA(cudaMemset(vc.p, 0, vc.n * 2));
        cuda::store_kv(dk.p, dv.p, n - 1, dkv, pos0, nullptr, reinterpret_cast<__half*>(kc.p), reinterpret_cast<__half*>(vc.p),
                       nullptr);
        const std::vector<uint16_t> hk = kc.get(), hv = vc.get();
        ok = true;
        for (int p = 0; p < n_ctx; p++)
            for (int i = 0; i < dkv; i++) {
                const bool in = p >= pos0 && p < pos0 + n - 1;
                const size_t src = size_t(p - pos0) * dkv + i;
                ok = ok && hk[size_t(p) * dkv + i] == (in ? fp32_to_fp16(k[src]) : 0) &&
                     hv[size_t(p) * dkv + i] == (in ? fp32_to_fp16(v[src]) : 0);
            }
        check(ok, "store_kv writes exactly positions pos0..pos0+n-1");
    }
}

// ---- a whole model ----

struct Model {
    cuda::LlamaShape s;
    std::vector<float> norms;  // per layer attn, ffn; then output
    std::vector<std::vector<uint16_t>> f16;
    std::vector<gptq::Quantized> q;
    cuda::HostLlama host;
    std::vector<std::vector<float>> deq;  // every matrix dequantized: 7 per layer, then output
};

cuda::HostMatrix host_matrix(Model& m, int n_out, int n_in, bool gptq_fmt, bool act) {
    cuda::HostMatrix h;
    h.n_in = n_in, h.n_out = n_out;
    std::vector<float> w = randn(size_t(n_out) * n_in, 1.0f / std::sqrt(float(n_in)));
    if (gptq_fmt) {
        gptq::Options o;
        o.group_size = 64;
        m.q.push_back(gptq::quantize_rtn(w.data(), n_out, n_in, o));
        gptq::Quantized& q = m.q.back();
        if (act) {  // a permuted layout: the same function of x with columns stored in another order
            q.perm.resize(static_cast<size_t>(n_in));
            std::iota(q.perm.begin(), q.perm.end(), 0);
            std::shuffle(q.perm.begin(), q.perm.end(), rng);
        }
        std::vector<float> d(w.size());
        for (int r = 0; r < n_out; r++) kernels::gptq_dequantize_row(q.view(), r, &d[size_t(r) * n_in]);
        m.deq.push_back(std::move(d));
        h.qweight = q.qweight.data(), h.scales = q.scales.data(), h.zeros = q.zeros.data();
        h.perm = q.perm.empty() ? nullptr : q.perm.data();
        h.group_size = 64;
    } else {
        m.f16.push_back(to_f16(w));
        std::vector<float> d(w.size());
        for (size_t i = 0; i < w.size(); i++) d[i] = fp16_to_fp32(m.f16.back()[i]);
        m.deq.push_back(std::move(d));
        h.f16 = m.f16.back().data();
    }
    return h;
}

void build(Model& m, bool gptq_fmt) {
    cuda::LlamaShape& s = m.s;
    s.n_layer = 2, s.n_embd = 256, s.n_head = 4, s.n_head_kv = 2, s.head_dim = 64, s.n_ff = 576, s.n_vocab = 1000;
    s.n_rot = 64, s.n_ctx = 64, s.rms_eps = 1e-5f, s.rope_base = 10000.0f;
    m.f16.reserve(32), m.q.reserve(32);
    m.norms = randn(size_t(2 * s.n_layer + 1) * s.n_embd, 0.2f);
    for (float& f : m.norms) f += 1.0f;
    m.host.shape = s;
    m.host.inv_freq = ops::rope_inv_freq(s.n_rot, s.rope_base, {});
    const int E = s.n_embd, Dq = s.n_head * s.head_dim, Dkv = s.n_head_kv * s.head_dim, F = s.n_ff;
    for (int il = 0; il < s.n_layer; il++) {
        cuda::HostLayer L;
        L.attn_norm = &m.norms[size_t(2 * il) * E];
        L.ffn_norm = &m.norms[size_t(2 * il + 1) * E];
        L.wq = host_matrix(m, Dq, E, gptq_fmt, false);
        L.wk = host_matrix(m, Dkv, E, gptq_fmt, true);
        L.wv = host_matrix(m, Dkv, E, gptq_fmt, false);
        L.wo = host_matrix(m, E, Dq, gptq_fmt, false);
        L.w_gate = host_matrix(m, F, E, gptq_fmt, true);
        L.w_up = host_matrix(m, F, E, gptq_fmt, false);
        L.w_down = host_matrix(m, E, F, gptq_fmt, true);
        m.host.layers.push_back(L);
    }
    m.host.output = host_matrix(m, s.n_vocab, E, gptq_fmt, false);
    m.host.output_norm = &m.norms[size_t(2 * s.n_layer) * E];
}

// The CPU reference forward (src/ops.h, double-accumulated products, K/V rounded to fp16 as the GPU cache is).
struct CpuRef {
    const Model& m;
    std::vector<float> kc, vc;  // [layer][pos][dkv]
    explicit CpuRef(const Model& mm)
        : m(mm), kc(size_t(mm.s.n_layer) * mm.s.n_ctx * mm.s.n_head_kv * mm.s.head_dim), vc(kc.size()) {}
    static void mat(const std::vector<float>& w, int n_out, int n_in, const float* x, float* y) {
        for (int o = 0; o < n_out; o++) {
            double s = 0;
            for (int k = 0; k < n_in; k++) s += double(w[size_t(o) * n_in + k]) * x[k];
            y[o] = float(s);
        }
    }
    std::vector<float> step(int32_t id, int pos) {
        const cuda::LlamaShape& s = m.s;
        const int E = s.n_embd, Dq = s.n_head * s.head_dim, Dkv = s.n_head_kv * s.head_dim, F = s.n_ff;
        const std::vector<float>& out_w = m.deq.back();
        std::vector<float> x(out_w.begin() + size_t(id) * E, out_w.begin() + size_t(id + 1) * E), xb(static_cast<size_t>(E)),
            q(static_cast<size_t>(Dq)), k(static_cast<size_t>(Dkv)), v(static_cast<size_t>(Dkv)), att(static_cast<size_t>(Dq)), tmp(static_cast<size_t>(E)), g(static_cast<size_t>(F)), u(static_cast<size_t>(F));
        for (int il = 0; il < s.n_layer; il++) {
            const std::vector<float>* W = &m.deq[size_t(il) * 7];
            ops::rmsnorm(x.data(), &m.norms[size_t(2 * il) * E], xb.data(), E, s.rms_eps);
            mat(W[0], Dq, E, xb.data(), q.data());
            mat(W[1], Dkv, E, xb.data(), k.data());
            mat(W[2], Dkv, E, xb.data(), v.data());
            ops::rope(q.data(), s.n_head, s.head_dim, s.n_rot, pos, m.host.inv_freq.data());
            ops::rope(k.data(), s.n_head_kv, s.head_dim, s.n_rot, pos, m.host.inv_freq.data());
            float* kl = &kc[size_t(il) * s.n_ctx * Dkv];
            float* vl = &vc[size_t(il) * s.n_ctx * Dkv];
            for (int i = 0; i < Dkv; i++) kl[size_t(pos) * Dkv + i] = f16r(k[size_t(i)]), vl[size_t(pos) * Dkv + i] = f16r(v[size_t(i)]);
            ops::attention(q.data(), kl, vl, 1, pos, AttentionShape{s.n_head, s.n_head_kv, s.head_dim}, att.data());
            mat(W[3], E, Dq, att.data(), tmp.data());
            for (int i = 0; i < E; i++) x[size_t(i)] += tmp[size_t(i)];
            ops::rmsnorm(x.data(), &m.norms[size_t(2 * il + 1) * E], xb.data(), E, s.rms_eps);
            mat(W[4], F, E, xb.data(), g.data());
            mat(W[5], F, E, xb.data(), u.data());
            ops::swiglu(g.data(), u.data(), g.data(), F);
            mat(W[6], E, F, g.data(), tmp.data());
            for (int i = 0; i < E; i++) x[size_t(i)] += tmp[size_t(i)];
        }
        ops::rmsnorm(x.data(), &m.norms[size_t(2 * s.n_layer) * E], xb.data(), E, s.rms_eps);
        std::vector<float> logits(static_cast<size_t>(s.n_vocab));
        mat(out_w, s.n_vocab, E, xb.data(), logits.data());
        return logits;
    }
};

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (size_t i = 0; i < a.size(); i++) d = std::max(d, std::isfinite(a[i]) ? std::fabs(double(a[i]) - b[i]) : 1e30);
    return d;
}

void test_model(bool gptq_fmt) {
    const char* name = gptq_fmt ? "GPTQ-4" : "FP16";
    Model m;
    build(m, gptq_fmt);
    cuda::CudaLlama gpu(m.host);
    CpuRef cpu(m);
    const std::vector<int32_t> prompt = {1, 500, 17, 999, 3, 3, 250, 42, 7};
    std::vector<float> ref;
    for (size_t t = 0; t < prompt.size(); t++) ref = cpu.step(prompt[t], int(t));
    double mx = 0;
    for (float f : ref) mx = std::max(mx, double(std::fabs(f)));
    const std::vector<float> got = gpu.eval(prompt.data(), int(prompt.size()), 0);  // prefill: the GEMM path
    const double d_prefill = max_abs_diff(got, ref);
    check(d_prefill < 1e-2, std::string(name) + " model, prefill of 9 (tensor-core GEMM): logits max |diff| " +
                                std::to_string(d_prefill) + " (max |logit| " + std::to_string(mx) + ")");
    // Single-token evals (the GEMV path), then the captured graph's greedy tokens against the CPU's.
    int pos = int(prompt.size());
    int32_t next = int32_t(std::max_element(got.begin(), got.end()) - got.begin());
    double d_decode = 0;
    for (int i = 0; i < 3; i++, pos++) {
        ref = cpu.step(next, pos);
        const std::vector<float> g = gpu.eval(&next, 1, pos);
        d_decode = std::max(d_decode, max_abs_diff(g, ref));
        next = int32_t(std::max_element(g.begin(), g.end()) - g.begin());
    }
    check(d_decode < 1e-2, std::string(name) + " model, 3 decode steps (GEMV): logits max |diff| " + std::to_string(d_decode));
    // Greedy through the graph: compare each token with the CPU's greedy choice unless the CPU's top two are
    // within 1e-2 (a tie the GPU may break the other way).
    std::vector<float> last = gpu.eval(&next, 1, pos);
    const std::vector<int32_t> gen = gpu.generate_greedy(6);
    std::vector<float> cl = cpu.step(next, pos);
    bool ok = true;
    int compared = 0;
    for (size_t i = 0; i < gen.size() && ok; i++) {
        std::vector<float> sorted = cl;
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
        const int32_t want = int32_t(std::max_element(cl.begin(), cl.end()) - cl.begin());
        if (sorted[0] - sorted[1] < 1e-2f) break;
        ok = gen[i] == want;
        compared++;
        cl = cpu.step(gen[i], pos + 1 + int(i));
    }
    check(ok && compared >= 1, std::string(name) + " model, CUDA-graph greedy decode matches the CPU for " +
                                   std::to_string(compared) + " tokens");
}

// The CPU's activation rounding on the GPU (activations.cu) against the CPU's own activation quantizer of each
// partner type, dequantized: bit-identical, on random rows with a zero block, ties in |x| of both signs, and
// values that land on .5 after scaling.
void test_activation_rounding() {
    struct S {
        GgmlType weight;
        cuda::ActRound r;
    };
    for (S s : {S{GgmlType::Q8_0, cuda::ActRound::q8_32}, S{GgmlType::Q4_1, cuda::ActRound::q8_32},
                S{GgmlType::Q4_K, cuda::ActRound::q8_K}}) {
        const GgmlType at = codec::activation_type(s.weight);
        const int B = cuda::act_round_block(s.r);
        const int64_t n = int64_t(B) * 37;
        std::vector<float> x = randn(static_cast<size_t>(n), 3.0f);
        for (int j = 0; j < B; j++) x[size_t(j)] = 0;                          // a block of zeros
        x[size_t(B) + 3] = 5.0f, x[size_t(B) + 9] = -5.0f;                     // a tie in |x|, + first
        x[size_t(2 * B) + 1] = -7.0f, x[size_t(2 * B) + 4] = 7.0f;             // a tie in |x|, - first
        for (int j = 0; j < B; j++) x[size_t(3 * B + j)] = float(j - B / 2) * 0.5f;  // exact halves after scaling
        Dev<float> dx(x), dy(static_cast<size_t>(n));
        dy.poison();
        cuda::round_activations(s.r, dx.p, n, dy.p, nullptr);
        const std::vector<float> y = dy.get();
        std::vector<uint8_t> q(static_cast<size_t>(row_bytes(at, n)));
        kernels::active().activation_quantizer(at)(x.data(), q.data(), n);
        std::vector<float> ref(static_cast<size_t>(n));
        codec::dequantize_row(at, q.data(), ref.data(), n);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad += !(y[size_t(i)] == ref[size_t(i)]);
        check(bad == 0, std::string("activation rounding for ") + type_name(s.weight) + " weights (" + type_name(at) +
                            "), " + std::to_string(n) + " values: " + std::to_string(bad) + " differ from the CPU's");
    }
}

// The CUDA backend through Context against the CPU backend, same file: a random model (slm synth, 256-wide so
// the K-quants apply) quantized by slm's own mixes. Each ggml type is computed dequantized on the GPU, with the
// activations rounded as the CPU rounds them. Prompt as one batch (GEMM path) and token by token (GEMV path).
void test_backend_vs_cpu() {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/slm-gpu-test.XXXXXX";
    const char* base = std::getenv("SLM_TEST_TMP");
    std::string dir;
    if (base) {
        fs::create_directories(base);
        dir = std::string(base) + "/gpu-backend";
        fs::create_directories(dir);
    } else {
        if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir = tmpl;
    }
    ThreadPool pool(2);
    synth::Options so;
    so.shape.name = "gpu-test";
    so.shape.n_layer = 2, so.shape.n_embd = 256, so.shape.n_head = 4, so.shape.n_head_kv = 2, so.shape.n_ff = 512;
    so.shape.n_vocab = 1000, so.shape.n_ctx_train = 256;
    so.progress = false;
    const std::string f16 = dir + "/f16.gguf";
    synth::write_model(so, f16, pool);
    const std::vector<int32_t> prompt = {1, 500, 17, 999, 3, 3, 250, 42, 7, 300, 301, 302, 303};
    // Every matrix of each file, the same random inputs through both backends' matmul (1 and 5 rows): the GPU
    // computes ggml types as the CPU does (fp32 weights, the CPU's activation rounding, activations.cu), up to
    // float summation order, except Q4_1/Q5_1, whose CPU dot adds the weight's minimum times a block sum the
    // CPU rounds to fp16 separately (q8_1's s), which the GPU's x' = q * d does not reproduce (~1e-3).
    // Then the logits of a prompt through Context (one batch: the GEMM path; token by token: the GEMV path).
    // The CPU's 8-bit activation rounding is a step function of its input: one rounding that lands the other
    // way (a 1e-7 difference can do it) moves the next layer's inputs by ~1e-4, which flips more, so the logits
    // of a quantized ggml file match the CPU's either to ~1e-6 or to the rounding noise (~5e-2). They are
    // checked for F16 and Q8_0 (Q8_0 matches to 5e-7 here); the per-matrix check covers every type.
    for (const char* mix : {"F16", "Q8_0", "Q4_1", "Q4_K_M"}) {
        std::string path = f16;
        if (std::string(mix) != "F16") {
            path = dir + "/" + mix + ".gguf";
            quant::QuantizeOptions qo;
            qo.progress = false;
            quant::quantize_file(f16, path, *quant::mix_from_name(mix), pool, qo);
        }
        {
            auto cpu_be = make_cpu_backend(pool);
            auto gpu_be = make_cuda_backend(0);
            auto m_cpu = slm::Model::load(path, *cpu_be);
            auto m_gpu = slm::Model::load(path, *gpu_be);
            double worst = 0;
            int n_mats = 0;
            for (size_t l = 0; l <= m_cpu->layers().size(); l++) {
                std::vector<const Weight*> a, b;
                if (l == m_cpu->layers().size()) {
                    a = {&m_cpu->output()}, b = {&m_gpu->output()};
                } else {
                    const LayerWeights &A = m_cpu->layers()[l], &B = m_gpu->layers()[l];
                    a = {&A.wq, &A.wk, &A.wv, &A.wo, &A.w_gate, &A.w_up, &A.w_down};
                    b = {&B.wq, &B.wk, &B.wv, &B.wo, &B.w_gate, &B.w_up, &B.w_down};
                }
                for (size_t i = 0; i < a.size(); i++)
                    for (int n : {1, 5}) {
                        const int K = int(a[i]->w.n_in), N = int(a[i]->w.n_out);
                        const std::vector<float> x = randn(size_t(n) * K);
                        Buffer xc = cpu_be->alloc(x.size()), yc = cpu_be->alloc(size_t(n) * N);
                        std::copy(x.begin(), x.end(), xc.data());
                        cpu_be->matmul(*a[i], xc.data(), n, yc.data(), Numerics::fast);
                        Buffer xg = gpu_be->alloc(x.size()), yg = gpu_be->alloc(size_t(n) * N);
                        SLM_CUDA(cudaMemcpy(xg.data(), x.data(), x.size() * 4, cudaMemcpyHostToDevice));
                        SLM_CUDA(cudaDeviceSynchronize());  // the backend's stream does not wait for this copy
                        gpu_be->matmul(*b[i], xg.data(), n, yg.data(), Numerics::fast);
                        std::vector<float> got(static_cast<size_t>(n) * N);
                        gpu_be->to_host(yg.data(), got.data(), got.size());
                        double mx = 0, d = 0;
                        for (size_t j = 0; j < got.size(); j++) {
                            mx = std::max(mx, double(std::fabs(yc.data()[j])));
                            d = std::max(d, std::isfinite(got[j]) ? std::fabs(double(got[j]) - yc.data()[j]) : 1e30);
                        }
                        worst = std::max(worst, d / mx);
                        n_mats++;
                    }
            }
            const double bound = std::string(mix) == "Q4_1" ? 3e-3 : std::string(mix) == "F16" ? 2e-3 : 1e-5;
            char buf[200];
            std::snprintf(buf, sizeof buf, "backend matmul vs the CPU's, %s file, %d products: worst max|diff|/max|y| %.2e (bound %.0e)",
                          mix, n_mats, worst, bound);
            std::printf("%s\n", buf);
            check(worst < bound && n_mats == 2 * 15, buf);
        }
        for (int batch : {256, 1}) {
            auto cpu_be = make_cpu_backend(pool);
            auto gpu_be = make_cuda_backend(0);
            auto m_cpu = slm::Model::load(path, *cpu_be);
            auto m_gpu = slm::Model::load(path, *gpu_be);
            ContextOptions co;
            co.n_ctx = 64;
            co.n_batch = batch;
            Context c_cpu(*m_cpu, *cpu_be, co), c_gpu(*m_gpu, *gpu_be, co);
            const int V = m_cpu->config().n_vocab;
            const float* a = c_cpu.eval(prompt.data(), int(prompt.size()));
            const std::vector<float> ref(a, a + V);
            const float* b = c_gpu.eval(prompt.data(), int(prompt.size()));
            const std::vector<float> got(b, b + V);
            double mx = 0;
            for (float f : ref) mx = std::max(mx, double(std::fabs(f)));
            const double d = max_abs_diff(got, ref);
            char buf[200];
            std::snprintf(buf, sizeof buf, "backend via Context, %s file, %s: logits max |diff| %.2e (max |logit| %.2f)", mix,
                          batch == 1 ? "token by token (GEMV)" : "one batch (GEMM)", d, mx);
            std::printf("%s\n", buf);
            if (std::string(mix) == "F16" || std::string(mix) == "Q8_0") check(d < 1e-2 && mx > 0.5, buf);
        }
        {  // the GPU is deterministic: two fresh backends give the same logits bit for bit
            std::vector<float> first;
            bool same = true;
            for (int rep = 0; rep < 2; rep++) {
                auto be = make_cuda_backend(0);
                auto m = slm::Model::load(path, *be);
                ContextOptions co;
                co.n_ctx = 64;
                co.n_batch = 1;
                Context c(*m, *be, co);
                const float* lg = c.eval(prompt.data(), int(prompt.size()));
                const std::vector<float> v(lg, lg + m->config().n_vocab);
                if (rep == 0) first = v;
                else same = std::memcmp(first.data(), v.data(), v.size() * 4) == 0;
            }
            check(same, std::string("backend via Context, ") + mix + " file: two runs give the same logits bit for bit");
        }
    }
    // Shapes the kernels do not take are refused at load, with the reason: fp16 rows of 100 inputs (not a
    // multiple of 8), and a GPTQ-4 weight of 200 inputs in groups of 40 (multiples of 8, not of 32).
    {
        synth::Options odd = so;
        odd.shape.n_embd = 100, odd.shape.n_head = 5, odd.shape.n_head_kv = 5, odd.shape.n_ff = 200;
        const std::string p = dir + "/odd.gguf";
        synth::write_model(odd, p, pool);
        auto be = make_cuda_backend(0);
        std::string msg;
        try {
            (void)slm::Model::load(p, *be);
        } catch (const Error& e) {
            msg = e.what();
        }
        check(msg.find("multiple of 8 inputs") != std::string::npos && msg.find("has 100") != std::string::npos,
              "a model with 100-wide rows is refused at load by the CUDA backend: \"" + msg + "\"");
        const gptq::Quantized q = random_gptq(16, 200, 40, false);
        const std::string why = be->why_unsupported(q.view());
        check(!be->supports(q.view()) && why.find("multiple of 32") != std::string::npos,
              "a GPTQ-4 weight of 200 inputs, group 40, is refused: \"" + why + "\"");
    }
    // Device memory is reported by use.
    auto be = make_cuda_backend(0);
    auto m = slm::Model::load(f16, *be);
    ContextOptions co;
    co.n_ctx = 64;
    Context c(*m, *be, co);
    (void)c.eval(prompt.data(), int(prompt.size()));
    const Backend::DeviceMemory dm = be->device_memory();
    const size_t kv = size_t(2) * 2 * 64 * (2 * 64) * 2;  // layers x K,V x positions x n_embd_kv x fp16
    check(dm.kv == kv && dm.weights > size_t(256) * 1000 * 2 && dm.scratch > 0,
          "device memory by use: weights " + std::to_string(dm.weights) + ", KV " + std::to_string(dm.kv) + " (expected " +
              std::to_string(kv) + "), scratch " + std::to_string(dm.scratch));
    if (!base) fs::remove_all(dir);
}

}  // namespace

int main() {
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        std::printf("skipped: no CUDA device\n");
        return 0;
    }
    cudaDeviceProp p{};
    SLM_CUDA(cudaGetDeviceProperties(&p, 0));
    std::printf("device: %s (%d SMs, %.0f MB L2)\n", p.name, p.multiProcessorCount, p.l2CacheSize / 1e6);
    const std::vector<std::pair<const char*, std::function<void()>>> tests = {
        {"gemv_int4", test_gemv_int4}, {"gemv_f16", test_gemv_f16}, {"gemv fused", test_gemv_fused}, {"gemm+dequant", test_gemm_and_dequant},
        {"attention", test_attention}, {"elementwise", test_elementwise},
        {"model fp16", [] { test_model(false); }}, {"model gptq", [] { test_model(true); }},
        {"activation rounding", test_activation_rounding}, {"backend vs cpu", test_backend_vs_cpu}};
    for (const auto& [name, fn] : tests) {
        try {
            fn();
        } catch (const std::exception& e) {
            check(false, std::string(name) + ": " + e.what());
        }
    }
    std::printf("gpu tests: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
