#include "synth.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "backend.h"
#include "common.h"
#include "gguf.h"
#include "threadpool.h"

namespace slm::synth {

namespace {

// Llama 3.2's common settings: 8 KV heads, the 128256-entry vocabulary, tied embeddings, llama3 rope scaling.
Shape llama32(const char* name, int n_layer, int n_embd, int n_head, int n_ff, int head_dim) {
    return Shape{.name = name, .n_layer = n_layer, .n_embd = n_embd, .n_head = n_head, .n_head_kv = 8, .n_ff = n_ff,
                 .n_vocab = 128256, .head_dim = head_dim, .n_ctx_train = 131072, .rope_base = 500000.0f,
                 .rms_eps = 1e-5f, .tied_embeddings = true, .rope_factor = 32, .rope_low_freq_factor = 1,
                 .rope_high_freq_factor = 4, .rope_original_ctx = 8192};
}

std::vector<Shape> presets() {
    std::vector<Shape> v;
    v.push_back(llama32("llama3.2-1b", 16, 2048, 32, 8192, 64));
    v.push_back(llama32("llama3.2-3b", 28, 3072, 24, 8192, 128));
    v.push_back(Shape{.name = "smollm2-135m", .n_layer = 30, .n_embd = 576, .n_head = 9, .n_head_kv = 3, .n_ff = 1536,
                      .n_vocab = 49152, .n_ctx_train = 8192, .rope_base = 100000.0f, .tied_embeddings = true});
    // For tests: a few hundred KB, Llama 3 style (GQA, rope_freqs) and plain (MHA, separate output).
    Shape tiny = llama32("tiny", 2, 64, 4, 128, 16);
    tiny.n_head_kv = 2;
    tiny.n_vocab = 512;
    tiny.n_ctx_train = 2048;
    v.push_back(tiny);
    v.push_back(Shape{.name = "tiny-mha", .n_layer = 2, .n_embd = 64, .n_head = 4, .n_head_kv = 4, .n_ff = 96,
                      .n_vocab = 300, .n_ctx_train = 512, .tied_embeddings = false});
    return v;
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Element j of the tensor with key k: uniform in [-a, a), from 24 random bits (exact float arithmetic).
inline float draw(uint64_t k, uint64_t j, float a) {
    const float u = float(splitmix64(k + j) >> 40) * (1.0f / 16777216.0f);
    return (u * 2.0f - 1.0f) * a;
}

struct TensorPlan {
    std::string name;
    GgmlType type;
    int64_t n_in, n_out;  // ne[0], ne[1] (n_out 1: a vector)
    enum Kind { matrix, norm, rope_freqs } kind;
};

}  // namespace

int64_t Shape::n_params() const {
    const int64_t hd = dim_head(), q = int64_t(n_head) * hd, kv = int64_t(n_head_kv) * hd;
    const int64_t per_layer = 2 * int64_t(n_embd) + int64_t(n_embd) * (q + 2 * kv) + q * n_embd + 3 * int64_t(n_embd) * n_ff;
    return int64_t(n_vocab) * n_embd * (tied_embeddings ? 1 : 2) + n_embd + n_layer * per_layer +
           (rope_factor > 0 ? hd / 2 : 0);
}

void Shape::validate() const {
    auto positive = [](const char* what, int64_t v, int64_t max) {
        if (v <= 0 || v > max) fail("synth: %s = %lld: expected 1..%lld", what, (long long)v, (long long)max);
    };
    positive("layers", n_layer, 1024);
    positive("dim", n_embd, 1 << 16);
    positive("heads", n_head, 1024);
    positive("kv-heads", n_head_kv, 1024);
    positive("ffn", n_ff, 1 << 18);
    positive("vocab", n_vocab, 1 << 22);
    if (n_head % n_head_kv) fail("synth: heads %d is not a multiple of kv-heads %d", n_head, n_head_kv);
    if (head_dim <= 0 && n_embd % n_head) fail("synth: dim %d is not a multiple of heads %d", n_embd, n_head);
    if (dim_head() % 2) fail("synth: head dimension %d is odd (rope rotates pairs)", dim_head());
    if (rope_factor > 0 && !(rope_high_freq_factor > rope_low_freq_factor))
        fail("synth: rope scaling needs high_freq_factor > low_freq_factor");
    const double bytes = double(n_params()) * 4;
    if (bytes > 64e9) fail("synth: %.0f parameters: more than slm writes (64 GB as f32)", double(n_params()));
}

std::optional<Shape> preset(std::string_view name) {
    for (const Shape& s : presets())
        if (s.name == name) return s;
    return std::nullopt;
}

std::vector<std::string> preset_names() {
    std::vector<std::string> v;
    for (const Shape& s : presets()) v.push_back(s.name);
    return v;
}

// As llama.cpp's converter computes them (in float32): inverse frequency base^(-2i/d), wavelength 2 pi / freq;
// short wavelengths keep factor 1, long ones get `factor`, and the band between is interpolated smoothly.
std::vector<float> llama3_rope_freqs(const Shape& s) {
    const int d = s.dim_head();
    const float low_wavelen = float(s.rope_original_ctx) / s.rope_low_freq_factor;
    const float high_wavelen = float(s.rope_original_ctx) / s.rope_high_freq_factor;
    std::vector<float> out(size_t(d / 2));
    for (int i = 0; i < d / 2; i++) {
        // (PyTorch evaluates `scalar / tensor` as reciprocal(tensor) * scalar: the same roundings here.)
        const float freq = 1.0f / std::pow(s.rope_base, float(2 * i) / float(d));
        const float wavelen = (1.0f / freq) * float(2 * M_PI);
        float f;
        if (wavelen < high_wavelen) f = 1.0f;
        else if (wavelen > low_wavelen) f = s.rope_factor;
        else {
            const float smooth = ((1.0f / wavelen) * float(s.rope_original_ctx) - s.rope_low_freq_factor) /
                                 (s.rope_high_freq_factor - s.rope_low_freq_factor);
            f = 1.0f / ((1.0f - smooth) / s.rope_factor + smooth);
        }
        out[size_t(i)] = f;
    }
    return out;
}

std::vector<TensorSpec> layout(const Shape& s, GgmlType mt) {
    const int64_t hd = s.dim_head(), q = int64_t(s.n_head) * hd, kv = int64_t(s.n_head_kv) * hd, e = s.n_embd;
    const GgmlType f32 = GgmlType::F32;
    std::vector<TensorSpec> v;
    v.push_back({"token_embd.weight", mt, {e, s.n_vocab}});
    if (s.rope_factor > 0) v.push_back({"rope_freqs.weight", f32, {hd / 2}});
    v.push_back({"output_norm.weight", f32, {e}});
    if (!s.tied_embeddings) v.push_back({"output.weight", mt, {e, s.n_vocab}});
    for (int l = 0; l < s.n_layer; l++) {
        const std::string b = strfmt("blk.%d.", l);
        v.push_back({b + "attn_norm.weight", f32, {e}});
        v.push_back({b + "attn_q.weight", mt, {e, q}});
        v.push_back({b + "attn_k.weight", mt, {e, kv}});
        v.push_back({b + "attn_v.weight", mt, {e, kv}});
        v.push_back({b + "attn_output.weight", mt, {q, e}});
        v.push_back({b + "ffn_norm.weight", f32, {e}});
        v.push_back({b + "ffn_gate.weight", mt, {e, s.n_ff}});
        v.push_back({b + "ffn_up.weight", mt, {e, s.n_ff}});
        v.push_back({b + "ffn_down.weight", mt, {s.n_ff, e}});
    }
    return v;
}

void write_model(const Options& opt, const std::string& path, ThreadPool& pool) {
    using gguf::Value;
    using gguf::ValueType;
    Shape s = opt.shape;
    if (opt.type != GgmlType::F16 && opt.type != GgmlType::BF16 && opt.type != GgmlType::F32)
        fail("synth: --type %s: expected F16, BF16 or F32 (quantize the result with slm quantize)", type_name(opt.type));

    gguf::Writer w;
    // Tokenizer first (it may set the vocabulary size), written after the model keys as llama.cpp orders them.
    std::vector<gguf::KV> tok;
    if (!opt.tokenizer.empty()) {
        gguf::File src = gguf::File::open(opt.tokenizer);
        for (const gguf::KV& kv : src.metadata())
            if (kv.key.rfind("tokenizer.", 0) == 0) tok.push_back(kv);
        const Value* tokens = src.find("tokenizer.ggml.tokens");
        if (!tokens || tokens->type != ValueType::ARRAY)
            fail("%s: no tokenizer.ggml.tokens array to copy (--tokenizer takes a GGUF file that has a vocabulary)",
                 opt.tokenizer.c_str());
        s.n_vocab = int(tokens->arr.size());
    } else {
        if (s.n_vocab < 260) fail("synth: vocab %d: the generated vocabulary needs at least 260 tokens", s.n_vocab);
        std::vector<std::string> tokens;
        std::vector<Value> scores, types;
        tokens.reserve(size_t(s.n_vocab));
        auto add = [&](std::string t, float score, int type) {
            tokens.push_back(std::move(t));
            scores.push_back(Value::make_f32(score));
            types.push_back(Value::make_i32(type));
        };
        add("<unk>", 0, 2);  // llama.cpp token types: 1 normal, 2 unknown, 3 control, 6 byte
        add("<s>", 0, 3);
        add("</s>", 0, 3);
        for (int b = 0; b < 256; b++) add(strfmt("<0x%02X>", b), 0, 6);
        for (int i = int(tokens.size()); i < s.n_vocab; i++) add(strfmt("\xe2\x96\x81t%d", i), -float(i), 1);
        tok.push_back({"tokenizer.ggml.model", Value::make_string("llama")});
        tok.push_back({"tokenizer.ggml.tokens", Value::make_string_array(tokens)});
        tok.push_back({"tokenizer.ggml.scores", Value::make_array(ValueType::FLOAT32, std::move(scores))});
        tok.push_back({"tokenizer.ggml.token_type", Value::make_array(ValueType::INT32, std::move(types))});
        tok.push_back({"tokenizer.ggml.bos_token_id", Value::make_u32(1)});
        tok.push_back({"tokenizer.ggml.eos_token_id", Value::make_u32(2)});
        tok.push_back({"tokenizer.ggml.unknown_token_id", Value::make_u32(0)});
        tok.push_back({"tokenizer.ggml.add_bos_token", Value::make_bool(true)});
    }
    s.validate();

    const int hd = s.dim_head();
    w.set("general.architecture", Value::make_string("llama"));
    w.set("general.name", Value::make_string(s.name));
    w.set("llama.context_length", Value::make_u32(uint32_t(s.n_ctx_train > 0 ? s.n_ctx_train : 2048)));
    w.set("llama.embedding_length", Value::make_u32(uint32_t(s.n_embd)));
    w.set("llama.block_count", Value::make_u32(uint32_t(s.n_layer)));
    w.set("llama.feed_forward_length", Value::make_u32(uint32_t(s.n_ff)));
    w.set("llama.attention.head_count", Value::make_u32(uint32_t(s.n_head)));
    w.set("llama.attention.head_count_kv", Value::make_u32(uint32_t(s.n_head_kv)));
    w.set("llama.rope.freq_base", Value::make_f32(s.rope_base));
    w.set("llama.attention.layer_norm_rms_epsilon", Value::make_f32(s.rms_eps));
    w.set("llama.rope.dimension_count", Value::make_u32(uint32_t(hd)));
    w.set("llama.attention.key_length", Value::make_u32(uint32_t(hd)));
    w.set("llama.attention.value_length", Value::make_u32(uint32_t(hd)));
    w.set("llama.vocab_size", Value::make_u32(uint32_t(s.n_vocab)));
    const uint32_t file_type = opt.type == GgmlType::F32 ? 0 : opt.type == GgmlType::F16 ? 1 : 32;  // llama_ftype
    w.set("general.file_type", Value::make_u32(file_type));
    for (gguf::KV& kv : tok) w.set(kv.key, std::move(kv.value));

    std::vector<TensorPlan> plan;
    for (const TensorSpec& t : layout(s, opt.type)) {
        const TensorPlan::Kind kind = t.name == "rope_freqs.weight" ? TensorPlan::rope_freqs
                                      : t.ne.size() == 1            ? TensorPlan::norm
                                                                    : TensorPlan::matrix;
        plan.push_back({t.name, t.type, t.ne[0], t.ne.size() > 1 ? t.ne[1] : 1, kind});
    }

    uint64_t total = 0;
    for (const TensorPlan& t : plan) total += uint64_t(row_bytes(t.type, t.n_in) * t.n_out);
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t done = 0;
    double last_print = -1;
    const std::vector<float> rope = s.rope_factor > 0 ? llama3_rope_freqs(s) : std::vector<float>();
    for (size_t ti = 0; ti < plan.size(); ti++) {
        const TensorPlan& t = plan[ti];
        std::vector<int64_t> ne = {t.n_in};
        if (t.kind == TensorPlan::matrix) ne.push_back(t.n_out);
        // Each tensor draws from its own stream: the key mixes the seed and the tensor's index.
        const uint64_t key = splitmix64(splitmix64(opt.seed) ^ (uint64_t(ti + 1) << 32));
        w.add_tensor_lazy(t.name, t.type, ne, [&, t, key, ti]() {
            const int64_t rb = row_bytes(t.type, t.n_in);
            std::vector<uint8_t> bytes(size_t(rb * t.n_out));
            if (t.kind == TensorPlan::rope_freqs) {
                std::memcpy(bytes.data(), rope.data(), bytes.size());
            } else {
                // Matrices: uniform in [-a, a) with a = sqrt(3 / n_in), variance 1 / n_in, so activations keep
                // their size through the layers; norms: 1 +- 0.1.
                const float a = t.kind == TensorPlan::matrix ? float(std::sqrt(3.0 / double(t.n_in))) : 0.1f;
                const float base = t.kind == TensorPlan::matrix ? 0.0f : 1.0f;
                pool.parallel_for(t.n_out, std::max<int64_t>(1, 65536 / t.n_in), [&](int64_t r0, int64_t r1, int) {
                    std::vector<float> row(size_t(t.n_in));
                    for (int64_t r = r0; r < r1; r++) {
                        const uint64_t j0 = uint64_t(r) * uint64_t(t.n_in);
                        for (int64_t i = 0; i < t.n_in; i++) row[size_t(i)] = base + draw(key, j0 + uint64_t(i), a);
                        codec::quantize_row(t.type, row.data(), bytes.data() + r * rb, t.n_in);
                    }
                });
            }
            done += bytes.size();
            const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (opt.progress && (el - last_print >= 0.5 || ti + 1 == plan.size())) {
                last_print = el;
                const double rate = el > 0 ? double(done) / el : 0;
                std::fprintf(stderr, "\rslm synth: %zu/%zu tensors, %.0f/%.0f MB, %.0f MB/s, ETA %.0f s   ", ti + 1,
                             plan.size(), double(done) / 1e6, double(total) / 1e6, rate / 1e6,
                             rate > 0 ? double(total - done) / rate : 0.0);
                std::fflush(stderr);
            }
            return bytes;
        });
    }
    (void)codec::can_quantize(opt.type);  // resolve the kernels on this thread
    w.write(path);
    if (opt.progress) std::fprintf(stderr, "\n");
}

}  // namespace slm::synth
