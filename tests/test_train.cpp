// Training: the backend's transposed products against the scalar reference, the whole model's gradient
// against finite differences on stories260K (LoRA and full), adapters that slm's --lora loader turns into the
// same logits, and a LoRA that learns four examples by heart.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
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
#include "train/loop.h"
#include "train/optim.h"
#include "train/trainer.h"

using namespace slm;
using namespace slm::train;

namespace {

const char* kStories = "models/stories260K.gguf";

// The backend models are checked against at load (Model::load asks it whether it supports each weight).
const Backend& loader() {
    static ThreadPool pool(1);
    static std::unique_ptr<Backend> be = make_cpu_backend(pool);
    return *be;
}

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
    for (int n_out : {40, 600}) {  // 600: matmul_dx's row groups (512 rows) and a partial row tile
        CAPTURE(n_out);
        for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
            CAPTURE(type_name(t));
            const int n_in = t == GgmlType::F32 ? 72 : 256;  // 72: a partial column chunk and vector remainder
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
                    auto be = make_cpu_backend(pool);
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
    auto model = Model::load(test::fixture(kStories), loader());
    ThreadPool pool(2);
    auto be = make_cpu_backend(pool);
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
    auto model = Model::load(test::fixture(kStories), loader());
    ThreadPool pool(2);
    auto be = make_cpu_backend(pool);
    TrainerOptions opt;
    opt.full = true;
    Trainer tr(*model, *be, pool, opt);
    const std::vector<Sequence> seqs = random_sequences(2, 12, model->config().n_vocab);
    std::vector<const Sequence*> batch;
    for (const auto& s : seqs) batch.push_back(&s);
    CHECK(tr.param_list().size() == size_t(3 + 9 * model->config().n_layer));
    CHECK(model_fd_worst(tr, batch, 2, 1e-2) < 2e-2);
}

TEST_CASE("train: the adapter in llama.cpp's layout loads through Model::add_lora and gives the trainer's logits") {
    SLM_REQUIRE_FIXTURE(kStories);
    auto model = Model::load(test::fixture(kStories), loader());
    ThreadPool pool(2);
    auto be = make_cpu_backend(pool);
    TrainerOptions opt;
    opt.lora.rank = 4;
    opt.lora.alpha = 8;
    opt.lora.targets = parse_targets("q,v,o,down");
    Trainer tr(*model, *be, pool, opt);
    std::mt19937 g(9);
    for (float& p : tr.params()) p += 0.05f * (float(g() % 2001) / 1000.0f - 1.0f);  // B non-zero
    const std::string path = test::scratch_dir("train_adapter") + "/a.gguf";
    tr.save(path);
    {
        gguf::File f = gguf::File::open(path);
        CHECK(f.get_string("general.type") == "adapter");
        CHECK(f.get_string("adapter.type") == "lora");
        CHECK(f.get_float("adapter.lora.alpha") == doctest::Approx(8.0));
        const gguf::TensorInfo* a = f.find_tensor("blk.2.attn_q.weight.lora_a");
        const gguf::TensorInfo* b = f.find_tensor("blk.2.attn_q.weight.lora_b");
        REQUIRE(a);
        REQUIRE(b);
        CHECK(a->ne[0] == 64);  // [n_in, r]
        CHECK(a->ne[1] == 4);
        CHECK(b->ne[0] == 4);   // [r, n_out]
        CHECK(b->ne[1] == 64);
        CHECK(!f.find_tensor("blk.0.attn_k.weight.lora_a"));
        CHECK(f.tensors().size() == size_t(2 * 4 * model->config().n_layer));
    }
    const std::vector<int32_t> ids = model->tokenizer().encode("Once upon a time, there was a little dog.", true);
    const std::vector<float> ours = tr.logits(ids);
    auto m2 = Model::load(test::fixture(kStories), loader());
    m2->load_lora(path, loader());
    ContextOptions co;
    co.kv_type = GgmlType::F32;
    Context ctx(*m2, *be, co);
    const float* theirs = ctx.eval(ids, true);
    const size_t V = size_t(model->config().n_vocab);
    double worst = 0, base_diff = 0;
    Context ctx0(*model, *be, co);
    const float* base = ctx0.eval(ids, true);
    for (size_t i = 0; i < ids.size() * V; i++) {
        worst = std::max(worst, double(std::fabs(ours[i] - theirs[i])));
        base_diff = std::max(base_diff, double(std::fabs(ours[i] - base[i])));
    }
    MESSAGE("max |trainer - slm --lora| = " << worst << " (the adapter moves logits by up to " << base_diff << ")");
    CHECK(worst < 1e-4);
    CHECK(base_diff > 1e-2);  // the adapter does something
}

namespace {

// Four short prompt -> answer pairs, rendered without a chat template (stories260K has none).
std::vector<Sequence> four_examples(const Tokenizer& tok) {
    const char* qa[4][2] = {{"Tom has a red ball.", "red"}, {"The cat sat on the mat.", "mat"},
                            {"Lily likes to sing.", "sing"}, {"The sun is hot.", "hot"}};
    std::vector<Sequence> out;
    for (auto& p : qa) {
        Sequence s;
        s.ids = tok.encode(p[0], true, false);
        s.mask.assign(s.ids.size(), 0);
        for (int32_t id : tok.encode(std::string(" Answer: ") + p[1], false, false)) {
            s.ids.push_back(id);
            s.mask.push_back(1);
        }
        out.push_back(s);  // no </s>: stories260K never saw one in training (its output row is ~0: unlearnable by LoRA)
    }
    return out;
}

}  // namespace

TEST_CASE("train: LoRA on stories260K learns four examples by heart (loss < 0.05)") {
    SLM_REQUIRE_FIXTURE(kStories);
    auto model = Model::load(test::fixture(kStories), loader());
    ThreadPool pool(2);
    auto be = make_cpu_backend(pool);
    TrainerOptions opt;  // rank 8, alpha 16, every projection
    Trainer tr(*model, *be, pool, opt);
    const std::vector<Sequence> ex = four_examples(model->tokenizer());
    std::vector<const Sequence*> batch;
    int n_t = 0;
    for (const auto& s : ex) {
        batch.push_back(&s);
        n_t += s.n_targets();
    }
    const double first = tr.loss(batch) / n_t;
    AdamW adam;
    double loss = first;
    int step = 0;
    const double lr = 3e-3;
    for (; step < 300 && loss >= 0.05; step++) {
        tr.zero_grads();
        loss = tr.forward_backward(batch, 1.0 / n_t) / n_t;
        clip_global_norm(tr.grads(), 1.0);
        adam.step(tr.params(), tr.grads(), lr_at(Schedule::constant, lr, step, 300, 10), {});
    }
    loss = tr.loss(batch) / n_t;
    MESSAGE("loss " << first << " -> " << loss << " after " << step << " steps");
    CHECK(first > 1.0);
    CHECK(loss < 0.05);
    // And greedy decoding through slm's own inference with the saved adapter reproduces the answers.
    const std::string path = test::scratch_dir("train_overfit") + "/a.gguf";
    tr.save(path);
    auto m2 = Model::load(test::fixture(kStories), loader());
    m2->load_lora(path, loader());
    ContextOptions co;
    co.kv_type = GgmlType::F32;
    Context ctx(*m2, *be, co);
    for (const Sequence& s : ex) {
        size_t p = 0;
        while (!s.mask[p]) p++;
        ctx.clear();
        const float* lg = ctx.eval(std::vector<int32_t>(s.ids.begin(), s.ids.begin() + long(p)));
        std::vector<int32_t> got;
        for (size_t k = p; k < s.ids.size(); k++) {
            const int32_t best = int32_t(std::max_element(lg, lg + model->config().n_vocab) - lg);
            got.push_back(best);
            lg = ctx.eval(&best, 1);
        }
        CHECK(got == std::vector<int32_t>(s.ids.begin() + long(p), s.ids.end()));
    }
}

namespace {

Dataset dataset_of(const std::vector<Sequence>& seqs) {
    Dataset d;
    d.seqs = seqs;
    for (const auto& s : seqs) {
        d.n_tokens += int64_t(s.ids.size());
        d.n_targets += s.n_targets();
        d.examples.emplace_back();
    }
    return d;
}

}  // namespace

TEST_CASE("train: 2N steps in one go equal N steps + checkpoint + --resume + N steps, bit for bit") {
    SLM_REQUIRE_FIXTURE(kStories);
    auto model = Model::load(test::fixture(kStories), loader());
    const Dataset d = dataset_of(random_sequences(10, 21, model->config().n_vocab));
    const std::string dir = test::scratch_dir("train_resume");
    LoopOptions lo;
    lo.epochs = 3;  // 10 sequences, batch 3, accum 2: 2 steps per epoch, 6 in all, across epoch boundaries
    lo.batch = 3;
    lo.accum = 2;
    lo.lr = 5e-3;
    lo.warmup = 2;
    lo.weight_decay = 0.01;
    lo.eval_n = 0;
    lo.progress = false;
    auto run = [&](int threads, int64_t stop_after, const std::string& resume, const std::string& ckpt) {
        ThreadPool pool(threads);
        auto be = make_cpu_backend(pool);
        TrainerOptions opt;
        opt.lora.rank = 4;
        Trainer tr(*model, *be, pool, opt);
        LoopOptions o = lo;
        o.stop_after = stop_after;
        o.resume = resume;
        o.ckpt_path = ckpt;
        train_loop(tr, pool, d, nullptr, o);
        return tr.params();
    };
    const std::vector<float> whole = run(2, 0, "", "");
    const std::vector<float> half = run(1, 3, "", dir + "/c.ckpt");
    const std::vector<float> resumed = run(2, 0, dir + "/c.ckpt", "");
    CHECK(half != whole);
    CHECK(resumed == whole);
    // A checkpoint from other settings is refused.
    ThreadPool pool(1);
    auto be = make_cpu_backend(pool);
    TrainerOptions other;
    other.lora.rank = 2;
    Trainer tr(*model, *be, pool, other);
    AdamW adam;
    CHECK_THROWS_AS(load_checkpoint(dir + "/c.ckpt", tr, adam), Error);
}

namespace slm::cli {
int cmd_merge(int argc, char** argv);
int cmd_train(int argc, char** argv);
}

namespace {
int call(int (*fn)(int, char**), std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return fn(int(argv.size()), argv.data());
}
}  // namespace

TEST_CASE("train: slm merge gives the logits of base + adapter at run time (F32 within 1e-3, F16 close)") {
    SLM_REQUIRE_FIXTURE(kStories);
    auto model = Model::load(test::fixture(kStories), loader());
    ThreadPool pool(2);
    auto be = make_cpu_backend(pool);
    TrainerOptions opt;
    opt.lora.rank = 4;
    Trainer tr(*model, *be, pool, opt);
    std::mt19937 g(13);
    for (float& p : tr.params()) p += 0.05f * (float(g() % 2001) / 1000.0f - 1.0f);
    const std::string dir = test::scratch_dir("train_merge");
    tr.save(dir + "/a.gguf");
    REQUIRE(call(cli::cmd_merge, {"merge", "-m", test::fixture(kStories), "--lora", dir + "/a.gguf", "-o", dir + "/m32.gguf", "--type", "F32"}) == 0);
    REQUIRE(call(cli::cmd_merge, {"merge", "-m", test::fixture(kStories), "--lora", dir + "/a.gguf", "-o", dir + "/m16.gguf"}) == 0);
    const std::vector<int32_t> ids = model->tokenizer().encode("Lily went to the park with her mom.", true);
    ContextOptions co;
    co.kv_type = GgmlType::F32;
    auto with_lora = Model::load(test::fixture(kStories), loader());
    with_lora->load_lora(dir + "/a.gguf", loader());
    Context c0(*with_lora, *be, co);
    const float* lr = c0.eval(ids, true);
    const size_t nv = ids.size() * size_t(model->config().n_vocab);
    const std::vector<float> runtime(lr, lr + nv);
    for (const char* f : {"m32", "m16"}) {
        auto merged = Model::load(dir + "/" + f + ".gguf", loader());
        CHECK(merged->n_lora() == 0);
        Context c1(*merged, *be, co);
        const float* lm = c1.eval(ids, true);
        double worst = 0;
        for (size_t i = 0; i < nv; i++) worst = std::max(worst, double(std::fabs(lm[i] - runtime[i])));
        MESSAGE(std::string(f) << ": max |merged - base+adapter| = " << worst);
        CHECK(worst < (std::string(f) == "m32" ? 1e-3 : 5e-2));
    }
    CHECK_THROWS_AS(call(cli::cmd_merge, {"merge", "-m", test::fixture(kStories), "--lora", dir + "/a.gguf", "-o", dir + "/x.gguf", "--type", "Q4_0"}), Error);
}

TEST_CASE("train: slm train --full and LoRA on a messages file, and its bad-input errors") {
    SLM_REQUIRE_FIXTURE(kStories);
    const std::string dir = test::scratch_dir("train_cli");
    {
        std::ofstream f(dir + "/d.jsonl");
        for (int i = 0; i < 6; i++)
            f << "{\"messages\": [{\"role\": \"user\", \"content\": \"add " << i
              << " socks\"}, {\"role\": \"assistant\", \"content\": \"{\\\"action\\\": \\\"add_to_cart\\\", \\\"product\\\": \\\"socks\\\", \\\"quantity\\\": "
              << (i + 1) << "}\"}], \"lang\": \"en\"}\n";
        std::ofstream(dir + "/empty.jsonl") << "\n";
        std::ofstream(dir + "/bad.jsonl") << "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n";
    }
    const std::string m = test::fixture(kStories);
    CHECK(call(cli::cmd_train, {"train", "-m", m, "--data", dir + "/d.jsonl", "--val", dir + "/d.jsonl", "-o", dir + "/full.gguf",
                                "--full", "--lr", "1e-3", "--batch", "2", "--epochs", "1", "--eval-n", "2", "--threads", "1"}) == 0);
    auto full = Model::load(dir + "/full.gguf", loader());
    CHECK(full->config().n_layer == 5);
    CHECK(call(cli::cmd_train, {"train", "-m", m, "--data", dir + "/d.jsonl", "-o", dir + "/a.gguf", "--max-steps", "2",
                                "--targets", "q,v", "--rank", "2", "--threads", "1"}) == 0);
    auto base = Model::load(m, loader());
    base->load_lora(dir + "/a.gguf", loader());
    CHECK(base->n_lora() == 1);
    auto bad = [&](std::vector<std::string> extra) {
        std::vector<std::string> a = {"train", "-m", m, "-o", dir + "/x.gguf", "--threads", "1"};
        a.insert(a.end(), extra.begin(), extra.end());
        CHECK_THROWS_AS(call(cli::cmd_train, a), Error);
    };
    bad({"--data", dir + "/empty.jsonl"});
    bad({"--data", dir + "/bad.jsonl"});
    bad({"--data", dir + "/missing.jsonl"});
    bad({"--data", dir + "/d.jsonl", "--rank", "100"});     // larger than the 64-wide layers
    bad({"--data", dir + "/d.jsonl", "--targets", "q,x"});
    bad({"--data", dir + "/d.jsonl", "--seq", "5"});         // every example is longer
    bad({"--data", dir + "/d.jsonl", "--sched", "step"});
}
