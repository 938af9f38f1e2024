// The scalar reference ops of the Llama forward pass, as free functions with explicit inputs and outputs: what a
// reader reads first, what every faster variant (kernels/cpu, kernels/cuda) is tested against, and where each
// op's backward sits directly under its forward (llm.c's layout; training, src/train/, adds them).
//
// Backward functions (training) follow the same conventions: they take the forward's inputs and what it saved,
// the gradient of the loss with respect to the forward's output (d<name>), and ADD the gradients of its inputs
// into d<input> (+=, as llm.c does: a tensor used twice, such as the residual stream, sums both). They are
// templates instantiated for float (the trainer's reference) and double (the finite-difference tests: the
// double forwards below exist for those tests).
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
double rmsnorm(const double* x, const double* w, double* out, int n, double eps);
// y = x * r * w with r = inv_rms:  dx += r * (w*dy) - x * r^3 / n * sum_j(w_j dy_j x_j),  dw += dy * x * r
// (dw may be null for a frozen weight).
template <class T>
void rmsnorm_backward(const T* x, const T* w, double inv_rms, const T* dy, T* dx, T* dw, int n);

// Embedding lookup: x[t] = table row ids[t] (the forward is Backend::embed / dequantize_row). Its backward:
// dtable[ids[t]] += dx[t] for t < n, rows of width E (a trainable F32 table).
template <class T>
void embedding_backward(const int32_t* ids, int n, const T* dx, int E, T* dtable);

// The residual connection x = a + b: its backward passes dx to both, da += dx and db += dx.
template <class T>
void residual_backward(const T* dx, T* da, T* db, int64_t n);

// A linear layer y[n][n_out] = x[n][n_in] W^T + scale * (x A^T) B^T with W row-major [n_out][n_in], LoRA
// A [r][n_in], B [n_out][r] (PEFT's shapes; ggml ne [n_in, r] and [r, n_out]); A, B null for none. The
// reference forward (double accumulation) and its backward: dx += dy W + scale (dy B) A;
// dW += dy^T x (dW null: W frozen); dA += scale (dy B)^T x; dB += scale dy^T (x A^T).
// The trainer computes the same through Backend (a frozen quantized W is dequantized tile by tile there).
template <class T>
void linear(const T* x, const T* W, const T* A, const T* B, double scale, int n, int n_in, int n_out, int r, T* y);
template <class T>
void linear_backward(const T* x, const T* W, const T* A, const T* B, double scale, int n, int n_in, int n_out, int r,
                     const T* dy, T* dx, T* dW, T* dA, T* dB);

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
void rope_rotate(double* x, int n_heads, int head_dim, int n_rot, const double* cs);
// Backward of rope_rotate: a rotation's transpose is the rotation by the opposite angle, so the gradient is
// rotated back in place (d holds dy on entry, dx on return; dims >= n_rot pass through). rope_freqs only enter
// through the angles, which are constants of the position: nothing to learn there.
template <class T>
void rope_rotate_backward(T* d, int n_heads, int head_dim, int n_rot, const T* cs);

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x)   (out may alias gate or up)
void swiglu(const float* gate, const float* up, float* out, int64_t n);
void swiglu(const double* gate, const double* up, double* out, int64_t n);
// dgate += dout * up * s(g) (1 + g (1 - s(g))),  dup += dout * g s(g)   (s: the logistic sigmoid)
template <class T>
void swiglu_backward(const T* gate, const T* up, const T* dout, T* dgate, T* dup, int64_t n);

// In-place softmax of x[0..n) (max-subtracted, summed in double).
void softmax(float* x, int n);

// log(sum(exp(x))) computed stably in double.
double log_sum_exp(const float* x, int n);

// Softmax cross-entropy of one row of logits[V] against target: returns -log softmax(logits)[target]
// (in double). Its backward: dlogits += dloss * (softmax(logits) - onehot(target)).
template <class T>
double cross_entropy(const T* logits, int V, int target);
template <class T>
void cross_entropy_backward(const T* logits, int V, int target, double dloss, T* dlogits);

// Causal self-attention over float keys and values (the reference; the backends read their own KV caches):
// n query tokens at positions pos0..pos0+n-1, q[n][n_head*hd]; k, v [pos0+n][n_head_kv*hd] hold every
// position; out[n][n_head*hd]. Token t of head h attends to positions 0..pos0+t of KV head h/(n_head/n_head_kv):
//   p = softmax(q·k_j / sqrt(hd)),  out = sum_j p_j v_j.
// probs, if not null, receives the softmax weights [n][n_head][pos0+n] (zero beyond each token's last position),
// which the backward reuses.
void attention(const float* q, const float* k, const float* v, int n, int pos0, const AttentionShape& s, float* out,
               float* probs = nullptr);
void attention(const double* q, const double* k, const double* v, int n, int pos0, const AttentionShape& s,
               double* out, double* probs = nullptr);
// Backward of attention from its saved probs [n][n_head][pos0+n] (so nothing is recomputed): with
// S = q k^T / sqrt(hd), P = softmax(S), out = P v, per query token and head:
//   dv_j += P_j dout;  dP_j = dout . v_j;  dS_j = P_j (dP_j - sum_i P_i dP_i);  dq += dS k / sqrt(hd);
//   dk_j += dS_j q / sqrt(hd).  dk, dv are [pos0+n][Dkv]: GQA sums the query heads of a group into their KV head.
template <class T>
void attention_backward(const T* q, const T* k, const T* v, const T* probs, int n, int pos0, const AttentionShape& s,
                        const T* dout, T* dq, T* dk, T* dv);

}  // namespace slm::ops
