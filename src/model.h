// A Llama-architecture model: its configuration (from GGUF metadata) and views of its weights (into the GGUF
// file's mapping: never copied, except the small norm vectors, which are kept as f32).
//
// This is the backend-neutral half of inference: it says WHAT the model is (plain data, no kernel header). How
// it is computed is a Backend's business (backend.h); the one the model is loaded for is asked, tensor by
// tensor, whether it supports each weight, so an unsupported file is refused at load.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf.h"
#include "tensor.h"
#include "types.h"

namespace slm {

class Backend;    // backend.h
class Tokenizer;  // tokenizer.h

struct ModelConfig {
    std::string arch;           // general.architecture ("llama")
    std::string name;           // general.name, if any
    int n_layer = 0;            // llama.block_count
    int n_embd = 0;             // llama.embedding_length
    int n_head = 0;             // llama.attention.head_count
    int n_head_kv = 0;          // llama.attention.head_count_kv (GQA: n_head is a multiple of it)
    int head_dim = 0;           // llama.attention.key_length, else n_embd / n_head
    int n_ff = 0;               // llama.feed_forward_length
    int n_vocab = 0;            // llama.vocab_size, else the token_embd rows
    int n_ctx_train = 0;        // llama.context_length
    int n_expert = 0;           // llama.expert_count (0: dense; Model refuses experts, `slm quantize` plans them)
    float rms_eps = 1e-5f;      // llama.attention.layer_norm_rms_epsilon
    float rope_freq_base = 10000.0f;  // llama.rope.freq_base
    int n_rot = 0;              // llama.rope.dimension_count (rotated dims per head), else head_dim
    bool has_rope_freqs = false;      // rope_freqs.weight present (Llama 3.x rope scaling)
    bool tied_embeddings = false;     // no output.weight: the output projection is token_embd.weight
    int32_t bos_id = -1, eos_id = -1, eot_id = -1;  // from the tokenizer (-1: none)

    int n_embd_q() const { return n_head * head_dim; }
    int n_embd_kv() const { return n_head_kv * head_dim; }
    std::string describe() const;  // one line for --verbose
};

// Reads and validates the llama configuration of a GGUF file: the one place both Model and `slm quantize` get
// it from. Every count is bounded, and every tensor the counts imply (token_embd, output_norm, each layer's
// nine) is checked to exist with the shape they imply before anything is sized from them, so a file of a few
// bytes claiming 16 million layers fails at once ("missing tensor blk.1.attn_norm.weight"). Tensor types are
// not checked here (what can be computed is the backend's business). Throws slm::Error naming file and key.
ModelConfig read_model_config(const gguf::File& f);

struct LayerWeights {
    std::vector<float> attn_norm;  // [n_embd]
    Weight wq, wk, wv, wo;         // attn_q [n_embd -> n_embd_q], attn_k/v [n_embd -> n_embd_kv], attn_output [n_embd_q -> n_embd]
    std::vector<float> ffn_norm;   // [n_embd]
    Weight w_gate, w_up, w_down;   // ffn_gate/up [n_embd -> n_ff], ffn_down [n_ff -> n_embd]
};

struct ModelLoadOptions {
    gguf::LoadMode mode = gguf::LoadMode::mmap;
};

// The GPTQ weight BASE (BASE.qweight, .scales, .zeros, .perm; layout in kernels/cpu/gptq.cpp) of an n_in -> n_out
// matrix, its parts checked. Throws slm::Error naming the file and tensor.
WeightView gptq_weight_view(const gguf::File& f, const std::string& base, int64_t n_in, int64_t n_out);

class Model {
public:
    // Opens the GGUF file, reads the configuration, checks every tensor's presence, type and shape, and that
    // `backend` supports every weight matrix. Throws slm::Error naming the file and what is wrong (unknown
    // architecture, missing tensor, shape mismatch, a type the backend cannot compute with, ...).
    static std::unique_ptr<Model> load(const std::string& path, const Backend& backend, const ModelLoadOptions& opt = {});
    // Same from an already opened file (tests build files in memory).
    static std::unique_ptr<Model> from_file(gguf::File file, const Backend& backend);
    ~Model();

    const ModelConfig& config() const { return cfg_; }
    const Tokenizer& tokenizer() const { return *tok_; }
    const gguf::File& file() const { return file_; }

    const WeightView& tok_embd() const { return tok_embd_; }        // [n_vocab rows of n_embd]
    const Weight& output() const { return output_; }                // [n_embd -> n_vocab] (tok_embd when tied)
    const std::vector<float>& output_norm() const { return output_norm_; }
    const std::vector<float>& rope_freqs() const { return rope_freqs_; }  // [n_rot/2] divisors, or empty
    const std::vector<LayerWeights>& layers() const { return layers_; }

    // Loads a llama.cpp LoRA adapter (GGUF, general.type = "adapter", adapter.type = "lora") and applies it to
    // every weight it names: y += scale * alpha / r * B (A x). Several adapters may be stacked. The adapter
    // file stays open (mmapped) for the Model's lifetime.
    void load_lora(const std::string& adapter_path, const Backend& backend, float scale = 1.0f);
    // Same from an opened file (tests).
    void add_lora(gguf::File adapter, const Backend& backend, float scale = 1.0f);
    int n_lora() const { return int(adapters_.size()); }

    // Looks a weight up by its GGUF tensor name (nullptr if the model has none of that name).
    Weight* find_weight(const std::string& name);

private:
    explicit Model(gguf::File f);
    gguf::File file_;
    ModelConfig cfg_;
    std::unique_ptr<Tokenizer> tok_;
    WeightView tok_embd_;
    Weight output_;
    std::vector<float> output_norm_, rope_freqs_;
    std::vector<LayerWeights> layers_;
    std::vector<gguf::File> adapters_;
};

}  // namespace slm
