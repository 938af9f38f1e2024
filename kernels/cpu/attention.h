// Causal attention over the CPU KV cache (layout in backend.h: K [n_ctx][Dkv], V transposed [Dkv][n_ctx]).
// The scalar reference is ops::attention (src/ops.cpp); these read the cache in place.
#pragma once
#include <vector>

#include "cpu/cpu_backend.h"
#include "tensor.h"
#include "threadpool.h"

namespace slm::kernels {

// n new tokens at positions pos0..pos0+n-1, q/out [n][n_head*head_dim]. One work item per (token, head), each
// computed by one thread start to finish: the result does not depend on the thread count. `scores` is scratch
// the function resizes (n_threads x n_ctx floats).
void attention_cpu(const CpuKvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s,
                   float* out, ThreadPool& pool, std::vector<float>& scores);

// The same with llama.cpp's roundings (ggml's CPU flash-attention kernel for an F16 cache): q rounded to f16
// like K, q.k summed in ggml's AVX2 order, the output accumulated in f16 while the softmax runs online.
void attention_cpu_ggml(const CpuKvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s,
                        float* out, ThreadPool& pool);

}  // namespace slm::kernels
