// Speed of light, batch-1 GEMV y = W x (decode): every weight byte is read once, nothing else is large.
//   GPTQ-4: bytes = n_out*n_in/2 (qweight) + 3*n_out*n_in/g (fp16 scale + int8 zero) + 4*(n_in + n_out);
//           flops = 2*n_out*n_in.  FP16: bytes = 2*n_out*n_in + 4*(n_in + n_out), same flops.
//   Both are memory-bound (<= 4 flop/byte against the H200's ~200 flop/byte ridge): time = bytes / copy
//   bandwidth. 2048x8192 (ffn_down of Llama-3.2-1B): int4 8.5 MB -> 2.0 us at 4.3 TB/s, fp16 33.6 MB -> 7.8 us.
//
// Design (both kernels): a persistent grid of 2 blocks per SM, 16 warps each; x is staged once per block in
// shared memory, then each warp takes 4 rows at a time and its lanes stride along the rows in 16-byte loads
// (ld.global.nc.L1::no_allocate: weights are streamed, never reused). Four rows per warp reuse each staged x
// chunk four times and keep 4 independent 16-byte loads in flight per lane. A warp shuffle reduces each row.
//
// int4 -> fp16 without conversion instructions: OR-ing a nibble into the mantissa of 1024.0 (0x6400) gives the
// half 1024 + q exactly; (q_word >> 4i) & 0x000F000F | 0x64006400 yields nibbles i and i+4 of a word as one
// half2, so x is staged in the same pairs (x[8j+i], x[8j+4+i]). Subtracting the half2 (1024 + zero) is exact;
// one fused half2 multiply-add per two weights then accumulates (q - z) x in fp16 over one 16-byte load
// (32 weights, 16 products per half), which is converted to float and scaled by the group's scale, held in a
// register for the load (group sizes are multiples of 32, so a load never straddles two groups). Act-order
// (kernels/cpu/gptq.cpp stores its columns permuted) only changes how x is staged: x[perm[k]] instead of x[k],
// a branch taken once per staged element, outside the weight loop.
// Limit: the fp16 partial sums overflow if |x| * 15 * 16 exceeds 65504 (|x| > ~270 in one group); the tests and
// the logits check bound the error on real shapes.
#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

constexpr int kWarps = 16, kThreads = kWarps * 32, kRows = 4;

__device__ __forceinline__ uint4 load_stream(const uint4* p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(p));
    return r;
}

// acc += (nibbles of q - zero) * x for one word (8 weights); xw holds the word's 4 staged half2 pairs.
__device__ __forceinline__ __half2 dot_word(uint32_t q, const uint4& xw, __half2 zz, __half2 acc) {
    const __half2* xh = reinterpret_cast<const __half2*>(&xw);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const uint32_t t = ((q >> (4 * i)) & 0x000F000Fu) | 0x64006400u;
        const __half2 v = __hsub2(*reinterpret_cast<const __half2*>(&t), zz);
        acc = __hfma2(v, xh[i], acc);
    }
    return acc;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <bool kPerm>
__global__ void __launch_bounds__(kThreads) gemv_int4_kernel(const uint4* __restrict__ qw, const __half* __restrict__ scales,
                                                             const int8_t* __restrict__ zeros, const int32_t* __restrict__ perm,
                                                             const float* __restrict__ x, float* __restrict__ y, int n_in,
                                                             int n_out, int group_size, int n_groups) {
    extern __shared__ uint4 xs4[];  // [4][n_vec]: word 4v+w's pairs at xs4[w * n_vec + v]
    const int n_vec = n_in / 32;
    __half2* xs2 = reinterpret_cast<__half2*>(xs4);
    for (int idx = threadIdx.x; idx < n_in / 2; idx += blockDim.x) {
        const int j = idx >> 2, i = idx & 3, v = j >> 2, w = j & 3;
        const int c0 = 8 * j + i, c1 = c0 + 4;
        const float a = x[kPerm ? perm[c0] : c0], b = x[kPerm ? perm[c1] : c1];
        xs2[(w * n_vec + v) * 4 + i] = __floats2half2_rn(a, b);
    }
    __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int row0 = (blockIdx.x * kWarps + warp) * kRows; row0 < n_out; row0 += gridDim.x * kWarps * kRows) {
        float acc[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
        for (int v = lane; v < n_vec; v += 32) {
            uint4 q[kRows];
#pragma unroll
            for (int r = 0; r < kRows; r++) {
                const int row = min(row0 + r, n_out - 1);  // tail rows recompute the last row, not written
                q[r] = load_stream(qw + size_t(row) * n_vec + v);
            }
            const uint4 x0 = xs4[v], x1 = xs4[n_vec + v], x2 = xs4[2 * n_vec + v], x3 = xs4[3 * n_vec + v];
            const int g = (v * 32) / group_size;
#pragma unroll
            for (int r = 0; r < kRows; r++) {
                const size_t gi = size_t(min(row0 + r, n_out - 1)) * n_groups + g;
                const float s = __half2float(scales[gi]);
                const __half zh = __ushort_as_half(static_cast<unsigned short>(0x6400 + zeros[gi]));
                const __half2 zz = __halves2half2(zh, zh);
                __half2 a = __float2half2_rn(0.0f);
                a = dot_word(q[r].x, x0, zz, a);
                a = dot_word(q[r].y, x1, zz, a);
                a = dot_word(q[r].z, x2, zz, a);
                a = dot_word(q[r].w, x3, zz, a);
                const float2 f = __half22float2(a);
                acc[r] += s * (f.x + f.y);
            }
        }
#pragma unroll
        for (int r = 0; r < kRows; r++) {
            const float t = warp_sum(acc[r]);
            if (lane == 0 && row0 + r < n_out) y[row0 + r] = t;
        }
    }
}

__global__ void __launch_bounds__(kThreads) gemv_f16_kernel(const uint4* __restrict__ w, const float* __restrict__ x,
                                                            float* __restrict__ y, int n_in, int n_out) {
    extern __shared__ float4 xf4[];  // two planes: x[8v..8v+4) at xf4[v], x[8v+4..8v+8) at xf4[n_vec + v]
    const int n_vec = n_in / 8;
    for (int idx = threadIdx.x; idx < n_in / 4; idx += blockDim.x) {
        const int v = idx >> 1, half = idx & 1;
        xf4[half * n_vec + v] = reinterpret_cast<const float4*>(x)[idx];
    }
    __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int row0 = (blockIdx.x * kWarps + warp) * kRows; row0 < n_out; row0 += gridDim.x * kWarps * kRows) {
        float acc[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
        for (int v = lane; v < n_vec; v += 32) {
            uint4 q[kRows];
#pragma unroll
            for (int r = 0; r < kRows; r++) q[r] = load_stream(w + size_t(min(row0 + r, n_out - 1)) * n_vec + v);
            const float4 a = xf4[v], b = xf4[n_vec + v];
#pragma unroll
            for (int r = 0; r < kRows; r++) {
                const __half2* h = reinterpret_cast<const __half2*>(&q[r]);
                const float2 w0 = __half22float2(h[0]), w1 = __half22float2(h[1]), w2 = __half22float2(h[2]),
                             w3 = __half22float2(h[3]);
                acc[r] += w0.x * a.x + w0.y * a.y + w1.x * a.z + w1.y * a.w + w2.x * b.x + w2.y * b.y + w3.x * b.z +
                          w3.y * b.w;
            }
        }
#pragma unroll
        for (int r = 0; r < kRows; r++) {
            const float t = warp_sum(acc[r]);
            if (lane == 0 && row0 + r < n_out) y[row0 + r] = t;
        }
    }
}

int sm_count() {
    static int n = [] {
        int dev = 0, v = 0;
        SLM_CUDA(cudaGetDevice(&dev));
        SLM_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
        return v;
    }();
    return n;
}

int grid_for(int n_out) {
    const int rows_per_block = kWarps * kRows;
    return std::max(1, std::min((n_out + rows_per_block - 1) / rows_per_block, 2 * sm_count()));
}

template <typename K>
void allow_smem(K kernel, size_t bytes) {
    if (bytes > 48 * 1024) SLM_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

}  // namespace

bool gemv_int4_supported(int n_in, int group_size) {
    return n_in > 0 && n_in % 32 == 0 && group_size > 0 && group_size % 32 == 0 && size_t(n_in) * 2 <= 200 * 1024;
}

void gemv_int4(const GptqDev& w, const float* x, float* y, cudaStream_t st) {
    if (!gemv_int4_supported(w.n_in, w.group_size)) throw std::runtime_error("gemv_int4: unsupported shape");
    const size_t smem = size_t(w.n_in) * 2;
    const uint4* qw = reinterpret_cast<const uint4*>(w.qweight);
    if (w.perm) {
        allow_smem(gemv_int4_kernel<true>, smem);
        gemv_int4_kernel<true><<<grid_for(w.n_out), kThreads, smem, st>>>(qw, w.scales, w.zeros, w.perm, x, y, w.n_in,
                                                                          w.n_out, w.group_size, w.n_groups);
    } else {
        allow_smem(gemv_int4_kernel<false>, smem);
        gemv_int4_kernel<false><<<grid_for(w.n_out), kThreads, smem, st>>>(qw, w.scales, w.zeros, nullptr, x, y,
                                                                           w.n_in, w.n_out, w.group_size, w.n_groups);
    }
    SLM_CUDA_LAUNCH(gemv_int4);
}

void gemv_f16(const __half* w, int n_in, int n_out, const float* x, float* y, cudaStream_t st) {
    if (n_in % 8 || size_t(n_in) * 4 > 200 * 1024) throw std::runtime_error("gemv_f16: unsupported shape");
    const size_t smem = size_t(n_in) * 4;
    allow_smem(gemv_f16_kernel, smem);
    gemv_f16_kernel<<<grid_for(n_out), kThreads, smem, st>>>(reinterpret_cast<const uint4*>(w), x, y, n_in, n_out);
    SLM_CUDA_LAUNCH(gemv_f16);
}

}  // namespace slm::cuda
