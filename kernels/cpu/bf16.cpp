// BF16: bfloat16, the top half of an IEEE float32, one value per "block" (block size 1, 2 bytes), so any row
// length is legal.
//
//   bits 15 | 14..7    | 6..0
//   sign    | exponent | mantissa      value = the float32 whose bits are (b << 16)
//
// Activations stay F32 (vec_dot_type = F32). quantize rounds to nearest even (src/types.h; NaN stays NaN),
// dequantize is exact: a 16-bit shift. The scalar reference sums in double; the SIMD variants widen the
// 16-bit values to 32 bits and shift them into the float's top half.
#include "cpu/kernels.h"
#include "cpu/float_gemm.h"
#include "cpu/simd.h"

namespace slm::kernels {

namespace {

void quantize_bf16(const float* x, void* vy, int64_t n) {
    bf16_t* y = static_cast<bf16_t*>(vy);
    for (int64_t i = 0; i < n; i++) y[i] = fp32_to_bf16(x[i]);
}

void dequantize_bf16(const void* vx, float* y, int64_t n) {
    const bf16_t* x = static_cast<const bf16_t*>(vx);
    for (int64_t i = 0; i < n; i++) y[i] = bf16_to_fp32(x[i]);
}

float dot_bf16_scalar(int64_t n, const void* vx, const void* vy) {
    const bf16_t* x = static_cast<const bf16_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += double(bf16_to_fp32(x[i])) * double(y[i]);
    return float(sum);
}

SLM_TARGET_AVX2 static inline __m256 load8_bf16(const bf16_t* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// Four accumulators hide the FMA latency; the tail (n % 8) is done one element at a time.
SLM_TARGET_AVX2 float dot_bf16_avx2(int64_t n, const void* vx, const void* vy) {
    const bf16_t* x = static_cast<const bf16_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load8_bf16(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(load8_bf16(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load8_bf16(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load8_bf16(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load8_bf16(x + i), _mm256_loadu_ps(y + i), acc0);
    float sum = simd::hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += bf16_to_fp32(x[i]) * y[i];
    return sum;
}

SLM_TARGET_AVX512 static inline __m512 widen16_bf16(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

SLM_TARGET_AVX512 static inline __m512 load16(const bf16_t* p) {
    return widen16_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The tail uses masked loads, which never touch the masked-off bytes (no read past the row).
SLM_TARGET_AVX512 float dot_bf16_avx512(int64_t n, const void* vx, const void* vy) {
    const bf16_t* x = static_cast<const bf16_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(load16(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(load16(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(load16(x + i + 32), _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(load16(x + i + 48), _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(load16(x + i), _mm512_loadu_ps(y + i), acc0);
    if (i < n) {
        __mmask16 m = __mmask16((1u << (n - i)) - 1);
        __m512 xv = widen16_bf16(_mm256_maskz_loadu_epi16(m, x + i));
        acc1 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, y + i), acc1);
    }
    return simd::hsum(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// GEMM tiles (float_gemm.h): the weights widened as in the dots.
struct BF16Load {
    SLM_TARGET_AVX2 static __m256 load8(const void* row, int64_t i) { return load8_bf16(static_cast<const bf16_t*>(row) + i); }
    SLM_TARGET_AVX512 static __m512 load16(const void* row, int64_t i) { return kernels::load16(static_cast<const bf16_t*>(row) + i); }
};

}  // namespace

TypeKernels kernels_bf16() {
    TypeKernels k = dot_kernels({GgmlType::BF16, quantize_bf16, dequantize_bf16, GgmlType::F32, dot_bf16_scalar},
                                dot_bf16_avx2, dot_bf16_avx512);
    k.level[int(SimdLevel::avx2)].gemm = float_gemm::gemm_avx2<BF16Load>;
    k.level[int(SimdLevel::avx512)].gemm = float_gemm::gemm_avx512<BF16Load>;
    return k;
}

}  // namespace slm::kernels
