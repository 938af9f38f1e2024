#include "cpu/matmul.h"

#include <algorithm>
#include <cstring>

#include "common.h"
#include "cpu/gptq.h"
#include "cpu/kernels.h"

namespace slm {

static void check_shape(const WeightView& W) {
    if (!W.data) fail("matmul: weight has no data");
    if (W.n_in <= 0 || W.n_out <= 0) fail("matmul: bad weight shape %lld x %lld", (long long)W.n_in, (long long)W.n_out);
    const int64_t bs = type_info(W.type).block_size;
    if (W.n_in % bs) fail("matmul: row length %lld is not a multiple of %s's block size %lld", (long long)W.n_in,
                          type_name(W.type), (long long)bs);
}

void matmul(const kernels::KernelSet& ks, const WeightView& W, const float* X, int64_t n_tok, float* Y, ThreadPool& pool,
            MatmulScratch& scratch) {
    if (W.format == WeightFormat::gptq) {  // multi-part format: its own matmul (kernels/cpu/gptq.cpp)
        if (n_tok > 0) kernels::gptq_matmul(W, X, n_tok, Y, pool);
        return;
    }
    check_shape(W);
    if (n_tok <= 0) return;
    const kernels::KernelSet::Row& row = ks.row(W.type);
    const GgmlType act_type = row.ref->vec_dot_type;
    const int64_t n_in = W.n_in, n_out = W.n_out;

    // Convert every activation row once to the weight type's partner format.
    const uint8_t* xq = reinterpret_cast<const uint8_t*>(X);
    int64_t x_stride = n_in * int64_t(sizeof(float));
    if (act_type != GgmlType::F32) {
        const kernels::quantize_row_fn quantize = ks.activation_quantizer(act_type);
        const int64_t qbs = type_info(act_type).block_size;
        if (n_in % qbs)
            fail("matmul: row length %lld is not a multiple of %s's block size %lld", (long long)n_in,
                 type_name(act_type), (long long)qbs);
        x_stride = row_bytes(act_type, n_in);
        scratch.act.resize(size_t(x_stride * n_tok));
        uint8_t* dst = scratch.act.data();
        pool.parallel_for(n_tok, 1, [&](int64_t t0, int64_t t1, int) {
            for (int64_t t = t0; t < t1; t++) quantize(X + t * n_in, dst + t * x_stride, n_in);
        });
        xq = dst;
    }

    // Blocks of output rows x all tokens: a block of weight rows stays in cache while every token uses it.
    // Each Y element is computed the same way whatever the split over threads.
    constexpr int64_t kRowBlock = 16;
    kernels::GemmTile tile;
    tile.n_in = n_in;
    tile.n_out = n_out;
    tile.n_tok = n_tok;
    tile.w = static_cast<const uint8_t*>(W.data);
    tile.w_stride = W.row_size();
    tile.x = xq;
    tile.x_stride = x_stride;
    tile.y = Y;
    tile.y_stride = n_out;
    tile.t0 = 0;
    tile.t1 = n_tok;
    tile.dot = row.k.dot;
    const kernels::gemm_fn gemm = row.k.gemm;
    // Waking the pool costs microseconds: give each chunk at least ~64K multiply-adds (small matmuls, like
    // all of stories260K's, then run on the calling thread alone).
    constexpr int64_t kMinWork = 1 << 16;
    const int64_t grain = std::max<int64_t>(kRowBlock, (kMinWork / std::max<int64_t>(1, n_in * n_tok) + kRowBlock - 1) /
                                                           kRowBlock * kRowBlock);
    pool.parallel_for(n_out, grain, [&](int64_t r0, int64_t r1, int) {
        kernels::GemmTile t = tile;
        for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
            t.r0 = rb;
            t.r1 = std::min(r1, rb + kRowBlock);
            if (gemm) {
                gemm(t);
                continue;
            }
            for (int64_t k = 0; k < n_tok; k++) {
                const uint8_t* xr = xq + k * x_stride;
                float* yr = Y + k * n_out;
                for (int64_t r = t.r0; r < t.r1; r++) yr[r] = t.dot(n_in, t.w + r * t.w_stride, xr);
            }
        }
    });
}

void matmul(const WeightView& W, const float* X, int64_t n_tok, float* Y, ThreadPool& pool, MatmulScratch& scratch,
            MatmulOrder order) {
    const kernels::KernelSet& ks = kernels::active();
    matmul(order == MatmulOrder::llamacpp ? ks.llamacpp() : ks, W, X, n_tok, Y, pool, scratch);
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
