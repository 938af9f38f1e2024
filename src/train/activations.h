// What one layer of the training forward saves for its backward, for a packed batch of n tokens (the batch's
// sequences laid end to end, no padding; attention restarts at each sequence's first token).
//
// Shapes: E = n_embd, Dq = n_head * head_dim, Dkv = n_head_kv * head_dim, F = n_ff, r = LoRA rank,
// L_s = length of sequence s, H = n_head.
//
// Recomputed in the backward instead of stored (each costs O(n E) or O(n F) flops against the O(n E^2)
// matmuls, and would be the largest buffers after gate/up):
//   - the two rmsnorm outputs (from x / h and the saved inverse rms),
//   - the SwiGLU output silu(gate) * up (input of ffn_down),
//   - the angle tables of RoPE (one per position, shared by every layer: TrainBatch::rope_cs).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace slm::train {

// The linear layers of a block, in the order LayerActs::u and the LoRA targets use.
enum Proj : int { P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN, N_PROJ };

struct LayerActs {
    std::vector<float> x;       // [n][E]   residual stream entering the layer (input of attn_norm)
    std::vector<float> rms1;    // [n]      inverse rms of each row of x
    std::vector<float> q;       // [n][Dq]  queries after RoPE
    std::vector<float> k;       // [n][Dkv] keys after RoPE
    std::vector<float> v;       // [n][Dkv] values
    std::vector<float> probs;   // sum_s L_s * H * L_s: sequence s's softmax weights [L_s][H][L_s], concatenated
    std::vector<float> att;     // [n][Dq]  attention output (input of attn_output)
    std::vector<float> h;       // [n][E]   residual stream after the attention block (input of ffn_norm)
    std::vector<float> rms2;    // [n]      inverse rms of each row of h
    std::vector<float> gate;    // [n][F]   ffn_gate output (before SiLU)
    std::vector<float> up;      // [n][F]   ffn_up output
    std::array<std::vector<float>, N_PROJ> u;  // [n][r] A x of each LoRA-adapted projection (empty otherwise)
};

// The head: only the rows whose next token is a loss target get logits (loss on the assistant's tokens only).
struct HeadActs {
    std::vector<int32_t> rows;  // [m]    token rows (in the packed batch) that predict a target
    std::vector<int32_t> targets;  // [m] the token each of them must predict
    std::vector<float> xn;      // [m][E] rmsnorm(x_final) of those rows (input of the output projection)
    std::vector<float> rms;     // [m]
    std::vector<float> u;       // [m][r] LoRA A x of the output projection (unused: the head is never adapted)
};

}  // namespace slm::train
