// The training forward and backward of a Llama model by hand, through the Backend (src/backend.h) for the
// matmuls, attention, SwiGLU and the cross-entropy (its training section: f32, tested against src/ops.h), and
// the scalar ops of src/ops.h for the rest (rmsnorm, RoPE, residuals: O(n E) each). Two modes:
//   LoRA (default): the base stays frozen in whatever type it is stored (a quantized base is QLoRA); each
//     targeted projection W gets A [r][n_in] (uniform +-1/sqrt(n_in), PEFT's kaiming-uniform(a=sqrt 5)) and
//     B [n_out][r] = 0, y = W x + alpha/r * B (A x).
//   full: every weight (embeddings, norms, projections, output) is an F32 master copy and is trained.
// The trainable floats live in one flat vector (params()), with their gradients beside them (grads()), so the
// optimizer, clipping and checkpoints see one array.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "tensor.h"
#include "train/activations.h"

namespace slm {
class Model;
class ThreadPool;
class OutputFile;
}

namespace slm::train {

struct LoraConfig {
    int rank = 8;
    float alpha = 16.0f;
    std::array<bool, N_PROJ> targets{true, true, true, true, true, true, true};  // q k v o gate up down
};

struct TrainerOptions {
    bool full = false;
    LoraConfig lora;
    uint64_t seed = 42;  // LoRA A initialisation
};

// "q,k,v,o,gate,up,down" -> targets; throws naming the bad entry.
std::array<bool, N_PROJ> parse_targets(const std::string& list);
const char* proj_name(int p);         // "q", ..., "down"
const char* proj_tensor(int p);       // "attn_q", ..., "ffn_down"

// One training sequence: tokens and which of them are loss targets (mask[t] = 1: ids[t] is predicted from
// the prefix ids[0..t); mask[0] is ignored).
struct Sequence {
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    int n_targets() const;
};

// A trainable tensor inside the flat parameter vector.
struct Param {
    std::string name;             // GGUF tensor name ("blk.0.attn_q.weight.lora_a", "output_norm.weight", ...)
    std::vector<int64_t> ne;      // ggml order
    size_t offset = 0, size = 0;  // floats
    bool decay = true;            // weight decay applies (not to norms)
};

class Trainer {
public:
    Trainer(const Model& model, Backend& backend, ThreadPool& pool, const TrainerOptions& opt);
    ~Trainer();

    // Forward and backward over a packed batch: returns the summed cross-entropy of its targets (nats) and
    // ADDS loss_scale * d(sum)/d(param) into grads(). Typical loss_scale: 1 / targets in the optimizer step.
    double forward_backward(const std::vector<const Sequence*>& batch, double loss_scale);
    // Forward only: the summed cross-entropy of the batch's targets.
    double loss(const std::vector<const Sequence*>& batch);
    // Logits of every position of one sequence [ids.size()][n_vocab] (to compare with inference).
    std::vector<float> logits(const std::vector<int32_t>& ids);

    std::vector<float>& params() { return theta_; }
    std::vector<float>& grads() { return grad_; }
    const std::vector<Param>& param_list() const { return plist_; }
    void zero_grads();
    const TrainerOptions& options() const { return opt_; }
    const Model& model() const { return model_; }
    Backend& backend() { return be_; }

    // Bytes of saved activations for a batch of `tokens` tokens in sequences of `seq_len` (the report's
    // memory figure), and the flops of one forward + backward per token (matmuls only, 2 per multiply-add).
    size_t activation_bytes(int64_t tokens, int64_t seq_len) const;
    double flops_per_token(int64_t seq_len, double target_fraction) const;

    // Writes the adapter (LoRA mode) in llama.cpp's LoRA GGUF layout, or the whole model (full mode) as an
    // F32 GGUF with the base's metadata. The OutputFile form writes into a file the caller opened before the
    // training began (output_file.h) and commits it; the path form opens one now.
    void save(OutputFile& out) const;
    void save(const std::string& path) const;

private:
    struct Impl;
    const Model& model_;
    Backend& be_;
    ThreadPool& pool_;
    TrainerOptions opt_;
    std::vector<float> theta_, grad_;
    std::vector<Param> plist_;
    std::unique_ptr<Impl> impl_;
    double run(const std::vector<const Sequence*>& batch, bool backward, double loss_scale, std::vector<float>* all_logits);
};

}  // namespace slm::train
