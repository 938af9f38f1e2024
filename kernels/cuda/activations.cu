// Speed of light: reads and writes n*4 bytes (n = the activations of one matmul: 8 KB at decode on Llama-1B):
// launch-bound, like the elementwise ops.
//
// The CPU's activation rounding on the GPU. The CPU multiplies a quantized ggml weight (Q8_0, Q4_K, ...) by
// activations rounded to the weight type's partner format (codec::activation_type: Q8_0, Q8_1 or Q8_K), as
// ggml does. The CUDA backend computes with such weights dequantized to fp16, so without this step its logits
// differ from the CPU's by the 8-bit rounding of every activation (3.1e-2 on llama3-tiny's Q8_0 head, 5.4 max
// |logit|). This kernel rounds x exactly as the CPU does and writes back the values the CPU's integer dot
// products stand for, q * d, so the GPU's products match the CPU's up to the fp16 roundings of the weights.
//   32-value blocks (Q8_0 and Q8_1, kernels/cpu/q8_block.h, activation rounding): amax = max |x|;
//     q = rint(x * (127 / amax)) (half to even); value = q * fp16(amax / 127) (the dot uses the fp16 scale).
//   256-value blocks (Q8_K, kernels/cpu/q8_K.cpp): max = the first x of largest |x|; iscale = -127 / max;
//     q = min(127, rint(iscale * x)); value = q * (1 / iscale); a block of zeros stays zeros.
// One warp per block; the float operations are the CPU's one by one (IEEE division, no fused multiply-add).
#include <climits>

#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

template <int B, bool kK>
__global__ void round_kernel(const float* __restrict__ x, int64_t n_blocks, float* __restrict__ out) {
    const int64_t blk = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (blk >= n_blocks) return;  // the whole warp: blocks are warp-aligned
    constexpr int P = B / 32;
    const float* xb = x + blk * B;
    float v[P];
    float amax = 0, mx = 0;
    int idx = INT_MAX;
#pragma unroll
    for (int i = 0; i < P; i++) {
        v[i] = xb[lane + 32 * i];
        const float a = fabsf(v[i]);
        if (a > amax) amax = a, mx = v[i], idx = lane + 32 * i;
    }
    // The block's largest |x|; ties go to the lower index (the CPU keeps the first it meets).
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float oa = __shfl_xor_sync(0xffffffffu, amax, o), om = __shfl_xor_sync(0xffffffffu, mx, o);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (oa > amax || (oa == amax && oi < idx)) amax = oa, mx = om, idx = oi;
    }
    float* ob = out + blk * B;
    if (!kK) {
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        const float dh = __half2float(__float2half_rn(d));
#pragma unroll
        for (int i = 0; i < P; i++) ob[lane + 32 * i] = __fmul_rn(rintf(__fmul_rn(v[i], id)), dh);
    } else {
        if (amax == 0) {
#pragma unroll
            for (int i = 0; i < P; i++) ob[lane + 32 * i] = 0.0f;
            return;
        }
        const float iscale = -127.0f / mx;
        const float d = 1.0f / iscale;
#pragma unroll
        for (int i = 0; i < P; i++) ob[lane + 32 * i] = __fmul_rn(fminf(rintf(__fmul_rn(iscale, v[i])), 127.0f), d);
    }
}

}  // namespace

int act_round_block(ActRound r) { return r == ActRound::q8_32 ? 32 : r == ActRound::q8_K ? 256 : 1; }

void round_activations(ActRound r, const float* x, int64_t n, float* out, cudaStream_t st) {
    if (r == ActRound::none || n <= 0) return;
    const int B = act_round_block(r);
    if (n % B) throw std::runtime_error("round_activations: length is not a multiple of the block size");
    const int64_t n_blocks = n / B;
    const int threads = 256;
    const int64_t grid = (n_blocks * 32 + threads - 1) / threads;
    if (r == ActRound::q8_32) round_kernel<32, false><<<unsigned(grid), threads, 0, st>>>(x, n_blocks, out);
    else round_kernel<256, true><<<unsigned(grid), threads, 0, st>>>(x, n_blocks, out);
    SLM_CUDA_LAUNCH(round_activations);
}

}  // namespace slm::cuda
