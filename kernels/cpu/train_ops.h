// The elementwise and attention ops of training on the CPU (cpu_backend_train.cpp calls them), in f32 with the
// polynomial exp of expf.h: a scalar reference and an AVX-512 variant each (AVX2 runs the AVX2 exp in the
// elementwise loops), tested against ops.cpp's double-accumulating references (tests/test_train_ops.cpp).
#pragma once
#include <cstdint>

#include "cpu/cpu_features.h"

namespace slm::kernels::train_ops {

// y[i] = e^x[i] by expf.h's algorithm at level l (what the ops below use; for tests and benchmarks).
void exp(SimdLevel l, const float* x, float* y, int64_t n);
// out[i] = silu(g[i]) * up[i], silu(g) = g / (1 + e^-g).
void swiglu(SimdLevel l, const float* gate, const float* up, int64_t n, float* out);
// dgate[i] = dout[i] up[i] s (1 + g (1 - s)), dup[i] = dout[i] g s, s = 1 / (1 + e^-g)  (overwrite).
void swiglu_backward(SimdLevel l, const float* gate, const float* up, const float* dout, int64_t n, float* dgate,
                     float* dup);
// Softmax cross-entropy of one row z[V] against `target`: returns -log softmax(z)[target] (the sum of the
// exponentials in f32 lanes, the log in double). z is scratch: when `backward` it is overwritten with
// dloss * (softmax(z) - onehot(target)), otherwise with the exponentials.
double cross_entropy(SimdLevel l, float* z, int V, int target, double dloss, bool backward);
// In place: x[0..n) = softmax(scale * x[0..n)).
void softmax(SimdLevel l, float* x, int n, float scale);

}  // namespace slm::kernels::train_ops
