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
// Fusions around the GEMV (GemvFuse, kernels.cuh), so that a decode layer is 5 kernels instead of 9: the
// RMSNorm before a matrix is computed by each block itself (one pass over x's 8 KB for the sum of squares,
// while the preloaded weights are in flight; the scale then applied while staging), and the [q | k | v]
// GEMV's epilogue applies RoPE to its row pairs and writes k and v into the fp16 KV cache. Cost: the sum
// of squares per block (n_in/4 float4 loads from L2 over 128 threads) and ~10 more registers.
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
#include <type_traits>

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

constexpr int kPlain = int(GemvInput::plain), kSwiglu = int(GemvInput::swiglu), kNorm = int(GemvInput::rmsnorm);
constexpr int kStore = int(GemvOutput::store), kAdd = int(GemvOutput::add), kRopeKv = int(GemvOutput::rope_kv);

// The staged input value of column c: x[c], silu(x[c]) * x[n_in + c] for a [gate | up] vector, or
// x[c] * rs * norm_w[c] (rmsnorm, rs = 1/rms(x) from block_rms_scale; the CPU's order of the two products).
template <int kIn>
__device__ __forceinline__ float input_at(const float* __restrict__ x, int c, int n_in, float rs,
                                          const float* __restrict__ norm_w) {
    if (kIn == kPlain) return x[c];
    if (kIn == kNorm) return x[c] * rs * norm_w[c];
    const float g = x[c];
    return g / (1.0f + __expf(-g)) * x[n_in + c];
}

// 1 / sqrt(mean(x^2) + eps) over x[0..n) (n a multiple of 4), computed by every block for itself: the RMSNorm
// before a GEMV costs its blocks one pass over 8 KB (from L2, in flight with the preloaded weights) instead
// of a kernel launch. Every thread of the block calls it; all blocks sum in the same order (same result).
__device__ __forceinline__ float block_rms_scale(const float* __restrict__ x, int n, float eps) {
    __shared__ float part[kWarps];
    float ss = 0.0f;
#pragma unroll 4
    for (int i = threadIdx.x * 4; i < n; i += kThreads * 4) {
        const float4 v = *reinterpret_cast<const float4*>(x + i);
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    float tot = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; w++) tot += part[w];
    return rsqrtf(tot / float(n) + eps);
}

// The epilogue of one warp's kRows rows (lane 0 calls it with the reduced sums): store, add, or RoPE + the
// KV cache (GemvOutput::rope_kv; row0 is even, so (row0, row0 + 1) is one rotation pair of one head).
template <int kOut>
__device__ __forceinline__ void store_rows(float* __restrict__ y, int row0, const float (&t)[kRows], int n_out,
                                           const GemvFuse& f) {
    if (kOut != kRopeKv) {
#pragma unroll
        for (int r = 0; r < kRows; r++)
            if (row0 + r < n_out) {
                if (kOut == kAdd) y[row0 + r] += t[r];
                else y[row0 + r] = t[r];
            }
        return;
    }
    static_assert(kRows == 2, "rope_kv: a warp's rows must be one rotation pair");
    const int dq = f.n_head * f.hd, dkv = f.n_kv * f.hd;
    const int part = row0 < dq ? 0 : row0 < dq + dkv ? 1 : 2;  // q, k, v
    const int rr = row0 - (part == 0 ? 0 : part == 1 ? dq : dq + dkv);
    float a = t[0], b = t[1];
    if (part < 2 && rr % f.hd < f.n_rot) {  // as rope_kernel (elementwise.cu): the angle in double
        const int pos = f.pos_dev ? *f.pos_dev : f.pos0;
        double sd, cd;
        sincos(double(pos) * f.inv_freq[(rr % f.hd) / 2], &sd, &cd);
        const float sn = float(sd), cs = float(cd);
        const float a0 = a;
        a = a0 * cs - b * sn;
        b = a0 * sn + b * cs;
    }
    if (part == 0) {
        y[row0] = a, y[row0 + 1] = b;
        return;
    }
    const size_t at = size_t(f.pos_dev ? *f.pos_dev : f.pos0) * dkv + rr;
    __half* c = part == 1 ? f.k_cache : f.v_cache;
    c[at] = __float2half_rn(a), c[at + 1] = __float2half_rn(b);
}

// One loop iteration's weights of a warp: U 16-byte loads per lane for each of its R rows (tail rows and
// vectors past the row's end are clamped: reloaded, never used).
// The int4 kernel's loads of one iteration also fetch each (vector, row)'s group scale and zero, so those
// loads are in flight with the weights instead of waited for inside the arithmetic.
template <int U, int R>
__device__ __forceinline__ void load_group_params(__half (&sc)[U][R], int8_t (&zr)[U][R], const __half* __restrict__ scales,
                                                  const int8_t* __restrict__ zeros, int row0, int v0, int n_vec, int n_out,
                                                  int vpg, int gshift, int n_groups) {
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int r = 0; r < R; r++) {
            // the vector's group: v / vpg (vpg = group_size / 32 vectors per group), a shift where vpg is a
            // power of two (an integer division was ~20 instructions per (vector, row), as many as its dot)
            const int v = min(v0 + 32 * u, n_vec - 1);
            const size_t gi = size_t(min(row0 + r, n_out - 1)) * n_groups + (gshift >= 0 ? v >> gshift : v / vpg);
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

template <bool kPerm, int kIn, int kOut, int U>
__global__ void __launch_bounds__(kThreads) gemv_int4_kernel(const uint4* __restrict__ qw, const __half* __restrict__ scales,
                                                             const int8_t* __restrict__ zeros, const int32_t* __restrict__ perm,
                                                             const float* __restrict__ x, float* __restrict__ y, int n_in,
                                                             int n_out, int group_size, int n_groups, const GemvFuse f) {
    extern __shared__ uint4 xs4[];  // [4][n_vec]: word 4v+w's pairs at xs4[w * n_vec + v]
    pdl_trigger();
    const int n_vec = n_in / 32;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // The first loop iteration's weights go into registers before x is staged, so their memory latency overlaps
    // the staging's (weights are constant: also before pdl_wait).
    const int vpg = group_size / 32, gshift = (vpg & (vpg - 1)) == 0 ? __ffs(vpg) - 1 : -1;
    uint4 q[U][kRows];
    __half sc[U][kRows];
    int8_t zr[U][kRows];
    if ((blockIdx.x * kWarps + warp) * kRows < n_out && lane < n_vec) {
        load_rows(q, qw, (blockIdx.x * kWarps + warp) * kRows, lane, n_vec, n_out);
        load_group_params(sc, zr, scales, zeros, (blockIdx.x * kWarps + warp) * kRows, lane, n_vec, n_out, vpg, gshift, n_groups);
    }
    pdl_wait();  // x (and y, with kAdd) come from the kernels before
    const float rs = kIn == kNorm ? block_rms_scale(x, n_in, f.eps) : 1.0f;
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
            for (int e = 0; e < 8; e++) xv[b][e] = input_at<kIn>(x, kPerm ? perm[8 * j + e] : 8 * j + e, n_in, rs, f.norm_w);
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
    // Software pipeline: every iteration first issues the next iteration's loads (the next U vectors of these
    // rows, or the first of the warp's next row pair), then computes on the registers loaded one iteration
    // before, so a warp always has a load round trip in flight (without it each iteration waited one: a
    // 2048-wide row pair is one iteration, and 16384x2048 was four round trips in series per warp).
    const int row_step = gridDim.x * kWarps * kRows;
    for (int row0 = (blockIdx.x * kWarps + warp) * kRows; row0 < n_out; row0 += row_step) {
        float acc[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
        for (int v0 = lane; v0 < n_vec; v0 += 32 * U) {
            int nv = v0 + 32 * U, nr = row0;
            if (nv >= n_vec) nv = lane, nr = row0 + row_step;
            const bool next = nr < n_out;  // the same in every lane that iterates
            uint4 qn[U][kRows];
            __half scn[U][kRows];
            int8_t zrn[U][kRows];
            if (next) {
                load_rows(qn, qw, nr, nv, n_vec, n_out);
                load_group_params(scn, zrn, scales, zeros, nr, nv, n_vec, n_out, vpg, gshift, n_groups);
            }
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
            if (next) {
#pragma unroll
                for (int u = 0; u < U; u++)
#pragma unroll
                    for (int r = 0; r < kRows; r++) q[u][r] = qn[u][r], sc[u][r] = scn[u][r], zr[u][r] = zrn[u][r];
            }
        }
        float t[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) t[r] = warp_sum(acc[r]);
        if (lane == 0) store_rows<kOut>(y, row0, t, n_out, f);
    }
}

template <int kIn, int kOut, int U>
__global__ void __launch_bounds__(kThreads) gemv_f16_kernel(const uint4* __restrict__ w, const float* __restrict__ x,
                                                            float* __restrict__ y, int n_in, int n_out, const GemvFuse f) {
    extern __shared__ float xf[];  // two planes: x[8v..8v+4) at xf4[v], x[8v+4..8v+8) at xf4[n_vec + v]
    float4* xf4 = reinterpret_cast<float4*>(xf);
    pdl_trigger();
    const int n_vec = n_in / 8;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    uint4 q[U][kRows];  // the first iteration's weights, loaded before x is staged (see the int4 kernel)
    if ((blockIdx.x * kWarps + warp) * kRows < n_out && lane < n_vec)
        load_rows(q, w, (blockIdx.x * kWarps + warp) * kRows, lane, n_vec, n_out);
    pdl_wait();
    const float rs = kIn == kNorm ? block_rms_scale(x, n_in, f.eps) : 1.0f;
    // One thread per 8 columns, 8 such groups loaded before any is stored (see the int4 kernel).
    constexpr int kBatch = 8;
    for (int v0 = threadIdx.x; v0 < n_vec; v0 += blockDim.x * kBatch) {
        float xv[kBatch][8];
#pragma unroll
        for (int b = 0; b < kBatch; b++) {
            const int v = v0 + b * blockDim.x;
            if (v >= n_vec) break;
#pragma unroll
            for (int e = 0; e < 8; e++) xv[b][e] = input_at<kIn>(x, 8 * v + e, n_in, rs, f.norm_w);
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
        float t[kRows];
#pragma unroll
        for (int r = 0; r < kRows; r++) t[r] = warp_sum(acc[r]);
        if (lane == 0) store_rows<kOut>(y, row0, t, n_out, f);
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

// U, the 16-byte loads per row per lane in one iteration: 2 (with the software pipeline, two iterations' loads
// are in flight; before it, U = 4 on n_in >= 4096 rows had been needed and cost registers: the 128256-row head
// ran at 53% of copy with 4, 61% with 2).
template <bool P, int I, int O, int U>
void launch_int4_u(const GptqDev& w, const float* x, float* y, cudaStream_t st, const GemvFuse& f) {
    const size_t smem = size_t(w.n_in) * 2;
    allow_smem(gemv_int4_kernel<P, I, O, U>, smem);
    launch(gemv_int4_kernel<P, I, O, U>, grid_for(gemv_int4_kernel<P, I, O, U>, smem, w.n_out), smem, st,
           reinterpret_cast<const uint4*>(w.qweight), w.scales, w.zeros, w.perm, x, y, w.n_in, w.n_out, w.group_size,
           w.n_groups, f);
}
// U = 2 on every shape: with the software pipeline two sets of U loads per row are in flight (U = 4 without
// it had been needed on n_in >= 4096 rows, at 132-150 registers).
template <bool P, int I, int O>
void launch_int4(const GptqDev& w, const float* x, float* y, cudaStream_t st, const GemvFuse& f) {
    launch_int4_u<P, I, O, 2>(w, x, y, st, f);
}
template <int I, int O>
void launch_f16(const __half* w, int n_in, int n_out, const float* x, float* y, cudaStream_t st, const GemvFuse& f) {
    constexpr int U = 4;
    const size_t smem = size_t(n_in) * 4;
    allow_smem(gemv_f16_kernel<I, O, U>, smem);
    launch(gemv_f16_kernel<I, O, U>, grid_for(gemv_f16_kernel<I, O, U>, smem, n_out), smem, st,
           reinterpret_cast<const uint4*>(w), x, y, n_in, n_out, f);
}

// The (input, output) pairs instantiated: every input with store and add, and rope_kv after rmsnorm (the
// attention's q|k|v); L(I, O) launches the kernel for one pair. The branch is taken once per launch.
template <typename L>
void dispatch(GemvInput in, GemvOutput out, const GemvFuse& f, int n_in, int n_out, L&& l) {
    if (in == GemvInput::rmsnorm && !f.norm_w) throw std::runtime_error("gemv: rmsnorm input without norm weights");
    if (out == GemvOutput::rope_kv) {
        if (in != GemvInput::rmsnorm) throw std::runtime_error("gemv: rope_kv output needs rmsnorm input");
        if (f.hd <= 0 || f.hd % 2 || f.n_rot % 2 || f.n_rot > f.hd || f.n_head <= 0 || f.n_kv <= 0 ||
            n_out != (f.n_head + 2 * f.n_kv) * f.hd || !f.inv_freq || !f.k_cache || !f.v_cache)
            throw std::runtime_error("gemv: rope_kv shape (n_out " + std::to_string(n_out) + ", n_in " +
                                     std::to_string(n_in) + ") is not (n_head + 2 n_kv) * hd with even hd and n_rot");
        l(std::integral_constant<int, kNorm>{}, std::integral_constant<int, kRopeKv>{});
        return;
    }
    const bool a = out == GemvOutput::add;
    if (in == GemvInput::plain) {
        if (a) l(std::integral_constant<int, kPlain>{}, std::integral_constant<int, kAdd>{});
        else l(std::integral_constant<int, kPlain>{}, std::integral_constant<int, kStore>{});
    } else if (in == GemvInput::swiglu) {
        if (a) l(std::integral_constant<int, kSwiglu>{}, std::integral_constant<int, kAdd>{});
        else l(std::integral_constant<int, kSwiglu>{}, std::integral_constant<int, kStore>{});
    } else {
        if (a) l(std::integral_constant<int, kNorm>{}, std::integral_constant<int, kAdd>{});
        else l(std::integral_constant<int, kNorm>{}, std::integral_constant<int, kStore>{});
    }
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

void gemv_int4(const GptqDev& w, const float* x, float* y, cudaStream_t st, GemvInput in, GemvOutput out,
               const GemvFuse& f) {
    if (!gemv_int4_supported(w.n_in, w.group_size)) throw std::runtime_error("gemv_int4: unsupported shape");
    dispatch(in, out, f, w.n_in, w.n_out, [&](auto I, auto O) {
        if (w.perm) launch_int4<true, decltype(I)::value, decltype(O)::value>(w, x, y, st, f);
        else launch_int4<false, decltype(I)::value, decltype(O)::value>(w, x, y, st, f);
    });
    SLM_CUDA_LAUNCH(gemv_int4);
}

void gemv_f16(const __half* w, int n_in, int n_out, const float* x, float* y, cudaStream_t st, GemvInput in,
              GemvOutput out, const GemvFuse& f) {
    if (n_in % 8 || size_t(n_in) * 4 > 200 * 1024) throw std::runtime_error("gemv_f16: unsupported shape");
    dispatch(in, out, f, n_in, n_out,
             [&](auto I, auto O) { launch_f16<decltype(I)::value, decltype(O)::value>(w, n_in, n_out, x, y, st, f); });
    SLM_CUDA_LAUNCH(gemv_f16);
}

}  // namespace slm::cuda
