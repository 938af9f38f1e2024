// Hugging Face checkpoints <-> GGUF, without Python: `slm convert` and `slm export-hf`.
//
// A Hugging Face Llama directory holds
//   config.json                      LlamaForCausalLM hyper-parameters (transformers 4 and 5 key spellings)
//   model.safetensors                or model-0000K-of-0000N.safetensors listed in model.safetensors.index.json
//   tokenizer.json                   the vocabulary, merges, pre-tokenizer (byte-level BPE, or SentencePiece-style
//                                    BPE with byte fallback for Llama 2 / stories vocabularies)
//   tokenizer_config.json            special tokens, add_bos_token, chat_template (or chat_template.jinja)
//   generation_config.json           EOS id(s)
//
// Tensor names (as llama.cpp's converter writes them):
//   model.embed_tokens.weight                 token_embd.weight        [n_vocab, n_embd]  -> ne [n_embd, n_vocab]
//   model.layers.N.input_layernorm.weight     blk.N.attn_norm.weight
//   model.layers.N.self_attn.q_proj.weight    blk.N.attn_q.weight      rows permuted (below)
//   model.layers.N.self_attn.k_proj.weight    blk.N.attn_k.weight      rows permuted (below)
//   model.layers.N.self_attn.v_proj.weight    blk.N.attn_v.weight
//   model.layers.N.self_attn.o_proj.weight    blk.N.attn_output.weight
//   model.layers.N.post_attention_layernorm.weight  blk.N.ffn_norm.weight
//   model.layers.N.mlp.gate_proj.weight       blk.N.ffn_gate.weight
//   model.layers.N.mlp.up_proj.weight         blk.N.ffn_up.weight
//   model.layers.N.mlp.down_proj.weight       blk.N.ffn_down.weight
//   model.norm.weight                         output_norm.weight
//   lm_head.weight                            output.weight            (absent when tie_word_embeddings)
//   (from config.json's llama3 rope scaling)  rope_freqs.weight        [head_dim / 2] f32 divisors
// An HF [out, in] matrix is row-major with `in` contiguous: the same bytes as GGUF's ne [in, out].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace slm {
class Backend;  // backend.h: only asked, through Model::load, whether it can run the tensors
}

namespace slm::hf {

// The Q/K row permutation, drawn once. Within each head of head_dim rows, HF's rotary embedding pairs row i with
// row i + head_dim/2 (rotate-half); GGUF/ggml pairs rows 2i and 2i+1 (interleaved). So
//
//   GGUF row  h*head_dim + 2*i + half   holds   HF row  h*head_dim + half*(head_dim/2) + i
//   (i in [0, head_dim/2), half in {0, 1})
//
//   head of 8 rows, GGUF order:  0  1  2  3  4  5  6  7
//          taken from HF rows:   0  4  1  5  2  6  3  7
//
// Returns the HF row for a GGUF row (convert reads HF rows in this order, export-hf writes them back).
int64_t hf_row_of_gguf_row(int64_t gguf_row, int64_t head_dim);

// Llama 3 rope scaling: the per-pair divisors llama.cpp's converter stores as rope_freqs.weight, computed in
// float32 as it does.
std::vector<float> llama3_rope_freqs(int head_dim, double rope_theta, double factor, double low_freq_factor,
                                     double high_freq_factor, double original_max_position);

struct ConvertOptions {
    std::string type;       // "F32", "F16", "BF16", "Q8_0"; "" keeps each matrix's dtype (norms always F32)
    bool progress = true;   // progress line on stderr
};
struct ConvertResult {
    int n_tensors = 0;
    uint64_t bytes = 0;     // tensor bytes written
    double seconds = 0;
};
// Reads an HF directory, checks everything (config, shards, every tensor's name, dtype and shape against the
// config), writes OUT.gguf. Throws slm::Error naming the file and the field or tensor.
// The written file is loaded once more (Model::load with `backend`) to check it.
ConvertResult convert(const std::string& hf_dir, const std::string& out_path, const Backend& backend,
                      const ConvertOptions& opt = {});

struct ExportOptions {
    std::string dtype;          // "bf16", "f16", "f32"; "" keeps F32/F16/BF16 tensors as they are, quantized -> f32
    uint64_t shard_bytes = 0;   // > 0: split the weights into shards of about this size (with an index file)
    bool progress = true;
};
struct ExportResult {
    int n_tensors = 0, n_shards = 0;
    uint64_t bytes = 0;
};
// Writes OUT_DIR/{config.json, model.safetensors (or shards + index), tokenizer.json, tokenizer_config.json,
// generation_config.json} for a llama GGUF model (quantized tensors dequantized).
ExportResult export_hf(const std::string& gguf_path, const std::string& out_dir, const Backend& backend,
                       const ExportOptions& opt = {});

}  // namespace slm::hf
