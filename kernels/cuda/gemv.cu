// Speed of light, batch-1 GEMV y = W x (decode): every weight byte is read once, nothing else is large.
//   GPTQ-4: bytes = n_out*n_in/2 (qweight) + 3*n_out*n_in/g (fp16 scale + int8 zero) + 4*(n_in + n_out);
//           flops = 2*n_out*n_in.  FP16: bytes = 2*n_out*n_in + 4*(n_in + n_out), same flops.
//   Both are memory-bound (<= 4 flop/byte against the H200's ~200 flop/byte ridge): time = bytes / copy
//   bandwidth. 2048x8192 (ffn_down of Llama-3.2-1B): int4 8.5 MB -> 2.0 us at 4.3 TB/s, fp16 33.6 MB -> 7.8 us.
//
// Design (both kernels): blocks of 4 warps, each warp 2 rows at a time, as many blocks as fill one wave of the
// chip (up to 8 per SM, as occupancy allows; a larger matrix loops). Every warp first loads its first weight vectors into registers (their latency overlaps what follows), then
// stages x once in shared memory (fp16 pairs for int4, float for fp16; fused input ops happen here: SwiGLU of
// a [gate | up] vector, so the FFN needs no separate kernel), then each warp's lanes stride along its rows in
// 16-byte loads (ld.global.nc.L1::no_allocate: weights are streamed, never reused), U loads per row in
// flight per lane. A warp shuffle reduces each row; the epilogue stores or adds (the residual connection).
// Measured on an H200 (kernels/cuda/NOTES.md): the first version (16 warps x 4 rows per block, 2 blocks per SM)
// left most SMs idle on 2048-row matrices (32 blocks): 2048x2048 fp16 ran at 21% of the copy bandwidth; the
// second staged x one element per iteration (one memory latency each: ~4 us at n_in = 2048, 16 at 8192); x is
// now staged 8 words per thread in flight.
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
#include <cstdlib>
#include <string>

#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

constexpr int kWarps = 4, kThreads = kWarps * 32, kRows = 2, kBlocksPerSm = 8;

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

// The staged input value of column c: x[c], or silu(x[c]) * x[n_in + c] for a [gate | up] vector.
template <bool kSwiglu>
__device__ __forceinline__ float input_at(const float* __restrict__ x, int c, int n_in) {
    if (!kSwiglu) return x[c];
    const float g = x[c];
    return g / (1.0f + __expf(-g)) * x[n_in + c];
}

// One loop iteration's weights of a warp: U 16-byte loads per lane for each of its R rows (tail rows and
// vectors past the row's end are clamped: reloaded, never used).
// The int4 kernel's loads of one iteration also fetch each (vector, row)'s group scale and zero, so those
// loads are in flight with the weights instead of waited for inside the arithmetic.
template <int U, int R>
__device__ __forceinline__ void load_group_params(__half (&sc)[U][R], int8_t (&zr)[U][R], const __half* __restrict__ scales,
                                                  const int8_t* __restrict__ zeros, int row0, int v0, int n_vec, int n_out,
                                                  int group_size, int n_groups) {
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int r = 0; r < R; r++) {
            const size_t gi = size_t(min(row0 + r, n_out - 1)) * n_groups + (min(v0 + 32 * u, n_vec - 1) * 32) / group_size;
            sc[u][r] = scales[gi];
            zr[u][r] = zeros[gi];
        }
}

template <int U, int R>
__device__ __forceinline__ void load_rows(uint4 (&q)[U][R], const uint4* __restrict__ w, int row0, int v0, int n_vec,
                                          int n_out) {
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int r = 0; r < R; r++)
            q[u][r] = load_stream(w + size_t(min(row0 + r, n_out - 1)) * n_vec + min(v0 + 32 * u, n_vec - 1));
}

template <bool kPerm, bool kSwiglu, bool kAcc, int U>
__global__ void __launch_bounds__(kThreads) gemv_int4_kernel(const uint4* __restrict__ qw, const __half* __restrict__ scales,
                                                             const int8_t* __restrict__ zeros, const int32_t* __restrict__ perm,
                                                             const float* __restrict__ x, float* __restrict__ y, int n_in,
                                                             int n_out, int group_size, int n_groups) {
    extern __shared__ uint4 xs4[];  // [4][n_vec]: word 4v+w's pairs at xs4[w * n_vec + v]
    pdl_trigger();
    const int n_vec = n_in / 32;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // The first loop iteration's weights go into registers before x is staged, so their memory latency overlaps
    // the staging's (weights are constant: also before pdl_wait).
    uint4 q[U][kRows];
    __half sc[U][kRows];
    int8_t zr[U][kRows];
    if ((blockIdx.x * kWarps + warp) * kRows < n_out && lane < n_vec) {
        load_rows(q, qw, (blockIdx.x * kWarps + warp) * kRows, lane, n_vec, n_out);
        load_group_params(sc, zr, scales, zeros, (blockIdx.x * kWarps + warp) * kRows, lane, n_vec, n_out, group_size, n_groups);
    }
    pdl_wait();  // x (and y, with kAcc) come from the kernels before
    // One thread per word j (8 columns): its 4 pairs become one 16-byte store. 8 words per thread are loaded
    // before any is stored, so the staging costs about one memory latency, not one per element.
    constexpr int kBatch = 8;
    for (int j0 = threadIdx.x; j0 < n_in / 8; j0 += blockDim.x * kBatch) {
        float xv[kBatch][8];
#pragma unroll
        for (int b = 0; b < kBatch; b++) {
            const int j = j0 + b * blockDim.x;
            if (j >= n_in / 8) break;
#pragma unroll
            for (int e = 0; e < 8; e++) xv[b][e] = input_at<kSwiglu>(x, kPerm ? perm[8 * j + e] : 8 * j + e, n_in);
        }
#pragma unroll
        for (int b = 0; b < kBatch; b++) {
            const int j = j0 + b * blockDim.x;
            if (j >= n_in / 8) break;
            uint4 packed;
            __half2* h = reinterpret_cast<__half2*>(&packed);
#pragma unroll
            for (int i = 0; i < 4; i++) h[i] = __floats2half2_rn(xv[b][i], xv[b][i + 4]);
            xs4[(j & 3) * n_vec + (j >> 2)] = packed;
        }
    }
    __syncthreads();
    bool preloaded = true;  // q holds the first iteration (a lane that never iterates never reads it)
    for (int row0 = (blockIdx.x * kWarps + warp) * kRows; row0 < n_out; row0 += gridDim.x * kWarps * kRows) {
        float acc[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
        for (int v0 = lane; v0 < n_vec; v0 += 32 * U) {
            if (!preloaded) {
                load_rows(q, qw, row0, v0, n_vec, n_out);
                load_group_params(sc, zr, scales, zeros, row0, v0, n_vec, n_out, group_size, n_groups);
            }
            preloaded = false;
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int v = v0 + 32 * u;
                if (v >= n_vec) break;
                const uint4 x0 = xs4[v], x1 = xs4[n_vec + v], x2 = xs4[2 * n_vec + v], x3 = xs4[3 * n_vec + v];
#pragma unroll
                for (int r = 0; r < kRows; r++) {
                    const float s = __half2float(sc[u][r]);
                    const __half zh = __ushort_as_half(static_cast<unsigned short>(0x6400 + zr[u][r]));
                    const __half2 zz = __halves2half2(zh, zh);
                    __half2 a = __float2half2_rn(0.0f);
                    a = dot_word(q[u][r].x, x0, zz, a);
                    a = dot_word(q[u][r].y, x1, zz, a);
                    a = dot_word(q[u][r].z, x2, zz, a);
                    a = dot_word(q[u][r].w, x3, zz, a);
                    const float2 f = __half22float2(a);
                    acc[r] += s * (f.x + f.y);
                }
            }
        }
#pragma unroll
        for (int r = 0; r < kRows; r++) {
            const float t = warp_sum(acc[r]);
            if (lane == 0 && row0 + r < n_out) {
                if (kAcc) y[row0 + r] += t;
                else y[row0 + r] = t;
            }
        }
    }
}

template <bool kSwiglu, bool kAcc, int U>
__global__ void __launch_bounds__(kThreads) gemv_f16_kernel(const uint4* __restrict__ w, const float* __restrict__ x,
                                                            float* __restrict__ y, int n_in, int n_out) {
    extern __shared__ float xf[];  // two planes: x[8v..8v+4) at xf4[v], x[8v+4..8v+8) at xf4[n_vec + v]
    float4* xf4 = reinterpret_cast<float4*>(xf);
    pdl_trigger();
    const int n_vec = n_in / 8;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    uint4 q[U][kRows];  // the first iteration's weights, loaded before x is staged (see the int4 kernel)
    if ((blockIdx.x * kWarps + warp) * kRows < n_out && lane < n_vec)
        load_rows(q, w, (blockIdx.x * kWarps + warp) * kRows, lane, n_vec, n_out);
    pdl_wait();
    // One thread per 8 columns, 8 such groups loaded before any is stored (see the int4 kernel).
    constexpr int kBatch = 8;
    for (int v0 = threadIdx.x; v0 < n_vec; v0 += blockDim.x * kBatch) {
        float xv[kBatch][8];
#pragma unroll
        for (int b = 0; b < kBatch; b++) {
            const int v = v0 + b * blockDim.x;
            if (v >= n_vec) break;
#pragma unroll
            for (int e = 0; e < 8; e++) xv[b][e] = input_at<kSwiglu>(x, 8 * v + e, n_in);
        }
#pragma unroll
        for (int b = 0; b < kBatch; b++) {
            const int v = v0 + b * blockDim.x;
            if (v >= n_vec) break;
            xf4[v] = make_float4(xv[b][0], xv[b][1], xv[b][2], xv[b][3]);
            xf4[n_vec + v] = make_float4(xv[b][4], xv[b][5], xv[b][6], xv[b][7]);
        }
    }
    __syncthreads();
    bool preloaded = true;
    for (int row0 = (blockIdx.x * kWarps + warp) * kRows; row0 < n_out; row0 += gridDim.x * kWarps * kRows) {
        float acc[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
        for (int v0 = lane; v0 < n_vec; v0 += 32 * U) {
            if (!preloaded) load_rows(q, w, row0, v0, n_vec, n_out);
            preloaded = false;
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int v = v0 + 32 * u;
                if (v >= n_vec) break;
                const float4 a = xf4[v], b = xf4[n_vec + v];
#pragma unroll
                for (int r = 0; r < kRows; r++) {
                    const __half2* h = reinterpret_cast<const __half2*>(&q[u][r]);
                    const float2 w0 = __half22float2(h[0]), w1 = __half22float2(h[1]), w2 = __half22float2(h[2]),
                                 w3 = __half22float2(h[3]);
                    acc[r] += w0.x * a.x + w0.y * a.y + w1.x * a.z + w1.y * a.w + w2.x * b.x + w2.y * b.y +
                              w3.x * b.z + w3.y * b.w;
                }
            }
        }
#pragma unroll
        for (int r = 0; r < kRows; r++) {
            const float t = warp_sum(acc[r]);
            if (lane == 0 && row0 + r < n_out) {
                if (kAcc) y[row0 + r] += t;
                else y[row0 + r] = t;
            }
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

// Blocks for n_out rows: one per 8 rows, at most one full wave of resident blocks (a larger matrix loops).
template <typename K>
int grid_for(K kernel, size_t smem, int n_out) {
    int per_sm = 0;
    SLM_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
    const int rows_per_block = kWarps * kRows;
    return std::max(1, std::min((n_out + rows_per_block - 1) / rows_per_block,
                                std::max(1, std::min(per_sm, kBlocksPerSm)) * sm_count()));
}

template <typename K>
void allow_smem(K kernel, size_t bytes) {
    if (bytes > 48 * 1024) SLM_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// Launches with programmatic stream serialization (see kernels.cuh) unless SLM_CUDA_PDL=0.
template <typename... P, typename... A>
void launch(void (*kernel)(P...), int grid, size_t smem, cudaStream_t st, A... args) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(unsigned(grid));
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at;
    cfg.numAttrs = pdl_enabled() ? 1 : 0;
    SLM_CUDA(cudaLaunchKernelEx(&cfg, kernel, P(args)...));
}

// U, the 16-byte loads per row per lane in flight: 4 on long rows (n_in >= 4096: at 2, 2048x8192 waited four
// latencies per row), 2 otherwise (fewer registers, more blocks per SM: the 128256-row head ran at 53% of copy
// with 4, 61% with 2).
template <bool P, bool S, bool A, int U>
void launch_int4_u(const GptqDev& w, const float* x, float* y, cudaStream_t st) {
    const size_t smem = size_t(w.n_in) * 2;
    allow_smem(gemv_int4_kernel<P, S, A, U>, smem);
    launch(gemv_int4_kernel<P, S, A, U>, grid_for(gemv_int4_kernel<P, S, A, U>, smem, w.n_out), smem, st,
           reinterpret_cast<const uint4*>(w.qweight), w.scales, w.zeros, w.perm, x, y, w.n_in, w.n_out, w.group_size,
           w.n_groups);
}
template <bool P, bool S, bool A>
void launch_int4(const GptqDev& w, const float* x, float* y, cudaStream_t st) {
    if (w.n_in >= 4096) launch_int4_u<P, S, A, 4>(w, x, y, st);
    else launch_int4_u<P, S, A, 2>(w, x, y, st);
}
template <bool S, bool A>
void launch_f16(const __half* w, int n_in, int n_out, const float* x, float* y, cudaStream_t st) {
    constexpr int U = 4;
    const size_t smem = size_t(n_in) * 4;
    allow_smem(gemv_f16_kernel<S, A, U>, smem);
    launch(gemv_f16_kernel<S, A, U>, grid_for(gemv_f16_kernel<S, A, U>, smem, n_out), smem, st,
           reinterpret_cast<const uint4*>(w), x, y, n_in, n_out);
}

}  // namespace

bool pdl_enabled() {
    static const bool on = [] {
        const char* e = std::getenv("SLM_CUDA_PDL");
        return e && std::string(e) == "1";
    }();
    return on;
}

bool gemv_int4_supported(int n_in, int group_size) {
    return n_in > 0 && n_in % 32 == 0 && group_size > 0 && group_size % 32 == 0 && size_t(n_in) * 2 <= 200 * 1024;
}

void gemv_int4(const GptqDev& w, const float* x, float* y, cudaStream_t st, GemvInput in, bool accumulate) {
    if (!gemv_int4_supported(w.n_in, w.group_size)) throw std::runtime_error("gemv_int4: unsupported shape");
    const bool p = w.perm != nullptr, s = in == GemvInput::swiglu;
    // Eight instantiations: the branch is taken once per launch, never inside the kernel.
    if (p) {
        if (s) accumulate ? launch_int4<true, true, true>(w, x, y, st) : launch_int4<true, true, false>(w, x, y, st);
        else accumulate ? launch_int4<true, false, true>(w, x, y, st) : launch_int4<true, false, false>(w, x, y, st);
    } else {
        if (s) accumulate ? launch_int4<false, true, true>(w, x, y, st) : launch_int4<false, true, false>(w, x, y, st);
        else accumulate ? launch_int4<false, false, true>(w, x, y, st) : launch_int4<false, false, false>(w, x, y, st);
    }
    SLM_CUDA_LAUNCH(gemv_int4);
}

void gemv_f16(const __half* w, int n_in, int n_out, const float* x, float* y, cudaStream_t st, GemvInput in,
              bool accumulate) {
    if (n_in % 8 || size_t(n_in) * 4 > 200 * 1024) throw std::runtime_error("gemv_f16: unsupported shape");
    const bool s = in == GemvInput::swiglu;
    if (s) accumulate ? launch_f16<true, true>(w, n_in, n_out, x, y, st) : launch_f16<true, false>(w, n_in, n_out, x, y, st);
    else accumulate ? launch_f16<false, true>(w, n_in, n_out, x, y, st) : launch_f16<false, false>(w, n_in, n_out, x, y, st);
    SLM_CUDA_LAUNCH(gemv_f16);
}

}  // namespace slm::cuda
