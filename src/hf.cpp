#include "hf.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>

#include "backend.h"
#include "common.h"
#include "progress.h"
#include "gguf.h"
#include "input_file.h"
#include "json.h"
#include "model.h"
#include "output_file.h"
#include "quantize.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "types.h"

namespace fs = std::filesystem;

namespace slm::hf {

int64_t hf_row_of_gguf_row(int64_t r, int64_t head_dim) {
    const int64_t j = r % head_dim, half = j % 2, i = j / 2;
    return (r - j) + half * (head_dim / 2) + i;
}

std::vector<float> llama3_rope_freqs(int head_dim, double rope_theta, double factor, double low_freq_factor,
                                     double high_freq_factor, double original_max_position) {
    // llama.cpp's converter: freqs = 1 / (base ** (arange(0, dim, 2, float32) / dim)) as float32, then for each
    // freq (a Python float from here on) wavelen = 2*pi / freq and the smooth interpolation in double, the
    // result stored as float32. (Checked against llama3-tiny-f16's rope_freqs.weight, bit for bit.)
    std::vector<float> out;
    const double low_wavelen = original_max_position / low_freq_factor;
    const double high_wavelen = original_max_position / high_freq_factor;
    for (int k = 0; k < head_dim; k += 2) {
        const float e = float(k) / float(head_dim);
        const float freq = 1.0f / std::pow(float(rope_theta), e);
        const double wavelen = 2 * M_PI / double(freq);
        if (wavelen < high_wavelen) {
            out.push_back(1.0f);
        } else if (wavelen > low_wavelen) {
            out.push_back(float(factor));
        } else {
            const double smooth = (original_max_position / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            out.push_back(float(1 / ((1 - smooth) / factor + smooth)));
        }
    }
    return out;
}

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// input_file.h: a FIFO or a device in the checkpoint directory is refused at once, never waited on.
std::string read_text(const std::string& path) { return read_input_file(path, "a text or JSON file of the checkpoint"); }

json::Value read_json(const std::string& path) {
    const std::string text = read_text(path);
    json::Value v;
    std::string err;
    if (!json::try_parse(text, &v, &err)) fail("%s: %s", path.c_str(), err.c_str());
    if (!v.is_object()) fail("%s: expected a JSON object", path.c_str());
    return v;
}

// Writes the whole text into an output opened before the work, and commits it.
void commit_text(OutputFile& out, const std::string& text) {
    out.write(text);
    out.commit();
}

// ---- config.json --------------------------------------------------------------------------------------

struct Rope3 {
    bool on = false;
    double factor = 8, low = 1, high = 4, orig = 8192;
};

struct Config {
    int n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_vocab = 0, n_ctx = 2048;
    double rms_eps = 1e-6, rope_theta = 10000;
    bool tied = false;
    Rope3 rope3;
    std::vector<int64_t> eos_ids;
    int64_t bos_id = -1;
    std::string name;
};

int64_t int_field(const json::Value& o, const char* key, const std::string& file, int64_t def, int64_t lo, int64_t hi,
                  bool required) {
    const json::Value* v = o.find(key);
    if (!v || v->is_null()) {
        if (required) fail("%s: %s: missing", file.c_str(), key);
        return def;
    }
    if (!v->is_integer()) fail("%s: %s: expected an integer", file.c_str(), key);
    const int64_t x = v->as_int();
    if (x < lo || x > hi) fail("%s: %s = %lld: expected %lld..%lld", file.c_str(), key, (long long)x, (long long)lo, (long long)hi);
    return x;
}
double num_field(const json::Value& o, const char* key, const std::string& file, double def) {
    const json::Value* v = o.find(key);
    if (!v || v->is_null()) return def;
    if (!v->is_number()) fail("%s: %s: expected a number", file.c_str(), key);
    const double x = v->as_number();
    if (!std::isfinite(x) || x <= 0) fail("%s: %s = %g: expected a positive number", file.c_str(), key, x);
    return x;
}
std::vector<int64_t> ids_field(const json::Value& o, const char* key, const std::string& file) {
    const json::Value* v = o.find(key);
    std::vector<int64_t> out;
    if (!v || v->is_null()) return out;
    auto one = [&](const json::Value& x) {
        if (!x.is_integer() || x.as_int() < 0 || x.as_int() >= (1 << 24))
            fail("%s: %s: expected a token id or a list of token ids", file.c_str(), key);
        out.push_back(x.as_int());
    };
    if (v->is_array())
        for (size_t i = 0; i < v->size(); i++) one((*v)[i]);
    else
        one(*v);
    return out;
}

Config read_config(const std::string& dir) {
    const std::string file = dir + "/config.json";
    const json::Value c = read_json(file);
    bool llama = false;
    if (const json::Value* a = c.find("architectures"); a && a->is_array())
        for (size_t i = 0; i < a->size(); i++) llama = llama || ((*a)[i].is_string() && (*a)[i].as_string() == "LlamaForCausalLM");
    if (const json::Value* mt = c.find("model_type"); !llama && mt && mt->is_string()) llama = mt->as_string() == "llama";
    if (!llama) fail("%s: architectures / model_type: slm converts LlamaForCausalLM (model_type \"llama\") checkpoints", file.c_str());
    Config k;
    const int64_t big = 1 << 20;
    k.n_embd = int(int_field(c, "hidden_size", file, 0, 1, big, true));
    k.n_ff = int(int_field(c, "intermediate_size", file, 0, 1, 16 * big, true));
    k.n_layer = int(int_field(c, "num_hidden_layers", file, 0, 1, 4096, true));
    k.n_head = int(int_field(c, "num_attention_heads", file, 0, 1, 4096, true));
    k.n_head_kv = int(int_field(c, "num_key_value_heads", file, k.n_head, 1, k.n_head, false));
    if (k.n_head % k.n_head_kv != 0)
        fail("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", file.c_str(), k.n_head, k.n_head_kv);
    k.head_dim = int(int_field(c, "head_dim", file, k.n_embd / k.n_head, 2, big, false));
    if (k.head_dim % 2 != 0) fail("%s: head_dim %d: expected an even number", file.c_str(), k.head_dim);
    k.n_vocab = int(int_field(c, "vocab_size", file, 0, 1, 1 << 24, true));
    k.n_ctx = int(int_field(c, "max_position_embeddings", file, 2048, 1, 1 << 30, false));
    k.rms_eps = num_field(c, "rms_norm_eps", file, 1e-6);
    if (const json::Value* t = c.find("tie_word_embeddings"); t && !t->is_null()) {
        if (!t->is_bool()) fail("%s: tie_word_embeddings: expected true or false", file.c_str());
        k.tied = t->as_bool();
    }
    for (const char* b : {"attention_bias", "mlp_bias"})
        if (const json::Value* v = c.find(b); v && v->is_bool() && v->as_bool())
            fail("%s: %s = true: slm's Llama has no bias terms", file.c_str(), b);
    if (const json::Value* act = c.find("hidden_act"); act && act->is_string() && act->as_string() != "silu")
        fail("%s: hidden_act \"%s\": slm's Llama uses silu", file.c_str(), act->as_string().c_str());
    // Rope: transformers 4 writes rope_theta and rope_scaling, transformers 5 rope_parameters (both in one).
    k.rope_theta = num_field(c, "rope_theta", file, 10000);
    const json::Value* rs = c.find("rope_scaling");
    const json::Value* rp = c.find("rope_parameters");
    if (rp && rp->is_object()) {
        k.rope_theta = num_field(*rp, "rope_theta", file + ": rope_parameters", k.rope_theta);
        if (!rs || rs->is_null()) rs = rp;
    }
    if (rs && !rs->is_null()) {
        if (!rs->is_object()) fail("%s: rope_scaling: expected an object or null", file.c_str());
        std::string type;
        for (const char* key : {"rope_type", "type"})
            if (const json::Value* t = rs->find(key); t && t->is_string()) type = t->as_string();
        if (type == "llama3") {
            const std::string f = file + ": rope scaling";
            k.rope3.on = true;
            k.rope3.factor = num_field(*rs, "factor", f, 8.0);
            k.rope3.low = num_field(*rs, "low_freq_factor", f, 1.0);
            k.rope3.high = num_field(*rs, "high_freq_factor", f, 4.0);
            k.rope3.orig = num_field(*rs, "original_max_position_embeddings", f, 8192);
            if (k.rope3.high <= k.rope3.low) fail("%s: high_freq_factor must exceed low_freq_factor", f.c_str());
        } else if (!type.empty() && type != "default") {
            fail("%s: rope scaling type \"%s\": slm converts llama3-type rope scaling (or none)", file.c_str(), type.c_str());
        }
    }
    k.eos_ids = ids_field(c, "eos_token_id", file);
    if (auto b = ids_field(c, "bos_token_id", file); !b.empty()) k.bos_id = b[0];
    if (const json::Value* n = c.find("_name_or_path"); n && n->is_string() && !n->as_string().empty())
        k.name = fs::path(n->as_string()).filename().string();
    if (k.name.empty()) k.name = fs::path(dir).lexically_normal().filename().string();
    if (k.name.empty() || k.name == ".") k.name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
    return k;
}

// ---- tokenizer ----------------------------------------------------------------------------------------

struct Vocab {
    std::string model, pre;  // "gpt2" + pre-tokenizer, or "llama"
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    std::vector<float> scores;            // llama only
    std::vector<std::string> merges;      // gpt2 only, "a b"
    int64_t bos = -1, eos = -1, unk = -1, pad = -1;
    bool add_bos = false, add_space_prefix = true;
    std::string chat_template;
};

// The text of a special token given as a string or as {"content": ...} in tokenizer_config.json.
std::string special_text(const json::Value* v) {
    if (!v || v->is_null()) return "";
    if (v->is_string()) return v->as_string();
    if (v->is_object())
        if (const json::Value* c = v->find("content"); c && c->is_string()) return c->as_string();
    return "";
}

bool is_byte_token(const std::string& t) {
    return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(uint8_t(t[3])) && std::isxdigit(uint8_t(t[4]));
}

// SentencePiece-style tokenizer.json (model.type BPE with byte_fallback, "▁" for spaces): vocabulary in id
// order, types (unk, control for special added tokens, byte for <0xNN>, normal), and scores made from the
// merge ranks so that SentencePiece's highest-score-first merging follows the merges in order.
void read_spm_json(const json::Value& root, const std::string& file, Vocab& v) {
    const json::Value& model = root.at("model");
    const json::Value* vocab = model.find("vocab");
    if (!vocab || !vocab->is_object()) fail("%s: model.vocab: missing or not an object", file.c_str());
    std::map<int64_t, std::pair<std::string, int32_t>> by_id;
    for (const auto& [text, idv] : vocab->as_object()) {
        if (!idv.is_integer() || idv.as_int() < 0 || idv.as_int() >= (1 << 24))
            fail("%s: model.vocab[\"%s\"]: expected a token id", file.c_str(), text.c_str());
        by_id[idv.as_int()] = {text, is_byte_token(text) ? int32_t(TokenType::byte) : int32_t(TokenType::normal)};
    }
    std::string unk;
    if (const json::Value* u = model.find("unk_token"); u && u->is_string()) unk = u->as_string();
    if (const json::Value* added = root.find("added_tokens"); added && added->is_array())
        for (size_t i = 0; i < added->size(); i++) {
            const json::Value& a = (*added)[i];
            const json::Value* id = a.is_object() ? a.find("id") : nullptr;
            const json::Value* content = a.is_object() ? a.find("content") : nullptr;
            if (!id || !id->is_integer() || id->as_int() < 0 || id->as_int() >= (1 << 24) || !content || !content->is_string())
                fail("%s: added_tokens[%zu]: expected {\"id\": ..., \"content\": ...}", file.c_str(), i);
            const json::Value* sp = a.find("special");
            const bool special = sp && sp->is_bool() && sp->as_bool();
            by_id[id->as_int()] = {content->as_string(), special ? int32_t(TokenType::control) : int32_t(TokenType::user_defined)};
        }
    if (by_id.empty()) fail("%s: the vocabulary is empty", file.c_str());
    const int64_t n = by_id.rbegin()->first + 1;
    if (int64_t(by_id.size()) != n) fail("%s: token ids are not dense (%zu tokens, largest id %lld)", file.c_str(), by_id.size(), (long long)n - 1);
    std::unordered_map<std::string, int64_t> id_of;
    for (auto& [id, e] : by_id) {
        if (e.first == unk) e.second = int32_t(TokenType::unknown);
        v.tokens.push_back(e.first);
        v.types.push_back(e.second);
        id_of.emplace(e.first, id);
    }
    const json::Value* merges = model.find("merges");
    if (!merges || !merges->is_array()) fail("%s: model.merges: missing or not an array", file.c_str());
    v.scores.assign(size_t(n), 0.0f);
    std::vector<bool> scored(size_t(n), false);
    const size_t nm = merges->size();
    for (size_t r = 0; r < nm; r++) {
        const json::Value& m = (*merges)[r];
        std::string a, b;
        if (m.is_string()) {
            const std::string& s = m.as_string();
            const size_t sp = s.find(' ', 1);
            if (sp == std::string::npos) fail("%s: model.merges[%zu]: expected \"a b\"", file.c_str(), r);
            a = s.substr(0, sp);
            b = s.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].as_string();
            b = m[1].as_string();
        } else {
            fail("%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", file.c_str(), r);
        }
        auto it = id_of.find(a + b);
        if (it == id_of.end()) fail("%s: model.merges[%zu]: \"%s\" + \"%s\" is not in the vocabulary", file.c_str(), r, a.c_str(), b.c_str());
        if (!scored[size_t(it->second)]) {
            scored[size_t(it->second)] = true;
            v.scores[size_t(it->second)] = -float(r);
        }
    }
    // Normal tokens no merge makes (single characters): below every merge, in id order.
    for (int64_t id = 0; id < n; id++)
        if (!scored[size_t(id)] && v.types[size_t(id)] == int32_t(TokenType::normal)) v.scores[size_t(id)] = -float(nm + size_t(id));
    v.model = "llama";
    v.pre = "default";
    v.unk = unk.empty() ? -1 : (id_of.count(unk) ? id_of[unk] : -1);
    // The normalizer prepends "▁" (SentencePiece's dummy prefix) unless it is absent.
    const json::Value* norm = root.find("normalizer");
    v.add_space_prefix = norm && norm->dump().find("Prepend") != std::string::npos;
    v.add_bos = root.find("post_processor") && root.at("post_processor").dump().find("SpecialToken") != std::string::npos;
}

Vocab read_tokenizer(const std::string& dir, const Config& cfg) {
    const std::string tj = dir + "/tokenizer.json";
    if (!fs::exists(tj)) fail("%s: missing (slm converts checkpoints with a tokenizer.json)", tj.c_str());
    const std::string text = read_text(tj);
    json::Value root;
    std::string err;
    if (!json::try_parse(text, &root, &err)) fail("%s: %s", tj.c_str(), err.c_str());
    if (!root.is_object() || !root.find("model") || !root.at("model").is_object()) fail("%s: \"model\": missing or not an object", tj.c_str());
    Vocab v;
    int64_t guessed_eos = -1;
    const json::Value* bf = root.at("model").find("byte_fallback");
    if (bf && bf->is_bool() && bf->as_bool()) {
        read_spm_json(root, tj, v);
    } else {
        const Tokenizer tok = Tokenizer::from_tokenizer_json(text, tj);
        v.model = "gpt2";
        v.pre = tok.pre_name();
        for (int32_t id = 0; id < tok.n_vocab(); id++) {
            v.tokens.push_back(tok.token_text(id));
            v.types.push_back(int32_t(tok.token_type(id)));
        }
        for (const auto& [a, b] : tok.merge_rules()) v.merges.push_back(a + " " + b);
        v.add_bos = tok.add_bos_default();
        v.bos = tok.bos_id();
        guessed_eos = tok.eos_id();  // by name; tokenizer_config.json and the configs come first
    }
    auto id_of = [&](const std::string& t) -> int64_t {
        if (t.empty()) return -1;
        for (size_t i = 0; i < v.tokens.size(); i++)
            if (v.tokens[i] == t) return int64_t(i);
        return -1;
    };
    // tokenizer_config.json: special tokens, add_bos_token, the chat template.
    const std::string tc = dir + "/tokenizer_config.json";
    if (fs::exists(tc)) {
        const json::Value c = read_json(tc);
        if (int64_t b = id_of(special_text(c.find("bos_token"))); b >= 0) v.bos = b;
        if (int64_t e = id_of(special_text(c.find("eos_token"))); e >= 0) v.eos = e;
        if (int64_t u = id_of(special_text(c.find("unk_token"))); u >= 0) v.unk = u;
        if (int64_t p = id_of(special_text(c.find("pad_token"))); p >= 0) v.pad = p;
        if (const json::Value* ab = c.find("add_bos_token"); ab && ab->is_bool()) v.add_bos = ab->as_bool();
        if (const json::Value* ct = c.find("chat_template"); ct && !ct->is_null()) {
            if (ct->is_string()) {
                v.chat_template = ct->as_string();
            } else if (ct->is_array()) {  // [{"name": "default", "template": ...}, ...]
                for (size_t i = 0; i < ct->size(); i++) {
                    const json::Value& e = (*ct)[i];
                    const json::Value* nm = e.is_object() ? e.find("name") : nullptr;
                    const json::Value* tp = e.is_object() ? e.find("template") : nullptr;
                    if (tp && tp->is_string() && (v.chat_template.empty() || (nm && nm->is_string() && nm->as_string() == "default")))
                        v.chat_template = tp->as_string();
                }
            } else {
                fail("%s: chat_template: expected a string or a list of {name, template}", tc.c_str());
            }
        }
    }
    if (fs::exists(dir + "/chat_template.jinja")) v.chat_template = read_text(dir + "/chat_template.jinja");
    // EOS: tokenizer_config's, else generation_config.json's / config.json's first id.
    if (v.eos < 0) {
        std::vector<int64_t> e = cfg.eos_ids;
        const std::string gc = dir + "/generation_config.json";
        if (fs::exists(gc)) {
            auto g = ids_field(read_json(gc), "eos_token_id", gc);
            if (!g.empty()) e = g;
        }
        if (!e.empty()) v.eos = e[0];
    }
    if (v.eos < 0) v.eos = guessed_eos;
    if (v.bos < 0 && cfg.bos_id >= 0) v.bos = cfg.bos_id;
    // The embedding may have more rows than the tokenizer has tokens (padding): fill as llama.cpp does.
    if (int64_t(v.tokens.size()) > cfg.n_vocab)
        fail("%s: %zu tokens, more than config.json's vocab_size %d", tj.c_str(), v.tokens.size(), cfg.n_vocab);
    while (int64_t(v.tokens.size()) < cfg.n_vocab) {
        v.tokens.push_back(strfmt("[PAD%zu]", v.tokens.size()));
        v.types.push_back(int32_t(TokenType::user_defined));
        if (!v.scores.empty()) v.scores.push_back(0.0f);
    }
    for (int64_t* id : {&v.bos, &v.eos, &v.unk, &v.pad})
        if (*id >= int64_t(v.tokens.size())) *id = -1;
    return v;
}

// ---- tensors ------------------------------------------------------------------------------------------

GgmlType st_type(const std::string& dtype, const std::string& file, const std::string& name) {
    if (dtype == "F32") return GgmlType::F32;
    if (dtype == "F16") return GgmlType::F16;
    if (dtype == "BF16") return GgmlType::BF16;
    fail("%s: tensor %s: dtype %s (slm converts F32, F16 and BF16 checkpoints)", file.c_str(), name.c_str(), dtype.c_str());
}

struct Source {
    const safetensors::File* file = nullptr;
    const safetensors::TensorInfo* info = nullptr;
};

// What a tensor is in GGUF: name, expected HF shape, and the heads to permute by (0: none).
struct Expect {
    std::string hf, gguf;
    std::vector<int64_t> shape;  // HF order
    int perm_heads = 0;
};

std::vector<Expect> expected_tensors(const Config& c) {
    std::vector<Expect> e;
    const int64_t q = int64_t(c.n_head) * c.head_dim, kv = int64_t(c.n_head_kv) * c.head_dim;
    e.push_back({"model.embed_tokens.weight", "token_embd.weight", {c.n_vocab, c.n_embd}, 0});
    for (int l = 0; l < c.n_layer; l++) {
        const std::string h = strfmt("model.layers.%d.", l), g = strfmt("blk.%d.", l);
        e.push_back({h + "input_layernorm.weight", g + "attn_norm.weight", {c.n_embd}, 0});
        e.push_back({h + "self_attn.q_proj.weight", g + "attn_q.weight", {q, c.n_embd}, c.n_head});
        e.push_back({h + "self_attn.k_proj.weight", g + "attn_k.weight", {kv, c.n_embd}, c.n_head_kv});
        e.push_back({h + "self_attn.v_proj.weight", g + "attn_v.weight", {kv, c.n_embd}, 0});
        e.push_back({h + "self_attn.o_proj.weight", g + "attn_output.weight", {c.n_embd, q}, 0});
        e.push_back({h + "post_attention_layernorm.weight", g + "ffn_norm.weight", {c.n_embd}, 0});
        e.push_back({h + "mlp.gate_proj.weight", g + "ffn_gate.weight", {c.n_ff, c.n_embd}, 0});
        e.push_back({h + "mlp.up_proj.weight", g + "ffn_up.weight", {c.n_ff, c.n_embd}, 0});
        e.push_back({h + "mlp.down_proj.weight", g + "ffn_down.weight", {c.n_embd, c.n_ff}, 0});
    }
    e.push_back({"model.norm.weight", "output_norm.weight", {c.n_embd}, 0});
    if (!c.tied) e.push_back({"lm_head.weight", "output.weight", {c.n_vocab, c.n_embd}, 0});
    return e;
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string o = "[";
    for (size_t i = 0; i < s.size(); i++) o += (i ? ", " : "") + std::to_string(s[i]);
    return o + "]";
}

// The shards of a checkpoint, in order: model.safetensors, or the files model.safetensors.index.json lists.
std::vector<std::string> shard_files(const std::string& dir, std::map<std::string, std::string>& weight_map) {
    const std::string index = dir + "/model.safetensors.index.json";
    if (fs::exists(index)) {
        const json::Value ix = read_json(index);
        const json::Value* wm = ix.find("weight_map");
        if (!wm || !wm->is_object()) fail("%s: weight_map: missing or not an object", index.c_str());
        std::vector<std::string> files;
        std::set<std::string> seen;
        for (const auto& [name, f] : wm->as_object()) {
            if (!f.is_string() || f.as_string().empty() || f.as_string().find('/') != std::string::npos)
                fail("%s: weight_map[\"%s\"]: expected a file name in the directory", index.c_str(), name.c_str());
            weight_map[name] = f.as_string();
            if (seen.insert(f.as_string()).second) files.push_back(f.as_string());
        }
        for (const std::string& f : files)
            if (!fs::exists(dir + "/" + f)) fail("%s: shard %s is missing", index.c_str(), (dir + "/" + f).c_str());
        std::sort(files.begin(), files.end());
        return files;
    }
    if (!fs::exists(dir + "/model.safetensors"))
        fail("%s: no model.safetensors or model.safetensors.index.json", dir.c_str());
    return {"model.safetensors"};
}

GgmlType parse_type(const std::string& t) {
    if (t == "F32" || t == "f32") return GgmlType::F32;
    if (t == "F16" || t == "f16") return GgmlType::F16;
    if (t == "BF16" || t == "bf16") return GgmlType::BF16;
    if (t == "Q8_0" || t == "q8_0") return GgmlType::Q8_0;
    fail("--type %s: expected F32, F16, BF16 or Q8_0", t.c_str());
}

uint32_t file_type_of(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return 0;
        case GgmlType::F16: return 1;
        case GgmlType::Q8_0: return 7;
        case GgmlType::BF16: return 32;
        default: return 1;
    }
}

// Tensors done out of n, rate and ETA by bytes: the one progress line (progress.h).
struct TensorProgress {
    Progress bar;
    size_t n, done = 0;
    uint64_t total_bytes, bytes = 0;
    TensorProgress(const char* what, size_t n_tensors, uint64_t total, bool on)
        : bar(what, "tensors", "MB/s", 1e6, on), n(n_tensors), total_bytes(total) {}
    void step(uint64_t b) {
        done++;
        bytes += b;
        bar.update(double(done), double(n), double(bytes), double(total_bytes));
        if (done >= n) bar.finish();
    }
};

// Shortest decimal that reads back as the same float (1e-05, not 9.999999747378752e-06).
json::Value float_json(float f) {
    for (int p = 1; p <= 9; p++) {
        const std::string s = strfmt("%.*g", p, double(f));
        if (std::strtof(s.c_str(), nullptr) == f) return json::Value(std::strtod(s.c_str(), nullptr));
    }
    return json::Value(double(f));
}

}  // namespace

// ---- convert ------------------------------------------------------------------------------------------

// ---- GPTQ checkpoints (AutoGPTQ / GPTQModel) ---------------------------------------------------------
// The layout these tools write for each linear layer NAME (HF shapes, row-major; K inputs, N outputs, G groups):
//   NAME.qweight  I32 [K/8, N]  packed along K: word [i][n] holds inputs 8i..8i+7 of output n, input 8i+j in
//                               bits 4j..4j+3 (unsigned 0..15)
//   NAME.qzeros   I32 [G, N/8]  packed along N: word [g][j] holds the zero points of outputs 8j..8j+7, output
//                               8j+i in bits 4i..4i+3. AutoGPTQ's format ("gptq", GPTQModel's "v1") stores
//                               zero - 1 (so a zero of 8 is stored as 7); GPTQModel's "gptq_v2" stores the zero.
//   NAME.scales   F16 [G, N]
//   NAME.g_idx    I32 [K]       the group of each input (k / group_size without act-order; with desc_act the
//                               inputs keep their places and g_idx says where each was quantized); may be absent
//   W[n][k] = scales[g][n] * (q[k][n] - zero[g][n]),  g = g_idx[k]
// The settings are in quantize_config.json ({"bits": 4, "group_size": 128, "desc_act": ..., "sym": ...,
// "checkpoint_format": "gptq"}) or in config.json's "quantization_config" ({"quant_method": "gptq", ...}).
// slm's layout (kernels/cpu/gptq.cpp) stores the inputs in the order they were quantized, so the groups are
// contiguous: perm = g_idx's stable argsort (stored input k = input perm[k]), which requires every group to
// hold group_size inputs (the last one fewer), as GPTQ makes them; zeros become int8, scales are transposed.
struct GptqConfig {
    bool on = false;
    int group_size = 0;
    bool desc_act = false, sym = false;
    bool zero_minus_one = true;  // the v1 convention
};

GptqConfig read_gptq_config(const std::string& dir) {
    GptqConfig g;
    std::string file = dir + "/quantize_config.json";
    json::Value q;
    if (fs::exists(file)) {
        q = read_json(file);
    } else {
        file = dir + "/config.json";
        const json::Value c = read_json(file);
        const json::Value* qc = c.find("quantization_config");
        if (!qc || qc->is_null()) return g;
        if (!qc->is_object()) fail("%s: quantization_config: expected an object", file.c_str());
        q = *qc;
        file += " (quantization_config)";
    }
    if (const json::Value* m = q.find("quant_method"); m && !(m->is_string() && m->as_string() == "gptq"))
        fail("%s: quant_method %s: slm imports GPTQ checkpoints only", file.c_str(), m->is_string() ? m->as_string().c_str() : "?");
    const int64_t bits = int_field(q, "bits", file, 4, 1, 64, true);
    if (bits != 4) fail("%s: bits = %lld: slm imports 4-bit GPTQ only", file.c_str(), (long long)bits);
    const json::Value* gs = q.find("group_size");
    if (!gs || !gs->is_integer()) fail("%s: group_size: expected an integer", file.c_str());
    if (gs->as_int() == -1)
        fail("%s: group_size = -1 (one group per row): slm's GPTQ format has one group size per file; re-quantize "
             "with a group size", file.c_str());
    g.group_size = int(int_field(q, "group_size", file, 128, 8, 1 << 20, true));
    if (g.group_size % 8) fail("%s: group_size = %d: expected a multiple of 8", file.c_str(), g.group_size);
    auto flag = [&](const char* key) {
        const json::Value* v = q.find(key);
        if (!v || v->is_null()) return false;
        if (!v->is_bool()) fail("%s: %s: expected true or false", file.c_str(), key);
        return v->as_bool();
    };
    g.desc_act = flag("desc_act");
    g.sym = flag("sym");
    if (const json::Value* f = q.find("checkpoint_format"); f && !f->is_null()) {
        const std::string v = f->is_string() ? f->as_string() : "";
        if (v == "gptq") g.zero_minus_one = true;
        else if (v == "gptq_v2") g.zero_minus_one = false;
        else fail("%s: checkpoint_format \"%s\": slm imports \"gptq\" (v1) and \"gptq_v2\"", file.c_str(), v.c_str());
    }
    g.on = true;
    return g;
}

// One GPTQ linear layer's sources and its shape (HF order: N outputs, K inputs).
struct GptqSource {
    Source qweight, qzeros, scales, g_idx;  // g_idx.info null when absent
    int64_t K = 0, N = 0, G = 0;
};

const int32_t* i32_data(const Source& s) { return reinterpret_cast<const int32_t*>(s.file->data(*s.info)); }

// Checks the parts' dtypes and shapes, and that g_idx makes contiguous groups after sorting; returns perm
// (stable argsort of g_idx; empty when it is the identity).
std::vector<int32_t> gptq_check_source(const GptqSource& q, const GptqConfig& c, const std::string& base) {
    auto want = [&](const Source& s, const char* part, const char* dtype, std::vector<int64_t> shape) {
        if (s.info->dtype != dtype || s.info->shape != shape)
            fail("%s: tensor %s.%s: %s %s, expected %s %s (AutoGPTQ layout, 4 bits)", s.file->path().c_str(), base.c_str(),
                 part, s.info->dtype.c_str(), shape_str(s.info->shape).c_str(), dtype, shape_str(shape).c_str());
    };
    want(q.qweight, "qweight", "I32", {q.K / 8, q.N});
    want(q.qzeros, "qzeros", "I32", {q.G, q.N / 8});
    want(q.scales, "scales", "F16", {q.G, q.N});
    std::vector<int32_t> g(size_t(q.K));
    for (int64_t k = 0; k < q.K; k++) g[size_t(k)] = int32_t(k / c.group_size);
    if (q.g_idx.info) {
        want(q.g_idx, "g_idx", "I32", {q.K});
        const int32_t* gi = i32_data(q.g_idx);
        for (int64_t k = 0; k < q.K; k++) {
            if (gi[k] < 0 || gi[k] >= q.G)
                fail("%s: tensor %s.g_idx: input %lld has group %d, expected 0..%lld", q.g_idx.file->path().c_str(),
                     base.c_str(), (long long)k, gi[k], (long long)(q.G - 1));
            g[size_t(k)] = gi[k];
        }
    }
    std::vector<int32_t> perm(size_t(q.K));
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return g[size_t(a)] < g[size_t(b)]; });
    bool identity = true;
    for (int64_t k = 0; k < q.K; k++) {
        if (g[size_t(perm[size_t(k)])] != k / c.group_size)
            fail("%s: tensor %s.g_idx: groups of other sizes than group_size %d (input %lld is in group %d): slm "
                 "stores GPTQ groups contiguous",
                 q.g_idx.file->path().c_str(), base.c_str(), c.group_size, (long long)perm[size_t(k)],
                 g[size_t(perm[size_t(k)])]);
        identity = identity && perm[size_t(k)] == k;
    }
    if (identity) perm.clear();
    return perm;
}

ConvertResult convert(const std::string& dir, const std::string& out_path, const Backend& backend,
                      const ConvertOptions& opt) {
    const auto t0 = Clock::now();
    if (!fs::is_directory(dir)) fail("%s: not a directory (expected a Hugging Face checkpoint directory)", dir.c_str());
    const bool forced = !opt.type.empty();
    const GgmlType want = forced ? parse_type(opt.type) : GgmlType::F32;
    OutputFile out(out_path);  // before the work: a bad target fails now, not after the conversion
    const Config cfg = read_config(dir);
    const Vocab voc = read_tokenizer(dir, cfg);

    // Open every shard (headers only are read now; the data stays mapped) and find each tensor.
    std::map<std::string, std::string> weight_map;
    const std::vector<std::string> shards = shard_files(dir, weight_map);
    std::vector<safetensors::File> files;
    std::unordered_map<std::string, Source> src;
    for (const std::string& s : shards) {
        files.push_back(safetensors::File::open(dir + "/" + s));
    }
    for (size_t k = 0; k < files.size(); k++)
        for (const safetensors::TensorInfo& t : files[k].tensors()) {
            if (!weight_map.empty()) {
                auto it = weight_map.find(t.name);
                if (it == weight_map.end() || it->second != shards[k])
                    fail("%s: tensor %s: not listed for this shard in model.safetensors.index.json", files[k].path().c_str(), t.name.c_str());
            }
            if (!src.emplace(t.name, Source{&files[k], &t}).second)
                fail("%s: tensor %s: also in another shard", files[k].path().c_str(), t.name.c_str());
        }
    for (const auto& [name, f] : weight_map)
        if (!src.count(name)) fail("%s/%s: tensor %s (listed in the index) is missing", dir.c_str(), f.c_str(), name.c_str());

    const std::vector<Expect> expect = expected_tensors(cfg);
    const GptqConfig gq = read_gptq_config(dir);
    if (gq.on && !opt.type.empty())
        fail("%s: a GPTQ checkpoint keeps its 4-bit layers; --type applies to F32/F16/BF16 checkpoints", dir.c_str());
    // GPTQ: the layers' linear matrices (2-D, inside model.layers) are stored as parts instead of NAME.weight.
    auto is_gptq = [&](const Expect& e) {
        return gq.on && e.shape.size() == 2 && e.hf.rfind("model.layers.", 0) == 0;
    };
    std::map<std::string, GptqSource> gsrc;  // by Expect::hf
    std::set<std::string> known;
    for (const Expect& e : expect) {
        if (!is_gptq(e)) {
            known.insert(e.hf);
            continue;
        }
        const std::string base = e.hf.substr(0, e.hf.size() - std::string(".weight").size());
        for (const char* part : {".qweight", ".qzeros", ".scales", ".g_idx"}) known.insert(base + part);
    }
    for (const auto& [name, s] : src) {
        if (known.count(name)) continue;
        if (name.size() > 22 && name.compare(name.size() - 22, 22, "rotary_emb.inv_freq") == 0) continue;
        if (name == "lm_head.weight" && cfg.tied) continue;  // tied: the embedding is the output projection
        fail("%s: tensor %s: not expected by config.json (LlamaForCausalLM, %d layers%s)", s.file->path().c_str(),
             name.c_str(), cfg.n_layer, cfg.tied ? ", tied embeddings" : "");
    }
    for (const Expect& e : expect) {
        if (is_gptq(e)) {
            const std::string base = e.hf.substr(0, e.hf.size() - std::string(".weight").size());
            GptqSource q;
            q.N = e.shape[0], q.K = e.shape[1];
            if (q.K % 8 || q.N % 8)
                fail("%s: %s is %lld x %lld: the GPTQ layout packs 8 values a word on both sides (multiples of 8)",
                     dir.c_str(), base.c_str(), (long long)q.N, (long long)q.K);
            q.G = (q.K + gq.group_size - 1) / gq.group_size;
            for (auto [part, slot] : {std::pair<const char*, Source*>{".qweight", &q.qweight}, {".qzeros", &q.qzeros},
                                      {".scales", &q.scales}, {".g_idx", &q.g_idx}}) {
                auto it = src.find(base + part);
                if (it == src.end()) {
                    if (std::string(part) == ".g_idx") continue;
                    fail("%s: tensor %s%s is missing (a GPTQ checkpoint: quantization settings found)",
                         (dir + "/" + shards[0]).c_str(), base.c_str(), part);
                }
                *slot = it->second;
            }
            (void)gptq_check_source(q, gq, base);
            gsrc[e.hf] = q;
            continue;
        }
        auto it = src.find(e.hf);
        if (it == src.end())
            fail("%s: tensor %s is missing (config.json expects it)", (dir + "/" + shards[0]).c_str(), e.hf.c_str());
        const safetensors::TensorInfo& t = *it->second.info;
        st_type(t.dtype, it->second.file->path(), t.name);
        if (t.shape != e.shape)
            fail("%s: tensor %s: shape %s, config.json implies %s", it->second.file->path().c_str(), t.name.c_str(),
                 shape_str(t.shape).c_str(), shape_str(e.shape).c_str());
    }

    gguf::Writer w;
    using gguf::Value;
    w.set("general.architecture", Value::make_string("llama"));
    w.set("general.name", Value::make_string(cfg.name));
    w.set("llama.block_count", Value::make_u32(uint32_t(cfg.n_layer)));
    w.set("llama.context_length", Value::make_u32(uint32_t(cfg.n_ctx)));
    w.set("llama.embedding_length", Value::make_u32(uint32_t(cfg.n_embd)));
    w.set("llama.feed_forward_length", Value::make_u32(uint32_t(cfg.n_ff)));
    w.set("llama.attention.head_count", Value::make_u32(uint32_t(cfg.n_head)));
    w.set("llama.attention.head_count_kv", Value::make_u32(uint32_t(cfg.n_head_kv)));
    w.set("llama.rope.freq_base", Value::make_f32(float(cfg.rope_theta)));
    w.set("llama.attention.layer_norm_rms_epsilon", Value::make_f32(float(cfg.rms_eps)));
    if (cfg.head_dim != cfg.n_embd / cfg.n_head) {
        w.set("llama.attention.key_length", Value::make_u32(uint32_t(cfg.head_dim)));
        w.set("llama.attention.value_length", Value::make_u32(uint32_t(cfg.head_dim)));
    }
    w.set("llama.vocab_size", Value::make_u32(uint32_t(cfg.n_vocab)));
    w.set("llama.rope.dimension_count", Value::make_u32(uint32_t(cfg.head_dim)));

    // Output types: norms (1-D) in F32 as llama.cpp writes them; matrices in --type or as stored.
    struct Plan {
        const Expect* e;
        Source s;
        GgmlType from, to;
    };
    std::vector<Plan> plan;
    std::map<GgmlType, int> count2d;
    for (const Expect& e : expect) {
        if (is_gptq(e)) continue;  // written as parts below
        const Source s = src.at(e.hf);
        const GgmlType from = st_type(s.info->dtype, s.file->path(), e.hf);
        GgmlType to = e.shape.size() == 1 ? GgmlType::F32 : forced ? want : from;
        if (to == GgmlType::Q8_0 && e.shape.back() % 32 != 0) to = GgmlType::F16;  // rows must fill Q8_0 blocks
        if (e.shape.size() == 2) count2d[to]++;
        plan.push_back({&e, s, from, to});
    }
    GgmlType main_type = GgmlType::F32;
    int best = -1;
    for (auto [t, n] : count2d)
        if (n > best) best = n, main_type = t;
    if (gq.on) {  // as `slm quantize ... GPTQ-4` writes them (no ggml file type describes GPTQ)
        w.set("slm.gptq.bits", Value::make_u32(4));
        w.set("slm.gptq.group_size", Value::make_u32(uint32_t(gq.group_size)));
        w.set("slm.gptq.act_order", Value::make_bool(gq.desc_act));
        w.set("slm.gptq.sym", Value::make_bool(gq.sym));
    } else {
        w.set("general.file_type", Value::make_u32(file_type_of(forced ? want : main_type)));
    }
    if (!gq.on && main_type == GgmlType::Q8_0) w.set("general.quantization_version", Value::make_u32(2));

    // Tokenizer.
    w.set("tokenizer.ggml.model", Value::make_string(voc.model));
    w.set("tokenizer.ggml.pre", Value::make_string(voc.pre));
    w.set("tokenizer.ggml.tokens", Value::make_string_array(voc.tokens));
    if (!voc.scores.empty()) {
        std::vector<Value> sc;
        for (float f : voc.scores) sc.push_back(Value::make_f32(f));
        w.set("tokenizer.ggml.scores", Value::make_array(gguf::ValueType::FLOAT32, std::move(sc)));
    }
    {
        std::vector<Value> ty;
        for (int32_t t : voc.types) ty.push_back(Value::make_i32(t));
        w.set("tokenizer.ggml.token_type", Value::make_array(gguf::ValueType::INT32, std::move(ty)));
    }
    if (!voc.merges.empty()) w.set("tokenizer.ggml.merges", Value::make_string_array(voc.merges));
    if (voc.bos >= 0) w.set("tokenizer.ggml.bos_token_id", Value::make_u32(uint32_t(voc.bos)));
    if (voc.eos >= 0) w.set("tokenizer.ggml.eos_token_id", Value::make_u32(uint32_t(voc.eos)));
    if (voc.unk >= 0) w.set("tokenizer.ggml.unknown_token_id", Value::make_u32(uint32_t(voc.unk)));
    if (voc.pad >= 0) w.set("tokenizer.ggml.padding_token_id", Value::make_u32(uint32_t(voc.pad)));
    w.set("tokenizer.ggml.add_bos_token", Value::make_bool(voc.add_bos));
    if (voc.model == "llama" && !voc.add_space_prefix) w.set("tokenizer.ggml.add_space_prefix", Value::make_bool(false));
    if (!voc.chat_template.empty()) w.set("tokenizer.chat_template", Value::make_string(voc.chat_template));

    uint64_t total = 0;
    for (const Plan& p : plan) total += p.s.info->nbytes();
    for (const auto& [name, q] : gsrc) total += q.qweight.info->nbytes() + q.qzeros.info->nbytes() + q.scales.info->nbytes();
    size_t n_gptq_tensors = 0;
    for (const auto& [name, q] : gsrc) n_gptq_tensors += 3 + (gptq_check_source(q, gq, name).empty() ? 0 : 1);
    auto prog = std::make_shared<TensorProgress>("convert", plan.size() + n_gptq_tensors + (cfg.rope3.on ? 1 : 0), total,
                                                 opt.progress);
    if (cfg.rope3.on) {
        const std::vector<float> rf = llama3_rope_freqs(cfg.head_dim, cfg.rope_theta, cfg.rope3.factor, cfg.rope3.low,
                                                        cfg.rope3.high, cfg.rope3.orig);
        std::vector<uint8_t> bytes(rf.size() * 4);
        std::memcpy(bytes.data(), rf.data(), bytes.size());
        w.add_tensor_lazy("rope_freqs.weight", GgmlType::F32, {int64_t(rf.size())}, [bytes, prog]() {
            prog->step(0);
            return bytes;
        });
    }
    ConvertResult res;
    // One GPTQ matrix as slm's parts (kernels/cpu/gptq.cpp), GGUF row r from HF output row hf_row(r) (the Q/K
    // permutation acts on outputs, i.e. on rows of every part).
    auto add_gptq = [&](const Expect& e) {
        const GptqSource q = gsrc.at(e.hf);
        const std::string gbase = e.gguf.substr(0, e.gguf.size() - std::string(".weight").size());
        const std::string hbase = e.hf.substr(0, e.hf.size() - std::string(".weight").size());
        const auto perm = std::make_shared<const std::vector<int32_t>>(gptq_check_source(q, gq, hbase));
        const int perm_heads = e.perm_heads, head_dim = cfg.head_dim;
        const bool zm1 = gq.zero_minus_one;
        auto hf_row = [perm_heads, head_dim](int64_t r) { return perm_heads ? hf_row_of_gguf_row(r, head_dim) : r; };
        const int64_t K = q.K, N = q.N, G = q.G;
        res.bytes += uint64_t(N) * (K / 2 + 3 * G) + perm->size() * 4;
        w.add_tensor_lazy(gbase + ".qweight", GgmlType::I32, {K / 8, N}, [q, perm, hf_row, K, N, prog]() {
            const uint32_t* src = reinterpret_cast<const uint32_t*>(i32_data(q.qweight));
            std::vector<uint8_t> out(size_t(N * (K / 8)) * 4);
            uint32_t* dst = reinterpret_cast<uint32_t*>(out.data());
            for (int64_t r = 0; r < N; r++) {
                const int64_t n = hf_row(r);
                for (int64_t k = 0; k < K; k++) {
                    const int64_t c = perm->empty() ? k : (*perm)[size_t(k)];  // the input stored at k
                    const uint32_t v = (src[size_t((c / 8) * N + n)] >> (4 * (c % 8))) & 15u;
                    dst[size_t(r * (K / 8) + k / 8)] |= v << (4 * (k % 8));
                }
            }
            prog->step(q.qweight.info->nbytes());
            return out;
        });
        w.add_tensor_lazy(gbase + ".scales", GgmlType::F16, {G, N}, [q, hf_row, N, G, prog]() {
            const uint16_t* src = reinterpret_cast<const uint16_t*>(q.scales.file->data(*q.scales.info));
            std::vector<uint8_t> out(size_t(N * G) * 2);
            uint16_t* dst = reinterpret_cast<uint16_t*>(out.data());
            for (int64_t r = 0; r < N; r++)
                for (int64_t g = 0; g < G; g++) dst[size_t(r * G + g)] = src[size_t(g * N + hf_row(r))];
            prog->step(q.scales.info->nbytes());
            return out;
        });
        w.add_tensor_lazy(gbase + ".zeros", GgmlType::I8, {G, N}, [q, hf_row, N, G, zm1, prog]() {
            const uint32_t* src = reinterpret_cast<const uint32_t*>(i32_data(q.qzeros));
            std::vector<uint8_t> out(size_t(N * G));
            for (int64_t r = 0; r < N; r++) {
                const int64_t n = hf_row(r);
                for (int64_t g = 0; g < G; g++) {
                    const int z = int((src[size_t(g * (N / 8) + n / 8)] >> (4 * (n % 8))) & 15u);
                    out[size_t(r * G + g)] = uint8_t(int8_t(zm1 ? z + 1 : z));  // v1: stored zero - 1 (16 stays 16)
                }
            }
            prog->step(q.qzeros.info->nbytes());
            return out;
        });
        if (!perm->empty())
            w.add_tensor_lazy(gbase + ".perm", GgmlType::I32, {K}, [perm, prog]() {
                std::vector<uint8_t> out(perm->size() * 4);
                std::memcpy(out.data(), perm->data(), out.size());
                prog->step(0);
                return out;
            });
    };
    size_t next_plan = 0;
    for (const Expect& ex : expect) {
        if (is_gptq(ex)) {
            add_gptq(ex);
            continue;
        }
        const Plan& p = plan[next_plan++];
        const Expect& e = *p.e;
        std::vector<int64_t> ne(e.shape.rbegin(), e.shape.rend());
        const int64_t cols = e.shape.back(), rows = e.shape.size() == 2 ? e.shape[0] : 1;
        const uint64_t out_bytes = uint64_t(row_bytes(p.to, cols)) * uint64_t(rows);
        res.bytes += out_bytes;
        const int head_dim = cfg.head_dim;
        w.add_tensor_lazy(e.gguf, p.to, ne, [p, cols, rows, out_bytes, head_dim, prog]() {
            const uint8_t* base = p.s.file->data(*p.s.info);
            const size_t in_row = size_t(row_bytes(p.from, cols)), out_row = size_t(row_bytes(p.to, cols));
            std::vector<uint8_t> out(out_bytes);
            std::vector<float> tmp{}; tmp.resize(size_t(cols));
            for (int64_t r = 0; r < rows; r++) {
                const int64_t sr = p.e->perm_heads ? hf_row_of_gguf_row(r, head_dim) : r;
                const uint8_t* in = base + size_t(sr) * in_row;
                uint8_t* dst = out.data() + size_t(r) * out_row;
                if (p.from == p.to) {
                    std::memcpy(dst, in, in_row);
                } else {
                    codec::dequantize_row(p.from, in, tmp.data(), cols);
                    codec::quantize_row(p.to, tmp.data(), dst, cols);
                }
            }
            prog->step(p.s.info->nbytes());
            return out;
        });
    }
    w.write(out);
    out.commit();
    res.n_tensors = int(w.n_tensors());
    res.seconds = since(t0);
    // What was written must load: the same checks as any model file.
    Model::load(out_path, backend);
    return res;
}

// ---- export-hf ----------------------------------------------------------------------------------------

namespace {

// Llama 3 rope scaling parameters that reproduce a file's rope_freqs exactly (llama.cpp's defaults first).
bool infer_rope3(const std::vector<float>& rf, int head_dim, double theta, Rope3& out) {
    const float factor = *std::max_element(rf.begin(), rf.end());
    for (double orig : {8192.0, 4096.0, 16384.0, 2048.0, 32768.0})
        for (auto [lo, hi] : {std::pair{1.0, 4.0}, {1.0, 2.0}, {1.0, 8.0}, {2.0, 4.0}})
            if (llama3_rope_freqs(head_dim, theta, factor, lo, hi, orig) == rf) {
                out = {true, double(factor), lo, hi, orig};
                return true;
            }
    return false;
}

std::string hf_name_of(const std::string& g) {
    static const std::map<std::string, std::string> top = {{"token_embd.weight", "model.embed_tokens.weight"},
                                                           {"output_norm.weight", "model.norm.weight"},
                                                           {"output.weight", "lm_head.weight"}};
    if (auto it = top.find(g); it != top.end()) return it->second;
    static const std::map<std::string, std::string> layer = {
        {"attn_norm.weight", "input_layernorm.weight"},      {"attn_q.weight", "self_attn.q_proj.weight"},
        {"attn_k.weight", "self_attn.k_proj.weight"},        {"attn_v.weight", "self_attn.v_proj.weight"},
        {"attn_output.weight", "self_attn.o_proj.weight"},   {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},         {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"}};
    int l = -1, n = 0;
    if (std::sscanf(g.c_str(), "blk.%d.%n", &l, &n) == 1 && n > 0)
        if (auto it = layer.find(g.substr(size_t(n))); it != layer.end()) return strfmt("model.layers.%d.", l) + it->second;
    return "";
}

json::Value added_token(int32_t id, const std::string& text, bool special) {
    json::Value a = json::Value::object();
    a.push_member("id", json::Value(int64_t(id)));
    a.push_member("content", text);
    a.push_member("single_word", false);
    a.push_member("lstrip", false);
    a.push_member("rstrip", false);
    a.push_member("normalized", false);
    a.push_member("special", special);
    return a;
}

json::Value bos_post_processor(const std::string& bos, int32_t bos_id) {
    json::Value pp = json::Value::object();
    pp.push_member("type", "TemplateProcessing");
    auto special = [&](int type_id) {
        json::Value s = json::Value::object(), in = json::Value::object();
        in.push_member("id", bos);
        in.push_member("type_id", type_id);
        s.push_member("SpecialToken", in);
        return s;
    };
    auto seq = [&](const char* id, int type_id) {
        json::Value s = json::Value::object(), in = json::Value::object();
        in.push_member("id", id);
        in.push_member("type_id", type_id);
        s.push_member("Sequence", in);
        return s;
    };
    json::Value single = json::Value::array(), pair = json::Value::array();
    single.push_back(special(0));
    single.push_back(seq("A", 0));
    pair.push_back(special(0));
    pair.push_back(seq("A", 0));
    pair.push_back(special(1));
    pair.push_back(seq("B", 1));
    pp.push_member("single", single);
    pp.push_member("pair", pair);
    json::Value st = json::Value::object(), e = json::Value::object(), ids = json::Value::array(), toks = json::Value::array();
    ids.push_back(json::Value(int64_t(bos_id)));
    toks.push_back(bos);
    e.push_member("id", bos);
    e.push_member("ids", ids);
    e.push_member("tokens", toks);
    st.push_member(bos, e);
    pp.push_member("special_tokens", st);
    return pp;
}

json::Value byte_level(bool use_regex) {
    json::Value b = json::Value::object();
    b.push_member("type", "ByteLevel");
    b.push_member("add_prefix_space", false);
    b.push_member("trim_offsets", true);
    b.push_member("use_regex", use_regex);
    return b;
}

// tokenizer.json for a GGUF vocabulary: byte-level BPE (gpt2) or SentencePiece-style BPE with byte fallback.
// A tokenizer.json "Replace" normalizer / decoder step: every `from` becomes `to`.
json::Value replace_step(const char* from, const char* to) {
    json::Value step = json::Value::object(), pattern = json::Value::object();
    step.push_member("type", "Replace");
    pattern.push_member("String", from);
    step.push_member("pattern", pattern);
    step.push_member("content", to);
    return step;
}

std::string tokenizer_json(const Tokenizer& tok) {
    json::Value root = json::Value::object();
    root.push_member("version", "1.0");
    root.push_member("truncation", json::Value());
    root.push_member("padding", json::Value());
    const int32_t n = tok.n_vocab();
    const bool spm = tok.model_name() == "llama";
    json::Value added = json::Value::array();
    for (int32_t id = 0; id < n; id++) {
        const TokenType t = tok.token_type(id);
        if (t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown)
            added.push_back(added_token(id, tok.token_text(id), t != TokenType::user_defined));
    }
    root.push_member("added_tokens", added);
    json::Value model = json::Value::object();
    model.push_member("type", "BPE");
    model.push_member("dropout", json::Value());
    const int32_t unk = tok.unk_id();
    model.push_member("unk_token", spm && unk >= 0 ? json::Value(tok.token_text(unk)) : json::Value());
    model.push_member("continuing_subword_prefix", json::Value());
    model.push_member("end_of_word_suffix", json::Value());
    model.push_member("fuse_unk", spm);
    model.push_member("byte_fallback", spm);
    json::Value vocab = json::Value::object(), merges = json::Value::array();
    if (spm) {
        // Every token in the model's vocabulary; merges from the scores: each token made of two tokens, the
        // higher its score the earlier its merge (as transformers' SentencePiece extractor orders them).
        std::unordered_map<std::string, int32_t> id_of;
        for (int32_t id = 0; id < n; id++) {
            vocab.push_member(tok.token_text(id), json::Value(int64_t(id)));
            id_of.emplace(tok.token_text(id), id);
        }
        struct M {
            float score;
            int32_t id, l, r;
        };
        std::vector<M> ms;
        for (int32_t id = 0; id < n; id++) {
            if (tok.token_type(id) != TokenType::normal) continue;
            const std::string& t = tok.token_text(id);
            for (size_t cut = 1; cut < t.size(); cut++) {
                if ((uint8_t(t[cut]) & 0xC0) == 0x80) continue;  // not inside a UTF-8 character
                auto a = id_of.find(t.substr(0, cut)), b = id_of.find(t.substr(cut));
                if (a == id_of.end() || b == id_of.end()) continue;
                if (tok.token_type(a->second) != TokenType::normal || tok.token_type(b->second) != TokenType::normal) continue;
                ms.push_back({tok.token_score(id), id, a->second, b->second});
            }
        }
        std::stable_sort(ms.begin(), ms.end(), [](const M& x, const M& y) {
            if (x.score != y.score) return x.score > y.score;
            if (x.id != y.id) return x.id < y.id;
            return x.l < y.l;
        });
        for (const M& m : ms) merges.push_back(tok.token_text(m.l) + " " + tok.token_text(m.r));
        model.push_member("ignore_merges", false);
    } else {
        for (int32_t id = 0; id < n; id++) {
            const TokenType t = tok.token_type(id);
            if (t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown) continue;
            vocab.push_member(tok.token_text(id), json::Value(int64_t(id)));
        }
        for (const auto& [a, b] : tok.merge_rules()) merges.push_back(a + " " + b);
        model.push_member("ignore_merges", tok.pre_name() == "llama-bpe");
    }
    model.push_member("vocab", vocab);
    model.push_member("merges", merges);

    const int32_t bos = tok.bos_id();
    const bool add_bos = tok.add_bos_default() && bos >= 0;
    if (spm) {
        json::Value norm = json::Value::object(), list = json::Value::array();
        norm.push_member("type", "Sequence");
        if (tok.add_space_prefix()) {
            json::Value pre = json::Value::object();
            pre.push_member("type", "Prepend");
            pre.push_member("prepend", "\xe2\x96\x81");
            list.push_back(pre);
        }
        list.push_back(replace_step(" ", "\xe2\x96\x81"));
        norm.push_member("normalizers", list);
        root.push_member("normalizer", norm);
        root.push_member("pre_tokenizer", json::Value());
        root.push_member("post_processor", add_bos ? bos_post_processor(tok.token_text(bos), bos) : json::Value());
        json::Value dec = json::Value::object(), ds = json::Value::array();
        dec.push_member("type", "Sequence");
        ds.push_back(replace_step("\xe2\x96\x81", " "));
        json::Value bf = json::Value::object(), fu = json::Value::object(), st = json::Value::object();
        bf.push_member("type", "ByteFallback");
        fu.push_member("type", "Fuse");
        st.push_member("type", "Strip");
        st.push_member("content", " ");
        st.push_member("start", tok.add_space_prefix() ? 1 : 0);
        st.push_member("stop", 0);
        ds.push_back(bf);
        ds.push_back(fu);
        ds.push_back(st);
        dec.push_member("decoders", ds);
        root.push_member("decoder", dec);
    } else {
        root.push_member("normalizer", json::Value());
        const std::string pre = tok.pre_name();
        json::Value pt = json::Value::object(), seq = json::Value::array();
        if (pre == "llama-bpe") {
            json::Value split = json::Value::object(), pat = json::Value::object();
            split.push_member("type", "Split");
            pat.push_member("Regex",
                            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                            "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
            split.push_member("pattern", pat);
            split.push_member("behavior", "Isolated");
            split.push_member("invert", false);
            seq.push_back(split);
            seq.push_back(byte_level(false));
        } else if (pre == "smollm") {
            json::Value d = json::Value::object();
            d.push_member("type", "Digits");
            d.push_member("individual_digits", true);
            seq.push_back(d);
            seq.push_back(byte_level(true));
        } else if (pre == "gpt-2") {
            seq.push_back(byte_level(true));
        } else {
            fail("export-hf: pre-tokenizer \"%s\" has no tokenizer.json form in slm (llama-bpe, smollm, gpt-2)", pre.c_str());
        }
        pt.push_member("type", "Sequence");
        pt.push_member("pretokenizers", seq);
        root.push_member("pre_tokenizer", pt);
        root.push_member("post_processor", add_bos ? bos_post_processor(tok.token_text(bos), bos) : byte_level(true));
        root.push_member("decoder", byte_level(true));
    }
    root.push_member("model", model);
    return root.dump(2) + "\n";
}

}  // namespace

ExportResult export_hf(const std::string& gguf_path, const std::string& out_dir, const Backend& backend,
                       const ExportOptions& opt) {
    std::optional<GgmlType> force;
    if (!opt.dtype.empty()) {
        if (opt.dtype == "bf16" || opt.dtype == "BF16") force = GgmlType::BF16;
        else if (opt.dtype == "f16" || opt.dtype == "F16") force = GgmlType::F16;
        else if (opt.dtype == "f32" || opt.dtype == "F32") force = GgmlType::F32;
        else fail("--dtype %s: expected bf16, f16 or f32", opt.dtype.c_str());
    }
    const std::unique_ptr<Model> m = Model::load(gguf_path, backend);
    const ModelConfig& c = m->config();
    const gguf::File& f = m->file();
    const Tokenizer& tok = m->tokenizer();
    if (c.n_rot != c.head_dim) fail("%s: partial rotary embedding (%d of %d dims) has no LlamaForCausalLM form", gguf_path.c_str(), c.n_rot, c.head_dim);
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (!fs::is_directory(out_dir)) fail("%s: cannot create the directory", out_dir.c_str());

    Rope3 rope3;
    if (c.has_rope_freqs && !infer_rope3(m->rope_freqs(), c.head_dim, c.rope_freq_base, rope3))
        fail("%s: rope_freqs.weight is not the llama3 rope scaling of any usual parameters: it has no config.json form", gguf_path.c_str());

    // config.json
    json::Value cfg = json::Value::object();
    json::Value arch = json::Value::array();
    arch.push_back("LlamaForCausalLM");
    cfg.push_member("architectures", arch);
    cfg.push_member("model_type", "llama");
    cfg.push_member("hidden_size", c.n_embd);
    cfg.push_member("intermediate_size", c.n_ff);
    cfg.push_member("num_hidden_layers", c.n_layer);
    cfg.push_member("num_attention_heads", c.n_head);
    cfg.push_member("num_key_value_heads", c.n_head_kv);
    cfg.push_member("head_dim", c.head_dim);
    cfg.push_member("hidden_act", "silu");
    cfg.push_member("max_position_embeddings", c.n_ctx_train > 0 ? c.n_ctx_train : 2048);
    cfg.push_member("rms_norm_eps", float_json(c.rms_eps));
    cfg.push_member("rope_theta", float_json(c.rope_freq_base));
    if (rope3.on) {
        json::Value rs = json::Value::object();
        rs.push_member("rope_type", "llama3");
        rs.push_member("factor", rope3.factor);
        rs.push_member("low_freq_factor", rope3.low);
        rs.push_member("high_freq_factor", rope3.high);
        rs.push_member("original_max_position_embeddings", int64_t(rope3.orig));
        cfg.push_member("rope_scaling", rs);
    } else {
        cfg.push_member("rope_scaling", json::Value());
    }
    cfg.push_member("attention_bias", false);
    cfg.push_member("mlp_bias", false);
    cfg.push_member("tie_word_embeddings", c.tied_embeddings);
    cfg.push_member("vocab_size", c.n_vocab);
    if (tok.bos_id() >= 0) cfg.push_member("bos_token_id", tok.bos_id());
    if (tok.eos_id() >= 0) cfg.push_member("eos_token_id", tok.eos_id());
    const char* dt_name = !force ? nullptr : *force == GgmlType::BF16 ? "bfloat16" : *force == GgmlType::F32 ? "float32" : "float16";

    // Tensors, in GGUF order, dtype per tensor.
    struct Out {
        const gguf::TensorInfo* t;
        std::string hf;
        GgmlType to;
        bool perm;
    };
    std::vector<Out> outs;
    std::map<GgmlType, int> counts;
    for (const gguf::TensorInfo& t : f.tensors()) {
        if (t.name == "rope_freqs.weight") continue;
        const std::string hf = hf_name_of(t.name);
        if (hf.empty()) fail("%s: tensor %s has no LlamaForCausalLM name", gguf_path.c_str(), t.name.c_str());
        GgmlType to = force ? *force
                      : (t.type == GgmlType::F32 || t.type == GgmlType::F16 || t.type == GgmlType::BF16) ? t.type
                                                                                                         : GgmlType::F32;
        const bool perm = t.name.find(".attn_q.") != std::string::npos || t.name.find(".attn_k.") != std::string::npos;
        if (t.n_dims == 2) counts[to]++;
        outs.push_back({&t, hf, to, perm});
    }
    if (!dt_name) {
        GgmlType best = GgmlType::F32;
        int bn = -1;
        for (auto [ty, k] : counts)
            if (k > bn) bn = k, best = ty;
        dt_name = best == GgmlType::BF16 ? "bfloat16" : best == GgmlType::F16 ? "float16" : "float32";
    }
    cfg.push_member("torch_dtype", dt_name);

    uint64_t total = 0;
    for (const Out& o : outs) total += o.t->nbytes;
    TensorProgress prog("export-hf", outs.size(), total, opt.progress);
    ExportResult res;
    std::vector<std::pair<std::string, std::string>> weight_map;  // hf name -> shard file
    std::vector<std::vector<size_t>> groups(1);
    {
        uint64_t acc = 0;
        for (size_t i = 0; i < outs.size(); i++) {
            const uint64_t b = uint64_t(row_bytes(outs[i].to, outs[i].t->ne[0])) * uint64_t(outs[i].t->n_elements() / outs[i].t->ne[0]);
            if (opt.shard_bytes > 0 && acc > 0 && acc + b > opt.shard_bytes) {
                groups.emplace_back();
                acc = 0;
            }
            groups.back().push_back(i);
            acc += b;
        }
    }
    const size_t n_shards = groups.size();
    auto shard_name = [&](size_t g) {
        return n_shards == 1 ? std::string("model.safetensors") : strfmt("model-%05zu-of-%05zu.safetensors", g + 1, n_shards);
    };
    // Every output is opened now, before the conversion (output_file.h): a device, a FIFO or a directory where
    // a file goes fails at once; the tokenizer is rendered now too, so an unsupported one fails before the work.
    const std::string tokenizer_text = tokenizer_json(tok);
    std::vector<OutputFile> shard_out;
    for (size_t g = 0; g < n_shards; g++) shard_out.emplace_back(out_dir + "/" + shard_name(g));
    std::optional<OutputFile> index_out;
    if (n_shards > 1) index_out.emplace(out_dir + "/model.safetensors.index.json");
    OutputFile config_out(out_dir + "/config.json"), tokenizer_out(out_dir + "/tokenizer.json"),
        tokenizer_config_out(out_dir + "/tokenizer_config.json"), generation_out(out_dir + "/generation_config.json");
    for (size_t g = 0; g < n_shards; g++) {
        const std::string name = shard_name(g);
        safetensors::Writer sw;
        sw.set_metadata("format", "pt");
        for (size_t i : groups[g]) {
            const Out& o = outs[i];
            const gguf::TensorInfo& t = *o.t;
            const int64_t cols = t.ne[0], rows = t.n_elements() / std::max<int64_t>(cols, 1);
            const uint8_t* in = f.tensor_data(t);
            const size_t in_row = size_t(row_bytes(t.type, cols)), out_row = size_t(row_bytes(o.to, cols));
            std::vector<uint8_t> bytes(out_row * size_t(rows));
            std::vector<float> tmp{}; tmp.resize(size_t(cols));
            for (int64_t r = 0; r < rows; r++) {
                const int64_t hr = o.perm ? hf_row_of_gguf_row(r, c.head_dim) : r;
                uint8_t* dst = bytes.data() + size_t(hr) * out_row;
                const uint8_t* src = in + size_t(r) * in_row;
                if (t.type == o.to) {
                    std::memcpy(dst, src, in_row);
                } else {
                    codec::dequantize_row(t.type, src, tmp.data(), cols);
                    codec::quantize_row(o.to, tmp.data(), dst, cols);
                }
            }
            std::vector<int64_t> shape;
            for (int d = int(t.n_dims) - 1; d >= 0; d--) shape.push_back(t.ne[size_t(d)]);
            const char* dtn = o.to == GgmlType::BF16 ? "BF16" : o.to == GgmlType::F16 ? "F16" : "F32";
            res.bytes += bytes.size();
            sw.add(o.hf, dtn, shape, std::move(bytes));
            weight_map.push_back({o.hf, name});
            prog.step(t.nbytes);
        }
        sw.write(shard_out[g]);
        shard_out[g].commit();
    }
    if (n_shards > 1) {
        json::Value ix = json::Value::object(), meta = json::Value::object(), wm = json::Value::object();
        meta.push_member("total_size", json::Value(int64_t(res.bytes)));
        ix.push_member("metadata", meta);
        for (const auto& [k, v] : weight_map) wm.push_member(k, v);
        ix.push_member("weight_map", wm);
        commit_text(*index_out, ix.dump(2) + "\n");
    }
    commit_text(config_out, cfg.dump(2) + "\n");
    commit_text(tokenizer_out, tokenizer_text);

    // tokenizer_config.json and generation_config.json
    json::Value tc = json::Value::object();
    tc.push_member("add_bos_token", tok.add_bos_default() && tok.bos_id() >= 0);
    tc.push_member("add_eos_token", false);
    json::Value dec = json::Value::object();
    for (int32_t id = 0; id < tok.n_vocab(); id++) {
        const TokenType t = tok.token_type(id);
        if (t != TokenType::control && t != TokenType::user_defined && t != TokenType::unknown) continue;
        json::Value a = added_token(id, tok.token_text(id), t != TokenType::user_defined);
        json::Value e = json::Value::object();
        for (const auto& [k, v] : a.as_object())
            if (k != "id") e.push_member(k, v);
        dec.push_member(std::to_string(id), e);
    }
    tc.push_member("added_tokens_decoder", dec);
    if (tok.bos_id() >= 0) tc.push_member("bos_token", tok.token_text(tok.bos_id()));
    if (tok.eos_id() >= 0) tc.push_member("eos_token", tok.token_text(tok.eos_id()));
    if (tok.unk_id() >= 0) tc.push_member("unk_token", tok.token_text(tok.unk_id()));
    if (const gguf::Value* pad = f.find("tokenizer.ggml.padding_token_id"); pad && pad->is_integer() && pad->as_int() < tok.n_vocab())
        tc.push_member("pad_token", tok.token_text(int32_t(pad->as_int())));
    tc.push_member("clean_up_tokenization_spaces", false);
    tc.push_member("model_max_length", c.n_ctx_train > 0 ? c.n_ctx_train : 2048);
    tc.push_member("tokenizer_class", "PreTrainedTokenizerFast");  // tokenizer.json as written (LlamaTokenizerFast would rebuild its pipeline)
    const std::string tpl = f.get_string("tokenizer.chat_template", "");
    if (!tpl.empty()) tc.push_member("chat_template", tpl);
    commit_text(tokenizer_config_out, tc.dump(2) + "\n");
    json::Value gc = json::Value::object();
    if (tok.bos_id() >= 0) gc.push_member("bos_token_id", tok.bos_id());
    if (tok.eos_id() >= 0) gc.push_member("eos_token_id", tok.eos_id());
    commit_text(generation_out, gc.dump(2) + "\n");

    res.n_tensors = int(outs.size());
    res.n_shards = int(n_shards);
    return res;
}

}  // namespace slm::hf
