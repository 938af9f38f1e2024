// Speed of light, prefill GEMM Y[n][N] = X[n][K] W[N][K]^T on the tensor cores:
//   flops = 2*n*N*K; bytes >= 2*N*K (W, fp16) + 2*n*K + 4*n*N. For n = 512 tokens and Llama-1B's matrices
//   (1.24 G weights) that is 1.27 TFLOP against 2.5 GB: 0.51 flop/byte per token, i.e. compute-bound above
//   ~200 tokens; at ~790 TFLOP/s (H200 bf16/fp16 dense, measured with torch) 1.6 ms per 512 tokens is the floor.
// This kernel is the plain tensor-core version (WMMA 16x16x16 fp16 -> fp32, 64x64 block tiles of 4 warps, K
// steps of 32 through padded shared memory, zero-filled edges): correct on any n, N and K % 8 == 0, far from
// the wgmma floor. gptq_dequantize_f16 expands a GPTQ matrix to fp16 for it (2*N*K bytes written per call).
#include <mma.h>

#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

constexpr int BM = 64, BN = 64, BK = 32, LDS = BK + 8, LDC = BN + 4;

__global__ void __launch_bounds__(128) gemm_f16_kernel(const __half* __restrict__ X, const __half* __restrict__ W,
                                                       float* __restrict__ Y, int n, int N, int K) {
    using namespace nvcuda;
    __shared__ __align__(32) __half As[BM][LDS];
    __shared__ __align__(32) __half Bs[BN][LDS];
    __shared__ __align__(32) float Cs[BM][LDC];
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int warp = threadIdx.x >> 5, wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    for (int k0 = 0; k0 < K; k0 += BK) {
        // 64 rows x 32 halves = 256 chunks of 8 halves per operand; 128 threads load 2 of each.
        for (int c = threadIdx.x; c < BM * BK / 8; c += blockDim.x) {
            const int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
            uint4 a = make_uint4(0, 0, 0, 0), b = make_uint4(0, 0, 0, 0);
            if (m0 + r < n && k0 + kc < K) a = *reinterpret_cast<const uint4*>(X + size_t(m0 + r) * K + k0 + kc);
            if (n0 + r < N && k0 + kc < K) b = *reinterpret_cast<const uint4*>(W + size_t(n0 + r) * K + k0 + kc);
            *reinterpret_cast<uint4*>(&As[r][kc]) = a;
            *reinterpret_cast<uint4*>(&Bs[r][kc]) = b;
        }
        __syncthreads();
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb[2];
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], &As[wm + 16 * i][kk], LDS);
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], &Bs[wn + 16 * j][kk], LDS);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(&Cs[wm + 16 * i][wn + 16 * j], acc[i][j], LDC, wmma::mem_row_major);
    __syncthreads();
    for (int c = threadIdx.x; c < BM * BN; c += blockDim.x) {
        const int r = c / BN, col = c % BN;
        if (m0 + r < n && n0 + col < N) Y[size_t(m0 + r) * N + n0 + col] = Cs[r][col];
    }
}

__global__ void gptq_dequant_kernel(const uint32_t* qw, const __half* scales, const int8_t* zeros, const int32_t* perm,
                                    int n_in, int n_out, int group_size, int n_groups, __half* out) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const int words = n_in / 8;
    if (idx >= int64_t(n_out) * words) return;
    const int64_t row = idx / words;
    const int j = int(idx % words);
    const uint32_t q = qw[idx];
    const int g = (8 * j) / group_size;
    const float s = __half2float(scales[row * n_groups + g]);
    const int z = zeros[row * n_groups + g];
    for (int i = 0; i < 8; i++) {
        const int k = 8 * j + i;
        out[row * n_in + (perm ? perm[k] : k)] = __float2half_rn(s * float(int((q >> (4 * i)) & 15u) - z));
    }
}

__global__ void embed_gptq_kernel(const uint32_t* qw, const __half* scales, const int8_t* zeros, const int32_t* perm,
                                  const int32_t* ids, int n_in, int group_size, int n_groups, float* x) {
    const int64_t row = ids[blockIdx.x];
    float* out = x + size_t(blockIdx.x) * n_in;
    for (int j = threadIdx.x; j < n_in / 8; j += blockDim.x) {
        const uint32_t q = qw[row * (n_in / 8) + j];
        const int g = (8 * j) / group_size;
        const float s = __half2float(scales[row * n_groups + g]);
        const int z = zeros[row * n_groups + g];
        for (int i = 0; i < 8; i++) {
            const int k = 8 * j + i;
            out[perm ? perm[k] : k] = s * float(int((q >> (4 * i)) & 15u) - z);
        }
    }
}

}  // namespace

void embed_gptq(const GptqDev& t, const int32_t* ids, int n, float* x, cudaStream_t st) {
    if (n <= 0) return;
    embed_gptq_kernel<<<n, 128, 0, st>>>(t.qweight, t.scales, t.zeros, t.perm, ids, t.n_in, t.group_size, t.n_groups, x);
    SLM_CUDA_LAUNCH(embed_gptq);
}

void gemm_f16(const __half* w, int K, int N, const float* x, int n, float* y, __half* xh, cudaStream_t st) {
    if (n <= 0) return;
    if (K % 8) throw std::runtime_error("gemm_f16: K must be a multiple of 8");
    f32_to_f16(x, int64_t(n) * K, xh, st);
    const dim3 grid((N + BN - 1) / BN, (n + BM - 1) / BM);
    gemm_f16_kernel<<<grid, 128, 0, st>>>(xh, w, y, n, N, K);
    SLM_CUDA_LAUNCH(gemm_f16);
}

void gptq_dequantize_f16(const GptqDev& w, __half* out, cudaStream_t st) {
    const int64_t total = int64_t(w.n_out) * (w.n_in / 8);
    gptq_dequant_kernel<<<unsigned((total + 255) / 256), 256, 0, st>>>(w.qweight, w.scales, w.zeros, w.perm, w.n_in,
                                                                      w.n_out, w.group_size, w.n_groups, out);
    SLM_CUDA_LAUNCH(gptq_dequantize_f16);
}

}  // namespace slm::cuda
