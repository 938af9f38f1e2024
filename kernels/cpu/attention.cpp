#include "cpu/attention.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "cpu/f16.h"
#include "cpu/kernels.h"
#include "ops.h"

namespace slm::kernels {

void attention_cpu(const CpuKvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s,
                   float* out, ThreadPool& pool, std::vector<float>& scores) {
    const int hd = s.head_dim, n_head = s.n_head, group = s.n_head / s.n_head_kv;
    const int64_t d_kv = kv.n_embd_kv, d_q = int64_t(n_head) * hd;
    const size_t kv_el = kv.type == GgmlType::F32 ? 4 : 2, n_ctx = size_t(kv.n_ctx);
    const uint8_t* kc = kv.k[size_t(il)].data();
    const uint8_t* vc = kv.v[size_t(il)].data();
    const vec_dot_fn dot = active().dot(kv.type);  // f32 or f16 row . f32 row
    const float scale = float(1.0 / std::sqrt(double(hd)));
    if (scores.size() < size_t(pool.size()) * n_ctx) scores.resize(size_t(pool.size()) * n_ctx);
    // Each item costs ~4 * n_pos * hd flops; keep chunks big enough that waking the pool pays.
    const int64_t item_work = 4 * int64_t(pos0 + n) * hd;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / item_work);
    pool.parallel_for(int64_t(n) * n_head, grain, [&](int64_t i0, int64_t i1, int thread) {
        float* sc = scores.data() + size_t(thread) * n_ctx;
        for (int64_t item = i0; item < i1; item++) {
            const int t = int(item / n_head), h = int(item % n_head), kvh = h / group;
            const int n_pos = pos0 + t + 1;
            const float* qh = q + size_t(t) * size_t(d_q) + size_t(h) * size_t(hd);
            for (int j = 0; j < n_pos; j++)
                sc[j] = dot(hd, kc + (size_t(j) * size_t(d_kv) + size_t(kvh) * size_t(hd)) * kv_el, qh) * scale;
            ops::softmax(sc, n_pos);
            float* o = out + size_t(t) * size_t(d_q) + size_t(h) * size_t(hd);
            for (int dd = 0; dd < hd; dd++)
                o[dd] = dot(n_pos, vc + (size_t(kvh) * size_t(hd) + size_t(dd)) * n_ctx * kv_el, sc);
        }
    });
}

// Online softmax: whenever a larger score arrives, the accumulator is rescaled by exp(M_old - M_new).
void attention_cpu_ggml(const CpuKvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s,
                        float* out, ThreadPool& pool) {
    if (kv.type != GgmlType::F16) fail("attention: llama.cpp numerics need an f16 KV cache");
    const int hd = s.head_dim, n_head = s.n_head, group = s.n_head / s.n_head_kv;
    const int64_t d_kv = kv.n_embd_kv, d_q = int64_t(n_head) * hd;
    const size_t n_ctx = size_t(kv.n_ctx);
    const fp16_t* kc = reinterpret_cast<const fp16_t*>(kv.k[size_t(il)].data());
    const fp16_t* vc = reinterpret_cast<const fp16_t*>(kv.v[size_t(il)].data());
    const float scale = 1.0f / std::sqrt(float(hd));
    pool.parallel_for(int64_t(n) * n_head, 1, [&](int64_t i0, int64_t i1, int) {
        std::vector<float> qr(size_t(hd), 0.0f);
        std::vector<fp16_t> acc(static_cast<size_t>(hd));
        for (int64_t item = i0; item < i1; item++) {
            const int t = int(item / n_head), h = int(item % n_head), kvh = h / group;
            const int n_pos = pos0 + t + 1;
            const float* qh = q + size_t(t) * size_t(d_q) + size_t(h) * size_t(hd);
            for (int i = 0; i < hd; i++) qr[size_t(i)] = fp16_to_fp32(fp32_to_fp16(qh[i]));
            std::fill(acc.begin(), acc.end(), fp16_t(0));
            float M = -INFINITY, S = 0;
            for (int j = 0; j < n_pos; j++) {
                const float sc =
                    dot_f16_ggml_order(hd, kc + size_t(j) * size_t(d_kv) + size_t(kvh) * size_t(hd), qr.data()) * scale;
                float ms = 1, vs = 1;
                if (sc > M) {
                    ms = std::exp(M - sc);  // exp(-inf) = 0 on the first position
                    M = sc;
                    for (int d = 0; d < hd; d++) acc[size_t(d)] = fp32_to_fp16(fp16_to_fp32(acc[size_t(d)]) * ms);
                } else {
                    vs = std::exp(sc - M);
                }
                for (int d = 0; d < hd; d++) {
                    const float v = fp16_to_fp32(vc[(size_t(kvh) * size_t(hd) + size_t(d)) * n_ctx + size_t(j)]);
                    acc[size_t(d)] = fp32_to_fp16(std::fma(v, vs, fp16_to_fp32(acc[size_t(d)])));  // ggml_vec_mad_f16: FMA
                }
                S = S * ms + vs;
            }
            float* o = out + size_t(t) * size_t(d_q) + size_t(h) * size_t(hd);
            const float s_inv = 1.0f / S;
            for (int d = 0; d < hd; d++) o[d] = fp16_to_fp32(acc[size_t(d)]) * s_inv;
        }
    });
}

}  // namespace slm::kernels
