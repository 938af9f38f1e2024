// The CPU side of training: the three products of a linear layer (CpuBackend::matmul_train / matmul_dx /
// matmul_dw, declared in the training section of cpu_backend.h), all on the f32 GEMM micro-kernel of
// gemm_f32.h.
//
// Each product is blocked so each thread owns a disjoint block of the output and sums it in a fixed order
// (the K blocks of an element are added in order, whatever the split over threads): results do not depend on
// the thread count (checkpoint/resume is bit-exact across --threads). A quantized weight is dequantized one
// tile (whole blocks of its type) at a time into a thread-local buffer, each weight element once per call.
//
//   matmul_train: y[t][o] (+)= scale * sum_i x[t][i] W[o][i]. Computed transposed, Y^T = W X^T, so the
//     dequantized tile of W (rows o, columns i: the order dequantizers write) is the broadcast operand and
//     X^T (transposed once per call, into panels of the micro-kernel's width) the vector operand: each weight element is dequantized once however many
//     tokens use it. Work items: blocks of kRows rows of W; an item walks K = n_in in blocks of kK, then
//     transposes its rows of Y^T into y.
//   matmul_dx: dx[t][i] (+)= sum_o dy[t][o] W[o][i]. Work items: column chunks of W (whole blocks); an item
//     dequantizes tiles of kRowTile rows x chunk columns and adds dy[:, tile rows] x tile, row groups outer.
//     A LoRA pair rides along: u^T = A X^T from the same X^T, and each item adds (scale u^T)-weighted rows of B
//     before transposing, so y is written once.
//   matmul_dw: dW[o][i] += scale * sum_t dy[t][o] x[t][i] = (scale dy)^T x (or its transpose when x is narrow).
//     Work items: blocks of 64 rows x 128 columns; K = all tokens in one partial sum.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend.h"
#include "common.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm_f32.h"
#include "cpu/kernels.h"
#include "cpu/train_ops.h"
#include "threadpool.h"

namespace slm {

namespace cpu_train {

using kernels::gemm_f32::Kernel;

static void check_ggml(const WeightView& W, const char* op) {
    if (W.format != WeightFormat::ggml) fail("%s: multi-part weights are not supported on the CPU", op);
    const kernels::TypeOps& ops = kernels::type_ops(W.type);
    if (!ops.dequantize) fail("%s: no dequantizer for type %s", op, type_name(W.type));
    const int64_t bs = type_info(W.type).block_size;
    if (W.n_in % bs) fail("%s: row length %lld is not a multiple of the %s block (%lld)", op, (long long)W.n_in,
                          type_name(W.type), (long long)bs);
}

// dst = scale * src^T (src rows x cols), split over the pool by blocks of source columns.
static void transpose_par(ThreadPool& pool, const Kernel& k, const float* src, int64_t rows, int64_t cols, float* dst, float scale) {
    constexpr int64_t kCols = 64;
    const int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, rows * kCols));  // ~32K floats
    pool.parallel_for((cols + kCols - 1) / kCols, grain, [&](int64_t b0, int64_t b1, int) {
        const int64_t c0 = b0 * kCols, c1 = std::min(cols, b1 * kCols);
        kernels::gemm_f32::transpose(k, src + c0, rows, c1 - c0, cols, dst + c0 * rows, rows, scale, false);
    });
}

// x [rows][cols] transposed into panels of k.nc rows of x each (gemm_panels' b layout): panel j holds
// x[j nc .. j nc + nc)^T as cols rows of k.nc floats, at dst + j * cols * k.nc. Split over the pool by panels.
static void transpose_panels(ThreadPool& pool, const Kernel& k, const float* x, int64_t rows, int64_t cols, float* dst) {
    const int64_t n_panels = (rows + k.nc - 1) / k.nc;
    const int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, k.nc * cols));
    pool.parallel_for(n_panels, grain, [&](int64_t b0, int64_t b1, int) {
        for (int64_t j = b0; j < b1; j++)
            kernels::gemm_f32::transpose(k, x + j * k.nc * cols, std::min<int64_t>(k.nc, rows - j * k.nc), cols, cols,
                                         dst + j * cols * k.nc, k.nc, 1.0f, false);
    });
}

// Rows [o0, o0+nr) x columns [i0, i0+nc) of W as f32: a pointer into W itself for F32, else dequantized into
// `tile` (row stride nc). Returns the pointer and sets *ld to its row stride.
static const float* weight_tile(const WeightView& W, kernels::dequantize_row_fn dequantize, int64_t o0, int64_t nr, int64_t i0,
                                int64_t nc, float* tile, int64_t* ld) {
    if (W.type == GgmlType::F32) {
        *ld = W.n_in;
        return reinterpret_cast<const float*>(W.row(o0)) + i0;
    }
    const int64_t bs = type_info(W.type).block_size, bpb = type_info(W.type).type_size;
    for (int64_t r = 0; r < nr; r++) dequantize(W.row(o0 + r) + (i0 / bs) * bpb, tile + r * nc, nc);
    *ld = nc;
    return tile;
}

void matmul_train(ThreadPool& pool, Scratch& s, const WeightView& W, const float* x, int n, float* y,
                  const Backend::LoraTerm* lora) {
    check_ggml(W, "matmul_train");
    if (n <= 0) return;
    const kernels::dequantize_row_fn dequantize = kernels::active().dequantizer(W.type);
    const Kernel k = kernels::gemm_f32::for_level(simd_level());
    const int64_t n_in = W.n_in, n_out = W.n_out;
    constexpr int64_t kK = 256;  // a multiple of every block size (32, 256)
    // Enough items for the threads on narrow matrices (k, v: 192 rows); the split never changes a sum.
    const int64_t kRows = n_out >= 64 * 4 * pool.size() ? 64 : 16;
    // X^T in panels of k.nc tokens, so each K block of it is read as contiguous rows (no copy per item).
    const int64_t pstride = n_in * k.nc;
    s.xt.resize(size_t(pstride) * size_t((n + k.nc - 1) / k.nc));
    transpose_panels(pool, k, x, n, n_in, s.xt.data());
    const int r = lora ? lora->r : 0;
    if (r) {  // u^T [r][n] = A X^T (r x n_in x n: small, one thread), u = its transpose, ut = scale u^T for B
        s.ut.assign(size_t(r) * size_t(n), 0.0f);
        kernels::gemm_f32::gemm_panels(k, r, n, n_in, lora->A, n_in, s.xt.data(), pstride, s.ut.data(), n);
        kernels::gemm_f32::transpose(k, s.ut.data(), r, n, n, lora->u, r, 1.0f, false);
        for (float& v : s.ut) v *= lora->scale;
    }
    s.tiles.resize(size_t(pool.size()));
    s.yt.resize(size_t(pool.size()));
    const int64_t n_items = (n_out + kRows - 1) / kRows;
    // Small products (stories260K) on the calling thread alone: waking the pool costs microseconds.
    const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, kRows * n_in * n));
    pool.parallel_for(n_items, grain, [&](int64_t b0, int64_t b1, int thread) {
        std::vector<float>& tile = s.tiles[size_t(thread)];
        std::vector<float>& yt = s.yt[size_t(thread)];
        tile.resize(size_t(kRows * std::min(kK, n_in)));
        yt.resize(size_t(kRows) * size_t(n));
        for (int64_t item = b0; item < b1; item++) {
            const int64_t o0 = item * kRows, nr = std::min(kRows, n_out - o0);
            std::fill(yt.begin(), yt.begin() + nr * n, 0.0f);
            for (int64_t i0 = 0; i0 < n_in; i0 += kK) {
                const int64_t kc = std::min(kK, n_in - i0);
                int64_t lda = 0;
                const float* a = weight_tile(W, dequantize, o0, nr, i0, kc, tile.data(), &lda);
                kernels::gemm_f32::gemm_panels(k, nr, n, kc, a, lda, s.xt.data() + i0 * k.nc, pstride, yt.data(), n);
            }
            if (r) kernels::gemm_f32::gemm(k, nr, n, r, lora->B + o0 * r, r, s.ut.data(), n, yt.data(), n);
            kernels::gemm_f32::transpose(k, yt.data(), nr, n, n, y + o0, n_out, 1.0f, false);
        }
    });
}

void matmul_dx(ThreadPool& pool, Scratch& s, const WeightView& W, const float* dy, int n, float* dx, bool accumulate) {
    check_ggml(W, "matmul_dx");
    const kernels::dequantize_row_fn dequantize = kernels::active().dequantizer(W.type);
    const Kernel k = kernels::gemm_f32::for_level(simd_level());
    const int64_t n_in = W.n_in, n_out = W.n_out, bs = type_info(W.type).block_size;
    constexpr int64_t kRowTile = 128;
    const int64_t chunk = bs * std::max<int64_t>(1, 32 / bs);  // columns per item: whole blocks
    const int64_t n_chunks = (n_in + chunk - 1) / chunk;
    if (!accumulate) std::fill(dx, dx + size_t(n) * size_t(n_in), 0.0f);
    if (n <= 0) return;
    s.tiles.resize(size_t(pool.size()));
    const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, chunk * n_out * n));
    // Rows of W in groups of kGroup outer, an item's chunks inner: the group's slice of dy (n x kGroup floats)
    // stays in cache for all of them instead of being read again per chunk (the tied head's dy is n x 49152
    // floats, far larger than any cache). Each dx element still adds its row tiles in ascending order.
    constexpr int64_t kGroup = 4 * kRowTile;
    pool.parallel_for(n_chunks, grain, [&](int64_t b0, int64_t b1, int thread) {
        std::vector<float>& tile = s.tiles[size_t(thread)];
        tile.resize(size_t(kRowTile * chunk));
        for (int64_t g0 = 0; g0 < n_out; g0 += kGroup)
            for (int64_t c = b0; c < b1; c++) {
                const int64_t i0 = c * chunk, nc = std::min(chunk, n_in - i0);
                for (int64_t o0 = g0; o0 < std::min(n_out, g0 + kGroup); o0 += kRowTile) {
                    const int64_t nr = std::min<int64_t>(kRowTile, n_out - o0);
                    int64_t ldw = 0;
                    const float* w = weight_tile(W, dequantize, o0, nr, i0, nc, tile.data(), &ldw);
                    kernels::gemm_f32::gemm(k, n, nc, nr, dy + o0, n_out, w, ldw, dx + i0, n_in);
                }
            }
    });
}

// d[M][N] += a[M][K] b[K][N] over the pool, by blocks of 64 rows x 128 columns of d (K in one partial sum).
static void gemm_par(ThreadPool& pool, const Kernel& k, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda,
                     const float* b, int64_t ldb, float* d, int64_t ldd) {
    constexpr int64_t kRows = 64, kCols = 128;
    const int64_t n_rt = (M + kRows - 1) / kRows, n_ct = (N + kCols - 1) / kCols;
    const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, kRows * kCols * K));
    pool.parallel_for(n_rt * n_ct, grain, [&](int64_t b0, int64_t b1, int) {
        for (int64_t item = b0; item < b1; item++) {
            const int64_t r0 = (item / n_ct) * kRows, c0 = (item % n_ct) * kCols;
            kernels::gemm_f32::gemm(k, std::min(kRows, M - r0), std::min(kCols, N - c0), K, a + r0 * lda, lda, b + c0,
                                    ldb, d + r0 * ldd + c0, ldd);
        }
    });
}

void matmul_dw(ThreadPool& pool, Scratch& s, const float* dy, const float* x, int n, int n_out, int n_in, float scale,
               float* dW) {
    if (n <= 0) return;
    const Kernel k = kernels::gemm_f32::for_level(simd_level());
    // Either dW += (scale dy)^T x, transposing dy [n][n_out]; or, when x is the narrow one (LoRA's dB: n_in = r),
    // dW^T = (scale x)^T dy into a buffer added transposed to dW: fewer floats moved. Either way each element is
    // one partial sum over the n tokens in order.
    const int64_t cost_dy = int64_t(n) * n_out, cost_x = int64_t(n) * n_in + int64_t(n_out) * n_in;
    if (cost_dy <= cost_x) {
        s.xt.resize(size_t(n_out) * size_t(n));
        transpose_par(pool, k, dy, n, n_out, s.xt.data(), scale);
        gemm_par(pool, k, n_out, n_in, n, s.xt.data(), n, x, n_in, dW, n_in);
    } else {
        s.xt.resize(size_t(n_in) * size_t(n));
        transpose_par(pool, k, x, n, n_in, s.xt.data(), scale);
        s.wt.assign(size_t(n_in) * size_t(n_out), 0.0f);
        gemm_par(pool, k, n_in, n_out, n, s.xt.data(), n, dy, n_out, s.wt.data(), n_out);
        kernels::gemm_f32::transpose(k, s.wt.data(), n_in, n_out, n_out, dW, n_in, 1.0f, true);
    }
}

// ---- attention over packed sequences, every product on the GEMM micro-kernel ----
// Work items: (sequence, KV head); an item walks the query heads of its group in order, so the GQA sums into
// dk, dv of its KV head have a fixed order and no two items write the same rows. Causality trims the products
// to row blocks of the micro-kernel's height: scores of row block [r0, r0+mr) need keys 0 .. r0+mr-1 only.

void attention_train(ThreadPool& pool, Scratch& s, const float* q, const float* k, const float* v, const int* seg_off,
                     const int* seg_len, const size_t* prob_off, int n_seg, const AttentionShape& sh, float* out,
                     float* probs) {
    const SimdLevel lvl = simd_level();
    const Kernel kern = kernels::gemm_f32::for_level(lvl);
    const int H = sh.n_head, G = sh.n_head_kv, hd = sh.head_dim, group = H / G;
    const int64_t Dq = int64_t(H) * hd, Dkv = int64_t(G) * hd;
    const float scale = float(1.0 / std::sqrt(double(hd)));
    s.att.resize(size_t(pool.size()));
    pool.parallel_for(int64_t(n_seg) * G, 1, [&](int64_t b0, int64_t b1, int thread) {
        std::vector<float>& buf = s.att[size_t(thread)];
        for (int64_t item = b0; item < b1; item++) {
            const int seg = int(item / G), g = int(item % G), L = seg_len[seg];
            const int64_t o = seg_off[seg], ldp = int64_t(H) * L;
            const float* kg = k + o * Dkv + int64_t(g) * hd;
            const float* vg = v + o * Dkv + int64_t(g) * hd;
            buf.resize(size_t(hd) * size_t(L));
            float* kt = buf.data();  // K_g^T [hd][L]
            kernels::gemm_f32::transpose(kern, kg, L, hd, Dkv, kt, L, 1.0f, false);
            for (int h = g * group; h < (g + 1) * group; h++) {
                const float* qh = q + o * Dq + int64_t(h) * hd;
                float* P = probs + prob_off[seg] + int64_t(h) * L;  // row t at P + t * ldp
                float* oh = out + o * Dq + int64_t(h) * hd;
                for (int t = 0; t < L; t++) {
                    std::fill(P + t * ldp, P + t * ldp + L, 0.0f);
                    std::fill(oh + t * Dq, oh + t * Dq + hd, 0.0f);
                }
                for (int r0 = 0; r0 < L; r0 += kern.mr) {
                    const int mr = std::min(kern.mr, L - r0), nk = std::min(L, r0 + mr);
                    kernels::gemm_f32::gemm(kern, mr, nk, hd, qh + r0 * Dq, Dq, kt, L, P + r0 * ldp, ldp);
                }
                for (int t = 0; t < L; t++) {
                    kernels::train_ops::softmax(lvl, P + t * ldp, t + 1, scale);
                    std::fill(P + t * ldp + t + 1, P + t * ldp + L, 0.0f);
                }
                for (int r0 = 0; r0 < L; r0 += kern.mr) {
                    const int mr = std::min(kern.mr, L - r0), nk = std::min(L, r0 + mr);
                    kernels::gemm_f32::gemm(kern, mr, hd, nk, P + r0 * ldp, ldp, vg, Dkv, oh + r0 * Dq, Dq);
                }
            }
        }
    });
}

void attention_train_backward(ThreadPool& pool, Scratch& s, const float* q, const float* k, const float* v,
                              const float* probs, const int* seg_off, const int* seg_len, const size_t* prob_off,
                              int n_seg, const AttentionShape& sh, const float* dout, float* dq, float* dk, float* dv) {
    const Kernel kern = kernels::gemm_f32::for_level(simd_level());
    const int H = sh.n_head, G = sh.n_head_kv, hd = sh.head_dim, group = H / G;
    const int64_t Dq = int64_t(H) * hd, Dkv = int64_t(G) * hd;
    const float scale = float(1.0 / std::sqrt(double(hd)));
    s.att.resize(size_t(pool.size()));
    pool.parallel_for(int64_t(n_seg) * G, 1, [&](int64_t b0, int64_t b1, int thread) {
        std::vector<float>& buf = s.att[size_t(thread)];
        for (int64_t item = b0; item < b1; item++) {
            const int seg = int(item / G), g = int(item % G), L = seg_len[seg];
            const int64_t o = seg_off[seg], ldp = int64_t(H) * L, LL = int64_t(L) * L;
            const float* kg = k + o * Dkv + int64_t(g) * hd;
            const float* vg = v + o * Dkv + int64_t(g) * hd;
            float* dkg = dk + o * Dkv + int64_t(g) * hd;
            float* dvg = dv + o * Dkv + int64_t(g) * hd;
            buf.resize(size_t(int64_t(hd) * L + 2 * LL));
            float* vt = buf.data();  // V_g^T [hd][L]
            float* dS = vt + int64_t(hd) * L;  // dP, then dS [t][j]
            float* tr = dS + LL;               // P^T, then dS^T [j][t]
            kernels::gemm_f32::transpose(kern, vg, L, hd, Dkv, vt, L, 1.0f, false);
            for (int h = g * group; h < (g + 1) * group; h++) {
                const float* P = probs + prob_off[seg] + int64_t(h) * L;
                const float* qh = q + o * Dq + int64_t(h) * hd;
                const float* doh = dout + o * Dq + int64_t(h) * hd;
                float* dqh = dq + o * Dq + int64_t(h) * hd;
                // dP = dO V^T (t >= j only)
                std::fill(dS, dS + LL, 0.0f);
                for (int r0 = 0; r0 < L; r0 += kern.mr) {
                    const int mr = std::min(kern.mr, L - r0), nk = std::min(L, r0 + mr);
                    kernels::gemm_f32::gemm(kern, mr, nk, hd, doh + r0 * Dq, Dq, vt, L, dS + r0 * L, L);
                }
                // dS = P (dP - sum_j P dP) / sqrt(hd)
                for (int t = 0; t < L; t++) {
                    const float* pt = P + t * ldp;
                    float* d = dS + int64_t(t) * L;
                    float pdp = 0;
                    for (int j = 0; j <= t; j++) pdp += pt[j] * d[j];
                    for (int j = 0; j <= t; j++) d[j] = pt[j] * (d[j] - pdp) * scale;
                    std::fill(d + t + 1, d + L, 0.0f);
                }
                // dV_g += P^T dO (row j needs t >= j)
                kernels::gemm_f32::transpose(kern, P, L, L, ldp, tr, L, 1.0f, false);
                for (int r0 = 0; r0 < L; r0 += kern.mr) {
                    const int mr = std::min(kern.mr, L - r0);
                    kernels::gemm_f32::gemm(kern, mr, hd, L - r0, tr + int64_t(r0) * L + r0, L, doh + r0 * Dq, Dq,
                                            dvg + r0 * Dkv, Dkv);
                }
                // dQ_h += dS K_g (row t needs j <= t)
                for (int r0 = 0; r0 < L; r0 += kern.mr) {
                    const int mr = std::min(kern.mr, L - r0), nk = std::min(L, r0 + mr);
                    kernels::gemm_f32::gemm(kern, mr, hd, nk, dS + int64_t(r0) * L, L, kg, Dkv, dqh + r0 * Dq, Dq);
                }
                // dK_g += dS^T Q_h (row j needs t >= j)
                kernels::gemm_f32::transpose(kern, dS, L, L, L, tr, L, 1.0f, false);
                for (int r0 = 0; r0 < L; r0 += kern.mr) {
                    const int mr = std::min(kern.mr, L - r0);
                    kernels::gemm_f32::gemm(kern, mr, hd, L - r0, tr + int64_t(r0) * L + r0, L, qh + r0 * Dq, Dq,
                                            dkg + r0 * Dkv, Dkv);
                }
            }
        }
    });
}

}  // namespace cpu_train

namespace kernels {

void CpuBackend::matmul_train(const WeightView& W, const float* x, int n, float* y, const LoraTerm* lora) {
    cpu_train::matmul_train(pool_, train_, W, x, n, y, lora);
}
void CpuBackend::matmul_dx(const WeightView& W, const float* dy, int n, float* dx, bool accumulate) {
    cpu_train::matmul_dx(pool_, train_, W, dy, n, dx, accumulate);
}
void CpuBackend::matmul_dw(const float* dy, const float* x, int n, int n_out, int n_in, float scale, float* dW) {
    cpu_train::matmul_dw(pool_, train_, dy, x, n, n_out, n_in, scale, dW);
}


// Elementwise: chunks of 16K elements over the pool (each element's result does not depend on the split).
void CpuBackend::swiglu_train(const float* gate, const float* up, int64_t n, float* out) {
    const SimdLevel l = simd_level();
    pool_.parallel_for((n + 16383) / 16384, 1, [&](int64_t b0, int64_t b1, int) {
        const int64_t i0 = b0 * 16384, i1 = std::min(n, b1 * 16384);
        train_ops::swiglu(l, gate + i0, up + i0, i1 - i0, out + i0);
    });
}
void CpuBackend::swiglu_backward(const float* gate, const float* up, const float* dout, int64_t n, float* dgate,
                                 float* dup) {
    const SimdLevel l = simd_level();
    pool_.parallel_for((n + 16383) / 16384, 1, [&](int64_t b0, int64_t b1, int) {
        const int64_t i0 = b0 * 16384, i1 = std::min(n, b1 * 16384);
        train_ops::swiglu_backward(l, gate + i0, up + i0, dout + i0, i1 - i0, dgate + i0, dup + i0);
    });
}
void CpuBackend::cross_entropy(float* z, int m, int V, const int32_t* targets, double dloss, bool backward,
                               double* loss) {
    const SimdLevel l = simd_level();
    pool_.parallel_for(m, 1, [&](int64_t i0, int64_t i1, int) {
        for (int64_t i = i0; i < i1; i++)
            loss[i] = train_ops::cross_entropy(l, z + size_t(i) * size_t(V), V, targets[i], dloss, backward);
    });
}
void CpuBackend::attention_train(const float* q, const float* k, const float* v, const int* seg_off, const int* seg_len,
                                 const size_t* prob_off, int n_seg, const AttentionShape& s, float* out, float* probs) {
    cpu_train::attention_train(pool_, train_, q, k, v, seg_off, seg_len, prob_off, n_seg, s, out, probs);
}
void CpuBackend::attention_train_backward(const float* q, const float* k, const float* v, const float* probs,
                                          const int* seg_off, const int* seg_len, const size_t* prob_off, int n_seg,
                                          const AttentionShape& s, const float* dout, float* dq, float* dk, float* dv) {
    cpu_train::attention_train_backward(pool_, train_, q, k, v, probs, seg_off, seg_len, prob_off, n_seg, s, dout, dq,
                                        dk, dv);
}

}  // namespace kernels

}  // namespace slm
