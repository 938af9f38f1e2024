// F16: IEEE half precision, one value per "block" (block size 1, 2 bytes), so any row length is legal.
//
//   bits 15 | 14..10   | 9..0
//   sign    | exponent | mantissa      value = (-1)^sign * 2^(exponent-15) * 1.mantissa
//                                      (exponent 0: subnormal 2^-14 * 0.mantissa; 31: inf / NaN)
//
// Activations stay F32 (vec_dot_type = F32): more accurate than ggml, which rounds them to F16 too.
// quantize rounds to nearest even (src/types.h, exact like F16C's vcvtps2ph); dequantize is exact.
// The scalar reference sums in double; the SIMD variants convert 8 / 16 halves at a time with F16C.
#include "cpu/f16.h"

#include <cmath>

#include "cpu/kernels.h"
#include "cpu/float_gemm.h"
#include "cpu/simd.h"

namespace slm::kernels {

// ggml_vec_dot_f16 summed in the order of its AVX2 code: 4 accumulators of 8 float lanes over steps of 32
// elements (lane l of accumulator j takes element 32*s + 8*j + l, by fused multiply-add), accumulators added
// pairwise (0+2, 1+3, then 0+1), the 8 lanes folded high half onto low half and then as (0+1) + (2+3); the
// elements past the last whole step are added in double. Summation order is all that differs from a plain dot.
float dot_f16_ggml_order(int n, const fp16_t* x, const float* y) {
    float acc[4][8] = {};
    const int np = n & ~31;
    for (int i = 0; i < np; i += 32)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 8; l++)
                acc[j][l] = std::fma(fp16_to_fp32(x[i + 8 * j + l]), y[i + 8 * j + l], acc[j][l]);
    float t[4];
    for (int l = 0; l < 4; l++) {
        const float lo = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
        const float hi = (acc[0][l + 4] + acc[2][l + 4]) + (acc[1][l + 4] + acc[3][l + 4]);
        t[l] = lo + hi;
    }
    double sum = (t[0] + t[1]) + (t[2] + t[3]);
    for (int i = np; i < n; i++) sum += double(fp16_to_fp32(x[i]) * y[i]);
    return float(sum);
}

namespace {

void quantize_f16(const float* x, void* vy, int64_t n) {
    fp16_t* y = static_cast<fp16_t*>(vy);
    for (int64_t i = 0; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

void dequantize_f16(const void* vx, float* y, int64_t n) {
    const fp16_t* x = static_cast<const fp16_t*>(vx);
    for (int64_t i = 0; i < n; i++) y[i] = fp16_to_fp32(x[i]);
}

float dot_f16_scalar(int64_t n, const void* vx, const void* vy) {
    const fp16_t* x = static_cast<const fp16_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += double(fp16_to_fp32(x[i])) * double(y[i]);
    return float(sum);
}

SLM_TARGET_AVX2 static inline __m256 load8_f16(const fp16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Four accumulators hide the FMA latency; the tail (n % 8) is done one element at a time.
SLM_TARGET_AVX2 float dot_f16_avx2(int64_t n, const void* vx, const void* vy) {
    const fp16_t* x = static_cast<const fp16_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load8_f16(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(load8_f16(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load8_f16(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load8_f16(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load8_f16(x + i), _mm256_loadu_ps(y + i), acc0);
    float sum = simd::hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += fp16_to_fp32(x[i]) * y[i];
    return sum;
}

SLM_TARGET_AVX512 static inline __m512 load16_f16(const fp16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The tail uses masked loads, which never touch the masked-off bytes (no read past the row).
SLM_TARGET_AVX512 float dot_f16_avx512(int64_t n, const void* vx, const void* vy) {
    const fp16_t* x = static_cast<const fp16_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(load16_f16(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(load16_f16(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(load16_f16(x + i + 32), _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(load16_f16(x + i + 48), _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(load16_f16(x + i), _mm512_loadu_ps(y + i), acc0);
    if (i < n) {
        __mmask16 m = __mmask16((1u << (n - i)) - 1);
        __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        acc1 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, y + i), acc1);
    }
    return simd::hsum(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// GEMM tiles (float_gemm.h): the weights widened by F16C as in the dots.
struct F16Load {
    SLM_TARGET_AVX2 static __m256 load8(const void* row, int64_t i) { return load8_f16(static_cast<const fp16_t*>(row) + i); }
    SLM_TARGET_AVX512 static __m512 load16(const void* row, int64_t i) { return load16_f16(static_cast<const fp16_t*>(row) + i); }
};

}  // namespace

TypeKernels kernels_f16() {
    TypeKernels k = dot_kernels({GgmlType::F16, quantize_f16, dequantize_f16, GgmlType::F32, dot_f16_scalar},
                                dot_f16_avx2, dot_f16_avx512);
    k.level[int(SimdLevel::avx2)].gemm = float_gemm::gemm_avx2<F16Load>;
    k.level[int(SimdLevel::avx512)].gemm = float_gemm::gemm_avx512<F16Load>;
    return k;
}

}  // namespace slm::kernels
