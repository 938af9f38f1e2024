// The f32 GEMM micro-kernels (see gemm_f32.h): the scalar reference, then AVX2 and AVX-512.
#include "cpu/simd.h"  // first: the <immintrin.h> include of every kernel file

#include "cpu/gemm_f32.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace slm::kernels::gemm_f32 {

// ---------------------------------------------------------------- scalar reference
// One float partial sum per d element over k in order, then added to d (the order every level follows).
static void ukernel_scalar(int mr, int nc, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                           float* d, int64_t ldd) {
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nc; c++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++) acc += a[r * lda + k] * b[k * ldb + c];
            d[r * ldd + c] += acc;
        }
}

// dst[c][r] = scale * src[r][c] (or +=): one multiply and, accumulating, one add per element, never fused, so
// every level below gives these bits exactly.
static void transpose_scalar(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd,
                             float scale, bool accumulate) {
    constexpr int64_t B = 16;  // square blocks: both sides stay in cache lines
    for (int64_t r0 = 0; r0 < rows; r0 += B)
        for (int64_t c0 = 0; c0 < cols; c0 += B) {
            const int64_t r1 = std::min(rows, r0 + B), c1 = std::min(cols, c0 + B);
            for (int64_t c = c0; c < c1; c++) {
                float* o = dst + c * ldd;
                if (accumulate)
                    for (int64_t r = r0; r < r1; r++) o[r] += scale * src[r * lds + c];
                else
                    for (int64_t r = r0; r < r1; r++) o[r] = scale * src[r * lds + c];
            }
        }
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX2: 6 rows x 16 columns (12 accumulators)
template <int MR, int NV>
SLM_TARGET_AVX2 static void tile_avx2(int nc, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                                      float* d, int64_t ldd) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mask[NV];
    for (int v = 0; v < NV; v++) mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc - 8 * v), lane);
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
    const bool full = nc == 8 * NV;
    for (int64_t k = 0; k < K; k++) {
        __m256 bv[NV];
        for (int v = 0; v < NV; v++)
            bv[v] = full ? _mm256_loadu_ps(b + k * ldb + 8 * v) : _mm256_maskload_ps(b + k * ldb + 8 * v, mask[v]);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r * lda + k);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) {
            float* p = d + r * ldd + 8 * v;
            if (full) _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), acc[r][v]));
            else _mm256_maskstore_ps(p, mask[v], _mm256_add_ps(_mm256_maskload_ps(p, mask[v]), acc[r][v]));
        }
}

// Transpose in 8 x 8 blocks of registers (unpack, shuffle, 128-bit lane swap); the ragged edges on the scalar loop.
SLM_TARGET_AVX2 static void transpose_avx2(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst,
                                           int64_t ldd, float scale, bool accumulate) {
    const int64_t rows8 = rows - rows % 8, cols8 = cols - cols % 8;
    const __m256 sv = _mm256_set1_ps(scale);
    for (int64_t r0 = 0; r0 < rows8; r0 += 8)
        for (int64_t c0 = 0; c0 < cols8; c0 += 8) {
            __m256 v[8], t[8];
            for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_ps(src + (r0 + i) * lds + c0);
            for (int i = 0; i < 4; i++) {
                t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
            }
            for (int i = 0; i < 2; i++) {  // per 128-bit lane: columns 4l+j of rows 4i..4i+3
                v[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
                v[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
                v[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
                v[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
            }
            for (int j = 0; j < 4; j++) {
                t[j] = _mm256_permute2f128_ps(v[j], v[4 + j], 0x20);      // column j
                t[4 + j] = _mm256_permute2f128_ps(v[j], v[4 + j], 0x31);  // column 4 + j
            }
            for (int c = 0; c < 8; c++) {
                float* o = dst + (c0 + c) * ldd + r0;
                __m256 x = _mm256_mul_ps(sv, t[c]);
                asm("" : "+x"(x));  // keeps the compiler from fusing the multiply into the add (one rounding each)
                _mm256_storeu_ps(o, accumulate ? _mm256_add_ps(_mm256_loadu_ps(o), x) : x);
            }
        }
    if (cols8 < cols) transpose_scalar(src + cols8, rows8, cols - cols8, lds, dst + cols8 * ldd, ldd, scale, accumulate);
    if (rows8 < rows) transpose_scalar(src + rows8 * lds, rows - rows8, cols, lds, dst + rows8, ldd, scale, accumulate);
}

using tile_fn = void (*)(int, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t);

static void ukernel_avx2(int mr, int nc, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float* d,
                         int64_t ldd) {
    static constexpr tile_fn tab[6][2] = {
        {tile_avx2<1, 1>, tile_avx2<1, 2>}, {tile_avx2<2, 1>, tile_avx2<2, 2>}, {tile_avx2<3, 1>, tile_avx2<3, 2>},
        {tile_avx2<4, 1>, tile_avx2<4, 2>}, {tile_avx2<5, 1>, tile_avx2<5, 2>}, {tile_avx2<6, 1>, tile_avx2<6, 2>}};
    tab[mr - 1][nc > 8](nc, K, a, lda, b, ldb, d, ldd);
}

// ---------------------------------------------------------------- AVX-512: 8 rows x 32 columns (16 accumulators)
template <int MR, int NV>
SLM_TARGET_AVX512 static void tile_avx512(int nc, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                                          float* d, int64_t ldd) {
    __mmask16 mask[NV];
    for (int v = 0; v < NV; v++) {
        const int w = std::clamp(nc - 16 * v, 0, 16);
        mask[v] = __mmask16((1u << w) - 1u);
    }
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m512 bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(mask[v], b + k * ldb + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            const __m512 x = _mm512_set1_ps(a[r * lda + k]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) {
            float* p = d + r * ldd + 16 * v;
            _mm512_mask_storeu_ps(p, mask[v], _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], p), acc[r][v]));
        }
}

// Transpose in 16 x 16 blocks of registers (unpack, shuffle, two rounds of 128-bit lane shuffles); ragged blocks
// with masked loads (missing rows read as zero) and masked stores, so every shape stays vectorized.
SLM_TARGET_AVX512 static void transpose_avx512(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst,
                                               int64_t ldd, float scale, bool accumulate) {
    const __m512 sv = _mm512_set1_ps(scale);
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        const int nr = int(std::min<int64_t>(16, rows - r0));
        const __mmask16 mr = __mmask16((1u << nr) - 1u);
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            const int nc = int(std::min<int64_t>(16, cols - c0));
            const __mmask16 mc = __mmask16((1u << nc) - 1u);
            __m512 v[16], t[16];
            for (int i = 0; i < 16; i++)
                v[i] = i < nr ? _mm512_maskz_loadu_ps(mc, src + (r0 + i) * lds + c0) : _mm512_setzero_ps();
            for (int i = 0; i < 8; i++) {
                t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
            }
            for (int i = 0; i < 4; i++) {  // per 128-bit lane l: column 4l+j of rows 4i..4i+3 in v[4i+j]
                v[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
                v[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
                v[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
                v[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
            }
            for (int j = 0; j < 4; j++) {  // rows 0-7 and 8-15 of each column, lanes gathered pairwise
                t[j] = _mm512_shuffle_f32x4(v[j], v[4 + j], 0x88);
                t[4 + j] = _mm512_shuffle_f32x4(v[j], v[4 + j], 0xDD);
                t[8 + j] = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0x88);
                t[12 + j] = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0xDD);
            }
            for (int j = 0; j < 4; j++) {  // column 4l + j = all 16 rows
                v[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
                v[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
                v[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
                v[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD);
            }
            for (int c = 0; c < nc; c++) {
                float* o = dst + (c0 + c) * ldd + r0;
                __m512 x = _mm512_mul_ps(sv, v[c]);
                asm("" : "+v"(x));  // keeps the compiler from fusing the multiply into the add (one rounding each)
                _mm512_mask_storeu_ps(o, mr, accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(mr, o), x) : x);
            }
        }
    }
}

static void ukernel_avx512(int mr, int nc, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                           float* d, int64_t ldd) {
    static constexpr tile_fn tab[8][2] = {
        {tile_avx512<1, 1>, tile_avx512<1, 2>}, {tile_avx512<2, 1>, tile_avx512<2, 2>},
        {tile_avx512<3, 1>, tile_avx512<3, 2>}, {tile_avx512<4, 1>, tile_avx512<4, 2>},
        {tile_avx512<5, 1>, tile_avx512<5, 2>}, {tile_avx512<6, 1>, tile_avx512<6, 2>},
        {tile_avx512<7, 1>, tile_avx512<7, 2>}, {tile_avx512<8, 1>, tile_avx512<8, 2>}};
    tab[mr - 1][nc > 16](nc, K, a, lda, b, ldb, d, ldd);
}
#endif

Kernel for_level(SimdLevel l) {
#if defined(__x86_64__)
    if (l >= SimdLevel::avx512) return {ukernel_avx512, transpose_avx512, 8, 32, "avx512 8x32"};
    if (l >= SimdLevel::avx2) return {ukernel_avx2, transpose_avx2, 6, 16, "avx2 6x16"};
#endif
    (void)l;
    return {ukernel_scalar, transpose_scalar, 4, 16, "scalar"};
}

// Columns outer, so a K x nc panel of b is reused by every row block. With four row blocks or more the panel is
// first copied into a contiguous buffer: b's rows are often a multiple of 1 KB apart (320 tokens, 1536 columns),
// which maps a strided panel onto a few L1 sets and evicts it between row blocks; packed, it streams from one
// block of memory. Packing copies floats, so the sums (and their bits) are the same either way.
void gemm(const Kernel& k, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* d, int64_t ldd) {
    const bool pack = M >= 4 * k.mr && K > 1 && ldb > k.nc;  // enough row blocks to repay the copy
    std::vector<float> panel(pack ? size_t(K) * size_t(k.nc) : 0);
    for (int64_t c0 = 0; c0 < N; c0 += k.nc) {
        const int w = int(std::min<int64_t>(k.nc, N - c0));
        const float* bp = b + c0;
        int64_t ldp = ldb;
        if (pack) {
            for (int64_t i = 0; i < K; i++) std::memcpy(panel.data() + i * k.nc, b + i * ldb + c0, size_t(w) * sizeof(float));
            bp = panel.data();
            ldp = k.nc;
        }
        for (int64_t r0 = 0; r0 < M; r0 += k.mr)
            k.fn(int(std::min<int64_t>(k.mr, M - r0)), w, K, a + r0 * lda, lda, bp, ldp, d + r0 * ldd + c0, ldd);
    }
}

void gemm_panels(const Kernel& k, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* bp,
                 int64_t panel_stride, float* d, int64_t ldd) {
    for (int64_t c0 = 0, j = 0; c0 < N; c0 += k.nc, j++) {
        const int w = int(std::min<int64_t>(k.nc, N - c0));
        for (int64_t r0 = 0; r0 < M; r0 += k.mr)
            k.fn(int(std::min<int64_t>(k.mr, M - r0)), w, K, a + r0 * lda, lda, bp + j * panel_stride, k.nc,
                 d + r0 * ldd + c0, ldd);
    }
}

void transpose(const Kernel& k, const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd,
               float scale, bool accumulate) {
    k.transpose(src, rows, cols, lds, dst, ldd, scale, accumulate);
}

}  // namespace slm::kernels::gemm_f32
