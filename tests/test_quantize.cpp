// slm quantize: the type plan against what llama-quantize chose (Llama-3.2-1B shape, planner only), the bytes
// of every tensor against llama-quantize's output for llama3-tiny (sha256 manifests), the output metadata,
// and bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "../tools/commands.h"
#include "cpu/cpu_features.h"
#include "forward.h"
#include "model.h"
#include "backend.h"
#include "common.h"
#include "tensor.h"
#include "gguf.h"
#include "quantize.h"
#include "sha256.h"
#include "test_util.h"
#include "threadpool.h"

using namespace slm;
using slm::quant::TensorDesc;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

std::string upper(std::string s) {
    for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

struct Row {
    std::string name, type, shape, sha;
};

std::vector<Row> read_tsv(const std::string& path) {
    std::vector<Row> rows;
    std::istringstream in(test::read_text(path));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto f = split(line, '\t');
        REQUIRE_MESSAGE(f.size() >= 3, "bad line in " << path << ": " << line);
        rows.push_back({f[0], f[1], f[2], f.size() > 3 ? f[3] : ""});
    }
    return rows;
}

TensorDesc desc_from_row(const Row& r) {
    TensorDesc d;
    d.name = r.name;
    auto dims = split(r.shape, 'x');
    d.n_dims = uint32_t(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) d.ne[i] = std::stoll(dims[i]);
    d.type = d.n_dims >= 2 ? GgmlType::F16 : GgmlType::F32;  // as a converted HF model is stored
    return d;
}

std::string shape_of(const gguf::TensorInfo& t) { return shape_str(t.ne.data(), int(t.n_dims), true); }

const quant::PlanEntry& entry(const quant::Plan& p, const std::string& name) {
    for (const auto& e : p.entries)
        if (e.tensor.name == name) return e;
    FAIL("no plan entry " << name);
    return p.entries.front();
}

quant::ModelShape llama32_1b_shape() {
    quant::ModelShape s;
    s.n_layer = 16;
    s.n_head = 32;
    s.n_head_kv = 8;
    return s;
}

// A small llama-like tensor list: n_layer layers of dim x ff, tied or not.
std::vector<TensorDesc> synthetic_model(int n_layer, int64_t dim, int64_t ff, int64_t kv, bool tied) {
    std::vector<TensorDesc> v;
    auto add = [&](std::string name, std::vector<int64_t> ne) {
        TensorDesc d;
        d.name = std::move(name);
        d.n_dims = uint32_t(ne.size());
        for (size_t i = 0; i < ne.size(); ++i) d.ne[i] = ne[i];
        d.type = ne.size() >= 2 ? GgmlType::F16 : GgmlType::F32;
        v.push_back(d);
    };
    add("token_embd.weight", {dim, 1000});
    for (int l = 0; l < n_layer; ++l) {
        std::string p = "blk." + std::to_string(l) + ".";
        add(p + "attn_norm.weight", {dim});
        add(p + "attn_q.weight", {dim, dim});
        add(p + "attn_k.weight", {dim, kv});
        add(p + "attn_v.weight", {dim, kv});
        add(p + "attn_output.weight", {dim, dim});
        add(p + "ffn_norm.weight", {dim});
        add(p + "ffn_gate.weight", {dim, ff});
        add(p + "ffn_up.weight", {dim, ff});
        add(p + "ffn_down.weight", {ff, dim});
    }
    add("output_norm.weight", {dim});
    if (!tied) add("output.weight", {dim, 1000});
    return v;
}

}  // namespace

TEST_CASE("quantize: mix names and file types") {
    CHECK(quant::mix_from_name("q4_k_m")->ftype == quant::FileType::MOSTLY_Q4_K_M);
    CHECK(uint32_t(quant::mix_from_name("Q4_K_M")->ftype) == 15);
    CHECK(uint32_t(quant::mix_from_name("Q8_0")->ftype) == 7);
    CHECK(uint32_t(quant::mix_from_name("Q6_K")->ftype) == 18);
    CHECK(uint32_t(quant::mix_from_name("BF16")->ftype) == 32);
    CHECK(quant::mix_from_name("Q4_K")->ftype == quant::FileType::MOSTLY_Q4_K_M);
    CHECK(quant::mix_from_name("Q3_K_S")->default_type == GgmlType::Q3_K);
    CHECK_FALSE(quant::mix_from_name("Q4_K_X").has_value());
    CHECK_FALSE(quant::mix_from_name("").has_value());
    CHECK(uint32_t(quant::mix_from_name("iq4_nl")->ftype) == 25);
    CHECK(quant::all_mixes().size() == 17);
    CHECK(quant::mix_names().find("Q3_K_L") != std::string::npos);
}

TEST_CASE("quantize: plan of the Llama-3.2-1B shape equals llama-quantize's") {
    for (const char* type : {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M"}) {
        std::string rel = std::string("quantize/llama32-1b-shape-") + type + ".types.tsv";
        SLM_REQUIRE_FIXTURE(rel);
        CAPTURE(type);
        auto rows = read_tsv(test::fixture(rel));
        REQUIRE(rows.size() > 100);
        std::vector<TensorDesc> descs;
        for (const Row& r : rows) descs.push_back(desc_from_row(r));
        // The file's order must not matter: llama.cpp walks tensors by layer number.
        std::mt19937 rng(42);
        std::shuffle(descs.begin(), descs.end(), rng);
        quant::Plan plan = quant::make_plan(*quant::mix_from_name(type), llama32_1b_shape(), descs);
        REQUIRE(plan.entries.size() == rows.size());
        for (size_t i = 0; i < descs.size(); ++i) CHECK(plan.entries[i].tensor.name == descs[i].name);
        std::map<std::string, std::string> want;
        for (const Row& r : rows) want[r.name] = upper(r.type);
        int mismatches = 0;
        for (const auto& e : plan.entries) {
            std::string got = upper(type_name(e.to));
            if (got != want[e.tensor.name]) {
                ++mismatches;
                MESSAGE(e.tensor.name << ": planned " << got << ", llama-quantize chose " << want[e.tensor.name]);
            }
        }
        CHECK(mismatches == 0);
        CHECK(plan.n_fallback == 0);
    }
}

TEST_CASE("quantize: plan rules on synthetic shapes") {
    quant::ModelShape shape;
    shape.n_layer = 8;
    shape.n_head = 8;
    shape.n_head_kv = 2;

    SUBCASE("separate output: output gets Q6_K, token_embd keeps the mix's type") {
        auto descs = synthetic_model(8, 256, 512, 64, /*tied=*/false);
        auto plan = quant::make_plan(*quant::mix_from_name("Q4_K_M"), shape, descs);
        CHECK(entry(plan, "output.weight").to == GgmlType::Q6_K);
        CHECK(entry(plan, "token_embd.weight").to == GgmlType::Q4_K);
        CHECK(entry(plan, "blk.3.attn_norm.weight").to == GgmlType::F32);
        CHECK_FALSE(entry(plan, "blk.3.attn_norm.weight").convert);
        // use_more_bits(i, 8): i < 1, i >= 7, (i - 1) % 3 == 2 -> layers 0, 3, 6, 7
        for (int l = 0; l < 8; ++l) {
            bool more = l == 0 || l == 3 || l == 6 || l == 7;
            CAPTURE(l);
            CHECK(entry(plan, "blk." + std::to_string(l) + ".attn_v.weight").to == (more ? GgmlType::Q6_K : GgmlType::Q4_K));
            CHECK(entry(plan, "blk." + std::to_string(l) + ".ffn_down.weight").to == (more ? GgmlType::Q6_K : GgmlType::Q4_K));
        }
    }
    SUBCASE("legacy mixes: tied output at Q6_K, Q8_0 stays Q8_0, F16 everywhere for F16") {
        auto descs = synthetic_model(8, 256, 512, 64, /*tied=*/true);
        CHECK(entry(quant::make_plan(*quant::mix_from_name("Q4_0"), shape, descs), "token_embd.weight").to == GgmlType::Q6_K);
        CHECK(entry(quant::make_plan(*quant::mix_from_name("Q8_0"), shape, descs), "token_embd.weight").to == GgmlType::Q8_0);
        auto p16 = quant::make_plan(*quant::mix_from_name("F16"), shape, descs);
        for (const auto& e : p16.entries) {
            CHECK(e.to == (e.tensor.n_dims >= 2 ? GgmlType::F16 : GgmlType::F32));
            CHECK_FALSE(e.convert);
        }
        auto pbf = quant::make_plan(*quant::mix_from_name("BF16"), shape, descs);
        CHECK(entry(pbf, "blk.0.attn_q.weight").to == GgmlType::BF16);
        CHECK(pbf.bytes_to == p16.bytes_to);
    }
    SUBCASE("IQ4_NL mix: Q5_K for attn_v (n_gqa >= 4) and the first eighth of ffn_down, Q6_K output") {
        auto descs = synthetic_model(8, 256, 512, 64, true);
        auto p = quant::make_plan(*quant::mix_from_name("iq4_nl"), shape, descs);
        CHECK(p.mix.ftype == quant::FileType::MOSTLY_IQ4_NL);
        CHECK(entry(p, "token_embd.weight").to == GgmlType::Q6_K);
        CHECK(entry(p, "blk.3.attn_q.weight").to == GgmlType::IQ4_NL);
        CHECK(entry(p, "blk.3.attn_v.weight").to == GgmlType::Q5_K);
        CHECK(entry(p, "blk.0.ffn_down.weight").to == GgmlType::Q5_K);
        CHECK(entry(p, "blk.1.ffn_down.weight").to == GgmlType::IQ4_NL);
        quant::ModelShape gqa3 = shape;
        gqa3.n_head_kv = 4;  // n_gqa = 2: attn_v keeps the mix's type
        CHECK(entry(quant::make_plan(*quant::mix_from_name("IQ4_NL"), gqa3, descs), "blk.3.attn_v.weight").to == GgmlType::IQ4_NL);
        // Rows of 96: Q5_K falls back to Q5_1, IQ4_NL (32 per block) fits as it is.
        auto q = quant::make_plan(*quant::mix_from_name("IQ4_NL"), shape, synthetic_model(8, 96, 160, 32, true));
        CHECK(entry(q, "blk.0.ffn_down.weight").to == GgmlType::Q5_1);
        CHECK(entry(q, "blk.3.ffn_up.weight").to == GgmlType::IQ4_NL);
        CHECK_FALSE(entry(q, "blk.3.ffn_up.weight").fallback);
    }
    SUBCASE("Q2_K, Q3_K_L, Q4_K_S, Q3_K_S rules") {
        auto descs = synthetic_model(8, 256, 512, 64, true);
        auto q2 = quant::make_plan(*quant::mix_from_name("Q2_K"), shape, descs);
        CHECK(entry(q2, "blk.2.attn_v.weight").to == GgmlType::Q4_K);  // n_gqa = 4
        CHECK(entry(q2, "blk.2.ffn_down.weight").to == GgmlType::Q3_K);
        CHECK(entry(q2, "blk.2.attn_output.weight").to == GgmlType::Q3_K);
        CHECK(entry(q2, "blk.2.ffn_up.weight").to == GgmlType::Q2_K);
        quant::ModelShape mha = shape;
        mha.n_head_kv = 8;
        CHECK(entry(quant::make_plan(*quant::mix_from_name("Q2_K"), mha, descs), "blk.2.attn_v.weight").to == GgmlType::Q3_K);
        auto l = quant::make_plan(*quant::mix_from_name("Q3_K_L"), shape, descs);
        CHECK(entry(l, "blk.5.attn_v.weight").to == GgmlType::Q5_K);
        CHECK(entry(l, "blk.5.ffn_down.weight").to == GgmlType::Q5_K);
        CHECK(entry(l, "blk.5.attn_output.weight").to == GgmlType::Q5_K);
        CHECK(entry(l, "blk.5.attn_q.weight").to == GgmlType::Q3_K);
        auto s4 = quant::make_plan(*quant::mix_from_name("Q4_K_S"), shape, descs);
        for (int i = 0; i < 8; ++i) {
            CAPTURE(i);
            CHECK(entry(s4, "blk." + std::to_string(i) + ".attn_v.weight").to == (i < 4 ? GgmlType::Q5_K : GgmlType::Q4_K));
            CHECK(entry(s4, "blk." + std::to_string(i) + ".ffn_down.weight").to == (i < 1 ? GgmlType::Q5_K : GgmlType::Q4_K));
        }
        auto s3 = quant::make_plan(*quant::mix_from_name("Q3_K_S"), shape, descs);
        CHECK(entry(s3, "blk.0.attn_v.weight").to == GgmlType::Q3_K);
        CHECK(entry(s3, "token_embd.weight").to == GgmlType::Q6_K);
    }
    SUBCASE("row length not a multiple of 256: K types fall back") {
        auto descs = synthetic_model(8, 96, 160, 32, true);  // rows of 96 / 160: multiples of 32 only
        auto p = quant::make_plan(*quant::mix_from_name("Q4_K_M"), shape, descs);
        CHECK(entry(p, "blk.1.attn_q.weight").to == GgmlType::Q5_0);
        CHECK(entry(p, "blk.1.attn_q.weight").fallback);
        CHECK(entry(p, "blk.0.attn_v.weight").to == GgmlType::Q8_0);  // Q6_K -> Q8_0
        CHECK(entry(p, "token_embd.weight").to == GgmlType::Q8_0);    // output rule: Q8_0 directly
        CHECK_FALSE(entry(p, "token_embd.weight").fallback);
        auto p5 = quant::make_plan(*quant::mix_from_name("Q5_K_S"), shape, descs);
        CHECK(entry(p5, "blk.1.attn_q.weight").to == GgmlType::Q5_1);
        auto p3 = quant::make_plan(*quant::mix_from_name("Q3_K_S"), shape, descs);
        CHECK(entry(p3, "blk.1.attn_q.weight").to == GgmlType::Q4_0);  // (older llama.cpp: IQ4_NL)
        CHECK(entry(p3, "blk.1.attn_q.weight").fallback);
        auto p2 = quant::make_plan(*quant::mix_from_name("Q2_K"), shape, descs);
        CHECK(entry(p2, "blk.1.ffn_up.weight").to == GgmlType::Q4_0);
        auto odd = synthetic_model(8, 256, 80, 64, true);  // ffn_down rows of 80: not even a multiple of 32 -> F16
        auto po = quant::make_plan(*quant::mix_from_name("Q4_K_M"), shape, odd);
        CHECK(entry(po, "blk.1.ffn_down.weight").to == GgmlType::F16);
        CHECK(entry(po, "blk.0.ffn_down.weight").to == GgmlType::F16);  // Q6_K -> Q8_0 -> F16
        CHECK(entry(po, "blk.1.ffn_up.weight").to == GgmlType::Q4_K);
        // A type of 32 per block stays itself, then F16 where even that does not fit (llama.cpp does the same),
        // the output at Q8_0 too.
        auto p8 = quant::make_plan(*quant::mix_from_name("Q8_0"), shape, odd);
        CHECK(entry(p8, "blk.1.ffn_down.weight").to == GgmlType::F16);
        CHECK(entry(p8, "blk.1.ffn_down.weight").fallback);
        CHECK(entry(p8, "blk.1.ffn_up.weight").to == GgmlType::Q8_0);
        auto p48 = quant::make_plan(*quant::mix_from_name("Q4_K_M"), shape, synthetic_model(8, 48, 80, 16, true));
        CHECK(entry(p48, "token_embd.weight").to == GgmlType::F16);
        CHECK(entry(p48, "blk.1.attn_q.weight").to == GgmlType::F16);
    }
    SUBCASE("8 experts and 70B rules") {
        auto descs = synthetic_model(8, 256, 512, 64, true);
        quant::ModelShape moe = shape;
        moe.n_expert = 8;
        auto p = quant::make_plan(*quant::mix_from_name("Q4_K_M"), moe, descs);
        CHECK(entry(p, "blk.1.attn_v.weight").to == GgmlType::Q8_0);
        CHECK(entry(p, "blk.1.attn_k.weight").to == GgmlType::Q8_0);
        CHECK(entry(p, "blk.1.attn_output.weight").to == GgmlType::Q5_K);
        quant::ModelShape big = shape;
        big.n_layer = 80;
        auto d80 = synthetic_model(80, 256, 512, 64, true);
        auto p80 = quant::make_plan(*quant::mix_from_name("Q3_K_M"), big, d80);
        CHECK(entry(p80, "blk.40.attn_v.weight").to == GgmlType::Q5_K);  // Q4_K bumped for 70B
        CHECK(entry(p80, "blk.0.ffn_down.weight").to == GgmlType::Q5_K);  // i < 80/16
        CHECK(entry(p80, "blk.5.ffn_down.weight").to == GgmlType::Q4_K);
    }
    SUBCASE("totals and bits per weight") {
        auto descs = synthetic_model(2, 256, 512, 64, true);
        auto p = quant::make_plan(*quant::mix_from_name("Q8_0"), shape, descs);
        uint64_t from = 0, to = 0;
        int64_t n = 0;
        for (const auto& e : p.entries) {
            from += e.bytes_from;
            to += e.bytes_to;
            n += e.tensor.n_elements();
        }
        CHECK(p.bytes_from == from);
        CHECK(p.bytes_to == to);
        CHECK(p.n_elements == n);
        CHECK(p.bpw_to() == doctest::Approx(8.0 * double(to) / double(n)));
        CHECK(p.bpw_from() == doctest::Approx(8.0 * double(from) / double(n)));
        CHECK(p.bpw_to() > 8.5);  // Q8_0 is 8.5 bits; the F32 norms add a little
        CHECK(p.bpw_to() < 8.6);
        std::string text = quant::format_plan(p);
        CHECK(text.find("blk.1.ffn_down.weight") != std::string::npos);
        CHECK(text.find("bits per weight") != std::string::npos);
    }
}

namespace {

// llama3-tiny-f16 quantized by slm to `type`, made once per test run and shared by the tests below.
std::string quantized_tiny(const std::string& type) {
    static std::map<std::string, std::string> made;
    if (auto it = made.find(type); it != made.end()) return it->second;
    std::string out = test::scratch_dir("quantize-" + type) + "/out.gguf";
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);
    quant::QuantizeOptions opts;
    opts.progress = false;
    auto res = quant::quantize_file(test::fixture("models/llama3-tiny-f16.gguf"), out, *quant::mix_from_name(type),
                                    pool, opts);
    CHECK(res.plan.entries.size() == 21);
    made[type] = out;
    return out;
}

// Quantizes llama3-tiny-f16 to `type` and compares every tensor with llama-quantize's manifest.
void check_manifest(const char* type) {
    const std::string model = "models/llama3-tiny-f16.gguf";
    const std::string manifest = std::string("quantize/llama3-tiny-") + type + ".manifest.tsv";
    SLM_REQUIRE_FIXTURE(model);
    SLM_REQUIRE_FIXTURE(manifest);
    // Each K mix quantizes 33M weights; under ASan (5x slower) two mixes cover the code paths.
    if (std::getenv("SLM_ASAN") && std::string(type) != "Q8_0" && std::string(type) != "Q4_K_M") {
        MESSAGE("skipped under ASan (SLM_ASAN set): " << type << " is checked by the normal run");
        return;
    }
    std::string out = quantized_tiny(type);

    gguf::File in = gguf::File::open(test::fixture(model));
    gguf::File q = gguf::File::open(out);
    auto rows = read_tsv(test::fixture(manifest));
    REQUIRE(rows.size() == q.tensors().size());
    for (const Row& r : rows) {
        CAPTURE(r.name);
        const gguf::TensorInfo* t = q.find_tensor(r.name);
        REQUIRE(t != nullptr);
        CHECK(upper(type_name(t->type)) == upper(r.type));
        CHECK(shape_of(*t) == r.shape);
        CHECK(sha256_hex(q.tensor_data(*t), t->nbytes) == r.sha);
    }
    // llama-quantize's tensor order (llama.cpp's weights_map: outside the blocks, then block by block, by name),
    // the input's alignment; all metadata carried over, plus the two keys.
    REQUIRE(in.tensors().size() == q.tensors().size());
    std::vector<std::string> in_names;
    for (const auto& t : in.tensors()) in_names.push_back(t.name);
    const std::vector<size_t> order = quant::tensor_write_order(in_names);
    for (size_t i = 0; i < in.tensors().size(); ++i) CHECK(in_names[order[i]] == q.tensors()[i].name);
    CHECK(q.alignment() == in.alignment());
    for (const gguf::KV& kv : in.metadata()) {
        CAPTURE(kv.key);
        CHECK(q.has(kv.key));
    }
    const gguf::Value* ft = q.find("general.file_type");
    REQUIRE(ft != nullptr);
    CHECK(ft->type == gguf::ValueType::UINT32);
    CHECK(ft->u == uint32_t(quant::mix_from_name(type)->ftype));
    const gguf::Value* qv = q.find("general.quantization_version");
    REQUIRE(qv != nullptr);
    CHECK(qv->type == gguf::ValueType::UINT32);
    CHECK(qv->u == 2);
    CHECK(q.get_string("tokenizer.ggml.model") == in.get_string("tokenizer.ggml.model"));
}

}  // namespace

TEST_CASE("quantize: llama3-tiny to Q8_0 matches llama-quantize byte for byte") { check_manifest("Q8_0"); }
TEST_CASE("quantize: llama3-tiny to Q6_K matches llama-quantize byte for byte") { check_manifest("Q6_K"); }
TEST_CASE("quantize: llama3-tiny to Q5_K_M matches llama-quantize byte for byte") { check_manifest("Q5_K_M"); }
TEST_CASE("quantize: llama3-tiny to Q4_K_M matches llama-quantize byte for byte") { check_manifest("Q4_K_M"); }
TEST_CASE("quantize: llama3-tiny to Q3_K_M matches llama-quantize byte for byte") { check_manifest("Q3_K_M"); }

TEST_CASE("quantize: the source F16 manifest matches the input file (sha256 of tensor bytes)") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    SLM_REQUIRE_FIXTURE("quantize/llama3-tiny-f16.manifest.tsv");
    gguf::File in = gguf::File::open(test::fixture("models/llama3-tiny-f16.gguf"));
    for (const Row& r : read_tsv(test::fixture("quantize/llama3-tiny-f16.manifest.tsv"))) {
        CAPTURE(r.name);
        const gguf::TensorInfo* t = in.find_tensor(r.name);
        REQUIRE(t != nullptr);
        CHECK(sha256_hex(in.tensor_data(*t), t->nbytes) == r.sha);
    }
}

TEST_CASE("quantize: bad input") {
    std::string dir = test::scratch_dir("quantize-bad");
    ThreadPool pool(1);
    auto be_pool = make_cpu_backend(pool);
    quant::QuantizeOptions opts;
    opts.progress = false;
    const quant::Mix q4 = *quant::mix_from_name("Q4_K_M");

    SUBCASE("missing file") {
        CHECK_THROWS_AS(quant::quantize_file(dir + "/nope.gguf", dir + "/o.gguf", q4, pool, opts), slm::Error);
    }
    SUBCASE("not a llama model") {
        gguf::Writer w;
        w.set("general.architecture", gguf::Value::make_string("gpt2"));
        std::vector<float> data(256 * 4, 0.5f);
        std::vector<uint8_t> bytes(data.size() * 4);
        std::memcpy(bytes.data(), data.data(), bytes.size());
        w.add_tensor("blk.0.attn_q.weight", GgmlType::F32, {256, 4}, bytes);
        w.write(dir + "/gpt2.gguf");
        CHECK_THROWS_WITH_AS(quant::quantize_file(dir + "/gpt2.gguf", dir + "/o.gguf", q4, pool, opts),
                             doctest::Contains("not a llama model"), slm::Error);
    }
    SUBCASE("unknown TYPE lists the valid ones") {
        std::vector<std::string> a = {"quantize", "in.gguf", "out.gguf", "Q4_K_X"};
        std::vector<char*> argv;
        for (auto& s : a) argv.push_back(s.data());
        CHECK_THROWS_WITH_AS(cli::cmd_quantize(int(argv.size()), argv.data()), doctest::Contains("Q4_K_M, Q4_K_S"),
                             slm::Error);
    }
    SUBCASE("already quantized input is refused unless --allow-requantize") {
        SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
        // A small but complete llama model (F32, one layer), quantized once to Q8_0, then again.
        gguf::Writer w;
        w.set("general.architecture", gguf::Value::make_string("llama"));
        w.set("llama.block_count", gguf::Value::make_u32(1));
        w.set("llama.embedding_length", gguf::Value::make_u32(256));
        w.set("llama.feed_forward_length", gguf::Value::make_u32(256));
        w.set("llama.attention.head_count", gguf::Value::make_u32(2));
        std::mt19937 rng(1);
        std::normal_distribution<float> nd(0.0f, 0.02f);
        auto tensor = [&](int64_t n) {
            std::vector<uint8_t> b(size_t(n) * 4);
            for (int64_t i = 0; i < n; ++i) {
                float v = nd(rng);
                std::memcpy(b.data() + 4 * i, &v, 4);
            }
            return b;
        };
        w.add_tensor("token_embd.weight", GgmlType::F32, {256, 8}, tensor(256 * 8));
        w.add_tensor("output_norm.weight", GgmlType::F32, {256}, tensor(256));
        for (const char* n : {"attn_norm", "ffn_norm"})
            w.add_tensor(std::string("blk.0.") + n + ".weight", GgmlType::F32, {256}, tensor(256));
        for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})
            w.add_tensor(std::string("blk.0.") + n + ".weight", GgmlType::F32, {256, 256}, tensor(256 * 256));
        w.write(dir + "/f32.gguf");
        quant::quantize_file(dir + "/f32.gguf", dir + "/q8.gguf", *quant::mix_from_name("Q8_0"), pool, opts);
        CHECK_THROWS_WITH_AS(quant::quantize_file(dir + "/q8.gguf", dir + "/q4.gguf", q4, pool, opts),
                             doctest::Contains("already quantized"), slm::Error);
        CHECK_FALSE(std::filesystem::exists(dir + "/q4.gguf"));
        opts.allow_requantize = true;
        auto res = quant::quantize_file(dir + "/q8.gguf", dir + "/q4.gguf", q4, pool, opts);
        gguf::File q = gguf::File::open(dir + "/q4.gguf");
        CHECK(q.find_tensor("blk.0.attn_v.weight")->type == GgmlType::Q6_K);  // i = 0 of 1: use_more_bits
        CHECK(q.find_tensor("token_embd.weight")->type == GgmlType::Q6_K);
        CHECK(q.find_tensor("blk.0.attn_norm.weight")->type == GgmlType::F32);
        // Requantizing Q8_0 to the same type copies bytes unchanged.
        opts.allow_requantize = false;
        quant::quantize_file(dir + "/q8.gguf", dir + "/q8b.gguf", *quant::mix_from_name("Q8_0"), pool, opts);
        gguf::File a = gguf::File::open(dir + "/q8.gguf"), b = gguf::File::open(dir + "/q8b.gguf");
        const auto* ta = a.find_tensor("blk.0.attn_v.weight");
        const auto* tb = b.find_tensor("blk.0.attn_v.weight");
        CHECK(std::memcmp(a.tensor_data(*ta), b.tensor_data(*tb), ta->nbytes) == 0);
    }
}

TEST_CASE("codec: F16 and BF16 row conversions are exact round trips") {
    std::vector<float> x = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 1e-7f, 3.14159f, -1e-3f};
    std::vector<uint8_t> h(x.size() * 2);
    std::vector<float> back(x.size()), again(x.size());
    for (GgmlType t : {GgmlType::F16, GgmlType::BF16}) {
        codec::quantize_row(t, x.data(), h.data(), int64_t(x.size()));
        codec::dequantize_row(t, h.data(), back.data(), int64_t(x.size()));
        std::vector<uint8_t> h2(h.size());
        codec::quantize_row(t, back.data(), h2.data(), int64_t(x.size()));
        CHECK(h2 == h);  // values that came from the type convert back to the same bits
        for (size_t i = 0; i < x.size(); ++i) CHECK(back[i] == doctest::Approx(x[i]).epsilon(t == GgmlType::F16 ? 1e-3 : 1e-2));
    }
}

namespace {

// Runs slm's forward pass on slm's quantization of llama3-tiny and compares with llama.cpp's logits for
// llama-quantize's file of the same type (whose bytes the manifests show to be identical).
// slm's forward pass, with ContextOptions::ggml_numerics, on slm's quantization of llama3-tiny against
// llama.cpp's logits for llama-quantize's file of the same type (the bytes are identical: the manifest tests).
void check_logits(const char* type) {
    const std::string txt = std::string("logits/llama3-tiny-") + type + ".llamacpp.txt";
    const std::string last = std::string("logits/llama3-tiny-") + type + ".llamacpp.last.f32";
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    SLM_REQUIRE_FIXTURE(txt);
    SLM_REQUIRE_FIXTURE(last);
    const test::RefLogits want = test::read_ref(test::fixture(txt));
    const std::vector<int32_t>& ids = want.tokens;

    auto model = Model::load(quantized_tiny(type), test::cpu());
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);
    ContextOptions opt;
    opt.n_ctx = int(ids.size());
    opt.kv_type = GgmlType::F16;
    opt.ggml_numerics = true;  // llama.cpp's roundings in rope and attention: compare like with like
    Context ctx(*model, *be_pool, opt);
    const int V = model->config().n_vocab;
    const float* logits = ctx.eval(ids, true);
    double max_diff = 0;
    int top1_mismatch = 0;
    std::string per_pos;
    for (size_t p = 0; p < ids.size(); ++p) {
        const float* row = logits + p * size_t(V);
        double d = 0;
        for (const auto& [id, l] : want.pos[p].top) d = std::max(d, std::fabs(double(row[id]) - l));
        max_diff = std::max(max_diff, d);
        per_pos += strfmt(" %.1e", d);
        int arg = int(std::max_element(row, row + V) - row);
        if (arg != want.pos[p].top[0].first) {
            ++top1_mismatch;
            MESSAGE("position " << p << ": slm's top-1 " << arg << " (" << row[arg] << "), llama.cpp's "
                                << want.pos[p].top[0].first << " (" << want.pos[p].top[0].second << ")");
        }
    }
    std::vector<float> ref_last = test::read_f32(test::fixture(last));
    REQUIRE(ref_last.size() == size_t(V));
    const float* row = logits + (ids.size() - 1) * size_t(V);
    double max_last = 0;
    for (int i = 0; i < V; i++) max_last = std::max(max_last, std::fabs(double(row[i]) - ref_last[size_t(i)]));
    MESSAGE(std::string(type) << " (" << std::string(simd_level_name(simd_level())) << " kernels): max |logit diff| vs llama.cpp: top-32 of every position "
                 << max_diff << ", all logits of the last position " << max_last << "; per position:" << per_pos);
    // What the task asks: within 0.05 of llama.cpp and the same top-1 everywhere.
    CHECK(top1_mismatch == 0);
    CHECK(max_diff <= 0.05);
    CHECK(max_last <= 0.05);
    // Beyond that: where the CPU has AVX2, slm computes what llama.cpp computes (its kernels sum in ggml's
    // order, MatmulOrder::llamacpp follows its Q4_K GEMM/GEMV), so every logit equals llama.cpp's to the
    // fixture's printed precision (6 significant digits).
    if (simd_level() >= SimdLevel::avx2) {
        CHECK(max_diff <= 1e-5);
        CHECK(max_last <= 1e-5);
    }
    // slm on the quantized file is much closer to llama.cpp on that file than llama.cpp's quantized logits are
    // to its F16 logits: the comparison sees the quantization, not noise.
    SLM_REQUIRE_FIXTURE("logits/llama3-tiny-f16.llamacpp.last.f32");
    std::vector<float> f16_last = test::read_f32(test::fixture("logits/llama3-tiny-f16.llamacpp.last.f32"));
    REQUIRE(f16_last.size() == size_t(V));
    double quant_moves = 0;
    for (int i = 0; i < V; ++i) quant_moves = std::max(quant_moves, std::fabs(double(f16_last[size_t(i)]) - ref_last[size_t(i)]));
    MESSAGE(std::string(type) << ": llama.cpp's own F16 -> " << std::string(type) << " move of the last logits: " << quant_moves);
    CHECK(max_last < 0.5 * quant_moves);
}

}  // namespace

TEST_CASE("quantize: forward pass on slm's Q8_0 of llama3-tiny matches llama.cpp's logits") { check_logits("Q8_0"); }
TEST_CASE("quantize: forward pass on slm's Q4_K_M of llama3-tiny matches llama.cpp's logits") { check_logits("Q4_K_M"); }

TEST_CASE("quantize: slm logits --llamacpp-numerics gives llama.cpp's logits for the same file") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    SLM_REQUIRE_FIXTURE("logits/llama3-tiny-Q4_K_M.llamacpp.txt");
    SLM_REQUIRE_FIXTURE("logits/llama3-tiny-Q4_K_M.llamacpp.last.f32");
    const test::RefLogits want = test::read_ref(test::fixture("logits/llama3-tiny-Q4_K_M.llamacpp.txt"));
    const std::vector<float> want_last = test::read_f32(test::fixture("logits/llama3-tiny-Q4_K_M.llamacpp.last.f32"));
    std::string ids;
    for (int32_t id : want.tokens) ids += (ids.empty() ? "" : " ") + std::to_string(id);
    const std::string out = test::scratch_dir("quantize-logits-cli") + "/last.f32";
    auto run = [&](std::vector<std::string> a) {
        std::vector<char*> argv;
        for (auto& s : a) argv.push_back(s.data());
        return cli::cmd_logits(int(argv.size()), argv.data());
    };
    const std::string model = quantized_tiny("Q4_K_M");
    CHECK(run({"logits", "-m", model, "--tokens", ids, "--top", "0", "--out", out, "-t", "2", "--llamacpp-numerics"}) == 0);
    const std::vector<float> got = test::read_f32(out);
    REQUIRE(got.size() == want_last.size());
    double md = 0;
    for (size_t i = 0; i < got.size(); i++) md = std::max(md, std::fabs(double(got[i]) - want_last[i]));
    MESSAGE("slm logits --llamacpp-numerics, Q4_K_M: max |diff| over the last position's logits " << md);
    CHECK(md <= 0.05);
    if (simd_level() >= SimdLevel::avx2) CHECK(md <= 1e-5);
    CHECK_THROWS_WITH_AS(run({"logits", "-m", model, "--tokens", ids, "--kv-type", "f32", "--llamacpp-numerics"}),
                         doctest::Contains("needs --kv-type f16"), slm::Error);
}

TEST_CASE("quantize: SmolLM2-135M's rows of 576 fall back as llama.cpp's do (Q3_K_M: Q3_K -> Q4_0)") {
    // The type counts of the Q3_K_M file llama.cpp 0c1e570 writes for this model, which slm's matches byte for
    // byte (tools/bench/RESULTS.md, IQ4_NL section); before, slm planned IQ4_NL for Q3_K (older llama.cpp's rule).
    const std::string rel = "models/SmolLM2-135M-Instruct-Q4_1.gguf";
    SLM_REQUIRE_FIXTURE(rel);
    gguf::File in = gguf::File::open(test::fixture(rel));
    std::vector<TensorDesc> descs;
    for (const gguf::TensorInfo& ti : in.tensors()) {
        TensorDesc d;
        d.name = ti.name;
        d.ne = ti.ne;
        d.n_dims = ti.n_dims;
        d.type = GgmlType::F16;  // as in the F16 copy
        if (ti.n_dims == 1) d.type = GgmlType::F32;
        descs.push_back(d);
    }
    auto count = [](const quant::Plan& p) {
        std::map<std::string, int> n;
        for (const auto& e : p.entries) n[type_name(e.to)]++;
        return n;
    };
    const quant::Plan q3 = quant::make_plan(*quant::mix_from_name("Q3_K_M"), quant::model_shape(in), descs);
    const std::map<std::string, int> want3 = {{"f32", 61}, {"q4_0", 120}, {"q5_0", 58}, {"q4_K", 29},
                                              {"q5_K", 1}, {"q5_1", 2}, {"q8_0", 1}};
    CHECK(count(q3) == want3);
    CHECK(q3.n_fallback == 180);
    const quant::Plan nl = quant::make_plan(*quant::mix_from_name("IQ4_NL"), quant::model_shape(in), descs);
    CHECK(count(nl).at("iq4_nl") > 200);
    CHECK(nl.n_fallback == 1);  // the tied embedding: Q6_K -> Q8_0
}
