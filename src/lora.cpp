#include "lora.h"

#include <map>

#include "common.h"
#include "unicode.h"

namespace slm {

float LoraAdapter::effective_scale(float user_scale, int64_t rank) const {
    // llama.cpp (llama-adapter.h get_scale): rank is lora_b's ne[0]; alpha 0 means "no alpha scaling".
    if (alpha == 0.0f) return user_scale;
    return user_scale * alpha / float(rank);
}

static bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

LoraAdapter parse_lora_adapter(const gguf::File& f) {
    const std::string& path = f.path();
    const std::string gtype = f.get_string("general.type", "");
    if (gtype != "adapter")
        fail("%s: not a LoRA adapter (general.type is \"%s\", expected \"adapter\")", path.c_str(), escape_text(gtype).c_str());
    const std::string atype = f.get_string("adapter.type", "");
    if (atype != "lora")
        fail("%s: adapter.type is \"%s\", expected \"lora\"", path.c_str(), escape_text(atype).c_str());
    LoraAdapter ad;
    ad.alpha = float(f.get_float("adapter.lora.alpha", 0.0));

    struct Half {
        const gguf::TensorInfo* a = nullptr;
        const gguf::TensorInfo* b = nullptr;
    };
    std::map<std::string, Half> by_base;  // sorted: a stable order whatever the file's order
    for (const gguf::TensorInfo& t : f.tensors()) {
        if (ends_with(t.name, ".lora_a")) by_base[t.name.substr(0, t.name.size() - 7)].a = &t;
        else if (ends_with(t.name, ".lora_b")) by_base[t.name.substr(0, t.name.size() - 7)].b = &t;
        else fail("%s: tensor %s is neither a .lora_a nor a .lora_b", path.c_str(), escape_text(t.name).c_str());
    }
    if (by_base.empty()) fail("%s: the adapter has no lora_a/lora_b tensors", path.c_str());
    for (const auto& [base, h] : by_base) {
        if (!h.a) fail("%s: %s.lora_b has no matching %s.lora_a", path.c_str(), escape_text(base).c_str(), escape_text(base).c_str());
        if (!h.b) fail("%s: %s.lora_a has no matching %s.lora_b", path.c_str(), escape_text(base).c_str(), escape_text(base).c_str());
        if (h.a->n_dims != 2 || h.b->n_dims != 2)
            fail("%s: %s: lora_a and lora_b must be 2-D", path.c_str(), escape_text(base).c_str());
        const int64_t n_in = h.a->ne[0], r = h.a->ne[1], rb = h.b->ne[0], n_out = h.b->ne[1];
        if (r != rb)
            fail("%s: %s: rank mismatch (lora_a ne[1] = %lld, lora_b ne[0] = %lld)", path.c_str(), escape_text(base).c_str(),
                 (long long)r, (long long)rb);
        LoraTensorPair p;
        p.base_name = base;
        p.a = WeightView{.type = h.a->type, .data = f.tensor_data(*h.a), .n_in = n_in, .n_out = r};
        p.b = WeightView{.type = h.b->type, .data = f.tensor_data(*h.b), .n_in = r, .n_out = n_out};
        ad.pairs.push_back(p);
    }
    return ad;
}

}  // namespace slm
