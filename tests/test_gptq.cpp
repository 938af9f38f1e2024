// GPTQ-4: the format (kernels/cpu/gptq.cpp) and the quantizer (src/gptq.cpp), checked against brute force.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include "backend.h"
#include "common.h"
#include "cpu/gptq.h"
#include "cpu/matmul.h"
#include "forward.h"
#include "gguf.h"
#include "gptq.h"
#include "model.h"
#include "ops.h"
#include "test_util.h"
#include "tokenizer.h"
#include "threadpool.h"

using namespace slm;

namespace {

// Random parts of an n_out x n_in GPTQ matrix (every nibble, zero and scale exercised), act-order if asked.
gptq::Quantized random_quantized(int64_t n_out, int64_t n_in, int64_t g, bool perm, std::mt19937& rng) {
    gptq::Quantized q;
    q.n_in = n_in, q.n_out = n_out, q.group_size = g;
    const int64_t ng = (n_in + g - 1) / g;
    std::uniform_int_distribution<uint32_t> word;
    std::uniform_int_distribution<int> z(0, 15);
    std::uniform_real_distribution<float> s(0.001f, 0.1f);
    for (int64_t i = 0; i < n_out * n_in / 8; i++) q.qweight.push_back(word(rng));
    for (int64_t i = 0; i < n_out * ng; i++) q.scales.push_back(fp32_to_fp16(s(rng))), q.zeros.push_back(int8_t(z(rng)));
    if (perm) {
        q.perm.resize(static_cast<size_t>(n_in));
        std::iota(q.perm.begin(), q.perm.end(), 0);
        std::shuffle(q.perm.begin(), q.perm.end(), rng);
    }
    return q;
}

// Output error sum_t ||(W - Wq) x_t||^2 of a quantized matrix, in double.
double output_error(const std::vector<float>& W, const gptq::Quantized& q, const std::vector<float>& X, int64_t T) {
    const WeightView v = q.view();
    std::vector<float> r(size_t(q.n_in));
    double e = 0;
    for (int64_t o = 0; o < q.n_out; o++) {
        kernels::gptq_dequantize_row(v, o, r.data());
        for (int64_t t = 0; t < T; t++) {
            double d = 0;
            for (int64_t k = 0; k < q.n_in; k++)
                d += (double(W[size_t(o * q.n_in + k)]) - r[size_t(k)]) * X[size_t(t * q.n_in + k)];
            e += d * d;
        }
    }
    return e;
}

// Correlated inputs (as real activations are): x = z M with a random mixing matrix, plus a few large columns.
std::vector<float> correlated_inputs(int64_t T, int64_t n, std::mt19937& rng) {
    std::normal_distribution<float> nd;
    std::vector<float> m(static_cast<size_t>(n * n)), z(static_cast<size_t>(n)), x(static_cast<size_t>(T * n));
    for (float& v : m) v = nd(rng) / std::sqrt(float(n));
    for (int64_t t = 0; t < T; t++) {
        for (float& v : z) v = nd(rng);
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += double(z[size_t(i)]) * m[size_t(i * n + j)];
            x[size_t(t * n + j)] = float(s) * (j % 17 == 3 ? 8.0f : 1.0f);
        }
    }
    return x;
}

}  // namespace

TEST_CASE("gptq: layout: nibble order, scales, zeros and the permutation as drawn") {
    // Row 0: columns 0..15 hold 0..15 (word 0 = 0x76543210, word 1 = 0xFEDCBA98); group size 8.
    const uint32_t qw[2] = {0x76543210u, 0xFEDCBA98u};
    const fp16_t sc[2] = {fp32_to_fp16(0.5f), fp32_to_fp16(2.0f)};
    const int8_t zr[2] = {3, 12};
    std::vector<float> out(16);
    kernels::gptq_dequantize_row(kernels::gptq_view(16, 1, 8, qw, sc, zr, nullptr), 0, out.data());
    for (int k = 0; k < 16; k++) CHECK(out[size_t(k)] == (k < 8 ? 0.5f * float(k - 3) : 2.0f * float(k - 12)));
    // With a permutation, stored column k lands at input column perm[k].
    int32_t perm[16];
    for (int k = 0; k < 16; k++) perm[k] = (k * 5) % 16;
    kernels::gptq_dequantize_row(kernels::gptq_view(16, 1, 8, qw, sc, zr, perm), 0, out.data());
    for (int k = 0; k < 16; k++) CHECK(out[size_t(perm[k])] == (k < 8 ? 0.5f * float(k - 3) : 2.0f * float(k - 12)));
}

TEST_CASE("gptq: view checks reject bad parts") {
    std::mt19937 rng(1);
    gptq::Quantized q = random_quantized(3, 40, 16, true, rng);
    CHECK(kernels::gptq_check(q.view()) == "");
    WeightView v = q.view();
    v.parts[1].ne0 = 2;  // scales with too few groups
    CHECK(kernels::gptq_check(v).find("scales") != std::string::npos);
    v = q.view();
    v.group_size = 12;
    CHECK(kernels::gptq_check(v).find("group size") != std::string::npos);
    q.perm[0] = q.perm[1];  // not a permutation: would read x twice and skip a column
    CHECK(kernels::gptq_check(q.view()).find("permutation") != std::string::npos);
    q.perm[0] = 1000;
    CHECK(kernels::gptq_check(q.view()).find("permutation") != std::string::npos);
}

TEST_CASE("gptq: matmul matches the reference dot on awkward shapes, for any thread count") {
    std::mt19937 rng(7);
    struct Shape {
        int64_t n_out, n_in, g;
        bool perm;
    };
    // 72 columns at group 16: a short last group; 8 columns: one word per row; 1 output row.
    for (const Shape sh : {Shape{5, 72, 16, false}, Shape{5, 72, 16, true}, Shape{1, 8, 8, false}, Shape{33, 264, 128, true},
                           Shape{17, 576, 128, false}}) {
        CAPTURE(sh.n_out);
        CAPTURE(sh.n_in);
        CAPTURE(sh.perm);
        const gptq::Quantized q = random_quantized(sh.n_out, sh.n_in, sh.g, sh.perm, rng);
        const WeightView v = q.view();
        REQUIRE(kernels::gptq_check(v) == "");
        const int64_t n = 3;
        std::vector<float> x(size_t(n * sh.n_in)), y1(size_t(n * sh.n_out), NAN), y3(y1);
        std::normal_distribution<float> nd;
        for (float& f : x) f = nd(rng);
        ThreadPool p1(1), p3(3);
        kernels::gptq_matmul(v, x.data(), n, y1.data(), p1);
        kernels::gptq_matmul(v, x.data(), n, y3.data(), p3);
        for (int64_t t = 0; t < n; t++)
            for (int64_t o = 0; o < sh.n_out; o++) {
                const double ref = kernels::gptq_dot_reference(v, o, x.data() + t * sh.n_in);
                double mag = 0;  // the scale of the terms, for a relative tolerance
                std::vector<float> r(size_t(sh.n_in));
                kernels::gptq_dequantize_row(v, o, r.data());
                for (int64_t k = 0; k < sh.n_in; k++) mag += std::fabs(double(r[size_t(k)]) * x[size_t(t * sh.n_in + k)]);
                CHECK(std::fabs(y1[size_t(t * sh.n_out + o)] - ref) <= 1e-5 * mag + 1e-6);
                CHECK(y1[size_t(t * sh.n_out + o)] == y3[size_t(t * sh.n_out + o)]);
            }
        // The generic matmul routes the format here too.
        std::vector<float> y2(y1.size(), NAN);
        MatmulScratch s;
        matmul(v, x.data(), n, y2.data(), p3, s);
        CHECK(y2 == y1);
    }
}

TEST_CASE("gptq: Cholesky and the inverse's upper factor, exactly") {
    std::mt19937 rng(3);
    std::normal_distribution<double> nd;
    const int64_t n = 37;
    std::vector<double> m(static_cast<size_t>(n * n)), a(size_t(n * n), 0.0);
    for (double& v : m) v = nd(rng);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            for (int64_t k = 0; k < n; k++) a[size_t(i * n + j)] += m[size_t(i * n + k)] * m[size_t(j * n + k)];
            if (i == j) a[size_t(i * n + j)] += 0.5;
        }
    std::vector<double> l = a;
    REQUIRE(gptq::cholesky(l, n));
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            if (j > i) CHECK(l[size_t(i * n + j)] == 0.0);
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += l[size_t(i * n + k)] * l[size_t(j * n + k)];
            worst = std::max(worst, std::fabs(s - a[size_t(i * n + j)]));
        }
    CHECK(worst < 1e-9);
    // U upper with U^T U = A^-1, i.e. (U^T U) A = I.
    const std::vector<double> u = gptq::inverse_upper_factor(a, n);
    std::vector<double> inv(size_t(n * n), 0.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            if (i > j) CHECK(u[size_t(i * n + j)] == 0.0);
            for (int64_t k = 0; k < n; k++) inv[size_t(i * n + j)] += u[size_t(k * n + i)] * u[size_t(k * n + j)];
        }
    worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += inv[size_t(i * n + k)] * a[size_t(k * n + j)];
            worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
        }
    CHECK(worst < 1e-8);
    // Not positive definite: refused.
    std::vector<double> bad(size_t(4), 0.0);
    bad[0] = 1, bad[3] = -1;
    CHECK_FALSE(gptq::cholesky(bad, 2));
}

TEST_CASE("gptq: the Hessian is 2/T sum x x^T") {
    std::mt19937 rng(5);
    const int64_t n = 24, T = 2100;  // more rows than one chunk
    const std::vector<float> x = correlated_inputs(T, n, rng);
    ThreadPool pool(2);
    gptq::Hessian h(n);
    h.add(x.data(), 1000, test::cpu());
    h.add(x.data() + 1000 * n, T - 1000, test::cpu());
    CHECK(h.count() == T);
    const std::vector<double> got = h.matrix();
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t t = 0; t < T; t++) s += double(x[size_t(t * n + i)]) * x[size_t(t * n + j)];
            s *= 2.0 / double(T);
            CHECK(std::fabs(got[size_t(i * n + j)] - s) <= 1e-5 * std::fabs(s) + 1e-5);
        }
}

TEST_CASE("gptq: beats round-to-nearest on a random layer; its loss is the exact quadratic form") {
    std::mt19937 rng(11);
    const int64_t n_out = 24, n_in = 192, T = 600;
    std::normal_distribution<float> nd;
    std::vector<float> W(static_cast<size_t>(n_out * n_in));
    for (float& v : W) v = nd(rng) * 0.05f;
    const std::vector<float> X = correlated_inputs(T, n_in, rng);
    ThreadPool pool(2);
    gptq::Hessian hs(n_in);
    hs.add(X.data(), T, test::cpu());
    const std::vector<double> H = hs.matrix();
    for (const bool act : {false, true})
        for (const bool sym : {false, true})
            for (const int64_t g : {int64_t(32), int64_t(64)}) {
                CAPTURE(act);
                CAPTURE(sym);
                CAPTURE(g);
                gptq::Options o;
                o.group_size = g, o.act_order = act, o.sym = sym, o.block = 48;  // blocks and groups misaligned
                const gptq::Quantized q = gptq::quantize(W.data(), n_out, n_in, H, o, pool);
                const gptq::Quantized r = gptq::quantize_rtn(W.data(), n_out, n_in, o);
                REQUIRE(kernels::gptq_check(q.view()) == "");
                CHECK(q.perm.empty() == !act);
                const double e_gptq = output_error(W, q, X, T), e_rtn = output_error(W, r, X, T);
                MESSAGE("output error: gptq " << e_gptq << ", rtn " << e_rtn);
                CHECK(e_gptq < 0.8 * e_rtn);
                // Every column fixed by the optimal brain surgeon step raises (w - w0)^T Hd (w - w0) / 2 by exactly
                // the step's loss, whatever was chosen, so the summed loss is the damped form at the result.
                double mean_diag = 0;
                for (int64_t k = 0; k < n_in; k++) mean_diag += H[size_t(k * n_in + k)] / double(n_in);
                const WeightView v = q.view();
                std::vector<float> d(static_cast<size_t>(n_in));
                double form = 0;
                for (int64_t o2 = 0; o2 < n_out; o2++) {
                    kernels::gptq_dequantize_row(v, o2, d.data());
                    std::vector<double> e(static_cast<size_t>(n_in));
                    for (int64_t k = 0; k < n_in; k++) e[size_t(k)] = double(d[size_t(k)]) - W[size_t(o2 * n_in + k)];
                    for (int64_t i = 0; i < n_in; i++)
                        for (int64_t j = 0; j < n_in; j++)
                            form += e[size_t(i)] * e[size_t(j)] *
                                    (H[size_t(i * n_in + j)] + (i == j ? o.damp * mean_diag : 0.0)) / 2;
                }
                CHECK(std::fabs(form - q.loss) <= 1e-6 * form);
            }
}

TEST_CASE("gptq: the block width does not change the result (lazy batches reorder the updates' storage only)") {
    // Each later column still receives the earlier columns' updates in column order, so with groups that do not
    // straddle a block boundary (block a multiple of the group size, or block 1) the result is bit-identical.
    std::mt19937 rng(13);
    const int64_t n_out = 6, n_in = 96, T = 300;
    std::normal_distribution<float> nd;
    std::vector<float> W(static_cast<size_t>(n_out * n_in));
    for (float& v : W) v = nd(rng);
    const std::vector<float> X = correlated_inputs(T, n_in, rng);
    ThreadPool pool(1);
    gptq::Hessian hs(n_in);
    hs.add(X.data(), T, test::cpu());
    gptq::Options o;
    o.group_size = 32;
    o.act_order = true;
    o.block = 1;
    const gptq::Quantized ref = gptq::quantize(W.data(), n_out, n_in, hs.matrix(), o, pool);
    for (const int64_t b : {int64_t(32), int64_t(64), int64_t(96), int64_t(500)}) {
        CAPTURE(b);
        o.block = b;
        const gptq::Quantized q = gptq::quantize(W.data(), n_out, n_in, hs.matrix(), o, pool);
        CHECK(q.qweight == ref.qweight);
        CHECK(q.scales == ref.scales);
        CHECK(q.zeros == ref.zeros);
        CHECK(q.perm == ref.perm);
    }
}

TEST_CASE("gptq: bad shapes and options are errors") {
    ThreadPool pool(1);
    std::vector<float> W(12 * 4, 1.0f);
    std::vector<double> H(12 * 12, 0.0);
    gptq::Options o;
    o.group_size = 8;
    CHECK_THROWS_AS(gptq::quantize(W.data(), 4, 12, H, o, pool), Error);  // 12 columns: not a multiple of 8
    o.group_size = 12;
    CHECK_THROWS_AS(gptq::quantize_rtn(W.data(), 3, 16, o), Error);
    o.group_size = 8;
    CHECK_THROWS_AS(gptq::quantize(W.data(), 3, 16, std::vector<double>(10), o, pool), Error);  // Hessian size
    // An all-zero Hessian (no input reached any column): every column is dead, the result is zero, no error.
    const gptq::Quantized q = gptq::quantize(W.data(), 3, 16, std::vector<double>(256, 0.0), o, pool);
    std::vector<float> r(16);
    kernels::gptq_dequantize_row(q.view(), 0, r.data());
    for (float v : r) CHECK(v == 0.0f);
}

TEST_CASE("gptq: a whole model: quantize, load, run; logits close to the float model's") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const std::string dir = test::scratch_dir("gptq_model");
    const std::string calib = dir + "/calib.jsonl", out = dir + "/tiny-gptq.gguf";
    {
        std::ofstream f(calib);
        const char* texts[] = {"where is my order 1234?", "I want to return the red shoes, size 42",
                               "do you have this laptop in silver", "cancel my subscription please",
                               "¿cuánto cuesta el envío a Madrid?", "Ich möchte meine Adresse ändern"};
        for (const char* t : texts)
            f << "{\"messages\": [{\"role\": \"system\", \"content\": \"Classify the shopper's intent.\"}, "
                 "{\"role\": \"user\", \"content\": \""
              << t << "\"}, {\"role\": \"assistant\", \"content\": \"{}\"}]}\n";
    }
    ThreadPool pool(2);
    gptq::ModelOptions o;
    o.calib_path = calib;
    o.gptq.group_size = 64;
    o.gptq.act_order = true;
    o.progress = false;
    const gptq::ModelResult r = gptq::quantize_model(test::fixture("models/llama3-tiny-f16.gguf"), out, o, pool);
    CHECK(r.n_messages == 6);
    CHECK(r.n_matrices == 14);
    CHECK(r.bytes_out < r.bytes_in);

    auto ref = Model::load(test::fixture("models/llama3-tiny-f16.gguf"), test::cpu());
    auto q = Model::load(out, test::cpu());
    CHECK(q->layers()[0].wq.w.format == WeightFormat::gptq);
    CHECK(q->layers()[1].w_down.w.n_parts == 4);  // act-order stores the permutation
    CHECK(q->file().get_int("slm.gptq.group_size") == 64);
    const std::vector<int32_t> ids = ref->tokenizer().encode("where is my order? I want to return the shoes", true);
    ContextOptions co;
    co.kv_type = GgmlType::F32;
    Context c1(*ref, test::cpu(), co), c2(*q, test::cpu(), co);
    const int V = ref->config().n_vocab;
    const float* l1 = c1.eval(ids, true);
    std::vector<float> a(l1, l1 + ids.size() * size_t(V));
    const float* l2 = c2.eval(ids, true);
    // A random-weight model has near-uniform next-token distributions, so compare the logit vectors: 4-bit
    // weights move them by a fraction of their spread, never wildly.
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); i++) num += double(a[i] - l2[i]) * (a[i] - l2[i]), den += double(a[i]) * a[i];
    MESSAGE("relative logit error " << std::sqrt(num / den));
    CHECK(std::sqrt(num / den) < 0.3);
}

TEST_CASE("gptq: calibration file errors name the file and line") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const std::string dir = test::scratch_dir("gptq_bad_calib");
    ThreadPool pool(1);
    gptq::ModelOptions o;
    o.progress = false;
    o.calib_path = dir + "/absent.jsonl";
    auto msg = [&]() -> std::string {
        try {
            gptq::quantize_model(test::fixture("models/llama3-tiny-f16.gguf"), dir + "/out.gguf", o, pool);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    CHECK(msg().find("absent.jsonl") != std::string::npos);
    o.calib_path = dir + "/bad.jsonl";
    std::ofstream(o.calib_path) << "{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}]}\n{\"text\": 1}\n";
    CHECK(msg().find("bad.jsonl:2") != std::string::npos);
}

TEST_CASE("gptq: the calibration forward pass is the engine's forward pass on the quantized file") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const std::string dir = test::scratch_dir("gptq_forward");
    const std::string calib = dir + "/calib.jsonl", out = dir + "/tiny-gptq.gguf";
    std::ofstream(calib) << "{\"messages\": [{\"role\": \"user\", \"content\": \"track order 991 and change the address\"},"
                            " {\"role\": \"assistant\", \"content\": \"{\\\"intent\\\": \\\"track\\\"}\"}]}\n"
                            "{\"messages\": [{\"role\": \"user\", \"content\": \"other text\"}]}\n";
    ThreadPool pool(2);
    gptq::ModelOptions o;
    o.calib_path = calib;
    o.gptq.group_size = 32;
    o.progress = false;
    const gptq::ModelResult r = gptq::quantize_model(test::fixture("models/llama3-tiny-f16.gguf"), out, o, pool);
    auto q = Model::load(out, test::cpu());
    const ModelConfig& c = q->config();
    const int n = int(r.first_ids.size()), E = c.n_embd, V = c.n_vocab;
    REQUIRE(int(r.first_hidden.size()) == n * E);
    ContextOptions co;
    co.kv_type = GgmlType::F32;
    Context ctx(*q, test::cpu(), co);
    const float* lg = ctx.eval(r.first_ids, true);
    // logits from the calibration's hidden states: rmsnorm, then the output matrix
    std::vector<float> xn(size_t(n * E)), mine(size_t(n) * size_t(V));
    for (int t = 0; t < n; t++)
        ops::rmsnorm(&r.first_hidden[size_t(t * E)], q->output_norm().data(), &xn[size_t(t * E)], E, c.rms_eps);
    test::cpu().matmul(q->output(), xn.data(), n, mine.data(), Numerics::fast);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < mine.size(); i++) {
        worst = std::max(worst, std::fabs(double(mine[i]) - lg[i]));
        scale = std::max(scale, std::fabs(double(lg[i])));
    }
    MESSAGE("max |logit difference| " << worst << " of max |logit| " << scale);
    CHECK(worst < 1e-3 * scale);
}

TEST_CASE("backend: the CPU-only build's make_cuda_backend says it was built without CUDA") {
    // build/slm-tests links the weak stand-in (kernels/cpu/cuda_stub.cpp); build/slm-cuda the real backend.
    std::string msg;
    try {
        make_cuda_backend(0);
    } catch (const Error& e) {
        msg = e.what();
    }
    CHECK(msg.find("without CUDA") != std::string::npos);
}
