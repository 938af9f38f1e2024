// Hugging Face checkpoints: the safetensors reader's checks, the Q/K permutation, llama3 rope_freqs, and round
// trips GGUF -> HF directory -> GGUF for stories260K (SentencePiece), llama3-tiny-f16 (Llama 3 BPE, rope_freqs,
// tied) and SmolLM2 (Q4_1, dequantized exactly to f32): the same tensors bit for bit and the same token ids on
// the fixture encode cases; config.json variants (transformers 5 rope_parameters, eos lists, chat_template.jinja)
// and clear errors for broken directories.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "common.h"
#include "gguf.h"
#include "gptq.h"
#include "backend.h"
#include "hf.h"
#include "json.h"
#include "model.h"
#include "quantize.h"
#include "safetensors.h"
#include "backend.h"
#include "test_util.h"
#include "tokenizer.h"

using namespace slm;
using test::contains;
using test::error_of;
namespace fs = std::filesystem;

namespace {


// A safetensors file from a header text and data bytes.
std::vector<uint8_t> st_bytes(const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> b(8);
    for (int i = 0; i < 8; i++) b[size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
    b.insert(b.end(), header.begin(), header.end());
    b.resize(b.size() + data_bytes, 0);
    return b;
}

std::vector<std::string> case_texts(const std::string& rel, size_t max_n) {
    std::vector<std::string> out;
    std::ifstream in(test::fixture(rel));
    std::string line;
    while (std::getline(in, line) && out.size() < max_n)
        if (!line.empty()) out.push_back(json::parse(line).at("text").as_string());
    return out;
}

// Every tensor of `orig` in `back` with the same bytes, or (for a quantized original) the same values as
// its dequantization stored as F32.
void check_same_tensors(const std::string& orig_path, const std::string& back_path) {
    gguf::File a = gguf::File::open(orig_path), b = gguf::File::open(back_path);
    CHECK(a.tensors().size() == b.tensors().size());
    for (const gguf::TensorInfo& t : a.tensors()) {
        CAPTURE(t.name);
        const gguf::TensorInfo* u = b.find_tensor(t.name);
        REQUIRE(u != nullptr);
        CHECK(u->ne == t.ne);
        if (t.type == GgmlType::F32 || t.type == GgmlType::F16 || t.type == GgmlType::BF16) {
            CHECK(u->type == t.type);
            REQUIRE(u->nbytes == t.nbytes);
            CHECK(std::memcmp(a.tensor_data(t), b.tensor_data(*u), t.nbytes) == 0);
        } else {
            REQUIRE(u->type == GgmlType::F32);
            std::vector<float> deq(size_t(t.n_elements()));
            const int64_t cols = t.ne[0], rows = t.n_elements() / cols;
            for (int64_t r = 0; r < rows; r++)
                codec::dequantize_row(t.type, a.tensor_data(t) + size_t(r) * size_t(row_bytes(t.type, cols)),
                                  deq.data() + size_t(r * cols), cols);
            CHECK(std::memcmp(deq.data(), b.tensor_data(*u), deq.size() * 4) == 0);
        }
    }
}

void check_same_ids(const std::string& orig_path, const std::string& back_path, const std::vector<std::string>& texts) {
    gguf::File a = gguf::File::open(orig_path), b = gguf::File::open(back_path);
    Tokenizer ta = Tokenizer::from_gguf(a), tb = Tokenizer::from_gguf(b);
    CHECK(ta.n_vocab() == tb.n_vocab());
    CHECK(ta.bos_id() == tb.bos_id());
    CHECK(ta.eos_id() == tb.eos_id());
    CHECK(ta.add_bos_default() == tb.add_bos_default());
    int same = 0;
    for (const std::string& t : texts) {
        const bool eq = ta.encode(t, false, true) == tb.encode(t, false, true);
        if (!eq) MESSAGE("ids differ for: " << t);
        same += eq;
    }
    CHECK(same == int(texts.size()));
}

std::string round_trip(const char* model, const std::string& name, const hf::ExportOptions& eo = {}) {
    const std::string dir = test::scratch_dir("hf-" + name);
    hf::ExportOptions e = eo;
    e.progress = false;
    hf::export_hf(test::fixture(model), dir + "/hf", test::cpu(), e);
    hf::ConvertOptions c;
    c.progress = false;
    hf::convert(dir + "/hf", dir + "/back.gguf", test::cpu(), c);
    return dir;
}

}  // namespace

TEST_CASE("hf: the Q/K row permutation pairs HF's rotate-half rows into GGUF's adjacent pairs") {
    // head_dim 8: GGUF rows 0..7 come from HF rows 0 4 1 5 2 6 3 7; the next head is offset by 8.
    const int64_t want[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int64_t r = 0; r < 16; r++) CHECK(hf::hf_row_of_gguf_row(r, 8) == want[r % 8] + (r / 8) * 8);
    // A permutation of each head's rows.
    std::vector<int> seen(64, 0);
    for (int64_t r = 0; r < 64; r++) seen[size_t(hf::hf_row_of_gguf_row(r, 64))]++;
    CHECK(std::count(seen.begin(), seen.end(), 1) == 64);
}

TEST_CASE("hf: llama3 rope_freqs computed as llama.cpp's converter does (llama3-tiny's, bit for bit)") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    auto m = Model::load(test::fixture("models/llama3-tiny-f16.gguf"), test::cpu());
    CHECK(hf::llama3_rope_freqs(64, 500000, 32, 1, 4, 8192) == m->rope_freqs());
}

TEST_CASE("safetensors: writer and reader agree; every bad header is a clear error") {
    safetensors::Writer w;
    w.set_metadata("format", "pt");
    std::vector<uint8_t> a(2 * 3 * 4), b(5 * 2);
    for (size_t i = 0; i < a.size(); i++) a[i] = uint8_t(i);
    w.add("a", "F32", {2, 3}, a);
    w.add("b.weight", "BF16", {5}, b);
    const std::vector<uint8_t> bytes = w.to_bytes();
    safetensors::File f = safetensors::File::from_memory(bytes.data(), bytes.size(), "t.safetensors");
    REQUIRE(f.tensors().size() == 2);
    CHECK(f.metadata().size() == 1);
    const safetensors::TensorInfo* ta = f.find("a");
    REQUIRE(ta != nullptr);
    CHECK(ta->shape == std::vector<int64_t>{2, 3});
    CHECK(ta->dtype == "F32");
    CHECK(std::memcmp(f.data(*ta), a.data(), a.size()) == 0);
    CHECK((8 + bytes[0]) % 8 == 0);  // data starts 8-byte aligned

    auto err = [](const std::vector<uint8_t>& v) {
        return error_of([&] { safetensors::File::from_memory(v.data(), v.size(), "bad.safetensors"); });
    };
    CHECK(err({1, 2, 3}).find("too short") != std::string::npos);
    std::vector<uint8_t> huge(16, 0);
    huge[6] = 1;  // header length 2^48
    CHECK(err(huge).find("past the end") != std::string::npos);
    CHECK(err(st_bytes("{\"a\": ", 0)).find("bad.safetensors: header") != std::string::npos);
    CHECK(err(st_bytes("[1, 2]", 0)).find("JSON object") != std::string::npos);
    CHECK(err(st_bytes(R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", 1)).find("tensor w: unknown dtype") != std::string::npos);
    CHECK(err(st_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8)).find("need 8 bytes") != std::string::npos);
    CHECK(err(st_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4)).find("run past the data") != std::string::npos);
    CHECK(err(st_bytes(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8)).find("shape[0]") != std::string::npos);
    CHECK(err(st_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8)).find("begin after end") != std::string::npos);
    CHECK(err(st_bytes(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", 8)).find("tensor w") != std::string::npos);
    CHECK(err(st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12))
              .find("overlap") != std::string::npos);
    CHECK(err(st_bytes(R"({"__metadata__": {"k": 1}})", 0)).find("__metadata__") != std::string::npos);
    CHECK(err(st_bytes(R"({"w": {"dtype": "F32", "shape": [1]}})", 4)).find("data_offsets") != std::string::npos);
    CHECK(error_of([] { safetensors::File::open("/nonexistent.safetensors"); }).find("/nonexistent.safetensors") != std::string::npos);
}

TEST_CASE("hf: stories260K to HF and back: same tensors bit for bit, same ids; sharded too") {
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    const char* model = "models/stories260K.gguf";
    const std::string dir = round_trip(model, "stories");
    check_same_tensors(test::fixture(model), dir + "/back.gguf");
    check_same_ids(test::fixture(model), dir + "/back.gguf", case_texts("tokenizer/llama-spm/encode_cases.jsonl", 100));
    // The HF directory's files are what transformers reads.
    const json::Value cfg = json::parse(test::read_text(dir + "/hf/config.json"));
    CHECK(cfg.at("num_key_value_heads").as_int() == 4);
    CHECK(cfg.at("tie_word_embeddings").as_bool() == false);
    CHECK(json::parse(test::read_text(dir + "/hf/tokenizer.json")).at("model").at("byte_fallback").as_bool());

    hf::ExportOptions sharded;
    sharded.shard_bytes = 300000;
    const std::string d2 = round_trip(model, "stories-sharded", sharded);
    REQUIRE(fs::exists(d2 + "/hf/model.safetensors.index.json"));
    std::set<std::string> shard_names;
    const json::Value index = json::parse(test::read_text(d2 + "/hf/model.safetensors.index.json"));
    for (const auto& [k, v] : index.at("weight_map").as_object()) shard_names.insert(v.as_string());
    CHECK(shard_names.size() >= 3);
    for (const std::string& s : shard_names) CHECK(fs::exists(d2 + "/hf/" + s));
    check_same_tensors(test::fixture(model), d2 + "/back.gguf");
}

TEST_CASE("hf: llama3-tiny-f16 to HF and back: same tensors (rope_freqs too), same ids on the encode cases") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const char* model = "models/llama3-tiny-f16.gguf";
    const std::string dir = round_trip(model, "tiny");
    check_same_tensors(test::fixture(model), dir + "/back.gguf");
    const size_t n = std::getenv("SLM_ASAN") ? 60 : 513;
    check_same_ids(test::fixture(model), dir + "/back.gguf", case_texts("tokenizer/llama3/encode_cases.jsonl", n));
    // The exported tokenizer.json read by slm's own tokenizer.json loader gives the reference ids.
    Tokenizer hf_tok = Tokenizer::load(dir + "/hf/tokenizer.json");
    std::ifstream in(test::fixture("tokenizer/llama3/encode_cases.jsonl"));
    std::string line;
    int checked = 0, same = 0;
    while (std::getline(in, line) && checked < 100) {
        const json::Value c = json::parse(line);
        std::vector<int32_t> want;
        for (const auto& v : c.at("ids").as_array()) want.push_back(int32_t(v.as_int()));
        // Special-token names differ between the reference (Llama 3.0) and this vocabulary (3.2): plain text only.
        if (c.at("text").as_string().find("<|") != std::string::npos) continue;
        checked++;
        same += hf_tok.encode(c.at("text").as_string(), false, true) == want;
    }
    CHECK(same == checked);
    const json::Value cfg = json::parse(test::read_text(dir + "/hf/config.json"));
    CHECK(cfg.at("rope_scaling").at("rope_type").as_string() == "llama3");
    CHECK(cfg.at("rope_scaling").at("factor").as_number() == 32.0);
    CHECK(cfg.at("tie_word_embeddings").as_bool());
    CHECK(!fs::exists(dir + "/hf/lm_head.weight"));
}

TEST_CASE("hf: SmolLM2 Q4_1 to HF (dequantized, f32) and back: the same values bit for bit, ids, chat template") {
    SLM_REQUIRE_FIXTURE("models/SmolLM2-135M-Instruct-Q4_1.gguf");
    const char* model = "models/SmolLM2-135M-Instruct-Q4_1.gguf";
    const std::string dir = round_trip(model, "smol");
    check_same_tensors(test::fixture(model), dir + "/back.gguf");
    std::vector<std::string> texts = case_texts("tokenizer/llama3/encode_cases.jsonl", std::getenv("SLM_ASAN") ? 60 : 513);
    for (const std::string& t : case_texts("tokenizer/gpt2/encode_cases.jsonl", 46)) texts.push_back(t);
    check_same_ids(test::fixture(model), dir + "/back.gguf", texts);
    gguf::File a = gguf::File::open(test::fixture(model)), b = gguf::File::open(dir + "/back.gguf");
    CHECK(a.get_string("tokenizer.chat_template") == b.get_string("tokenizer.chat_template"));
    CHECK(b.get_string("tokenizer.ggml.pre") == "smollm");
    CHECK(json::parse(test::read_text(dir + "/hf/tokenizer_config.json")).at("chat_template").as_string() ==
          a.get_string("tokenizer.chat_template"));
}

TEST_CASE("hf: config.json variants (transformers 5 rope_parameters, eos lists, chat_template.jinja) and --type") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const std::string dir = test::scratch_dir("hf-variants");
    hf::ExportOptions e;
    e.progress = false;
    hf::export_hf(test::fixture("models/llama3-tiny-f16.gguf"), dir + "/hf", test::cpu(), e);
    // transformers 5: rope_theta and the scaling inside rope_parameters; eos as a list; template in its own file.
    json::Value cfg = json::parse(test::read_text(dir + "/hf/config.json"));
    json::Value rp = cfg.at("rope_scaling");
    rp.set("rope_theta", cfg.at("rope_theta"));
    json::Value obj = json::Value::object();
    for (const auto& [k, v] : cfg.as_object())
        if (k != "rope_scaling" && k != "rope_theta") obj.push_member(k, v);
    obj.push_member("rope_parameters", rp);
    json::Value eos = json::Value::array();
    eos.push_back(json::Value(128009));
    eos.push_back(json::Value(128001));
    obj.set("eos_token_id", eos);
    std::ofstream(dir + "/hf/config.json") << obj.dump(2);
    json::Value tc = json::parse(test::read_text(dir + "/hf/tokenizer_config.json"));
    json::Value tc2 = json::Value::object();
    for (const auto& [k, v] : tc.as_object())
        if (k != "eos_token") tc2.push_member(k, v);
    std::ofstream(dir + "/hf/tokenizer_config.json") << tc2.dump(2);
    std::ofstream(dir + "/hf/chat_template.jinja") << "{{ '<|start_header_id|>' }}{{ '<|end_header_id|>' }}";
    fs::remove(dir + "/hf/generation_config.json");
    hf::ConvertOptions c;
    c.progress = false;
    hf::convert(dir + "/hf", dir + "/v5.gguf", test::cpu(), c);
    check_same_tensors(test::fixture("models/llama3-tiny-f16.gguf"), dir + "/v5.gguf");
    gguf::File v5 = gguf::File::open(dir + "/v5.gguf");
    CHECK(v5.get_int("tokenizer.ggml.eos_token_id") == 128009);
    CHECK(v5.get_string("tokenizer.chat_template") == "{{ '<|start_header_id|>' }}{{ '<|end_header_id|>' }}");

    for (const char* type : {"BF16", "Q8_0"}) {
        CAPTURE(type);
        c.type = type;
        hf::convert(dir + "/hf", dir + "/t.gguf", test::cpu(), c);
        gguf::File t = gguf::File::open(dir + "/t.gguf");
        CHECK(t.find_tensor("blk.0.attn_norm.weight")->type == GgmlType::F32);
        const GgmlType want = std::string(type) == "BF16" ? GgmlType::BF16 : GgmlType::Q8_0;
        CHECK(t.find_tensor("blk.1.ffn_down.weight")->type == want);
    }
    c.type = "Q4_K";
    CHECK(error_of([&] { hf::convert(dir + "/hf", dir + "/t.gguf", test::cpu(), c); }).find("--type Q4_K") != std::string::npos);
}

TEST_CASE("hf: broken checkpoint directories are clear errors naming the file and the tensor") {
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    const std::string dir = test::scratch_dir("hf-broken");
    hf::ExportOptions e;
    e.progress = false;
    hf::export_hf(test::fixture("models/stories260K.gguf"), dir + "/ok", test::cpu(), e);
    hf::ConvertOptions c;
    c.progress = false;
    auto variant = [&](const std::string& name, const std::function<void(const std::string&)>& edit) {
        const std::string d = dir + "/" + name;
        fs::remove_all(d);
        fs::copy(dir + "/ok", d);
        edit(d);
        return error_of([&] { hf::convert(d, dir + "/out.gguf", test::cpu(), c); });
    };
    auto edit_config = [](const std::string& d, const std::string& key, json::Value v) {
        json::Value cfg = json::parse(test::read_text(d + "/config.json"));
        cfg.set(key, v);
        std::ofstream(d + "/config.json") << cfg.dump();
    };
    // A tensor the config does not expect / one it lacks, with the safetensors file and tensor named.
    std::string e1 = variant("layers", [&](const std::string& d) { edit_config(d, "num_hidden_layers", json::Value(4)); });
    CHECK(e1.find("model.layers.4.") != std::string::npos);
    CHECK(e1.find("not expected") != std::string::npos);
    std::string e2 = variant("more", [&](const std::string& d) { edit_config(d, "num_hidden_layers", json::Value(6)); });
    CHECK(e2.find("model.layers.5.input_layernorm.weight is missing") != std::string::npos);
    std::string e3 = variant("shape", [&](const std::string& d) { edit_config(d, "intermediate_size", json::Value(170)); });
    CHECK(e3.find("mlp.gate_proj.weight: shape [172, 64], config.json implies [170, 64]") != std::string::npos);
    std::string e4 = variant("arch", [&](const std::string& d) {
        json::Value a = json::Value::array();
        a.push_back("MistralForCausalLM");
        edit_config(d, "architectures", a);
        edit_config(d, "model_type", "mistral");
    });
    CHECK(e4.find("LlamaForCausalLM") != std::string::npos);
    std::string e5 = variant("noweights", [&](const std::string& d) { fs::remove(d + "/model.safetensors"); });
    CHECK(e5.find("no model.safetensors") != std::string::npos);
    std::string e6 = variant("shard", [&](const std::string& d) {
        std::ofstream(d + "/model.safetensors.index.json")
            << R"({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}})";
    });
    CHECK(e6.find("shard") != std::string::npos);
    CHECK(e6.find("model-00002-of-00002.safetensors") != std::string::npos);
    std::string e7 = variant("trunc", [&](const std::string& d) { fs::resize_file(d + "/model.safetensors", 5000); });
    CHECK(e7.find("model.safetensors") != std::string::npos);
    std::string e8 = variant("rope", [&](const std::string& d) {
        json::Value rs = json::Value::object();
        rs.set("rope_type", "yarn");
        edit_config(d, "rope_scaling", rs);
    });
    CHECK(e8.find("yarn") != std::string::npos);
    std::string e9 = variant("notok", [&](const std::string& d) { fs::remove(d + "/tokenizer.json"); });
    CHECK(e9.find("tokenizer.json") != std::string::npos);
    std::string e10 = variant("cfgjson", [&](const std::string& d) { std::ofstream(d + "/config.json") << "{\"hidden_size\": "; });
    CHECK(e10.find("config.json") != std::string::npos);
    CHECK(error_of([&] { hf::convert(dir + "/nonexistent", dir + "/out.gguf", test::cpu(), c); }).find("not a directory") != std::string::npos);
    // The output is checked before any work (the shared OutputFile rule): a device is never replaced.
    CHECK(error_of([&] { hf::convert(dir + "/ok", "/dev/null", test::cpu(), c); }).find("/dev/null") != std::string::npos);
    CHECK(error_of([&] { hf::convert(dir + "/ok", dir + "/no-such-folder/out.gguf", test::cpu(), c); }).find("no-such-folder") != std::string::npos);
}

// ---- GPTQ checkpoints in the AutoGPTQ / GPTQModel layout (src/hf.cpp draws it) ----
namespace {

// A GPTQ checkpoint written from slm's own quantization q (kernels/cpu/gptq.cpp's layout) of an HF matrix
// [N][K]: the inverse of what slm convert does, written here from the layout's description only.
void add_autogptq(safetensors::Writer& w, const std::string& base, const gptq::Quantized& q, bool v1, bool with_g_idx) {
    const int64_t K = q.n_in, N = q.n_out, G = q.group_size, ng = (K + G - 1) / G;
    std::vector<int64_t> stored_at(static_cast<size_t>(K));  // input c is stored column stored_at[c]
    for (int64_t k = 0; k < K; k++) stored_at[size_t(q.perm.empty() ? k : q.perm[size_t(k)])] = k;
    std::vector<uint32_t> qw(size_t(K / 8 * N), 0), qz(size_t(ng * (N / 8)), 0);
    std::vector<int32_t> g_idx(static_cast<size_t>(K));
    std::vector<uint16_t> sc(static_cast<size_t>(ng * N));
    for (int64_t n = 0; n < N; n++) {
        for (int64_t c = 0; c < K; c++) {
            const int64_t k = stored_at[size_t(c)];
            const uint32_t v = (q.qweight[size_t(n * (K / 8) + k / 8)] >> (4 * (k % 8))) & 15u;
            qw[size_t((c / 8) * N + n)] |= v << (4 * (c % 8));
        }
        for (int64_t g = 0; g < ng; g++) {
            sc[size_t(g * N + n)] = q.scales[size_t(n * ng + g)];
            const int z = q.zeros[size_t(n * ng + g)] - (v1 ? 1 : 0);
            qz[size_t(g * (N / 8) + n / 8)] |= uint32_t(z & 15) << (4 * (n % 8));
        }
    }
    for (int64_t c = 0; c < K; c++) g_idx[size_t(c)] = int32_t(stored_at[size_t(c)] / G);
    auto bytes = [](const auto& v) {
        std::vector<uint8_t> b(v.size() * sizeof(v[0]));
        std::memcpy(b.data(), v.data(), b.size());
        return b;
    };
    w.add(base + ".qweight", "I32", {K / 8, N}, bytes(qw));
    w.add(base + ".qzeros", "I32", {ng, N / 8}, bytes(qz));
    w.add(base + ".scales", "F16", {ng, N}, bytes(sc));
    if (with_g_idx) w.add(base + ".g_idx", "I32", {K}, bytes(g_idx));
}

}  // namespace

TEST_CASE("hf: GPTQ checkpoints (AutoGPTQ v1 with act-order, GPTQModel v2) import to the same dequantized values") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const std::string dir = test::scratch_dir("hf-gptq");
    hf::ExportOptions e;
    e.progress = false;
    hf::export_hf(test::fixture("models/llama3-tiny-f16.gguf"), dir + "/hf", test::cpu(), e);
    const json::Value cfg = json::parse(test::read_text(dir + "/hf/config.json"));
    const int n_layer = int(cfg.at("num_hidden_layers").as_int()), head_dim = int(cfg.at("hidden_size").as_int() /
                                                                                    cfg.at("num_attention_heads").as_int());
    struct Variant {
        const char* name;
        bool v1, act_order, sym, g_idx, config_in_config_json;
    };
    for (Variant v : {Variant{"v1-act-order-sym", true, true, true, true, false},
                      Variant{"v2-asym", false, false, false, false, true}}) {
        CAPTURE(v.name);
        const std::string d = dir + "/" + v.name;
        fs::remove_all(d);
        fs::copy(dir + "/hf", d);
        safetensors::File st = safetensors::File::open(dir + "/hf/model.safetensors");
        safetensors::Writer w;
        std::map<std::string, gptq::Quantized> quantized;  // by HF name without ".weight"
        std::mt19937 rng(7);
        gptq::Options o;
        o.group_size = 32;
        o.sym = v.sym;
        for (const safetensors::TensorInfo& t : st.tensors()) {
            const uint8_t* data = st.data(t);
            const bool linear = t.shape.size() == 2 && t.name.rfind("model.layers.", 0) == 0;
            if (!linear) {
                w.add(t.name, t.dtype, t.shape, std::vector<uint8_t>(data, data + t.nbytes()));
                continue;
            }
            REQUIRE(t.dtype == "F16");
            const int64_t N = t.shape[0], K = t.shape[1];
            std::vector<float> W(static_cast<size_t>(N * K));
            for (size_t i = 0; i < W.size(); i++) {
                uint16_t h;
                std::memcpy(&h, data + 2 * i, 2);
                W[i] = fp16_to_fp32(h);
            }
            // Act-order: quantize the columns in a random order (stored column k = input perm[k]).
            std::vector<int32_t> perm(static_cast<size_t>(K));
            std::iota(perm.begin(), perm.end(), 0);
            if (v.act_order) std::shuffle(perm.begin(), perm.end(), rng);
            std::vector<float> Wp(W.size());
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < K; k++) Wp[size_t(n * K + k)] = W[size_t(n * K + perm[size_t(k)])];
            gptq::Quantized q = gptq::quantize_rtn(Wp.data(), N, K, o);
            if (v.act_order) q.perm = perm;
            const std::string base = t.name.substr(0, t.name.size() - 7);
            add_autogptq(w, base, q, v.v1, v.g_idx);
            quantized.emplace(base, std::move(q));
        }
        w.write(d + "/model.safetensors");
        json::Value qc = json::Value::object();
        qc.push_member("bits", json::Value(4));
        qc.push_member("group_size", json::Value(32));
        qc.push_member("desc_act", json::Value(v.act_order));
        qc.push_member("sym", json::Value(v.sym));
        qc.push_member("checkpoint_format", json::Value(v.v1 ? "gptq" : "gptq_v2"));
        if (v.config_in_config_json) {
            json::Value c2 = cfg;
            qc.push_member("quant_method", json::Value("gptq"));
            c2.set("quantization_config", qc);
            std::ofstream(d + "/config.json") << c2.dump(2);
        } else {
            std::ofstream(d + "/quantize_config.json") << qc.dump(2);
        }
        hf::ConvertOptions c;
        c.progress = false;
        hf::convert(d, d + "/out.gguf", test::cpu(), c);
        gguf::File f = gguf::File::open(d + "/out.gguf");
        CHECK(f.get_int("slm.gptq.group_size") == 32);
        CHECK((f.find_tensor("blk.0.attn_q.perm") != nullptr) == v.act_order);
        CHECK(f.find_tensor("blk.0.attn_q.weight") == nullptr);
        auto m = Model::load(d + "/out.gguf", test::cpu());
        // Every row of every matrix dequantizes to the values of slm's quantization it was written from
        // (Q and K rows through the HF -> GGUF row permutation).
        int64_t compared = 0, differ = 0;
        for (int l = 0; l < n_layer; l++) {
            const LayerWeights& L = m->layers()[size_t(l)];
            const std::string h = "model.layers." + std::to_string(l) + ".";
            const std::pair<const Weight*, std::string> mats[] = {
                {&L.wq, h + "self_attn.q_proj"}, {&L.wk, h + "self_attn.k_proj"}, {&L.wv, h + "self_attn.v_proj"},
                {&L.wo, h + "self_attn.o_proj"}, {&L.w_gate, h + "mlp.gate_proj"}, {&L.w_up, h + "mlp.up_proj"},
                {&L.w_down, h + "mlp.down_proj"}};
            for (const auto& mat : mats) {
                const Weight* W = mat.first;
                const std::string& name = mat.second;  // (no structured binding: clang 14 cannot capture one)
                CAPTURE(name);
                REQUIRE(W->w.format == WeightFormat::gptq);
                const gptq::Quantized& q = quantized.at(name);
                const bool perm_rows = name.find("q_proj") != std::string::npos || name.find("k_proj") != std::string::npos;
                std::vector<float> got(static_cast<size_t>(q.n_in)), want(size_t(q.n_in));
                for (int64_t r = 0; r < q.n_out; r++) {
                    codec::dequantize_weight_row(W->w, r, got.data());
                    codec::dequantize_weight_row(q.view(), perm_rows ? hf::hf_row_of_gguf_row(r, head_dim) : r, want.data());
                    differ += std::memcmp(got.data(), want.data(), got.size() * 4) != 0;
                    compared++;
                }
            }
        }
        CHECK(compared > 0);
        CHECK(differ == 0);
    }
    // Settings slm cannot hold are refused, naming the file and the field.
    const std::string d = dir + "/v1-act-order-sym";
    auto with_config = [&](const std::string& text) {
        std::ofstream(d + "/quantize_config.json") << text;
        hf::ConvertOptions c;
        c.progress = false;
        return error_of([&] { hf::convert(d, d + "/bad.gguf", test::cpu(), c); });
    };
    CHECK(with_config(R"({"bits": 8, "group_size": 32})").find("bits = 8") != std::string::npos);
    CHECK(with_config(R"({"bits": 4, "group_size": -1})").find("group_size = -1") != std::string::npos);
    // groups of 64 over parts made with 32: the parts have twice the groups the settings imply
    CHECK(with_config(R"({"bits": 4, "group_size": 64})").find("qzeros: I32 [") != std::string::npos);
    CHECK(with_config(R"({"bits": 4, "group_size": 32, "checkpoint_format": "marlin"})").find("marlin") != std::string::npos);
}
