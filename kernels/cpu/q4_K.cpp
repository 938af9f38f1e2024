// Q4_K: 4-bit weights in super-blocks of 256 values, eight sub-blocks of 32 with their own 6-bit scale and
// 6-bit min. The bulk of a Q4_K_M model; its dot product with Q8_K activations is the decode hot loop.
//
// block_q4_K (144 bytes = 4.5 bits per weight):
//   offset  size
//     0      2   fp16 d      scale of the sub-block scales
//     2      2   fp16 dmin   scale of the sub-block mins
//     4     12   scales      sub-block j: 6-bit scale sc_j and 6-bit min m_j, packed (get_scale_min_k4):
//                              bytes 0..3   sc_0..sc_3  | bits 6-7: high 2 bits of sc_4..sc_7
//                              bytes 4..7   m_0..m_3    | bits 6-7: high 2 bits of m_4..m_7
//                              bytes 8..11  low 4 bits of sc_4..sc_7 | high nibble: low 4 bits of m_4..m_7
//    16    128   qs          4-bit quants q in 0..15, in 4 chunks of 32 bytes; chunk c (64 values):
//                              byte l low nibble  -> value 64c + l       (sub-block 2c)
//                              byte l high nibble -> value 64c + 32 + l  (sub-block 2c+1)
//
//   value i (sub-block j = i/32) = d * sc_j * q_i - dmin * m_j
//
// Dot with Q8_K (y = dy * a_i, a_i int8, bsums[k] = sum of a over values 16k..16k+15):
//   sum_i x_i y_i = d*dy * sum_j sc_j * (sum_{i in j} q_i a_i)  -  dmin*dy * sum_j m_j * (bsums[2j] + bsums[2j+1])
// Both inner sums are exact integers (|.| < 2^26); only the two float products per super-block round.
#include "cpu/q4_K.h"

#include <cmath>
#include <cstring>

#include "common.h"
#include "cpu/gemm_tile.h"
#include "cpu/k4_gemm.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "cpu/q8_K.h"

namespace slm::kernels {

static_assert(sizeof(block_q8_K) == 292);

// ggml's quantize_row_q4_K_ref, operation for operation (byte-identical output).
void quantize_row_q4_K(const float* x, void* vy, int64_t n) {
    if (n % QK_K != 0) fail("q4_K: row length %lld is not a multiple of %d", (long long)n, QK_K);
    block_q4_K* y = static_cast<block_q4_K*>(vy);
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        // 1-3. Sub-block scales and mins, their 6-bit forms, the levels (kquant_common.h).
        quantize_superblock_k4(x, 15, -1.f, 20, y[i], L);

        // 4. Pack: chunk c of 32 bytes holds values 64c..64c+31 (low nibbles) and 64c+32..64c+63 (high).
        uint8_t* q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
    }
}

void dequantize_row_q4_K(const void* vx, float* y, int64_t n) {
    if (n % QK_K != 0) fail("q4_K: row length %lld is not a multiple of %d", (long long)n, QK_K);
    const block_q4_K* x = static_cast<const block_q4_K*>(vx);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_to_fp32(x[i].d);
        const float dmin = fp16_to_fp32(x[i].dmin);
        const uint8_t* q = x[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

// ---- dot products with Q8_K ----

// llama.cpp does not use its vec_dot for Q4_K weights on AVX2 CPUs: it repacks weight matrices with a row
// count divisible by 8 into 8-row interleaved blocks and runs a GEMM on groups of 4 activation rows and a
// GEMV on the remaining (n_tok % 4) rows. Their integer sums are the same exact numbers; only where the float
// accumulation happens differs. These two functions sum one output in each kernel's order (integers exact,
// then one fused multiply-add per step, scales d_w * d_a as one float product, the min term in its own
// accumulator subtracted at the end), for the forward pass's llama.cpp numerics (KernelOrder::llamacpp).
namespace {

// steps_per_block: 4 for the GEMM (a step = sub-blocks 2s and 2s+1), 1 for the GEMV (a step = the block).
float dot_q4_K_repack_order(int64_t n, const void* vx, const void* vy, int steps_per_block) {
    const block_q4_K* x = static_cast<const block_q4_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const int per_step = 8 / steps_per_block;  // sub-blocks per step
    float acc = 0, acc_min = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];  // scales 0..7, mins 0..7
        unpack_scales_mins_k4(x[i].scales, sm);
        const float dd = fp16_to_fp32(x[i].d) * y[i].d, dm = fp16_to_fp32(x[i].dmin) * y[i].d;
        for (int s = 0; s < steps_per_block; s++) {
            int32_t sum_q = 0, sum_m = 0;
            for (int j = s * per_step; j < (s + 1) * per_step; j++) {
                const uint8_t* q = x[i].qs + 32 * (j / 2);
                const int8_t* a = y[i].qs + 32 * j;
                int32_t d = 0;
                for (int l = 0; l < 32; l++) d += (j % 2 ? q[l] >> 4 : q[l] & 0xF) * a[l];
                sum_q += sm[j] * d;
                sum_m += sm[8 + j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
            }
            acc = std::fma(float(sum_q), dd, acc);
            acc_min = std::fma(float(sum_m), dm, acc_min);
        }
    }
    return acc - acc_min;
}

}  // namespace

float dot_q4_K_q8_K_llamacpp_gemm(int64_t n, const void* x, const void* y) { return dot_q4_K_repack_order(n, x, y, 4); }
float dot_q4_K_q8_K_llamacpp_gemv(int64_t n, const void* x, const void* y) { return dot_q4_K_repack_order(n, x, y, 1); }

// The llama.cpp-order product (TypeKernels::llamacpp.gemm): matrices with a row count divisible by 8 are the
// ones llama.cpp repacks; their first n_tok - n_tok % 4 tokens go through the GEMM order, the rest through
// the GEMV order. Other matrices use the set's dot (llama.cpp's vec_dot).
static void gemm_q4_K_llamacpp(const GemmTile& g) {
    const bool repacked = g.n_out % 8 == 0;
    for (int64_t t = g.t0; t < g.t1; t++) {
        const vec_dot_fn f = !repacked ? g.dot : t < g.n_tok - g.n_tok % 4 ? dot_q4_K_q8_K_llamacpp_gemm : dot_q4_K_q8_K_llamacpp_gemv;
        const uint8_t* xr = g.x + t * g.x_stride;
        float* yr = g.y + t * g.y_stride;
        for (int64_t r = g.r0; r < g.r1; r++) yr[r] = f(g.n_in, g.w + r * g.w_stride, xr);
    }
}


static float dot_q4_K_q8_K_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q4_K* x = static_cast<const block_q4_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sm[16];  // scales 0..7, mins 0..7
        unpack_scales_mins_k4(x[i].scales, sm);
        int32_t sum_q = 0;  // sum_j sc_j * sum_{i in j} q_i a_i
        for (int c = 0; c < 4; c++) {
            const uint8_t* q = x[i].qs + 32 * c;
            const int8_t* a = y[i].qs + 64 * c;
            int32_t lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += (q[l] & 0xF) * a[l];
                hi += (q[l] >> 4) * a[32 + l];
            }
            sum_q += sm[2 * c] * lo + sm[2 * c + 1] * hi;
        }
        int32_t sum_m = 0;  // sum_j m_j * (sum of a over sub-block j)
        for (int j = 0; j < 8; j++) sum_m += sm[8 + j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(sum_q) - fp16_to_fp32(x[i].dmin) * y[i].d * float(sum_m);
    }
    return sum;
}

// AVX2: per super-block, four chunks of 64 values; each chunk is one 32-byte load of quants split into low
// and high nibbles, multiplied with the activations by maddubs (u8 x s8 -> pairs summed to s16: at most
// 2*15*127, no saturation), then by the sub-block scale with madd (s16 x s16 -> s32). The min term uses the
// activation block sums.
SLM_TARGET_AVX2 static float dot_q4_K_q8_K_avx2(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q4_K* x = static_cast<const block_q4_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256i pick[8];  // pick[e]: element e of the scales, in every 16-bit lane
    for (int e = 0; e < 8; e++) pick[e] = broadcast16_control(e);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = half(x[i].d) * y[i].d;
        const float dmin = half(x[i].dmin) * y[i].d;
        __m256i scales;  // the 8 scales in both lanes
        const __m128i prod_m = k4_block_scales_avx2(x[i].scales, y[i].bsums, &scales);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod_m), acc_m);

        const uint8_t* q = x[i].qs;
        const int8_t* a = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++, q += 32, a += 64) {
            const __m256i qb = load32(q);
            sumi = k4_chunk_avx2(sumi, _mm256_and_si256(qb, low4), _mm256_and_si256(_mm256_srli_epi16(qb, 4), low4), a,
                                 scales, pick, c);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(acc_m);
}

// AVX-512: one 64-byte load covers two chunks (c, c+1). Its low nibbles are values 64c..64c+31 and
// 64(c+1)..64(c+1)+31 (sub-blocks 2c and 2c+2), its high nibbles sub-blocks 2c+1 and 2c+3; the activations
// are gathered to match with two 32-byte loads. Per-lane scales come from a permute of the 8 scales
// (as 32-bit lanes: each 32-value sub-block fills 8 lanes of s32 results).
namespace {

// Shared body of the two AVX-512 variants (its block scales and products are simd.h's k4_block_scales_512 and
// k4_chunk_pair_512, which Q5_K uses too). With VNNI, dpbusd sums four u8 x s8 products straight into s32
// lanes (each at most 4*15*127, so it fits 16 bits), and dpwssd multiplies that by the scale held in the
// low 16 bits of each lane (the high 16 bits of the scale lane are 0, so the lane's sign-extension half
// contributes nothing) and accumulates. Without VNNI: maddubs then madd by the scale in both 16-bit halves.
template <bool VNNI>
SLM_TARGET_AVX512VNNI inline float dot_q4_K_avx512_body(int64_t n, const void* vx, const void* vy) {
    using namespace simd;
    const block_q4_K* x = static_cast<const block_q4_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = half(x[i].d) * y[i].d;
        const __m512i sc32 = k4_block_scales_512<VNNI>(x[i].scales, y[i].bsums, half(x[i].dmin) * y[i].d, acc_m);
        const uint8_t* q = x[i].qs;
        const int8_t* a = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; c += 2, q += 64, a += 128) {
            const __m512i qb = _mm512_loadu_si512(q);
            const __m512i q_lo = _mm512_and_si512(qb, low4);
            const __m512i q_hi = _mm512_and_si512(_mm512_srli_epi16(qb, 4), low4);
            sumi = k4_chunk_pair_512<VNNI>(sumi, q_lo, q_hi, a, sc32, c);
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - hsum(acc_m);
}

}  // namespace

SLM_TARGET_AVX512 static float dot_q4_K_q8_K_avx512_plain(int64_t n, const void* x, const void* y) {
    return dot_q4_K_avx512_body<false>(n, x, y);
}
SLM_TARGET_AVX512VNNI static float dot_q4_K_q8_K_avx512_vnni(int64_t n, const void* x, const void* y) {
    return dot_q4_K_avx512_body<true>(n, x, y);
}
// GEMM tile, AVX512-VNNI: k4_gemm.h's micro-kernel (shared with Q5_K), the levels split into nibbles.
namespace {

struct Q4_K_levels {
    using Block = block_q4_K;
    SLM_TARGET_AVX512VNNI static void levels(const Block& b, __m512i q[4]) {
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        const __m512i q01 = _mm512_loadu_si512(b.qs), q23 = _mm512_loadu_si512(b.qs + 64);
        q[0] = _mm512_and_si512(q01, low4);
        q[1] = _mm512_and_si512(_mm512_srli_epi16(q01, 4), low4);
        q[2] = _mm512_and_si512(q23, low4);
        q[3] = _mm512_and_si512(_mm512_srli_epi16(q23, 4), low4);
    }
};

SLM_TARGET_AVX512VNNI void gemm_q4_K_avx512vnni(const GemmTile& g) { gemm_tiles<4, 4>(g, k4_micro_vnni<Q4_K_levels, 4>); }

}  // namespace

TypeKernels kernels_q4_K() {
    TypeKernels k =
        dot_kernels({GgmlType::Q4_K, quantize_row_q4_K, dequantize_row_q4_K, GgmlType::Q8_K, dot_q4_K_q8_K_scalar},
                    dot_q4_K_q8_K_avx2, dot_q4_K_q8_K_avx512_plain, dot_q4_K_q8_K_avx512_vnni);
    // llama.cpp's order (KernelOrder::llamacpp): its repacked GEMM/GEMV at every level (see above).
    k.llamacpp.gemm = gemm_q4_K_llamacpp;
    k.level[int(SimdLevel::avx512_vnni)].gemm = gemm_q4_K_avx512vnni;
    return k;
}

}  // namespace slm::kernels
