// Plain data: what a weight IS (its format, bytes and shape), never how it is computed. Every layer may include
// this header: the model holds these views, the backends read them, the trainer adds LoRA pairs to them.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "types.h"

namespace slm {

// How a weight's bytes are laid out.
//   ggml: n_out rows of n_in elements, every row a run of `type` blocks (row_bytes(type, n_in) bytes per row).
//   gptq: GPTQ 4-bit (kernels/cpu/gptq.cpp draws the layout); the arrays are `parts` (qweight, scales, zeros,
//         g_idx), `data` points at the first part.
enum class WeightFormat : uint8_t { ggml, gptq };

// One array of a multi-part weight: its role ("qweight", "scales", ...), element type and shape (ggml order).
struct WeightPart {
    const char* role = "";
    GgmlType type = GgmlType::I32;
    const void* data = nullptr;
    int64_t ne0 = 0, ne1 = 0;
};

// A view of a weight matrix (no ownership; the bytes live in a gguf::File mapping or a buffer its owner keeps).
// As ggml stores it: ne = [n_in, n_out], so W x is "one dot product per row".
struct WeightView {
    GgmlType type = GgmlType::F32;  // the row encoding (ggml format)
    const void* data = nullptr;
    int64_t n_in = 0;   // ne[0]: elements per row (the input dimension)
    int64_t n_out = 0;  // ne[1]: rows (the output dimension)
    WeightFormat format = WeightFormat::ggml;
    // Multi-part formats only (n_parts = 0 for ggml types).
    std::array<WeightPart, 4> parts{};
    int n_parts = 0;
    int64_t group_size = 0;  // gptq: input columns per scale/zero group

    bool empty() const { return data == nullptr; }
    // ggml format only: bytes of one row, and a pointer to row i.
    int64_t row_size() const { return row_bytes(type, n_in); }
    const uint8_t* row(int64_t i) const { return static_cast<const uint8_t*>(data) + i * row_size(); }
};

// A ggml-format view of n_out rows of n_in elements of `type` at data.
inline WeightView ggml_view(GgmlType type, const void* data, int64_t n_in, int64_t n_out) {
    WeightView w;
    w.type = type;
    w.data = data;
    w.n_in = n_in;
    w.n_out = n_out;
    return w;
}

// A float32 vector held by the model (norm weights, rope_freqs), as a 1 x n view.
inline WeightView f32_view(const std::vector<float>& v) {
    WeightView w;
    w.type = GgmlType::F32;
    w.data = v.data();
    w.n_in = int64_t(v.size());
    w.n_out = 1;
    return w;
}

// One LoRA pair applied to a weight: y += scale * B (A x). A: n_in -> r (ne [n_in, r]); B: r -> n_out (ne [r, n_out]).
struct LoraPair {
    WeightView a, b;
    float scale = 1.0f;  // user scale * alpha / r
};

// A weight matrix plus any LoRA adapters loaded onto it.
struct Weight {
    std::string name;  // the GGUF tensor name ("blk.0.attn_q.weight")
    WeightView w;
    std::vector<LoraPair> lora;
};

// Rotary position embedding of one model (llama.cpp's "normal" layout for llama GGUF files: within each head,
// rotate the adjacent pairs (x[2i], x[2i+1]) by pos * inv_freq[i] for i < n_rot/2; dims >= n_rot pass through).
struct RopeConfig {
    int n_rot = 0, head_dim = 0;
    float freq_base = 10000.0f;
    const float* freq_factors = nullptr;  // host, n_rot/2 divisors (rope_freqs.weight), or nullptr
    // host, n_rot/2 angle rates (ops::rope_inv_freq of the above), resolved once by whoever holds the config
    // (Context); nullptr: the backend derives them itself
    const double* inv_freq = nullptr;
};

// Attention shape of one model.
struct AttentionShape {
    int n_head = 0, n_head_kv = 0, head_dim = 0;  // GQA: query head h reads KV head h / (n_head / n_head_kv)
};

// The one shape formatter, ggml order: "[2048, 8192]" (as `slm inspect` prints shapes), or with compact
// "2048x8192" (plan tables, manifests). n_dims < 1 prints one dimension.
std::string shape_str(const int64_t* ne, int n_dims, bool compact = false);

}  // namespace slm
