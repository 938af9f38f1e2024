// Random-weight models with the exact layout of known ones (slm synth): speed does not depend on the weights'
// values, so a model of the true shape measures what the real one would, without downloading it.
//
// The file mirrors what llama.cpp's converter writes for a Llama model: the same metadata keys in the same order,
// token_embd, rope_freqs (Llama 3.x rope scaling), output_norm, then per layer attn_norm, attn_q, attn_k, attn_v,
// attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down; tied embeddings (no output.weight) where the model ties them.
// Weights come from a counter-based generator (splitmix64 of seed, tensor and element index) converted with exact
// float arithmetic, so a seed gives the same bytes on every machine and any thread count.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "types.h"

namespace slm {
class ThreadPool;
}

namespace slm::synth {

struct Shape {
    std::string name;  // general.name
    int n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0;
    int head_dim = 0;  // 0: n_embd / n_head
    int n_ctx_train = 0;
    float rope_base = 10000.0f;
    float rms_eps = 1e-5f;
    bool tied_embeddings = true;
    // Llama 3.x rope scaling, stored as rope_freqs.weight (one divisor per rotated pair); factor 0: none.
    float rope_factor = 0, rope_low_freq_factor = 1, rope_high_freq_factor = 4;
    int rope_original_ctx = 8192;

    int dim_head() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
    int64_t n_params() const;  // of the weights written (tied embeddings counted once)
    // Throws slm::Error naming the field when the shape is not a valid Llama model.
    void validate() const;
};

// Presets: llama3.2-1b, llama3.2-3b, smollm2-135m, and the small ones for tests (tiny, tiny-gqa).
std::optional<Shape> preset(std::string_view name);
std::vector<std::string> preset_names();

// The tensors of a model of this shape, in the order written (matrices of matrix_type, vectors F32).
struct TensorSpec {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;  // ggml order
};
std::vector<TensorSpec> layout(const Shape& s, GgmlType matrix_type);

// Llama 3.x's per-pair rope divisors (what llama.cpp's converter stores as rope_freqs.weight).
std::vector<float> llama3_rope_freqs(const Shape& s);

struct Options {
    Shape shape;
    GgmlType type = GgmlType::F16;  // F16, BF16 or F32 for the matrices (norms and rope_freqs are F32)
    uint64_t seed = 1;
    // A GGUF whose tokenizer.* metadata is copied (its vocabulary size then sets n_vocab); empty: a generated
    // SentencePiece-style vocabulary of n_vocab tokens (<unk>, <s>, </s>, the 256 byte tokens, then fillers).
    std::string tokenizer;
    bool progress = true;  // a progress line on stderr
};

// Writes the model to path. Throws slm::Error on bad options or I/O failure.
void write_model(const Options& opt, const std::string& path, ThreadPool& pool);

}  // namespace slm::synth
