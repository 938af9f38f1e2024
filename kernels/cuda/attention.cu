// Speed of light, attention over the fp16 KV cache: per query token and KV head, the cache rows 0..pos are read
// once: bytes = 2 * (pos+1) * hd * 2 per KV head per token (K and V); flops = 4 * (pos+1) * hd per query head.
// Memory-bound; at decode with Llama-1B's 8 KV heads of 64 dims and 16 layers, position 512 reads 16 MB per
// token in all (~4 us at 4.3 TB/s), small against the 2.47 GB of FP16 weights.
//
// One block per (query token, query head): the block's warps take positions in turn (a warp per position, the
// lanes over the head's dims, a shuffle reduction), the scores sit in shared memory, a block-wide softmax, then
// thread d sums p_j * v_j[d] down the positions (coalesced across d). Scores are float, accumulation float.
#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

constexpr int kThreads = 128;

__global__ void attention_kernel(const float* q, const __half* kc, const __half* vc, int pos0, const int* pos_dev,
                                 int n_head, int n_kv, int hd, float* out) {
    extern __shared__ float p[];
    const int t = blockIdx.x / n_head, h = blockIdx.x % n_head;
    const int n_pos = (pos_dev ? *pos_dev : pos0) + t + 1;
    const int dkv = n_kv * hd, kvh = h / (n_head / n_kv);
    const float* qh = q + (size_t(t) * n_head + h) * hd;
    const float scale = rsqrtf(float(hd));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, n_warps = blockDim.x >> 5;
    for (int j = warp; j < n_pos; j += n_warps) {
        const __half* kj = kc + size_t(j) * dkv + size_t(kvh) * hd;
        float d = 0;
        for (int i = lane; i < hd; i += 32) d += qh[i] * __half2float(kj[i]);
        for (int o = 16; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        if (lane == 0) p[j] = d * scale;
    }
    __syncthreads();
    __shared__ float red[kThreads / 32];
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < n_pos; j += blockDim.x) mx = fmaxf(mx, p[j]);
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    mx = red[0];
    for (int w = 1; w < n_warps; w++) mx = fmaxf(mx, red[w]);
    __syncthreads();
    float sum = 0;
    for (int j = threadIdx.x; j < n_pos; j += blockDim.x) {
        const float e = __expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    sum = 0;
    for (int w = 0; w < n_warps; w++) sum += red[w];
    const float inv = 1.0f / sum;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        const __half* vd = vc + size_t(kvh) * hd + d;
        float acc = 0;
        for (int j = 0; j < n_pos; j++) acc += p[j] * __half2float(vd[size_t(j) * dkv]);
        out[(size_t(t) * n_head + h) * hd + d] = acc * inv;
    }
}

}  // namespace

void attention(const float* q, const __half* k_cache, const __half* v_cache, int n, int pos0, const int* pos_dev,
               int n_head, int n_kv, int hd, int n_ctx, float* out, cudaStream_t st) {
    if (n <= 0) return;
    const size_t smem = size_t(n_ctx) * sizeof(float);
    if (smem > 48 * 1024)
        SLM_CUDA(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    attention_kernel<<<n * n_head, kThreads, smem, st>>>(q, k_cache, v_cache, pos0, pos_dev, n_head, n_kv, hd, out);
    SLM_CUDA_LAUNCH(attention);
}

}  // namespace slm::cuda
