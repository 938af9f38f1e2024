// Training's f32 ops on the CPU (kernels/cpu/expf.h, train_ops.*, the attention of cpu_backend_train.cpp)
// against the double references of src/ops.cpp, at every SIMD level the kernels have.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "backend.h"
#include "cpu/expf.h"
#include "cpu/train_ops.h"
#include "ops.h"
#include "test_levels.h"
#include "test_util.h"
#include "threadpool.h"

using namespace slm;

namespace {

std::vector<SimdLevel> levels() {
    std::vector<SimdLevel> l{SimdLevel::scalar};
    for (const kernels::KernelSet* s : test::simd_sets("train ops")) l.push_back(s->level());
    return l;
}

double max_rel(const std::vector<float>& a, const std::vector<double>& ref) {
    double mx = 0, scale = 0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < a.size(); i++) mx = std::max(mx, std::fabs(double(a[i]) - ref[i]));
    return mx / std::max(scale, 1e-30);
}

}  // namespace

TEST_CASE("expf_poly: within 1.5e-7 relative of std::exp over the whole float range, 0 below it, NaN kept") {
    std::vector<float> xs;
    for (float x = -87.3f; x < 88.3f; x += 0.0137f) xs.push_back(x);
    for (float x : {-87.33f, 88.37f, 0.0f, -0.0f, 1e-30f, -1e-30f, 0.5f * 0.693147f}) xs.push_back(x);
    for (SimdLevel l : levels()) {
        const std::string level_name = simd_level_name(l);
        CAPTURE(level_name);
        std::vector<float> out(xs.size());
        kernels::train_ops::exp(l, xs.data(), out.data(), int64_t(xs.size()));
        double worst = 0;
        for (size_t i = 0; i < xs.size(); i++) {
            const double ref = std::exp(double(xs[i]));
            worst = std::max(worst, std::fabs(double(out[i]) - ref) / ref);
        }
        MESSAGE(std::string(simd_level_name(l)) << ": exp max relative error " << worst << " over " << xs.size() << " points");
        CHECK(worst < 1.5e-7);
        // Below the range (0), NaN (kept), above it (clamped: finite), in the vector part and the scalar tail.
        std::vector<float> edge{-88.0f, -100.0f, -INFINITY, NAN, 89.0f, INFINITY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                -88.0f, -100.0f, -INFINITY, NAN, 89.0f, INFINITY};
        std::vector<float> eo(edge.size());
        kernels::train_ops::exp(l, edge.data(), eo.data(), int64_t(edge.size()));
        for (size_t b0 : {size_t(0), size_t(16)}) {
            CHECK(eo[b0 + 0] == 0.0f);
            CHECK(eo[b0 + 1] == 0.0f);
            CHECK(eo[b0 + 2] == 0.0f);
            CHECK(std::isnan(eo[b0 + 3]));
            CHECK(std::isfinite(eo[b0 + 4]));
            CHECK(std::isfinite(eo[b0 + 5]));
        }
    }
    CHECK(kernels::expf_poly::exp_scalar(-100.0f) == 0.0f);
    CHECK(std::isnan(kernels::expf_poly::exp_scalar(NAN)));
}

TEST_CASE("train_ops: swiglu, its backward, softmax and cross-entropy match ops.cpp at every level") {
    for (SimdLevel l : levels()) {
        const std::string level_name = simd_level_name(l);
        CAPTURE(level_name);
        for (int64_t n : {1, 15, 16, 17, 100}) {
            CAPTURE(n);
            std::vector<float> g = test::random_vec(size_t(n), 1, 9.0f), u = test::random_vec(size_t(n), 2),
                               d = test::random_vec(size_t(n), 3);
            std::vector<double> gd(g.begin(), g.end()), ud(u.begin(), u.end()), dd(d.begin(), d.end());
            std::vector<double> ref(static_cast<size_t>(n)), rdg(static_cast<size_t>(n), 0.0), rdu(static_cast<size_t>(n), 0.0);
            ops::swiglu(gd.data(), ud.data(), ref.data(), n);
            ops::swiglu_backward<double>(gd.data(), ud.data(), dd.data(), rdg.data(), rdu.data(), n);
            std::vector<float> out(static_cast<size_t>(n)), dg(static_cast<size_t>(n), 7.0f), du(static_cast<size_t>(n), 7.0f);
            kernels::train_ops::swiglu(l, g.data(), u.data(), n, out.data());
            kernels::train_ops::swiglu_backward(l, g.data(), u.data(), d.data(), n, dg.data(), du.data());
            CHECK(max_rel(out, ref) < 1e-6);
            CHECK(max_rel(dg, rdg) < 1e-6);
            CHECK(max_rel(du, rdu) < 1e-6);
        }
        for (int V : {1, 7, 16, 33, 1000}) {
            CAPTURE(V);
            const std::vector<float> z0 = test::random_vec(size_t(V), uint32_t(V), 8.0f);
            const int target = V / 3;
            const double ref_loss = ops::cross_entropy(z0.data(), V, target);
            std::vector<double> ref_d(size_t(V), 0.0), zd(z0.begin(), z0.end());
            ops::cross_entropy_backward<double>(zd.data(), V, target, 0.25, ref_d.data());
            std::vector<float> z = z0;
            CHECK(std::fabs(kernels::train_ops::cross_entropy(l, z.data(), V, target, 0.25, true) - ref_loss) < 1e-5);
            CHECK(max_rel(z, ref_d) < 1e-5);
            z = z0;
            CHECK(std::fabs(kernels::train_ops::cross_entropy(l, z.data(), V, target, 0.0, false) - ref_loss) < 1e-5);
            std::vector<float> p = z0;
            std::vector<double> rp(zd);
            double mx = -1e300, sum = 0;
            for (double v : rp) mx = std::max(mx, 0.5 * v);
            for (double& v : rp) sum += (v = std::exp(0.5 * v - mx));
            for (double& v : rp) v /= sum;
            kernels::train_ops::softmax(l, p.data(), V, 0.5f);
            CHECK(max_rel(p, rp) < 1e-6);
        }
    }
}

TEST_CASE("train: the backend's attention and its backward match ops.cpp on packed sequences with GQA") {
    const AttentionShape sh{6, 2, 8};  // 6 query heads over 2 KV heads, head dim 8
    const int Dq = 48, Dkv = 16;
    const std::vector<int> seg_len{1, 9, 17, 4}, seg_off{0, 1, 10, 27};
    const int n = 31;
    std::vector<size_t> prob_off;
    size_t n_prob = 0;
    for (int L : seg_len) {
        prob_off.push_back(n_prob);
        n_prob += size_t(L) * size_t(sh.n_head) * size_t(L);
    }
    const std::vector<float> q = test::random_vec(size_t(n * Dq), 41, 2.0f), k = test::random_vec(size_t(n * Dkv), 42, 2.0f),
                             v = test::random_vec(size_t(n * Dkv), 43), dout = test::random_vec(size_t(n * Dq), 44);
    std::vector<double> qd(q.begin(), q.end()), kd(k.begin(), k.end()), vd(v.begin(), v.end()), dod(dout.begin(), dout.end());
    std::vector<double> ref_out(size_t(n * Dq)), ref_p(n_prob), rdq(size_t(n * Dq), 0.0), rdk(size_t(n * Dkv), 0.0),
        rdv(size_t(n * Dkv), 0.0);
    for (size_t s = 0; s < seg_len.size(); s++) {
        const size_t o = size_t(seg_off[s]);
        ops::attention(qd.data() + o * Dq, kd.data() + o * Dkv, vd.data() + o * Dkv, seg_len[s], 0, sh,
                       ref_out.data() + o * Dq, ref_p.data() + prob_off[s]);
        ops::attention_backward<double>(qd.data() + o * Dq, kd.data() + o * Dkv, vd.data() + o * Dkv,
                                        ref_p.data() + prob_off[s], seg_len[s], 0, sh, dod.data() + o * Dq,
                                        rdq.data() + o * Dq, rdk.data() + o * Dkv, rdv.data() + o * Dkv);
    }
    std::vector<float> got[2];
    for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        auto be = make_cpu_backend(pool);
        std::vector<float> out(size_t(n * Dq), 5.0f), p(n_prob, 5.0f), dq(size_t(n * Dq), 0.0f), dk(size_t(n * Dkv), 0.0f),
            dv(size_t(n * Dkv), 0.0f);
        be->attention_train(q.data(), k.data(), v.data(), seg_off.data(), seg_len.data(), prob_off.data(), 4, sh,
                            out.data(), p.data());
        CHECK(max_rel(out, ref_out) < 1e-5);
        CHECK(max_rel(p, ref_p) < 1e-5);
        be->attention_train_backward(q.data(), k.data(), v.data(), p.data(), seg_off.data(), seg_len.data(),
                                     prob_off.data(), 4, sh, dout.data(), dq.data(), dk.data(), dv.data());
        CHECK(max_rel(dq, rdq) < 1e-5);
        CHECK(max_rel(dk, rdk) < 1e-5);
        CHECK(max_rel(dv, rdv) < 1e-5);
        std::vector<float> all = out;
        for (auto* x : {&p, &dq, &dk, &dv}) all.insert(all.end(), x->begin(), x->end());
        got[threads == 1 ? 0 : 1] = all;
    }
    CHECK(got[0] == got[1]);
}
