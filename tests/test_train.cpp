// Training: the backend's transposed products against the scalar reference, the whole model's gradient
// against finite differences on stories260K (LoRA and full), adapters that slm's --lora loader turns into the
// same logits, and a LoRA that learns four examples by heart.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "backend.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "common.h"
#include "forward.h"
#include "gguf.h"
#include "model.h"
#include "ops.h"
#include "test_util.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "train/optim.h"
#include "train/trainer.h"

using namespace slm;
using namespace slm::train;

namespace {

const char* kStories = "models/stories260K.gguf";

std::vector<float> dequantized(const WeightView& w) {
    std::vector<float> out(static_cast<size_t>(w.n_in * w.n_out));
    for (int64_t r = 0; r < w.n_out; r++) dequantize_row(w, r, out.data() + size_t(r * w.n_in));
    return out;
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
    double mx = 0, scale = 0;
    for (size_t i = 0; i < a.size(); i++) scale = std::max(scale, double(std::fabs(b[i])));
    for (size_t i = 0; i < a.size(); i++) mx = std::max(mx, std::fabs(double(a[i]) - double(b[i])));
    return mx / std::max(scale, 1e-30);
}

}  // namespace

TEST_CASE("train: matmul_dx / matmul_dw of the CPU backend match the reference, whatever the thread count") {
    const int n_in = 256, n_out = 40;
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
        CAPTURE(type_name(t));
        const std::vector<float> wf = test::random_vec(size_t(n_in * n_out), 7);
        std::vector<uint8_t> wq(static_cast<size_t>(row_bytes(t, n_in) * n_out));
        for (int r = 0; r < n_out; r++) kernels::type_ops(t).quantize(wf.data() + size_t(r * n_in), wq.data() + size_t(r * row_bytes(t, n_in)), n_in);
        const WeightView W = ggml_view(t, wq.data(), n_in, n_out);
        const std::vector<float> Wd = dequantized(W);
        for (int n : {1, 5, 70}) {
            const std::vector<float> dy = test::random_vec(size_t(n * n_out), 8 + n), x = test::random_vec(size_t(n * n_in), 9 + n);
            std::vector<float> ref_dx(static_cast<size_t>(n * n_in), 0.25f), ref_dW(Wd.size(), 0.5f);
            ops::linear_backward<float>(x.data(), Wd.data(), nullptr, nullptr, 0, n, n_in, n_out, 0, dy.data(), ref_dx.data(),
                                        ref_dW.data(), nullptr, nullptr);
            std::vector<float> dx1, dx3, dW1, dW3;
            for (int threads : {1, 3}) {
                ThreadPool pool(threads);
                auto be = make_cpu_train_backend(pool);
                std::vector<float> dx(static_cast<size_t>(n * n_in), 0.25f), dW(Wd.size(), 0.5f);
                be->matmul_dx(W, dy.data(), n, dx.data(), true);
                be->matmul_dw(dy.data(), x.data(), n, n_out, n_in, 1.0f, dW.data());
                (threads == 1 ? dx1 : dx3) = dx;
                (threads == 1 ? dW1 : dW3) = dW;
                CHECK(max_rel(dx, ref_dx) < 1e-5);
                CHECK(max_rel(dW, ref_dW) < 1e-5);
                std::vector<float> dx0(static_cast<size_t>(n * n_in), 99.0f);
                be->matmul_dx(W, dy.data(), n, dx0.data(), false);  // overwrite
                for (size_t i = 0; i < dx0.size(); i++) dx0[i] += 0.25f;
                CHECK(max_rel(dx0, ref_dx) < 1e-5);
            }
            CHECK(dx1 == dx3);
            CHECK(dW1 == dW3);
        }
    }
}

namespace {

// Sequences of stories260K tokens, every token after the first a target.
std::vector<Sequence> random_sequences(int n_seq, uint32_t seed, int vocab) {
    std::mt19937 g(seed);
    std::vector<Sequence> s(static_cast<size_t>(n_seq));
    for (int i = 0; i < n_seq; i++) {
        const int L = 5 + int(g() % 8);
        for (int t = 0; t < L; t++) {
            s[size_t(i)].ids.push_back(int32_t(g() % uint32_t(vocab)));
            s[size_t(i)].mask.push_back(t >= L / 3 ? 1 : 0);
        }
    }
    return s;
}

// For each trainable tensor, the `per_tensor` entries with the largest gradient: analytic vs a fourth-order
// central difference of the (float) forward. Returns the worst relative error.
double model_fd_worst(Trainer& tr, const std::vector<const Sequence*>& batch, int per_tensor, double h) {
    tr.zero_grads();
    tr.forward_backward(batch, 1.0);
    const std::vector<float> g = tr.grads();
    double worst = 0;
    for (const Param& p : tr.param_list()) {
        std::vector<size_t> idx(p.size);
        for (size_t i = 0; i < p.size; i++) idx[i] = p.offset + i;
        std::partial_sort(idx.begin(), idx.begin() + std::min<size_t>(size_t(per_tensor), idx.size()), idx.end(),
                          [&](size_t a, size_t b) { return std::fabs(g[a]) > std::fabs(g[b]); });
        for (int k = 0; k < per_tensor && size_t(k) < idx.size(); k++) {
            const size_t i = idx[size_t(k)];
            float& w = tr.params()[i];
            const float w0 = w;
            auto at = [&](double d) { w = float(double(w0) + d); const double l = tr.loss(batch); return l; };
            const double fd = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h);
            w = w0;
            const double rel = std::fabs(fd - g[i]) / std::max({std::fabs(fd), std::fabs(double(g[i])), 1e-3});
            if (rel > worst) {
                worst = rel;
                MESSAGE(p.name << "[" << (i - p.offset) << "]: analytic " << g[i] << ", finite difference " << fd);
            }
        }
    }
    return worst;
}

}  // namespace

TEST_CASE("train: whole-model gradient on stories260K matches finite differences (LoRA, every adapted tensor)") {
    SLM_REQUIRE_FIXTURE(kStories);
    auto model = Model::load(test::fixture(kStories));
    ThreadPool pool(2);
    auto be = make_cpu_train_backend(pool);
    TrainerOptions opt;
    opt.lora.rank = 4;
    Trainer tr(*model, *be, pool, opt);
    // B = 0 at initialisation makes every A gradient zero: give B random values so both are exercised.
    std::mt19937 g(5);
    for (const Param& p : tr.param_list())
        if (p.name.find(".lora_b") != std::string::npos)
            for (size_t i = 0; i < p.size; i++) tr.params()[p.offset + i] = 0.2f * (float(g() % 2001) / 1000.0f - 1.0f);
    const std::vector<Sequence> seqs = random_sequences(3, 11, model->config().n_vocab);
    std::vector<const Sequence*> batch;
    for (const auto& s : seqs) batch.push_back(&s);
    CHECK(tr.param_list().size() == size_t(2 * 7 * model->config().n_layer));
    CHECK(model_fd_worst(tr, batch, 3, 1e-2) < 2e-2);
}

TEST_CASE("train: whole-model gradient on stories260K matches finite differences (full training, every tensor)") {
    SLM_REQUIRE_FIXTURE(kStories);
    auto model = Model::load(test::fixture(kStories));
    ThreadPool pool(2);
    auto be = make_cpu_train_backend(pool);
    TrainerOptions opt;
    opt.full = true;
    Trainer tr(*model, *be, pool, opt);
    const std::vector<Sequence> seqs = random_sequences(2, 12, model->config().n_vocab);
    std::vector<const Sequence*> batch;
    for (const auto& s : seqs) batch.push_back(&s);
    CHECK(tr.param_list().size() == size_t(3 + 9 * model->config().n_layer));
    CHECK(model_fd_worst(tr, batch, 2, 1e-2) < 2e-2);
}
