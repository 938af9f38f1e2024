// Every backward in src/ops.cpp against central finite differences of its double-precision forward, on random
// small shapes. The loss is L = sum(c * out) for a fixed random c, so dL/dout = c is what each backward is fed.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "ops.h"

using namespace slm;

namespace {

std::vector<double> rnd(size_t n, uint32_t seed, double scale = 1.0) {
    std::mt19937_64 g(seed);
    std::vector<double> v(n);
    for (auto& x : v) x = scale * (double(g() >> 11) / double(uint64_t(1) << 53) * 2.0 - 1.0);
    return v;
}

double dotv(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}

// Checks grad (the analytic dL/dx) against a central difference of L along e_i for every element of x (or
// `max_checks` evenly spread ones). Relative error |a - f| / max(|a|, |f|, 1e-3 * scale of the gradient).
double fd_max_rel_err(std::vector<double>& x, const std::vector<double>& grad, const std::function<double()>& loss,
                      size_t max_checks = 400) {
    double gmax = 0;
    for (double g : grad) gmax = std::max(gmax, std::fabs(g));
    const size_t stride = std::max<size_t>(1, x.size() / max_checks);
    double worst = 0;
    for (size_t i = 0; i < x.size(); i += stride) {
        const double x0 = x[i], h = 1e-4 * std::max(1.0, std::fabs(x0));
        auto at = [&](double v) { x[i] = v; return loss(); };
        // Fourth-order central difference: truncation O(h^4) ~ 1e-16, rounding ~ 1e-16 / h ~ 1e-12.
        const double f = (-at(x0 + 2 * h) + 8 * at(x0 + h) - 8 * at(x0 - h) + at(x0 - 2 * h)) / (12 * h);
        x[i] = x0;
        const double a = grad[i];
        const double den = std::max({std::fabs(a), std::fabs(f), 1e-3 * gmax, 1e-12});
        worst = std::max(worst, std::fabs(a - f) / den);
    }
    return worst;
}

constexpr double kTol = 1e-6;

}  // namespace

TEST_CASE("train ops: rmsnorm backward matches finite differences") {
    for (int n : {1, 7, 64}) {
        std::vector<double> x = rnd(size_t(n), 1 + n, 2.0), w = rnd(size_t(n), 2 + n), c = rnd(size_t(n), 3 + n);
        std::vector<double> out(static_cast<size_t>(n));
        const double eps = 1e-5;
        auto loss = [&] { ops::rmsnorm(x.data(), w.data(), out.data(), n, eps); return dotv(c, out); };
        const double r = ops::rmsnorm(x.data(), w.data(), out.data(), n, eps);
        std::vector<double> dx(size_t(n), 0.5), dw(size_t(n), -0.25);  // += : start from non-zero
        ops::rmsnorm_backward(x.data(), w.data(), r, c.data(), dx.data(), dw.data(), n);
        for (auto& v : dx) v -= 0.5;
        for (auto& v : dw) v += 0.25;
        CHECK(fd_max_rel_err(x, dx, loss) < kTol);
        CHECK(fd_max_rel_err(w, dw, loss) < kTol);
    }
}

TEST_CASE("train ops: linear with frozen base + LoRA backward matches finite differences") {
    const int n = 5, n_in = 12, n_out = 9, r = 3;
    const double scale = 16.0 / r;
    std::vector<double> x = rnd(size_t(n * n_in), 11), W = rnd(size_t(n_out * n_in), 12), A = rnd(size_t(r * n_in), 13),
                        B = rnd(size_t(n_out * r), 14), c = rnd(size_t(n * n_out), 15);
    std::vector<double> y(static_cast<size_t>(n * n_out));
    auto loss = [&] {
        ops::linear(x.data(), W.data(), A.data(), B.data(), scale, n, n_in, n_out, r, y.data());
        return dotv(c, y);
    };
    std::vector<double> dx(x.size()), dW(W.size()), dA(A.size()), dB(B.size());
    ops::linear_backward(x.data(), W.data(), A.data(), B.data(), scale, n, n_in, n_out, r, c.data(), dx.data(),
                         dW.data(), dA.data(), dB.data());
    CHECK(fd_max_rel_err(x, dx, loss) < kTol);
    CHECK(fd_max_rel_err(W, dW, loss) < kTol);
    CHECK(fd_max_rel_err(A, dA, loss) < kTol);
    CHECK(fd_max_rel_err(B, dB, loss) < kTol);
    // Without LoRA (the output projection, a fully trained weight).
    auto loss0 = [&] {
        ops::linear<double>(x.data(), W.data(), nullptr, nullptr, 0, n, n_in, n_out, 0, y.data());
        return dotv(c, y);
    };
    std::fill(dx.begin(), dx.end(), 0.0);
    std::fill(dW.begin(), dW.end(), 0.0);
    ops::linear_backward<double>(x.data(), W.data(), nullptr, nullptr, 0, n, n_in, n_out, 0, c.data(), dx.data(),
                                 dW.data(), nullptr, nullptr);
    CHECK(fd_max_rel_err(x, dx, loss0) < kTol);
    CHECK(fd_max_rel_err(W, dW, loss0) < kTol);
}

TEST_CASE("train ops: rope backward (with rope_freqs) matches finite differences") {
    const int n_heads = 3, head_dim = 8;
    for (int n_rot : {8, 4}) {  // 4: dims >= n_rot pass through
        const std::vector<float> freqs = n_rot == 8 ? std::vector<float>{1.0f, 1.5f, 4.0f, 8.0f} : std::vector<float>{};
        const std::vector<double> inv = ops::rope_inv_freq(n_rot, 10000.0f, freqs);
        for (int pos : {0, 3, 1000}) {
            std::vector<double> cs(static_cast<size_t>(n_rot));
            for (int i = 0; i < n_rot / 2; i++) {
                cs[size_t(2 * i)] = std::cos(pos * inv[size_t(i)]);
                cs[size_t(2 * i + 1)] = std::sin(pos * inv[size_t(i)]);
            }
            std::vector<double> x = rnd(size_t(n_heads * head_dim), 20 + pos), c = rnd(x.size(), 21 + pos), y;
            auto loss = [&] { y = x; ops::rope_rotate(y.data(), n_heads, head_dim, n_rot, cs.data()); return dotv(c, y); };
            std::vector<double> d = c;
            ops::rope_rotate_backward(d.data(), n_heads, head_dim, n_rot, cs.data());
            CHECK(fd_max_rel_err(x, d, loss) < kTol);
        }
    }
}

TEST_CASE("train ops: swiglu, residual and embedding backward match finite differences") {
    const int n = 50;
    std::vector<double> g = rnd(size_t(n), 31, 6.0), u = rnd(size_t(n), 32, 2.0), c = rnd(size_t(n), 33), out(static_cast<size_t>(n));
    auto loss = [&] { ops::swiglu(g.data(), u.data(), out.data(), n); return dotv(c, out); };
    std::vector<double> dg(static_cast<size_t>(n)), du(static_cast<size_t>(n));
    ops::swiglu_backward(g.data(), u.data(), c.data(), dg.data(), du.data(), n);
    CHECK(fd_max_rel_err(g, dg, loss) < kTol);
    CHECK(fd_max_rel_err(u, du, loss) < kTol);

    std::vector<double> a = rnd(10, 34), b = rnd(10, 35), c2 = rnd(10, 36), da(10), db(10);
    auto loss2 = [&] {
        double s = 0;
        for (int i = 0; i < 10; i++) s += c2[size_t(i)] * (a[size_t(i)] + b[size_t(i)]);
        return s;
    };
    ops::residual_backward(c2.data(), da.data(), db.data(), 10);
    CHECK(fd_max_rel_err(a, da, loss2) < kTol);
    CHECK(fd_max_rel_err(b, db, loss2) < kTol);

    // A token used twice sums both rows' gradients.
    const int E = 4, V = 6;
    const std::vector<int32_t> ids = {2, 5, 2};
    std::vector<double> table = rnd(size_t(V * E), 37), c3 = rnd(size_t(3 * E), 38), dt(static_cast<size_t>(V * E));
    auto loss3 = [&] {
        double s = 0;
        for (int t = 0; t < 3; t++)
            for (int i = 0; i < E; i++) s += c3[size_t(t * E + i)] * table[size_t(ids[size_t(t)] * E + i)];
        return s;
    };
    ops::embedding_backward(ids.data(), 3, c3.data(), E, dt.data());
    CHECK(fd_max_rel_err(table, dt, loss3) < kTol);
}

TEST_CASE("train ops: softmax cross-entropy backward matches finite differences") {
    for (int V : {2, 17, 300}) {
        std::vector<double> z = rnd(size_t(V), 40 + V, 5.0);
        const int target = V / 3;
        auto loss = [&] { return 0.7 * ops::cross_entropy(z.data(), V, target); };
        std::vector<double> dz(static_cast<size_t>(V));
        ops::cross_entropy_backward(z.data(), V, target, 0.7, dz.data());
        CHECK(fd_max_rel_err(z, dz, loss) < kTol);
    }
}

TEST_CASE("train ops: causal GQA attention backward matches finite differences") {
    struct Shape { int n_head, n_head_kv, hd, n, pos0; };
    for (const Shape& sh : {Shape{2, 2, 4, 3, 0}, Shape{4, 2, 8, 5, 0}, Shape{6, 2, 4, 3, 2}, Shape{3, 1, 6, 4, 0}}) {
        const AttentionShape s{sh.n_head, sh.n_head_kv, sh.hd};
        const int n_all = sh.pos0 + sh.n, dq = sh.n_head * sh.hd, dkv = sh.n_head_kv * sh.hd;
        std::vector<double> q = rnd(size_t(sh.n * dq), 50, 1.5), k = rnd(size_t(n_all * dkv), 51, 1.5),
                            v = rnd(size_t(n_all * dkv), 52), c = rnd(size_t(sh.n * dq), 53);
        std::vector<double> out(static_cast<size_t>(sh.n * dq)), probs(static_cast<size_t>(sh.n * sh.n_head * n_all));
        auto loss = [&] { ops::attention(q.data(), k.data(), v.data(), sh.n, sh.pos0, s, out.data()); return dotv(c, out); };
        ops::attention(q.data(), k.data(), v.data(), sh.n, sh.pos0, s, out.data(), probs.data());
        std::vector<double> dq_(q.size()), dk(k.size()), dv(v.size());
        ops::attention_backward(q.data(), k.data(), v.data(), probs.data(), sh.n, sh.pos0, s, c.data(), dq_.data(),
                                dk.data(), dv.data());
        CHECK(fd_max_rel_err(q, dq_, loss) < kTol);
        CHECK(fd_max_rel_err(k, dk, loss) < kTol);
        CHECK(fd_max_rel_err(v, dv, loss) < kTol);
    }
}
