// Speed of light, attention over the fp16 KV cache: per query token and KV head, the cache rows 0..pos are read
// once: bytes = 2 * (pos+1) * hd * 2 per KV head per token (K and V); flops = 4 * (pos+1) * hd per query head.
// Memory-bound; at decode with Llama-1B's 8 KV heads of 64 dims and 16 layers, position 512 reads 16 MB per
// token in all (~4 us at 4.3 TB/s), small against the 2.47 GB of FP16 weights.
//
// One block of 8 warps per (query token, query head). Scores: one thread per position, a whole 16-byte-loaded
// K row each, against q held in shared memory. Softmax over shared memory. Output: each warp sums p_j v_j over
// every 8th position, lanes over the head's dims (a coalesced row read per position, 4 positions in flight),
// then the 8 partial vectors are added in shared memory. Head dims: multiples of 8, at most 128.
// Measured on an H200 (NOTES.md): the first version (a warp per position for the scores with a shuffle
// reduction each, one thread per dim walking all positions for the output) took ~2 ms per token over 16
// layers at position 560, more than all the FP16 weights.
#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32, kMaxHd = 128;

__global__ void __launch_bounds__(kThreads) attention_kernel(const float* q, const __half* kc, const __half* vc, int pos0,
                                                             const int* pos_dev, int n_head, int n_kv, int hd, float* out) {
    pdl_trigger();
    extern __shared__ float p[];
    __shared__ float qs[kMaxHd];
    __shared__ float part[kWarps][kMaxHd];
    __shared__ float red[kWarps];
    const int t = blockIdx.x / n_head, h = blockIdx.x % n_head;
    const int n_pos = (pos_dev ? *pos_dev : pos0) + t + 1;
    const int dkv = n_kv * hd, kvh = h / (n_head / n_kv);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const float scale = rsqrtf(float(hd));
    for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[(size_t(t) * n_head + h) * hd + i] * scale;
    __syncthreads();
    // scores
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < n_pos; j += blockDim.x) {
        const uint4* kj = reinterpret_cast<const uint4*>(kc + size_t(j) * dkv + size_t(kvh) * hd);
        float d = 0;
#pragma unroll 4
        for (int c = 0; c < hd / 8; c++) {
            const uint4 w = kj[c];
            const __half2* h2 = reinterpret_cast<const __half2*>(&w);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float2 f = __half22float2(h2[e]);
                d += f.x * qs[8 * c + 2 * e] + f.y * qs[8 * c + 2 * e + 1];
            }
        }
        p[j] = d;
        mx = fmaxf(mx, d);
    }
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    mx = red[0];
    for (int w = 1; w < kWarps; w++) mx = fmaxf(mx, red[w]);
    __syncthreads();
    float sum = 0;
    for (int j = threadIdx.x; j < n_pos; j += blockDim.x) {
        const float e = __expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) red[warp] = sum;
    __syncthreads();  // also publishes p[]
    sum = 0;
    for (int w = 0; w < kWarps; w++) sum += red[w];
    // output: warp w takes positions w, w + 8, ...; lane takes dims lane, lane + 32, ...
    float acc[kMaxHd / 32] = {0, 0, 0, 0};
    const __half* vbase = vc + size_t(kvh) * hd;
    int j = warp;
    for (; j + 3 * kWarps < n_pos; j += 4 * kWarps) {
        float pj[4];
        __half vv[4][kMaxHd / 32];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            pj[u] = p[j + u * kWarps];
#pragma unroll
            for (int i = 0; i < kMaxHd / 32; i++) {
                const int d = lane + 32 * i;
                vv[u][i] = d < hd ? vbase[size_t(j + u * kWarps) * dkv + d] : __float2half(0.0f);
            }
        }
#pragma unroll
        for (int u = 0; u < 4; u++)
#pragma unroll
            for (int i = 0; i < kMaxHd / 32; i++) acc[i] += pj[u] * __half2float(vv[u][i]);
    }
    for (; j < n_pos; j += kWarps) {
#pragma unroll
        for (int i = 0; i < kMaxHd / 32; i++) {
            const int d = lane + 32 * i;
            if (d < hd) acc[i] += p[j] * __half2float(vbase[size_t(j) * dkv + d]);
        }
    }
#pragma unroll
    for (int i = 0; i < kMaxHd / 32; i++)
        if (lane + 32 * i < hd) part[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    const float inv = 1.0f / sum;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0;
        for (int w = 0; w < kWarps; w++) o += part[w][d];
        out[(size_t(t) * n_head + h) * hd + d] = o * inv;
    }
}

}  // namespace

void attention(const float* q, const __half* k_cache, const __half* v_cache, int n, int pos0, const int* pos_dev,
               int n_head, int n_kv, int hd, int n_ctx, float* out, cudaStream_t st) {
    if (n <= 0) return;
    if (hd % 8 || hd > kMaxHd) throw std::runtime_error("attention: head dim must be a multiple of 8, at most 128");
    const size_t smem = size_t(n_ctx) * sizeof(float);
    if (smem > 40 * 1024)  // beside ~5 KB of static shared memory
        SLM_CUDA(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    attention_kernel<<<n * n_head, kThreads, smem, st>>>(q, k_cache, v_cache, pos0, pos_dev, n_head, n_kv, hd, out);
    SLM_CUDA_LAUNCH(attention);
}

}  // namespace slm::cuda
