// Helpers shared by the ggml block quantizers (the K-quants and the legacy types).
//
// These reproduce ggml's reference quantizers bit for bit, so every float operation below is written in the
// same order as ggml's (a*b*c is (a*b)*c, sums run left to right). Do not "simplify" the arithmetic, and do
// not call these from a function with an FMA target (SLM_TARGET_AVX2 and up, simd.h): the compiler could fuse
// a multiply-add and change the last bit of a sum, and with it a chosen scale.
//
// Which ggml reference quantizer (no importance matrix) uses which helper:
//   make_qkx2_quants   Q2_K (16 values, nmax 3, |x| weights, MAD), Q4_K (32, 15), Q5_K (32, 31)
//   make_qx_quants     Q6_K (16 values, nmax 32, rmse_type 1: weights x^2)
//                      (Q3_K's reference uses its own make_q3_quants; make_qx_quants is used by the
//                       importance-matrix paths of Q3_K/Q4_0 only)
//   get_scale_min_k4   Q4_K, Q5_K (the 12-byte packing of eight 6-bit scales and eight 6-bit mins)
//   quantize_superblock_k4  Q4_K, Q5_K (steps 1-3 of their quantizers: everything but the packing)
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "types.h"

namespace slm::kernels {

constexpr int QK_K = 256;  // elements per K-quant super-block

// ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is treated as all zeros.
constexpr float GROUP_MAX_EPS = 1e-15f;

// Round to nearest, ties to even, for |fval| < 2^22: adding 1.5*2^23 puts the integer in the mantissa
// (the same trick ggml uses, so results are bit-identical to its quantizers).
inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// Clamps a quantization level to [lo, hi].
inline int clamp_level(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Asymmetric quantization of n values to L[i] in [0, nmax] with x ~= scale * L - min, returned as
// (scale, *the_min = min >= 0). Starts from the plain min/max grid, then tries nstep+1 alternative grids
// (nmax + rmin + rdelta*is levels across the range), solving the weighted least-squares scale and offset for
// each set of levels and keeping the one with the lowest weighted error (absolute error if use_mad, squared
// otherwise). The offset is never allowed to be positive: the block minimum is clamped to <= 0, so a block
// of positive values is quantized from zero. Laux is scratch space of n bytes.
inline float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                              uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {  // constant (or all-zero) block: every level 0, the offset carries the value
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = uint8_t(clamp_level(l, 0, nmax));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_level(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = uint8_t(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        // Weighted least squares for x ~= this_scale * l + this_min (2x2 normal equations).
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Symmetric quantization of n values to L[i] = l + nmax with l in [-nmax, nmax-1], x ~= scale * l.
// The scale is signed: it maps the element of largest magnitude to -nmax exactly, which buys one extra level
// on that element's side. rmse_type picks the refinement:
//   0   plain: scale = max / -nmax
//   >0  also try 18 nearby grids (nmax +- 0.1..0.9) and keep the one with the best weighted least-squares fit;
//       weights qw if given, else by rmse_type: 1 -> x^2, 2 -> 1, 3 -> |x|, 4 -> sqrt|x|
//   <0  one least-squares step only, averaged with the plain scale
inline float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw) {
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1));
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = true;
    }
    auto weight = [&](int i) -> float {
        if (qw) return qw[i];
        switch (rmse_type) {
            case 1: return x[i] * x[i];
            case 2: return 1;
            case 3: return std::fabs(x[i]);
            default: return std::sqrt(std::fabs(x[i]));
        }
    };
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = int8_t(l + nmax);
        const float w = weight(i);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    // The fit quality of a grid is sumlx^2 / suml2 (larger is better); compare without dividing.
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = weight(i);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i)
                L[i] = int8_t(nmax + clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// The 12-byte scales field of Q4_K / Q5_K holds eight 6-bit scales and eight 6-bit mins:
//   bytes 0..3:  scale j (low 6 bits) | high 2 bits of scale j+4 (bits 6-7)
//   bytes 4..7:  min j   (low 6 bits) | high 2 bits of min j+4   (bits 6-7)
//   bytes 8..11: low 4 bits of scale j+4 | low 4 bits of min j+4 (high nibble)
// Returns scale j in *d and min j in *m (j in 0..7).
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = uint8_t((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// All eight scales and eight mins of a Q4_K / Q5_K block at once (what the SIMD dots want):
// out[0..7] = scales 0..7, out[8..15] = mins 0..7. Same values as get_scale_min_k4, done on 32-bit words.
inline void unpack_scales_mins_k4(const uint8_t* q, uint8_t out[16]) {
    uint32_t w[3];
    std::memcpy(w, q, 12);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    const uint32_t sc_lo = w[0] & low6;                                      // scales 0..3
    const uint32_t mn_lo = w[1] & low6;                                      // mins 0..3
    const uint32_t sc_hi = (w[2] & low4) | (((w[0] >> 6) & low2) << 4);        // scales 4..7
    const uint32_t mn_hi = ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4); // mins 4..7
    const uint32_t o[4] = {sc_lo, sc_hi, mn_lo, mn_hi};
    std::memcpy(out, o, 16);
}

// The inverse of get_scale_min_k4: packs 6-bit scale ls and min lm of sub-block j into the 12 bytes.
// Call it for j = 0..3 before j = 4..7 (as ggml does): j >= 4 ORs its high bits into the bytes j < 4 wrote.
inline void set_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* q) {
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
        q[j - 4] |= uint8_t((ls >> 4) << 6);
        q[j - 0] |= uint8_t((lm >> 4) << 6);
    }
}

// Steps 1-3 of ggml's Q4_K and Q5_K reference quantizers for one super-block (they differ only in the level
// count and the grid search: Q4_K nmax 15, rmin -1, nstep 20; Q5_K nmax 31, rmin -0.5, nstep 15). Sets the
// block's scales (12 bytes, set_scale_min_k4), d and dmin, and the levels L[0..QK_K) in [0, nmax]; packing the
// levels is the caller's (the formats store them differently). Block: block_q4_K or block_q5_K.
template <class Block>
inline void quantize_superblock_k4(const float* x, int nmax, float rmin, int nstep, Block& b, uint8_t* L) {
    uint8_t Laux[32];
    float weights[32];
    float mins[QK_K / 32];
    float scales[QK_K / 32];
    // 1. Each sub-block on its own: best float scale and min for nmax+1 levels, with weights that favour
    //    large values (|x| plus the sub-block's RMS).
    float max_scale = 0, max_min = 0;  // scales and mins are both >= 0
    for (int j = 0; j < QK_K / 32; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }

    // 2. Quantize the eight scales and eight mins to 6 bits against the largest of each.
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = uint8_t(nearest_int(inv_scale * scales[j]));
        uint8_t lm = uint8_t(nearest_int(inv_min * mins[j]));
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        set_scale_min_k4(j, ls, lm, b.scales);
    }
    b.d = fp32_to_fp16(max_scale / 63.f);
    b.dmin = fp32_to_fp16(max_min / 63.f);

    // 3. Requantize the values with the scales as stored (rounded), so the levels fit what a reader sees.
    //    A sub-block whose stored scale is 0 keeps the levels from step 1 (they do not matter then).
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, b.scales, &sc, &m);
        const float d = fp16_to_fp32(b.d) * sc;
        if (!d) continue;
        const float dm = fp16_to_fp32(b.dmin) * m;
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = uint8_t(clamp_level(l, 0, nmax));
        }
    }
}

}  // namespace slm::kernels
