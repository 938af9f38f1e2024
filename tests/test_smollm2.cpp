// SmolLM2-135M-Instruct (a real pretrained instruct model): its Q4_1 file loads, its logits agree with the
// float64 reference statistically (the fixtures README's tolerance: 8-bit activation rounding makes them
// chaotic), its F16 copy (slm quantize --allow-requantize) is the file the F16 reference was made from and
// matches that reference to 1e-3, and it answers in ChatML through the model's own template.
#include <cmath>
#include <cstdlib>

#include "chat_template.h"
#include "forward.h"
#include "generate.h"
#include "gguf.h"
#include "model.h"
#include "ops.h"
#include "backend.h"
#include "quantize.h"
#include "sampler.h"
#include "sha256.h"
#include "test_util.h"
#include "threadpool.h"
#include "tokenizer.h"

using namespace slm;

namespace {

const char* kSmol = "models/SmolLM2-135M-Instruct-Q4_1.gguf";

struct Agreement {
    int n = 0, top1 = 0;
    double mean_kl = 0, max_top = 0;
};

// KL(ref || slm) summed over each position's reference top-32, top-1 agreement, over every position.
Agreement agreement(const Model& m, const test::RefLogits& ref, GgmlType kv) {
    ThreadPool pool(2);
    auto be = make_cpu_backend(pool);
    ContextOptions co;
    co.kv_type = kv;
    Context ctx(m, *be, co);
    const int n = int(ref.tokens.size()), V = m.config().n_vocab;
    const float* lg = ctx.eval(ref.tokens, true);
    Agreement a;
    a.n = n;
    for (int p = 0; p < n; p++) {
        const float* row = lg + size_t(p) * size_t(V);
        const auto& rp = ref.pos[size_t(p)];
        const double lse = ops::log_sum_exp(row, V);
        double kl = 0;
        for (auto& [id, v] : rp.top) {
            const double lp = double(v) - rp.lse, lq = double(row[id]) - lse;
            kl += std::exp(lp) * (lp - lq);
            a.max_top = std::max(a.max_top, std::fabs(double(row[id]) - v));
        }
        a.mean_kl += kl / n;
        a.top1 += argmax(row, V) == rp.top[0].first;
    }
    return a;
}

}  // namespace

TEST_CASE("smollm2: the Q4_1 file loads with its configuration") {
    SLM_REQUIRE_FIXTURE(kSmol);
    auto m = Model::load(test::fixture(kSmol), test::cpu());
    const ModelConfig& c = m->config();
    CHECK(c.n_layer == 30);
    CHECK(c.n_embd == 576);
    CHECK(c.n_head == 9);
    CHECK(c.n_head_kv == 3);
    CHECK(c.n_ff == 1536);
    CHECK(c.n_vocab == 49152);
    CHECK(c.rope_freq_base == 100000.0f);
    CHECK(c.tied_embeddings);
    CHECK(!c.has_rope_freqs);
    CHECK(m->tokenizer().bos_id() == 1);
    CHECK(m->tokenizer().eos_id() == 2);
    CHECK(!m->tokenizer().add_bos_default());
}

TEST_CASE("smollm2: Q4_1 logits agree with the float64 reference (top-1 >= 95%, mean KL <= 0.01)") {
    SLM_REQUIRE_FIXTURE(kSmol);
    SLM_REQUIRE_FIXTURE("logits/SmolLM2-135M-Instruct-Q4_1.ref64.txt");
    auto m = Model::load(test::fixture(kSmol), test::cpu());
    const test::RefLogits ref = test::read_ref(test::fixture("logits/SmolLM2-135M-Instruct-Q4_1.ref64.txt"));
    REQUIRE(ref.tokens.size() == 179);
    for (GgmlType kv : {GgmlType::F16, GgmlType::F32}) {
        if (std::getenv("SLM_ASAN") && kv == GgmlType::F32) continue;  // time: one KV type under ASan
        const std::string kvn = type_name(kv);
        CAPTURE(kvn);
        const Agreement a = agreement(*m, ref, kv);
        MESSAGE("SmolLM2 Q4_1 vs ref64 (kv " << kvn << "): top-1 " << a.top1 << "/" << a.n << ", mean KL "
                                             << a.mean_kl << ", max |top-32 diff| " << a.max_top);
        CHECK(a.top1 >= int(std::ceil(0.95 * a.n)));
        CHECK(a.mean_kl <= 0.01);
    }
    // llama.cpp on the same file, with the same statistical yardstick (its own distance to ref64 is the same).
    SLM_REQUIRE_FIXTURE("logits/SmolLM2-135M-Instruct-Q4_1.llamacpp.txt");
    const test::RefLogits lc = test::read_ref(test::fixture("logits/SmolLM2-135M-Instruct-Q4_1.llamacpp.txt"));
    CHECK(lc.tokens == ref.tokens);
    const Agreement b = agreement(*m, lc, GgmlType::F16);
    MESSAGE("SmolLM2 Q4_1 vs llama.cpp: top-1 " << b.top1 << "/" << b.n << ", mean KL " << b.mean_kl);
    CHECK(b.top1 >= int(std::ceil(0.95 * b.n)));
    CHECK(b.mean_kl <= 0.01);
}

TEST_CASE("smollm2: the F16 copy slm quantize writes is the reference's file and matches it to 1e-3") {
    SLM_REQUIRE_FIXTURE(kSmol);
    SLM_REQUIRE_FIXTURE("logits/SmolLM2-135M-Instruct-F16.ref64.txt");
    if (std::getenv("SLM_ASAN")) {
        MESSAGE("skipped under ASan (SLM_ASAN set): a 270 MB file and a 30-layer F32-KV forward pass");
        return;
    }
    const std::string out = test::scratch_dir("smollm2-f16") + "/smollm2-f16.gguf";
    ThreadPool pool(2);
    quant::QuantizeOptions qo;
    qo.allow_requantize = true;
    qo.progress = false;
    quant::quantize_file(test::fixture(kSmol), out, *quant::mix_from_name("F16"), pool, qo);
    // The fixture's sha256 (fea43f3f...) is of the file slm wrote before it adopted llama-quantize's tensor and
    // metadata order (the CPU-speed issue): the tensors' bytes did not change, only where they sit. What matters
    // here is that the weights are the reference's, which the logits below check to 1e-3.

    auto m = Model::load(out, test::cpu());
    const test::RefLogits ref = test::read_ref(test::fixture("logits/SmolLM2-135M-Instruct-F16.ref64.txt"));
    ContextOptions co;
    co.kv_type = GgmlType::F32;
    auto be = make_cpu_backend(pool);
    Context ctx(*m, *be, co);
    const int n = int(ref.tokens.size()), V = m->config().n_vocab;
    const float* lg = ctx.eval(ref.tokens, true);
    double max_top = 0, max_lse = 0;
    int top1 = 0;
    for (int p = 0; p < n; p++) {
        const float* row = lg + size_t(p) * size_t(V);
        for (auto& [id, v] : ref.pos[size_t(p)].top) max_top = std::max(max_top, std::fabs(double(row[id]) - v));
        max_lse = std::max(max_lse, std::fabs(ops::log_sum_exp(row, V) - ref.pos[size_t(p)].lse));
        top1 += argmax(row, V) == ref.pos[size_t(p)].top[0].first;
    }
    MESSAGE("SmolLM2 F16 vs ref64: max |top-32 diff| " << max_top << ", max |lse diff| " << max_lse);
    CHECK(top1 == n);
    CHECK(max_top <= 1e-3);
    CHECK(max_lse <= 1e-3);
    std::vector<float> last = test::read_f32(test::fixture("logits/SmolLM2-135M-Instruct-F16.ref64.last.f32"));
    REQUIRE(last.size() == size_t(V));
    double max_last = 0;
    for (int i = 0; i < V; i++)
        max_last = std::max(max_last, std::fabs(double(lg[size_t(n - 1) * size_t(V) + size_t(i)]) - last[size_t(i)]));
    CHECK(max_last <= 1e-3);
}

TEST_CASE("smollm2: answers a question in ChatML and stops at <|im_end|>") {
    SLM_REQUIRE_FIXTURE(kSmol);
    auto m = Model::load(test::fixture(kSmol), test::cpu());
    const Tokenizer& tok = m->tokenizer();
    const chat::Template t = chat::resolve(tok, m->file().get_string("tokenizer.chat_template"));
    REQUIRE(t.family == chat::Family::chatml);
    // (With the template's default system message, greedy Q4_1 drifts into French prose here, while the F16
    // copy answers "Paris": the 4-bit weights, not the template. A plain system message is given.)
    const chat::Rendered r = chat::render(
        tok, t, {{"system", "You are a helpful assistant."}, {"user", "What is the capital of France?"}}, true);
    ThreadPool pool(2);
    auto be = make_cpu_backend(pool);
    Context ctx(*m, *be, {});
    SamplerParams sp;
    sp.temp = 0;
    Sampler s(sp);
    GenerateOptions go;
    go.n_predict = 40;
    go.stop_tokens = r.end_of_turn;
    GenerateResult g = generate(ctx, s, r.ids, go, [](const std::string&) {});
    MESSAGE("SmolLM2: " << g.text << " [" << g.stop_reason << "]");
    CHECK(g.text.find("Paris") != std::string::npos);
    CHECK(g.stop_reason != "length");
}
