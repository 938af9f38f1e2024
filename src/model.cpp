#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "backend.h"
#include "common.h"
#include "lora.h"
#include "tokenizer.h"
#include "unicode.h"

namespace slm {

std::string ModelConfig::describe() const {
    return strfmt("%s%s%s: %d layers, dim %d, %d heads / %d kv heads (head dim %d, rope dims %d, base %g%s), "
                  "ffn %d, vocab %d, context %d, rms eps %g%s",
                  escape_text(arch).c_str(), name.empty() ? "" : " ", escape_text(name).c_str(), n_layer, n_embd,
                  n_head, n_head_kv, head_dim,
                  n_rot, double(rope_freq_base), has_rope_freqs ? ", rope_freqs" : "", n_ff, n_vocab, n_ctx_train,
                  double(rms_eps), tied_embeddings ? ", tied embeddings" : "");
}

Model::Model(gguf::File f) : file_(std::move(f)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& path, const Backend& backend, const ModelLoadOptions& opt) {
    try {
        return from_file(gguf::File::open(path, opt.mode), backend);
    } catch (const std::bad_alloc&) {
        fail("%s: out of memory while loading the model", path.c_str());
    }
}

namespace {


// The tensor `name` with exactly the shape ne (ggml order), or nullptr when absent and not required. No type
// check here (which types can be computed is the backend's business: checked_view).
const gguf::TensorInfo* get_tensor(const gguf::File& f, const std::string& name, std::vector<int64_t> ne,
                                   bool required = true) {
    const gguf::TensorInfo* t = f.find_tensor(name);
    if (!t) {
        if (required) fail("%s: missing tensor %s", f.path().c_str(), name.c_str());
        return nullptr;
    }
    bool ok = true;
    for (size_t i = 0; i < 4; i++) ok = ok && t->ne[i] == (i < ne.size() ? ne[i] : 1);
    if (!ok) {
        std::string want = "[";
        for (size_t i = 0; i < ne.size(); i++) want += strfmt("%s%lld", i ? ", " : "", (long long)ne[i]);
        fail("%s: tensor %s has shape %s, but the model configuration expects %s]", f.path().c_str(), name.c_str(),
             shape_str(t->ne.data(), int(t->n_dims)).c_str(), want.c_str());
    }
    return t;
}

WeightView view_of(const gguf::File& f, const gguf::TensorInfo& t) {
    return WeightView{.type = t.type, .data = f.tensor_data(t), .n_in = t.ne[0], .n_out = t.ne[1]};
}

// Small vectors (norms, rope_freqs) are converted to f32 once, whatever their stored type.
std::vector<float> to_f32(const gguf::File& f, const gguf::TensorInfo& t) {
    std::vector<float> v(size_t(t.n_elements()));
    if (t.type == GgmlType::F32) std::memcpy(v.data(), f.tensor_data(t), v.size() * sizeof(float));
    else if (codec::can_dequantize(t.type)) codec::dequantize_row(t.type, f.tensor_data(t), v.data(), t.n_elements());
    else fail("%s: tensor %s has type %s, which slm cannot read", f.path().c_str(), t.name.c_str(), type_name(t.type));
    return v;
}

// A count from the metadata: positive and at most 2^24 (no real model has a count above that; the tensor
// shapes then show whether the count is real).
int positive_key(const gguf::File& f, const std::string& key, int64_t def = -1) {
    int64_t v = def < 0 ? f.get_int(key) : f.get_int(key, def);
    if (v <= 0 || v > (int64_t(1) << 24))
        fail("%s: metadata key %s = %lld is out of range (expected a positive count up to 16777216)",
             f.path().c_str(), key.c_str(), (long long)v);
    return int(v);
}

// A weight matrix the backend must compute with: refused here, at load, if it cannot.
WeightView checked_view(const gguf::File& f, const gguf::TensorInfo& t, const Backend& backend) {
    WeightView w = view_of(f, t);
    if (!backend.supports(w)) {
        const std::string why = backend.why_unsupported(w);
        fail("%s: tensor %s has type %s, which the %s backend does not support%s%s", f.path().c_str(), t.name.c_str(),
             type_name(t.type), backend.name().c_str(), why.empty() ? "" : ": ", why.c_str());
    }
    return w;
}

}  // namespace

// A multi-part GPTQ weight (kernels/cpu/gptq.cpp draws the layout): BASE.qweight, .scales, .zeros and, with
// act-order, .perm; the group size from slm.gptq.group_size. The parts' types, shapes and the permutation are
// checked by the backend's supports() (kernels/cpu/gptq.cpp's gptq_check on the CPU).
WeightView gptq_weight_view(const gguf::File& f, const std::string& base, int64_t n_in, int64_t n_out) {
    static const char* const roles[4] = {"qweight", "scales", "zeros", "perm"};
    WeightView w;
    w.format = WeightFormat::gptq;
    w.type = GgmlType::I32;
    w.n_in = n_in;
    w.n_out = n_out;
    const int64_t g = f.get_int("slm.gptq.group_size", 0);
    if (g < 8 || g > n_in * 8 || g % 8)
        fail("%s: %s.qweight: slm.gptq.group_size = %lld is missing or not a positive multiple of 8", f.path().c_str(),
             base.c_str(), (long long)g);
    w.group_size = g;
    for (const char* role : roles) {
        const gguf::TensorInfo* t = f.find_tensor(base + "." + role);
        if (!t) continue;
        if (t->ne[2] != 1 || t->ne[3] != 1) fail("%s: tensor %s.%s is not 2-D", f.path().c_str(), base.c_str(), role);
        w.parts[size_t(w.n_parts++)] = WeightPart{role, t->type, f.tensor_data(*t), t->ne[0], t->ne[1]};
    }
    w.data = w.parts[0].data;
    return w;
}

namespace {

// A layer matrix NAME.weight [n_in, n_out], or its GPTQ form (BASE.qweight [n_in / 8, n_out] and parts; the
// parts are checked when the weight is loaded).
void get_matrix(const gguf::File& f, const std::string& name, std::vector<int64_t> ne) {
    const std::string base = name.size() > 7 ? name.substr(0, name.size() - 7) : name;
    if (!f.find_tensor(name) && f.find_tensor(base + ".qweight") && ne[0] % 8 == 0) {
        get_tensor(f, base + ".qweight", {ne[0] / 8, ne[1]});
        return;
    }
    get_tensor(f, name, ne);
}

}  // namespace

ModelConfig read_model_config(const gguf::File& f) {
    const std::string& path = f.path();
    ModelConfig c;
    if (!f.has("general.architecture"))
        fail("%s: metadata key general.architecture: missing (not a model file?)", path.c_str());
    c.arch = f.get_string("general.architecture");
    if (c.arch != "llama")
        fail("%s: unsupported architecture \"%s\" (general.architecture; slm runs \"llama\")", path.c_str(),
             escape_text(c.arch).c_str());
    c.name = f.get_string("general.name", "");
    const std::string p = c.arch + ".";
    c.n_layer = positive_key(f, p + "block_count");
    c.n_embd = positive_key(f, p + "embedding_length");
    c.n_ff = positive_key(f, p + "feed_forward_length");
    c.n_head = positive_key(f, p + "attention.head_count");
    c.n_head_kv = positive_key(f, p + "attention.head_count_kv", c.n_head);
    if (c.n_head % c.n_head_kv)
        fail("%s: attention.head_count %d is not a multiple of attention.head_count_kv %d", path.c_str(), c.n_head,
             c.n_head_kv);
    if (!f.has(p + "attention.key_length") && c.n_embd % c.n_head)
        fail("%s: embedding_length %d is not a multiple of attention.head_count %d", path.c_str(), c.n_embd, c.n_head);
    c.head_dim = positive_key(f, p + "attention.key_length", c.n_embd / c.n_head);
    if (f.has(p + "attention.value_length") && f.get_int(p + "attention.value_length") != c.head_dim)
        fail("%s: attention.value_length %lld differs from key_length %d (unsupported)", path.c_str(),
             (long long)f.get_int(p + "attention.value_length"), c.head_dim);
    c.n_ctx_train = positive_key(f, p + "context_length", 2048);
    c.rms_eps = float(f.get_float(p + "attention.layer_norm_rms_epsilon", 1e-5));
    if (!(c.rms_eps >= 0)) fail("%s: attention.layer_norm_rms_epsilon must be >= 0", path.c_str());
    c.rope_freq_base = float(f.get_float(p + "rope.freq_base", 10000.0));
    if (!(c.rope_freq_base > 0) || !std::isfinite(c.rope_freq_base))
        fail("%s: rope.freq_base must be a finite number > 0", path.c_str());
    c.n_rot = positive_key(f, p + "rope.dimension_count", c.head_dim);
    if (c.n_rot > c.head_dim || c.n_rot % 2)
        fail("%s: rope.dimension_count %d must be even and at most the head dimension %d", path.c_str(), c.n_rot,
             c.head_dim);

    const int64_t n_expert = f.get_int(p + "expert_count", 0);
    if (n_expert < 0 || n_expert > 4096)
        fail("%s: metadata key %sexpert_count = %lld is out of range (expected 0..4096)", path.c_str(), p.c_str(),
             (long long)n_expert);
    c.n_expert = int(n_expert);

    // Vocabulary size: the key if present, else the embedding's rows.
    const gguf::TensorInfo* te = f.find_tensor("token_embd.weight");
    if (!te) fail("%s: missing tensor token_embd.weight", path.c_str());
    c.n_vocab = f.has(p + "vocab_size") ? positive_key(f, p + "vocab_size") : int(std::min<int64_t>(te->ne[1], 1 << 30));
    if (c.n_vocab <= 0) fail("%s: token_embd.weight has no rows", path.c_str());


    // Every tensor the counts imply, with the shape they imply, before anything is sized from them. The layer
    // scan stops at the first missing tensor, so a huge block_count costs at most one pass over the file's
    // tensors, never an allocation.
    const int64_t E = c.n_embd, Q = c.n_embd_q(), KV = c.n_embd_kv(), F = c.n_ff, V = c.n_vocab;
    get_tensor(f, "token_embd.weight", {E, V});
    get_tensor(f, "output_norm.weight", {E});
    c.tied_embeddings = get_tensor(f, "output.weight", {E, V}, false) == nullptr;
    c.has_rope_freqs = get_tensor(f, "rope_freqs.weight", {c.n_rot / 2}, false) != nullptr;
    for (int il = 0; il < c.n_layer; il++) {
        const std::string b = strfmt("blk.%d.", il);
        get_tensor(f, b + "attn_norm.weight", {E});
        get_matrix(f, b + "attn_q.weight", {E, Q});
        get_matrix(f, b + "attn_k.weight", {E, KV});
        get_matrix(f, b + "attn_v.weight", {E, KV});
        get_matrix(f, b + "attn_output.weight", {Q, E});
        get_tensor(f, b + "ffn_norm.weight", {E});
        if (c.n_expert > 0) {  // mixture of experts (Mixtral): the plan of `slm quantize` knows it, Model does not
            get_tensor(f, b + "ffn_gate_inp.weight", {E, c.n_expert});
            get_tensor(f, b + "ffn_gate_exps.weight", {E, F, c.n_expert});
            get_tensor(f, b + "ffn_up_exps.weight", {E, F, c.n_expert});
            get_tensor(f, b + "ffn_down_exps.weight", {F, E, c.n_expert});
        } else {
            get_matrix(f, b + "ffn_gate.weight", {E, F});
            get_matrix(f, b + "ffn_up.weight", {E, F});
            get_matrix(f, b + "ffn_down.weight", {F, E});
        }
    }
    return c;
}

std::unique_ptr<Model> Model::from_file(gguf::File file, const Backend& backend) {
    std::unique_ptr<Model> m(new Model(std::move(file)));
    const gguf::File& f = m->file_;
    const std::string& path = f.path();
    m->cfg_ = read_model_config(f);
    ModelConfig& c = m->cfg_;
    if (c.n_expert > 0)
        fail("%s: a mixture-of-experts model (%sexpert_count = %d): slm runs dense llama models only", path.c_str(),
             (c.arch + ".").c_str(), c.n_expert);

    const int64_t E = c.n_embd, Q = c.n_embd_q(), KV = c.n_embd_kv(), F = c.n_ff, V = c.n_vocab;
    const gguf::TensorInfo* te = get_tensor(f, "token_embd.weight", {E, V});
    m->tok_embd_ = checked_view(f, *te, backend);
    m->output_norm_ = to_f32(f, *get_tensor(f, "output_norm.weight", {E}));
    if (const gguf::TensorInfo* out = get_tensor(f, "output.weight", {E, V}, false)) {
        m->output_ = Weight{"output.weight", checked_view(f, *out, backend), {}};
    } else {  // tied (read_model_config set tied_embeddings): Llama 3.2 1B/3B reuse the embedding matrix
        m->output_ = Weight{"token_embd.weight", m->tok_embd_, {}};
    }
    if (const gguf::TensorInfo* rf = get_tensor(f, "rope_freqs.weight", {c.n_rot / 2}, false)) {
        m->rope_freqs_ = to_f32(f, *rf);
        for (float d : m->rope_freqs_)
            if (!(d > 0)) fail("%s: rope_freqs.weight holds a non-positive divisor", path.c_str());
    }

    auto weight = [&](const std::string& name, int64_t n_in, int64_t n_out) {
        if (!f.find_tensor(name)) {
            const std::string base = name.substr(0, name.size() - std::string(".weight").size());
            if (f.find_tensor(base + ".qweight")) {
                WeightView w = gptq_weight_view(f, base, n_in, n_out);
                if (!backend.supports(w)) {
                    const std::string why = backend.why_unsupported(w);
                    fail("%s: GPTQ weight %s (%lld -> %lld): %s", f.path().c_str(), base.c_str(), (long long)n_in,
                         (long long)n_out,
                         why.empty() ? strfmt("malformed parts, or the %s backend does not support it", backend.name().c_str()).c_str()
                                     : why.c_str());
                }
                return Weight{name, w, {}};
            }
        }
        return Weight{name, checked_view(f, *get_tensor(f, name, {n_in, n_out}), backend), {}};
    };
    m->layers_.resize(size_t(c.n_layer));  // safe: read_model_config saw every layer's tensors
    for (int il = 0; il < c.n_layer; il++) {
        LayerWeights& L = m->layers_[size_t(il)];
        const std::string b = strfmt("blk.%d.", il);
        L.attn_norm = to_f32(f, *get_tensor(f, b + "attn_norm.weight", {E}));
        L.wq = weight(b + "attn_q.weight", E, Q);
        L.wk = weight(b + "attn_k.weight", E, KV);
        L.wv = weight(b + "attn_v.weight", E, KV);
        L.wo = weight(b + "attn_output.weight", Q, E);
        L.ffn_norm = to_f32(f, *get_tensor(f, b + "ffn_norm.weight", {E}));
        L.w_gate = weight(b + "ffn_gate.weight", E, F);
        L.w_up = weight(b + "ffn_up.weight", E, F);
        L.w_down = weight(b + "ffn_down.weight", F, E);
    }

    m->tok_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(f));
    if (m->tok_->n_vocab() > c.n_vocab)
        fail("%s: the tokenizer has %d tokens but the model's vocabulary has %d rows", path.c_str(),
             int(m->tok_->n_vocab()), c.n_vocab);
    c.bos_id = m->tok_->bos_id();
    c.eos_id = m->tok_->eos_id();
    c.eot_id = m->tok_->eot_id();
    return m;
}

Weight* Model::find_weight(const std::string& name) {
    if (output_.name == name) return &output_;
    for (LayerWeights& L : layers_)
        for (Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
            if (w->name == name) return w;
    return nullptr;
}

void Model::load_lora(const std::string& adapter_path, const Backend& backend, float scale) {
    add_lora(gguf::File::open(adapter_path, gguf::LoadMode::mmap), backend, scale);
}

void Model::add_lora(gguf::File adapter, const Backend& backend, float scale) {
    const LoraAdapter ad = parse_lora_adapter(adapter);
    const std::string& path = adapter.path();
    const std::string arch = adapter.get_string("general.architecture", cfg_.arch);
    if (arch != cfg_.arch)
        fail("%s: adapter is for architecture \"%s\", the model is \"%s\"", path.c_str(), escape_text(arch).c_str(),
             cfg_.arch.c_str());
    // Check every pair before attaching any, so a bad adapter leaves the model unchanged.
    std::vector<std::pair<Weight*, LoraPair>> todo;
    for (const LoraTensorPair& p : ad.pairs) {
        Weight* w = find_weight(p.base_name);
        if (!w) fail("%s: adapter tensor %s.lora_a: the model has no weight matrix %s", path.c_str(),
                     escape_text(p.base_name).c_str(), escape_text(p.base_name).c_str());
        if (p.a.n_in != w->w.n_in || p.b.n_out != w->w.n_out)
            fail("%s: %s: adapter maps %lld -> %lld, the weight maps %lld -> %lld", path.c_str(),
                 escape_text(p.base_name).c_str(),
                 (long long)p.a.n_in, (long long)p.b.n_out, (long long)w->w.n_in, (long long)w->w.n_out);
        for (const WeightView* v : {&p.a, &p.b})
            if (!backend.supports(*v))
                fail("%s: %s: LoRA tensor type %s is not supported", path.c_str(), escape_text(p.base_name).c_str(),
                     type_name(v->type));
        todo.push_back({w, LoraPair{p.a, p.b, ad.effective_scale(scale, p.rank())}});
    }
    adapters_.push_back(std::move(adapter));  // the views stay valid: a File's data does not move with it
    for (auto& [w, lp] : todo) w->lora.push_back(lp);
}

}  // namespace slm
