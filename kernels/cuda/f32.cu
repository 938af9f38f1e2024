// Speed of light, fp32 weights (the ggml types other than F16, dequantized exactly at upload):
//   GEMV: bytes = 4*n_out*n_in + 4*(n_in + n_out), flops = 2*n_out*n_in: memory-bound, twice fp16's bytes.
//   GEMM: flops = 2*n*N*K against the fp32 SIMT rate (~60 TFLOP/s on an H200 by the datasheet): compute-bound
//         above ~15 tokens; this plain tiled kernel is far from it.
//   embed: 4*d bytes read and written per token.
// Why fp32: the CPU multiplies a Q8_0 / Q4_K / ... weight by activations rounded to 8 bits (activations.cu), a
// step function of its input. Rounding the dequantized weights to fp16 (2^-12 relative) moved the layer outputs
// enough to flip a few per cent of those roundings, each by a whole step, and the logits then differed from the
// CPU's by 4.6e-2 on a random 256-wide Q8_0 model (max |logit| 3.45); with the weights exact (q * d in float, as
// the CPU computes them) the difference is ~1e-7. So these types are kept exact, at 4 bytes a weight.
#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

// One warp per output row, float4 loads along the row; rows of several tokens (blockIdx.y) for small batches.
__global__ void __launch_bounds__(128) gemv_f32_kernel(const float4* __restrict__ w, const float4* __restrict__ x,
                                                       float* __restrict__ y, int n_vec, int n_out) {
    const int row = blockIdx.x * 4 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= n_out) return;
    const float4* wr = w + size_t(row) * n_vec;
    const float4* xr = x + size_t(blockIdx.y) * n_vec;
    float acc = 0;
    for (int v = lane; v < n_vec; v += 32) {
        const float4 a = wr[v], b = xr[v];
        acc += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
    }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) y[size_t(blockIdx.y) * n_out + row] = acc;
}

// Y[n][N] = X[n][K] W[N][K]^T: 64x64 output tiles, 256 threads of 4x4 outputs, K steps of 16 through shared
// memory (zero-filled edges).
constexpr int TM = 64, TN = 64, TK = 16;
__global__ void __launch_bounds__(256) gemm_f32_kernel(const float* __restrict__ X, const float* __restrict__ W,
                                                       float* __restrict__ Y, int n, int N, int K) {
    __shared__ float As[TK][TM + 4], Bs[TK][TN + 4];
    const int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int i = threadIdx.x; i < TM * TK; i += 256) {  // row r, column c of the tile
            const int r = i / TK, c = i % TK, k = k0 + c;
            As[c][r] = (m0 + r < n && k < K) ? X[size_t(m0 + r) * K + k] : 0.0f;
            Bs[c][r] = (n0 + r < N && k < K) ? W[size_t(n0 + r) * K + k] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < TK; c++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[c][ty * 4 + i], b[i] = Bs[c][tx * 4 + i];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int r = m0 + ty * 4 + i, c = n0 + tx * 4 + j;
            if (r < n && c < N) Y[size_t(r) * N + c] = acc[i][j];
        }
}

__global__ void embed_f32_kernel(const float* table, const int32_t* ids, int d, float* x) {
    const float* row = table + size_t(ids[blockIdx.x]) * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) x[size_t(blockIdx.x) * d + i] = row[i];
}

}  // namespace

void gemv_f32(const float* w, int n_in, int n_out, const float* x, int n, float* y, cudaStream_t st) {
    if (n_in % 4 || n <= 0 || n > 65535) throw std::runtime_error("gemv_f32: unsupported shape");
    gemv_f32_kernel<<<dim3(unsigned((n_out + 3) / 4), unsigned(n)), 128, 0, st>>>(
        reinterpret_cast<const float4*>(w), reinterpret_cast<const float4*>(x), y, n_in / 4, n_out);
    SLM_CUDA_LAUNCH(gemv_f32);
}

void gemm_f32(const float* w, int K, int N, const float* x, int n, float* y, cudaStream_t st) {
    if (n <= 0) return;
    gemm_f32_kernel<<<dim3(unsigned((N + TN - 1) / TN), unsigned((n + TM - 1) / TM)), 256, 0, st>>>(x, w, y, n, N, K);
    SLM_CUDA_LAUNCH(gemm_f32);
}

void embed_f32(const float* table, const int32_t* ids, int n, int d, float* x, cudaStream_t st) {
    if (n <= 0) return;
    embed_f32_kernel<<<n, 256, 0, st>>>(table, ids, d, x);
    SLM_CUDA_LAUNCH(embed_f32);
}

}  // namespace slm::cuda
