#include "cpu/matmul.h"

#include <algorithm>
#include <cstring>

#include "common.h"
#include "cpu/cpu_features.h"
#include "cpu/gptq.h"
#include "cpu/kernels.h"
#include "cpu/q4_K.h"

namespace slm {

static void check_shape(const WeightView& W) {
    if (!W.data) fail("matmul: weight has no data");
    if (W.n_in <= 0 || W.n_out <= 0) fail("matmul: bad weight shape %lld x %lld", (long long)W.n_in, (long long)W.n_out);
    const int64_t bs = type_info(W.type).block_size;
    if (W.n_in % bs) fail("matmul: row length %lld is not a multiple of %s's block size %lld", (long long)W.n_in,
                          type_name(W.type), (long long)bs);
}

void matmul(const WeightView& W, const float* X, int64_t n_tok, float* Y, ThreadPool& pool, MatmulScratch& scratch,
            MatmulOrder order) {
    if (W.format == WeightFormat::gptq) {  // multi-part format: its own matmul (kernels/cpu/gptq.cpp)
        if (n_tok > 0) kernels::gptq_matmul(W, X, n_tok, Y, pool);
        return;
    }
    check_shape(W);
    if (n_tok <= 0) return;
    const kernels::TypeOps& ops = kernels::type_ops(W.type);
    // llamacpp order: its x86 vec_dot kernels are AVX2 code even on AVX-512 CPUs, so use slm's AVX2 kernels
    // (which sum as those do) wherever the CPU has AVX2.
    const kernels::vec_dot_fn dot = order == MatmulOrder::llamacpp && ops.dot_avx2 && simd_level() >= SimdLevel::avx2
                                        ? ops.dot_avx2
                                        : kernels::best_dot(W.type);
    const bool repacked_q4_K = order == MatmulOrder::llamacpp && W.type == GgmlType::Q4_K && W.n_out % 8 == 0;
    const int64_t n_in = W.n_in, n_out = W.n_out;

    // Convert every activation row once to the weight type's partner format.
    const uint8_t* xq = reinterpret_cast<const uint8_t*>(X);
    int64_t x_stride = n_in * int64_t(sizeof(float));
    if (ops.vec_dot_type != GgmlType::F32) {
        const kernels::TypeOps& qops = kernels::type_ops(ops.vec_dot_type);
        const kernels::quantize_row_fn quantize = kernels::activation_quantizer(qops);
        if (!quantize) fail("matmul: no quantizer for activation type %s", type_name(ops.vec_dot_type));
        const int64_t qbs = type_info(ops.vec_dot_type).block_size;
        if (n_in % qbs)
            fail("matmul: row length %lld is not a multiple of %s's block size %lld", (long long)n_in,
                 type_name(ops.vec_dot_type), (long long)qbs);
        x_stride = row_bytes(ops.vec_dot_type, n_in);
        scratch.act.resize(size_t(x_stride * n_tok));
        uint8_t* dst = scratch.act.data();
        pool.parallel_for(n_tok, 1, [&](int64_t t0, int64_t t1, int) {
            for (int64_t t = t0; t < t1; t++) quantize(X + t * n_in, dst + t * x_stride, n_in);
        });
        xq = dst;
    }

    // Blocks of output rows x all tokens: a block of weight rows stays in cache while every token uses it.
    // Each Y element is one dot call, so the split over threads does not change any result.
    constexpr int64_t kRowBlock = 16;
    const int64_t wstride = W.row_size();
    const uint8_t* wbase = static_cast<const uint8_t*>(W.data);
    // Waking the pool costs microseconds: give each chunk at least ~64K multiply-adds (small matmuls, like
    // all of stories260K's, then run on the calling thread alone).
    constexpr int64_t kMinWork = 1 << 16;
    const int64_t grain = std::max<int64_t>(kRowBlock, (kMinWork / std::max<int64_t>(1, n_in * n_tok) + kRowBlock - 1) /
                                                           kRowBlock * kRowBlock);
    pool.parallel_for(n_out, grain, [&](int64_t r0, int64_t r1, int) {
        for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
            const int64_t re = std::min(r1, rb + kRowBlock);
            for (int64_t t = 0; t < n_tok; t++) {
                const uint8_t* xr = xq + t * x_stride;
                float* yr = Y + t * n_out;
                kernels::vec_dot_fn f = dot;
                if (repacked_q4_K) f = t < n_tok - n_tok % 4 ? kernels::dot_q4_K_q8_K_llamacpp_gemm : kernels::dot_q4_K_q8_K_llamacpp_gemv;
                for (int64_t r = rb; r < re; r++) yr[r] = f(n_in, wbase + r * wstride, xr);
            }
        }
    });
}

void dequantize_row(const WeightView& W, int64_t row, float* out) {
    if (W.format == WeightFormat::gptq) {
        if (row < 0 || row >= W.n_out) fail("dequantize_row: row %lld out of range", (long long)row);
        kernels::gptq_dequantize_row(W, row, out);
        return;
    }
    check_shape(W);
    if (row < 0 || row >= W.n_out) fail("dequantize_row: row %lld out of range [0, %lld)", (long long)row, (long long)W.n_out);
    kernels::type_ops(W.type).dequantize(W.row(row), out, W.n_in);
}

void matmul_reference(const WeightView& W, const float* X, int64_t n_tok, float* Y) {
    if (W.format != WeightFormat::gptq) check_shape(W);
    std::vector<float> w(size_t(W.n_in));
    for (int64_t r = 0; r < W.n_out; r++) {
        dequantize_row(W, r, w.data());
        for (int64_t t = 0; t < n_tok; t++) {
            double s = 0;
            const float* x = X + t * W.n_in;
            for (int64_t i = 0; i < W.n_in; i++) s += double(w[size_t(i)]) * double(x[i]);
            Y[t * W.n_out + r] = float(s);
        }
    }
}

}  // namespace slm
