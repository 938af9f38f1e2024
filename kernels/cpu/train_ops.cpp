// Training's elementwise ops (train_ops.h): scalar reference first, then the SIMD loops.
#include "cpu/simd.h"  // first: the <immintrin.h> include of every kernel file

#include "cpu/train_ops.h"

#include <algorithm>
#include <cmath>

#include "cpu/expf.h"

namespace slm::kernels::train_ops {

using expf_poly::exp_scalar;

// ---------------------------------------------------------------- scalar reference
static void swiglu_scalar(const float* gate, const float* up, int64_t i, int64_t n, float* out) {
    for (; i < n; i++) out[i] = gate[i] / (1.0f + exp_scalar(-gate[i])) * up[i];
}
static void swiglu_backward_scalar(const float* gate, const float* up, const float* dout, int64_t i, int64_t n,
                                   float* dgate, float* dup) {
    for (; i < n; i++) {
        const float g = gate[i], s = 1.0f / (1.0f + exp_scalar(-g)), d = dout[i];
        dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
        dup[i] = d * g * s;
    }
}
// The row max and sum of e^(scale (x - max)), storing the exponentials in x.
static float max_scalar(const float* x, int i, int n, float mx) {
    for (; i < n; i++) mx = std::max(mx, x[i]);
    return mx;
}
static float exp_sum_scalar(float* x, int i, int n, float mx, float scale) {
    float s = 0;
    for (; i < n; i++) s += (x[i] = exp_scalar(scale * (x[i] - mx)));
    return s;
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX2
SLM_TARGET_AVX2 static int64_t swiglu_avx2(const float* gate, const float* up, int64_t n, float* out) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = expf_poly::exp_avx2(_mm256_sub_ps(zero, g));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    return i;
}
SLM_TARGET_AVX2 static int64_t swiglu_backward_avx2(const float* gate, const float* up, const float* dout, int64_t n,
                                                    float* dgate, float* dup) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dout + i);
        const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, expf_poly::exp_avx2(_mm256_sub_ps(zero, g))));
        const __m256 ds = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), s);
        _mm256_storeu_ps(dgate + i, _mm256_mul_ps(ds, _mm256_add_ps(one, _mm256_mul_ps(g, _mm256_sub_ps(one, s)))));
        _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(d, g), s));
    }
    return i;
}

SLM_TARGET_AVX2 static int64_t exp_avx2(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, expf_poly::exp_avx2(_mm256_loadu_ps(x + i)));
    return i;
}

// ---------------------------------------------------------------- AVX-512
SLM_TARGET_AVX512 static int64_t exp_avx512(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, expf_poly::exp_avx512(_mm512_loadu_ps(x + i)));
    return i;
}
SLM_TARGET_AVX512 static int64_t swiglu_avx512(const float* gate, const float* up, int64_t n, float* out) {
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 e = expf_poly::exp_avx512(_mm512_sub_ps(zero, g));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_loadu_ps(up + i)));
    }
    return i;
}
SLM_TARGET_AVX512 static int64_t swiglu_backward_avx512(const float* gate, const float* up, const float* dout, int64_t n,
                                                        float* dgate, float* dup) {
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i), d = _mm512_loadu_ps(dout + i);
        const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, expf_poly::exp_avx512(_mm512_sub_ps(zero, g))));
        const __m512 ds = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_loadu_ps(up + i)), s);
        _mm512_storeu_ps(dgate + i, _mm512_mul_ps(ds, _mm512_add_ps(one, _mm512_mul_ps(g, _mm512_sub_ps(one, s)))));
        _mm512_storeu_ps(dup + i, _mm512_mul_ps(_mm512_mul_ps(d, g), s));
    }
    return i;
}
// The max of x[0..n) and the index where the vector part ends (the tail goes to the scalar code).
SLM_TARGET_AVX512 static float max_avx512(const float* x, int n, int* done) {
    int i = 0;
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    *done = i;
    return _mm512_reduce_max_ps(m);
}
SLM_TARGET_AVX512 static float exp_sum_avx512(float* x, int n, float mx, float scale, int* done) {
    int i = 0;
    __m512 s = _mm512_setzero_ps();
    const __m512 vm = _mm512_set1_ps(mx), vs = _mm512_set1_ps(scale);
    for (; i + 16 <= n; i += 16) {
        const __m512 e = expf_poly::exp_avx512(_mm512_mul_ps(vs, _mm512_sub_ps(_mm512_loadu_ps(x + i), vm)));
        _mm512_storeu_ps(x + i, e);
        s = _mm512_add_ps(s, e);
    }
    *done = i;
    return simd::hsum(s);
}
SLM_TARGET_AVX512 static int scale_avx512(float* x, int n, float a) {
    int i = 0;
    const __m512 va = _mm512_set1_ps(a);
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(va, _mm512_loadu_ps(x + i)));
    return i;
}
#endif

// ---------------------------------------------------------------- entry points
void exp(SimdLevel l, const float* x, float* y, int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__)
    if (l >= SimdLevel::avx512) i = exp_avx512(x, y, n);
    else if (l >= SimdLevel::avx2) i = exp_avx2(x, y, n);
#endif
    for (; i < n; i++) y[i] = exp_scalar(x[i]);
}

void swiglu(SimdLevel l, const float* gate, const float* up, int64_t n, float* out) {
    int64_t i = 0;
#if defined(__x86_64__)
    if (l >= SimdLevel::avx512) i = swiglu_avx512(gate, up, n, out);
    else if (l >= SimdLevel::avx2) i = swiglu_avx2(gate, up, n, out);
#endif
    swiglu_scalar(gate, up, i, n, out);
}

void swiglu_backward(SimdLevel l, const float* gate, const float* up, const float* dout, int64_t n, float* dgate,
                     float* dup) {
    int64_t i = 0;
#if defined(__x86_64__)
    if (l >= SimdLevel::avx512) i = swiglu_backward_avx512(gate, up, dout, n, dgate, dup);
    else if (l >= SimdLevel::avx2) i = swiglu_backward_avx2(gate, up, dout, n, dgate, dup);
#endif
    swiglu_backward_scalar(gate, up, dout, i, n, dgate, dup);
}

// x[0..n) = e^(scale (x - max)); returns the sum (vector lanes first, then the tail, a fixed order).
static float exp_rows(SimdLevel l, float* x, int n, float scale, float* mx_out) {
    int i = 0;
    float mx = -INFINITY;
#if defined(__x86_64__)
    if (l >= SimdLevel::avx512) mx = max_avx512(x, n, &i);
#endif
    mx = max_scalar(x, i, n, mx);
    i = 0;
    float s = 0;
#if defined(__x86_64__)
    if (l >= SimdLevel::avx512) s = exp_sum_avx512(x, n, mx, scale, &i);
#endif
    s += exp_sum_scalar(x, i, n, mx, scale);
    *mx_out = mx;
    return s;
}

static void scale_row(SimdLevel l, float* x, int n, float a) {
    int i = 0;
#if defined(__x86_64__)
    if (l >= SimdLevel::avx512) i = scale_avx512(x, n, a);
#endif
    for (; i < n; i++) x[i] *= a;
}

void softmax(SimdLevel l, float* x, int n, float scale) {
    float mx = 0;
    const float s = exp_rows(l, x, n, scale, &mx);
    scale_row(l, x, n, 1.0f / s);
}

double cross_entropy(SimdLevel l, float* z, int V, int target, double dloss, bool backward) {
    const float zt = z[target];
    float mx = 0;
    const float s = exp_rows(l, z, V, 1.0f, &mx);
    const double loss = double(mx) + std::log(double(s)) - double(zt);
    if (backward) {
        scale_row(l, z, V, float(dloss / double(s)));
        z[target] -= float(dloss);
    }
    return loss;
}

}  // namespace slm::kernels::train_ops
