// Q8_K: the activation partner of every K-quant (x is quantized to it before a dot product with Q2_K..Q6_K).
//
// block_q8_K (292 bytes, 256 values):
//   float   d;           scale: value = d * qs[i]
//   int8_t  qs[256];     quants in [-127, 127]
//   int16_t bsums[16];   sum of each group of 16 quants (lets the K-quant dots fold in their minimums cheaply)
//
// The scale maps the element of largest magnitude to -127 exactly (ggml uses -127/max, keeping the sign of
// max), so no quant can overflow.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/kquant_common.h"
#include "cpu/q8_K.h"

namespace slm::kernels {

void quantize_row_q8_K(const float* x, void* vy, int64_t n) {
    block_q8_K* y = static_cast<block_q8_K*>(vy);
    const int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0) {
            y[i].d = 0;
            std::memset(y[i].qs, 0, sizeof(y[i].qs));
            std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = int8_t(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += y[i].qs[j * 16 + k];
            y[i].bsums[j] = int16_t(sum);
        }
        y[i].d = 1 / iscale;
    }
}

void dequantize_row_q8_K(const void* vx, float* y, int64_t n) {
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) *y++ = x[i].d * x[i].qs[j];
}

static float dot_q8_K_q8_K_scalar(int64_t n, const void* vx, const void* vy) {
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t s = 0;
        for (int j = 0; j < QK_K; j++) s += int32_t(x[i].qs[j]) * y[i].qs[j];
        sum += x[i].d * y[i].d * float(s);
    }
    return sum;
}

// Q8_K is only an activation type: no SIMD variants (its quantizer runs once per activation row).
TypeKernels kernels_q8_K() {  // the reference only: Q8_K is the K-quants' activation type
    return dot_kernels({GgmlType::Q8_K, quantize_row_q8_K, dequantize_row_q8_K, GgmlType::Q8_K, dot_q8_K_q8_K_scalar},
                       nullptr);
}

}  // namespace slm::kernels
