// F32: plain IEEE single precision, one value per "block" (block size 1, 4 bytes), so any row length is legal.
//
//   byte 0..3: float32, little-endian        value = the float itself
//
// Activations stay F32 too (vec_dot_type = F32): "quantize" and "dequantize" are copies.
// The scalar reference sums in double, so it is the accurate answer the SIMD variants (float lanes) are
// compared with.
#include <cstring>

#include "cpu/kernels.h"
#include "cpu/float_gemm.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

// (memcpy must not see null pointers, which an empty row may have)
void copy_f32(const float* x, void* y, int64_t n) {
    if (n > 0) std::memcpy(y, x, size_t(n) * sizeof(float));
}
void copy_f32_out(const void* x, float* y, int64_t n) {
    if (n > 0) std::memcpy(y, x, size_t(n) * sizeof(float));
}

float dot_f32_scalar(int64_t n, const void* vx, const void* vy) {
    const float* x = static_cast<const float*>(vx);
    const float* y = static_cast<const float*>(vy);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += double(x[i]) * double(y[i]);
    return float(sum);
}

// Four independent accumulators hide the FMA latency; the tail (n % 8) is done one element at a time.
SLM_TARGET_AVX2 float dot_f32_avx2(int64_t n, const void* vx, const void* vy) {
    const float* x = static_cast<const float*>(vx);
    const float* y = static_cast<const float*>(vy);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    float sum = simd::hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

// The tail uses masked loads, which never touch the masked-off bytes (no read past the row).
SLM_TARGET_AVX512 float dot_f32_avx512(int64_t n, const void* vx, const void* vy) {
    const float* x = static_cast<const float*>(vx);
    const float* y = static_cast<const float*>(vy);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
    if (i < n) {
        __mmask16 m = __mmask16((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), acc1);
    }
    return simd::hsum(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// GEMM tiles (float_gemm.h).
struct F32Load {
    SLM_TARGET_AVX2 static __m256 load8(const void* row, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(row) + i); }
    SLM_TARGET_AVX512 static __m512 load16(const void* row, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(row) + i); }
};

}  // namespace

TypeKernels kernels_f32() {
    TypeKernels k = dot_kernels({GgmlType::F32, copy_f32, copy_f32_out, GgmlType::F32, dot_f32_scalar},
                                dot_f32_avx2, dot_f32_avx512);
    k.level[int(SimdLevel::avx2)].gemm = float_gemm::gemm_avx2<F32Load>;
    k.level[int(SimdLevel::avx512)].gemm = float_gemm::gemm_avx512<F32Load>;
    return k;
}

}  // namespace slm::kernels
