// slm synth: the layout of the presets against what llama.cpp's tools wrote for the real shapes, the rope
// divisors against the llama3-tiny fixture's, determinism (seed -> bytes, any thread count), and that the
// engine loads and runs what it writes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "backend.h"
#include "common.h"
#include "forward.h"
#include "gguf.h"
#include "model.h"
#include "quantize.h"
#include "sha256.h"
#include "synth.h"
#include "test_util.h"
#include "threadpool.h"

using namespace slm;

namespace {

std::string file_sha(const std::string& path) {
    const std::vector<uint8_t> b = test::read_bytes(path);
    return sha256_hex(b.data(), b.size());
}

}  // namespace

TEST_CASE("synth: llama3.2-1b has the tensors (names, shapes) of the real Llama-3.2-1B") {
    SLM_REQUIRE_FIXTURE("quantize/llama32-1b-shape-Q8_0.types.tsv");
    auto s = synth::preset("llama3.2-1b");
    REQUIRE(s);
    std::set<std::string> want, got;
    std::istringstream in(test::read_text(test::fixture("quantize/llama32-1b-shape-Q8_0.types.tsv")));
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        const size_t a = line.find('\t'), b = line.rfind('\t');
        want.insert(line.substr(0, a) + " " + line.substr(b + 1));
    }
    for (const synth::TensorSpec& t : synth::layout(*s, GgmlType::F16)) {
        std::string shape;
        for (int64_t d : t.ne) shape += (shape.empty() ? "" : "x") + std::to_string(d);
        got.insert(t.name + " " + shape);
    }
    CHECK(got.size() == 147);
    CHECK(got == want);
    // 1.24 B parameters, tied embeddings counted once
    CHECK(s->n_params() == 1235814432);
}

TEST_CASE("synth: Llama 3 rope divisors equal the llama3-tiny fixture's rope_freqs") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    gguf::File f = gguf::File::open(test::fixture("models/llama3-tiny-f16.gguf"));
    const gguf::TensorInfo* t = f.find_tensor("rope_freqs.weight");
    REQUIRE(t);
    synth::Shape s = *synth::preset("llama3.2-1b");  // head_dim 64, base 500000: the same as llama3-tiny's
    const std::vector<float> got = synth::llama3_rope_freqs(s);
    REQUIRE(int64_t(got.size()) == t->ne[0]);
    const float* want = reinterpret_cast<const float*>(f.tensor_data(*t));
    int exact = 0;
    for (size_t i = 0; i < got.size(); i++) {
        CAPTURE(i);
        CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
        exact += got[i] == want[i];
    }
    MESSAGE(exact << " of " << got.size() << " divisors bit-identical to the fixture's");
}

TEST_CASE("synth: a seed gives the same file at any thread count; the engine loads and runs it") {
    const std::string dir = test::scratch_dir("synth");
    synth::Options o;
    o.shape = *synth::preset("tiny");
    o.seed = 7;
    o.progress = false;
    ThreadPool p1(1), p2(2);
    synth::write_model(o, dir + "/a.gguf", p1);
    synth::write_model(o, dir + "/b.gguf", p2);
    CHECK(file_sha(dir + "/a.gguf") == file_sha(dir + "/b.gguf"));
    o.seed = 8;
    synth::write_model(o, dir + "/c.gguf", p2);
    CHECK(file_sha(dir + "/a.gguf") != file_sha(dir + "/c.gguf"));

    auto backend = make_cpu_backend(p2);
    auto m = Model::load(dir + "/a.gguf", *backend);
    CHECK(m->config().n_layer == 2);
    CHECK(m->config().n_head_kv == 2);
    CHECK(m->config().tied_embeddings);
    CHECK(m->config().has_rope_freqs);
    ContextOptions co;
    co.n_ctx = 64;
    Context ctx(*m, *backend, co);
    const float* logits = ctx.eval(std::vector<int32_t>{1, 300, 301, 302});
    double sum = 0;
    bool finite = true;
    for (int i = 0; i < m->config().n_vocab; i++) {
        finite = finite && std::isfinite(logits[i]);
        sum += std::fabs(logits[i]);
    }
    CHECK(finite);
    CHECK(sum > 0);

    // The separate-output, MHA preset and the other matrix types.
    o.shape = *synth::preset("tiny-mha");
    for (GgmlType t : {GgmlType::F32, GgmlType::BF16}) {
        o.type = t;
        synth::write_model(o, dir + "/d.gguf", p2);
        auto md = Model::load(dir + "/d.gguf", *backend);
        CHECK(!md->config().tied_embeddings);
        gguf::File f = gguf::File::open(dir + "/d.gguf");
        CHECK(f.find_tensor("output.weight")->type == t);
        CHECK(f.find_tensor("blk.1.ffn_norm.weight")->type == GgmlType::F32);
        CHECK(f.get_uint("general.file_type") == (t == GgmlType::F32 ? 0u : 32u));
    }
}

TEST_CASE("synth: the tokenizer of another GGUF is copied and sets the vocabulary") {
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    const std::string dir = test::scratch_dir("synth-tok");
    synth::Options o;
    o.shape = *synth::preset("tiny-mha");
    o.tokenizer = test::fixture("models/stories260K.gguf");
    o.progress = false;
    ThreadPool pool(2);
    synth::write_model(o, dir + "/t.gguf", pool);
    gguf::File src = gguf::File::open(o.tokenizer), out = gguf::File::open(dir + "/t.gguf");
    CHECK(out.get_uint("llama.vocab_size") == 512);
    CHECK(out.find_tensor("token_embd.weight")->ne[1] == 512);
    int copied = 0;
    for (const gguf::KV& kv : src.metadata())
        if (kv.key.rfind("tokenizer.", 0) == 0) {
            const gguf::Value* v = out.find(kv.key);
            REQUIRE(v);
            CHECK(v->to_display(1000) == kv.value.to_display(1000));
            copied++;
        }
    CHECK(copied > 3);
}

TEST_CASE("synth: bad shapes and options are errors naming the field") {
    synth::Shape s = *synth::preset("tiny");
    s.n_head_kv = 3;
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("kv-heads"), Error);
    s = *synth::preset("tiny");
    s.n_layer = 0;
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("layers"), Error);
    synth::Options o;
    o.shape = *synth::preset("tiny");
    o.type = GgmlType::Q4_K;
    ThreadPool pool(1);
    CHECK_THROWS_WITH_AS(synth::write_model(o, test::scratch_dir("synth-bad") + "/x.gguf", pool), doctest::Contains("--type"), Error);
    CHECK(!synth::preset("llama9"));
}

TEST_CASE("bench: synth then bench a tiny model (table and JSON), bad options are errors") {
    const std::string dir = test::scratch_dir("bench");
    const std::string m = dir + "/tiny.gguf";
    test::CmdResult r = test::run_slm("synth --preset tiny --seed 3 --quiet -o " + test::q(m), "bench-synth");
    REQUIRE_MESSAGE(r.rc == 0, r.err);
    r = test::run_slm("bench -m " + test::q(m) + " -p 16 -n 4 -r 2 -t 2 --membw-mib 32", "bench-table");
    REQUIRE_MESSAGE(r.rc == 0, r.err);
    CHECK(r.out.find("| test |") != std::string::npos);
    CHECK(r.out.find("| pp16 |") != std::string::npos);
    CHECK(r.out.find("| tg4 |") != std::string::npos);
    CHECK(r.out.find("GB/s read") != std::string::npos);
    r = test::run_slm("bench -m " + test::q(m) + " -p 8 -n 0 -d 8 -r 1 --json --membw-mib 32", "bench-json", "SLM_SIMD=scalar");
    REQUIRE_MESSAGE(r.rc == 0, r.err);
    CHECK(r.out.find("\"test\": \"pp8 @ d8\"") != std::string::npos);
    CHECK(r.out.find("\"backend\": \"cpu scalar") != std::string::npos);
    r = test::run_slm("bench -m " + test::q(m) + " -p 0 -n 0", "bench-bad");
    CHECK(r.rc != 0);
    CHECK(r.err.find("nothing to measure") != std::string::npos);
    r = test::run_slm("bench -m " + test::q(m) + " -r 0", "bench-bad2");
    CHECK(r.rc != 0);
    CHECK(r.err.find("-r") != std::string::npos);
    r = test::run_slm("bench -m " + test::q(m), "bench-bad3", "SLM_SIMD=avx9");
    CHECK(r.rc != 0);
    CHECK(r.err.find("SLM_SIMD=avx9") != std::string::npos);
}

TEST_CASE("quantize: tensors and metadata in llama-quantize's order") {
    // llama.cpp's weights_map order: outside the blocks first, then block by block numerically, by name within.
    const std::vector<std::string> names = {"token_embd.weight", "blk.10.ffn_up.weight", "blk.2.attn_q.weight",
                                            "output_norm.weight", "blk.2.attn_k.weight", "rope_freqs.weight",
                                            "blk.0.ffn_norm.weight"};
    std::vector<std::string> got;
    for (size_t i : quant::tensor_write_order(names)) got.push_back(names[i]);
    CHECK(got == std::vector<std::string>{"output_norm.weight", "rope_freqs.weight", "token_embd.weight",
                                          "blk.0.ffn_norm.weight", "blk.2.attn_k.weight", "blk.2.attn_q.weight",
                                          "blk.10.ffn_up.weight"});

    // A model of 12 layers (so blk.10 and blk.11 sort after blk.9), quantized.
    const std::string dir = test::scratch_dir("quantize-order");
    synth::Options o;
    o.shape = *synth::preset("tiny-mha");
    o.shape.n_layer = 12;
    o.shape.n_embd = 256;
    o.shape.n_ff = 256;
    o.progress = false;
    ThreadPool pool(2);
    synth::write_model(o, dir + "/f16.gguf", pool);
    quant::QuantizeOptions qo;
    qo.progress = false;
    quant::quantize_file(dir + "/f16.gguf", dir + "/q.gguf", *quant::mix_from_name("Q4_K_M"), pool, qo);
    gguf::File in = gguf::File::open(dir + "/f16.gguf"), out = gguf::File::open(dir + "/q.gguf");
    std::vector<std::string> in_names, out_names;
    for (const auto& t : in.tensors()) in_names.push_back(t.name);
    for (const auto& t : out.tensors()) out_names.push_back(t.name);
    std::vector<std::string> want;
    for (size_t i : quant::tensor_write_order(in_names)) want.push_back(in_names[i]);
    CHECK(out_names == want);
    CHECK(out_names[0] == "output.weight");
    CHECK(out_names.back() == "blk.11.ffn_up.weight");
    // metadata: the input's keys in order, then quantization_version and file_type
    const auto& md = out.metadata();
    REQUIRE(md.size() == in.metadata().size() + 1);
    for (size_t i = 0; i + 2 < md.size(); i++) {
        size_t j = i + (i >= 14 ? 1 : 0);  // general.file_type (index 14 of the input) moved to the end
        CHECK(md[i].key == in.metadata()[j].key);
    }
    CHECK(md[md.size() - 2].key == "general.quantization_version");
    CHECK(md.back().key == "general.file_type");
}
