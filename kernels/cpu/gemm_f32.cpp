// The f32 GEMM micro-kernels (see gemm_f32.h): the scalar reference, then AVX2 and AVX-512.
#include "cpu/simd.h"  // first: the <immintrin.h> include of every kernel file

#include "cpu/gemm_f32.h"

#include <algorithm>

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
    if (l >= SimdLevel::avx512) return {ukernel_avx512, 8, 32, "avx512 8x32"};
    if (l >= SimdLevel::avx2) return {ukernel_avx2, 6, 16, "avx2 6x16"};
#endif
    (void)l;
    return {ukernel_scalar, 4, 16, "scalar"};
}

void gemm(const Kernel& k, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* d, int64_t ldd) {
    for (int64_t c0 = 0; c0 < N; c0 += k.nc) {
        const int w = int(std::min<int64_t>(k.nc, N - c0));
        for (int64_t r0 = 0; r0 < M; r0 += k.mr)
            k.fn(int(std::min<int64_t>(k.mr, M - r0)), w, K, a + r0 * lda, lda, b + c0, ldb, d + r0 * ldd + c0, ldd);
    }
}

void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd, float scale,
               bool accumulate) {
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

}  // namespace slm::kernels::gemm_f32
