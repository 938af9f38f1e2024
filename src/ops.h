// The scalar reference ops of the Llama forward pass, as free functions with explicit inputs and outputs: what a
// reader reads first, what every faster variant (kernels/cpu, kernels/cuda) is tested against, and where each
// op's backward sits directly under its forward (llm.c's layout; training, src/train/, adds them).
//
// Per layer (pre-norm residual blocks, as Llama):
//   h   = x + Wo · attention(rope(Wq · rmsnorm(x)), rope(Wk · rmsnorm(x)), Wv · rmsnorm(x))
//   out = h + Wdown · (silu(Wgate · rmsnorm(h)) * (Wup · rmsnorm(h)))
// then logits = Woutput · rmsnorm(x_last).
// One token row unless said otherwise; rows are contiguous floats.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"
#include "types.h"

namespace slm::ops {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]   (out may alias x). Returns the inverse rms 1/sqrt(mean + eps),
// which is what the backward needs besides x and w.
float rmsnorm(const float* x, const float* w, float* out, int n, float eps);

// Rotary position embedding (llama.cpp's "normal" layout for llama GGUF files): within each head, rotate the
// adjacent pairs (x[2i], x[2i+1]) by angle pos * inv_freq[i], for i < n_rot/2; dims >= n_rot pass through.
// inv_freq[i] = base^(-2i/n_rot) / rope_freqs[i] (see rope_inv_freq).
//   rope_angles: the table cs[2i] = cos, cs[2i+1] = sin of each pair's angle at pos (n_rot floats);
//   rope_rotate: rotates every head of x by such a table (one table serves Q and K of a position);
//   rope:        both.
std::vector<double> rope_inv_freq(int n_rot, float base, const std::vector<float>& rope_freqs);
void rope_angles(int n_rot, int pos, const double* inv_freq, float* cs);
void rope_rotate(float* x, int n_heads, int head_dim, int n_rot, const float* cs);
void rope(float* x, int n_heads, int head_dim, int n_rot, int pos, const double* inv_freq);
// The angles as llama.cpp's CPU backend computes them (Numerics::llamacpp): pos * theta_scale^i accumulated
// in float, then divided by the pair's factor (freq_factors: rope_freqs or nullptr).
void rope_angles_ggml(int n_rot, int pos, float base, const float* freq_factors, float* cs);

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x)   (out may alias gate or up)
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// In-place softmax of x[0..n) (max-subtracted, summed in double).
void softmax(float* x, int n);

// log(sum(exp(x))) computed stably in double.
double log_sum_exp(const float* x, int n);

// Causal self-attention over float keys and values (the reference; the backends read their own KV caches):
// n query tokens at positions pos0..pos0+n-1, q[n][n_head*hd]; k, v [pos0+n][n_head_kv*hd] hold every
// position; out[n][n_head*hd]. Token t of head h attends to positions 0..pos0+t of KV head h/(n_head/n_head_kv):
//   p = softmax(q·k_j / sqrt(hd)),  out = sum_j p_j v_j.
// probs, if not null, receives the softmax weights [n][n_head][pos0+n] (zero beyond each token's last position),
// which the backward reuses.
void attention(const float* q, const float* k, const float* v, int n, int pos0, const AttentionShape& s, float* out,
               float* probs = nullptr);

}  // namespace slm::ops
