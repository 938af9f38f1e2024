// Speed of light, the fused elementwise ops (all memory-bound, a few flops per element):
//   rmsnorm: reads n*d*4 + d*4 bytes, writes n*d*4 (Llama-1B decode: d = 2048 -> 16 KB, ~4 ns of bandwidth:
//            launch latency (~2 us, hidden by the CUDA graph) is the real cost);
//   rope:    reads and writes (n_head + n_kv)*hd*4 bytes per token; swiglu: 3*4 bytes/element; add: 3*4;
//   embed:   reads d*2 bytes per token from the fp16 table, writes d*4; store_kv: 2*dkv*(4 + 2) per token.
// One thread per element (rmsnorm: one block per row, the sum of squares in float by warp shuffles), so each of
// these runs in one wave on an H200 at decode sizes.
#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

__global__ void rmsnorm_kernel(const float* x, const float* w, int d, float eps, float* out) {
    pdl_trigger();
    const float* xr = x + size_t(blockIdx.x) * d;
    float* orow = out + size_t(blockIdx.x) * d;
    float ss = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) ss += xr[i] * xr[i];
    __shared__ float part[32];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (threadIdx.x == 0) part[0] = v;
    }
    __syncthreads();
    const float scale = rsqrtf(part[0] / float(d) + eps);
    for (int i = threadIdx.x; i < d; i += blockDim.x) orow[i] = xr[i] * scale * w[i];
}

__global__ void rope_kernel(float* q, int n_head, float* k, int n_kv, int hd, int n_rot, int n, int pos0,
                            const int* pos_dev, const double* inv_freq) {
    pdl_trigger();
    const int pairs = n_rot / 2, heads = n_head + n_kv;
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= int64_t(n) * heads * pairs) return;
    const int i = int(idx % pairs), h = int((idx / pairs) % heads), t = int(idx / (int64_t(pairs) * heads));
    const int pos = (pos_dev ? *pos_dev : pos0) + t;
    double sd, cd;
    sincos(double(pos) * inv_freq[i], &sd, &cd);
    const float s = float(sd), c = float(cd);
    float* p = h < n_head ? q + (size_t(t) * n_head + h) * hd + 2 * i : k + (size_t(t) * n_kv + (h - n_head)) * hd + 2 * i;
    const float x0 = p[0], x1 = p[1];
    p[0] = x0 * c - x1 * s;
    p[1] = x0 * s + x1 * c;
}

__global__ void swiglu_kernel(const float* g, const float* u, int64_t n, float* out) {
    pdl_trigger();
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) {
        const float a = g[i];
        out[i] = a / (1.0f + __expf(-a)) * u[i];
    }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
    pdl_trigger();
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

__global__ void embed_kernel(const __half* table, const int32_t* ids, int d, float* x) {
    pdl_trigger();
    const __half* row = table + size_t(ids[blockIdx.x]) * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) x[size_t(blockIdx.x) * d + i] = __half2float(row[i]);
}

__global__ void f32_to_f16_kernel(const float* x, int64_t n, __half* out) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(x[i]);
}

__global__ void store_kv_kernel(const float* k, const float* v, int n, int dkv, int pos0, const int* pos_dev,
                                __half* kc, __half* vc) {
    pdl_trigger();
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= int64_t(n) * dkv) return;
    const int64_t t = i / dkv, c = i % dkv;
    const int64_t dst = (int64_t(pos_dev ? *pos_dev : pos0) + t) * dkv + c;
    kc[dst] = __float2half_rn(k[i]);
    vc[dst] = __float2half_rn(v[i]);
}

__global__ void split_kernel(const float* src, int n, int sw, int off, int w, float* dst) {
    pdl_trigger();
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < int64_t(n) * w) dst[i] = src[(i / w) * sw + off + i % w];
}

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

}  // namespace

void rmsnorm(const float* x, const float* w, int n, int d, float eps, float* out, cudaStream_t st) {
    if (n <= 0) return;
    rmsnorm_kernel<<<n, 256, 0, st>>>(x, w, d, eps, out);
    SLM_CUDA_LAUNCH(rmsnorm);
}

void rope(float* q, int n_head, float* k, int n_kv, int hd, int n_rot, int n, int pos0, const int* pos_dev,
          const double* inv_freq, cudaStream_t st) {
    const int64_t total = int64_t(n) * (n_head + n_kv) * (n_rot / 2);
    if (total <= 0) return;
    rope_kernel<<<blocks_for(total, 256), 256, 0, st>>>(q, n_head, k, n_kv, hd, n_rot, n, pos0, pos_dev, inv_freq);
    SLM_CUDA_LAUNCH(rope);
}

void swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t st) {
    if (n <= 0) return;
    swiglu_kernel<<<blocks_for(n, 256), 256, 0, st>>>(gate, up, n, out);
    SLM_CUDA_LAUNCH(swiglu);
}

void add(float* x, const float* y, int64_t n, cudaStream_t st) {
    if (n <= 0) return;
    add_kernel<<<blocks_for(n, 256), 256, 0, st>>>(x, y, n);
    SLM_CUDA_LAUNCH(add);
}

void embed_f16(const __half* table, const int32_t* ids, int n, int d, float* x, cudaStream_t st) {
    if (n <= 0) return;
    embed_kernel<<<n, 256, 0, st>>>(table, ids, d, x);
    SLM_CUDA_LAUNCH(embed);
}

void f32_to_f16(const float* x, int64_t n, __half* out, cudaStream_t st) {
    if (n <= 0) return;
    f32_to_f16_kernel<<<blocks_for(n, 256), 256, 0, st>>>(x, n, out);
    SLM_CUDA_LAUNCH(f32_to_f16);
}

void split_columns(const float* src, int n, int src_width, int off, int w, float* dst, cudaStream_t st) {
    if (n <= 0 || w <= 0) return;
    split_kernel<<<blocks_for(int64_t(n) * w, 256), 256, 0, st>>>(src, n, src_width, off, w, dst);
    SLM_CUDA_LAUNCH(split_columns);
}

void store_kv(const float* k, const float* v, int n, int dkv, int pos0, const int* pos_dev, __half* k_cache,
              __half* v_cache, cudaStream_t st) {
    if (n <= 0) return;
    store_kv_kernel<<<blocks_for(int64_t(n) * dkv, 256), 256, 0, st>>>(k, v, n, dkv, pos0, pos_dev, k_cache, v_cache);
    SLM_CUDA_LAUNCH(store_kv);
}

namespace {
__global__ void spin_kernel(long long ns) {
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < (unsigned long long)ns);
}
}  // namespace

void spin(int ns, cudaStream_t st) {
    spin_kernel<<<1, 1, 0, st>>>(ns);
    SLM_CUDA_LAUNCH(spin);
}

}  // namespace slm::cuda
