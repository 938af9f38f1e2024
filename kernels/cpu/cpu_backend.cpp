#include "cpu/cpu_backend.h"

#include <algorithm>
#include <cstring>

#include "common.h"
#include "cpu/attention.h"
#include "cpu/cpu_features.h"
#include "cpu/gptq.h"
#include "cpu/kernels.h"
#include "ops.h"

namespace slm {

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool) { return std::make_unique<kernels::CpuBackend>(pool); }

namespace kernels {

size_t CpuKvCache::bytes() const {
    size_t s = 0;
    for (auto& x : k) s += x.size();
    for (auto& x : v) s += x.size();
    return s;
}

CpuBackend::CpuBackend(ThreadPool& pool) : pool_(pool) {}

std::string CpuBackend::name() const {
    return strfmt("cpu %s, %d thread%s", simd_level_name(simd_level()), pool_.size(), pool_.size() == 1 ? "" : "s");
}

bool CpuBackend::supports(const WeightView& w) const {
    if (w.format == WeightFormat::gptq) return gptq_check(w).empty();  // gptq.cpp; matmul.cpp routes it there
    return w.format == WeightFormat::ggml && has_ops(w.type) && w.n_in > 0 && w.n_out > 0 &&
           w.n_in % type_info(w.type).block_size == 0;
}

Buffer CpuBackend::alloc(size_t n_floats) {
    return Buffer(std::shared_ptr<float>(new float[n_floats](), std::default_delete<float[]>()), n_floats);
}

std::unique_ptr<KvCache> CpuBackend::make_kv_cache(int n_layer, int n_ctx, int n_embd_kv, GgmlType type) {
    if (type != GgmlType::F32 && type != GgmlType::F16)
        fail("context: KV cache type must be f32 or f16 (got %s)", type_name(type));
    auto kv = std::make_unique<CpuKvCache>();
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->n_embd_kv = n_embd_kv;
    kv->type = type;
    const size_t bytes = size_t(row_bytes(type, n_embd_kv)) * size_t(n_ctx);
    kv->k.assign(size_t(n_layer), std::vector<uint8_t>(bytes));
    kv->v.assign(size_t(n_layer), std::vector<uint8_t>(bytes));
    return kv;
}

void CpuBackend::to_host(const float* src, float* host, size_t n) {
    if (src != host && n) std::memcpy(host, src, n * sizeof(float));
}

void CpuBackend::embed(const WeightView& table, const int32_t* ids, int n, float* x) {
    for (int t = 0; t < n; t++) slm::dequantize_row(table, ids[t], x + size_t(t) * size_t(table.n_in));
}

void CpuBackend::rmsnorm(const float* x, const WeightView& w, int n, float eps, float* out) {
    const int E = int(w.n_in);
    const float* wf = static_cast<const float*>(w.data);
    for (int t = 0; t < n; t++) ops::rmsnorm(x + size_t(t) * size_t(E), wf, out + size_t(t) * size_t(E), E, eps);
}

// y = W x, plus each LoRA pair's scale * B (A x).
void CpuBackend::matmul(const Weight& W, const float* x, int n, float* y, Numerics num) {
    slm::matmul(W.w, x, n, y, pool_, mm_, num == Numerics::llamacpp ? MatmulOrder::llamacpp : MatmulOrder::fastest);
    for (const LoraPair& lp : W.lora) {
        const int64_t r = lp.a.n_out, n_out = W.w.n_out;
        const size_t need = size_t(int64_t(n) * (r + n_out));
        if (lora_tmp_.size() < need) lora_tmp_.resize(need);
        float* ax = lora_tmp_.data();
        float* bax = ax + int64_t(n) * r;
        slm::matmul(lp.a, x, n, ax, pool_, mm_, MatmulOrder::fastest);
        slm::matmul(lp.b, ax, n, bax, pool_, mm_, MatmulOrder::fastest);
        for (int64_t i = 0; i < int64_t(n) * n_out; i++) y[i] += lp.scale * bax[i];
    }
}

const std::vector<double>& CpuBackend::inv_freq(const RopeConfig& rc) {
    auto key = std::make_tuple(rc.n_rot, rc.freq_base, rc.freq_factors);
    auto it = inv_freq_.find(key);
    if (it != inv_freq_.end()) return it->second;
    std::vector<float> ff;
    if (rc.freq_factors) ff.assign(rc.freq_factors, rc.freq_factors + rc.n_rot / 2);
    return inv_freq_[key] = ops::rope_inv_freq(rc.n_rot, rc.freq_base, ff);
}

// One cos/sin table per position serves Q and K.
void CpuBackend::rope(float* q, int n_head, float* k, int n_head_kv, int n, int pos0, const RopeConfig& rc,
                      Numerics num) {
    const double* f = rc.inv_freq ? rc.inv_freq : inv_freq(rc).data();  // Context resolves it once
    rope_cs_.resize(size_t(rc.n_rot));
    float* cs = rope_cs_.data();
    for (int t = 0; t < n; t++) {
        if (num == Numerics::llamacpp) ops::rope_angles_ggml(rc.n_rot, pos0 + t, rc.freq_base, rc.freq_factors, cs);
        else ops::rope_angles(rc.n_rot, pos0 + t, f, cs);
        ops::rope_rotate(q + size_t(t) * size_t(n_head) * size_t(rc.head_dim), n_head, rc.head_dim, rc.n_rot, cs);
        ops::rope_rotate(k + size_t(t) * size_t(n_head_kv) * size_t(rc.head_dim), n_head_kv, rc.head_dim, rc.n_rot, cs);
    }
}

void CpuBackend::store_kv(KvCache& kv_base, int il, const float* k, const float* v, int n, int pos0) {
    CpuKvCache& kv = static_cast<CpuKvCache&>(kv_base);
    const int64_t d = kv.n_embd_kv, n_ctx = kv.n_ctx;
    uint8_t* kc = kv.k[size_t(il)].data();
    uint8_t* vc = kv.v[size_t(il)].data();
    for (int t = 0; t < n; t++) {
        const int64_t pos = pos0 + t;
        const float* kt = k + t * d;
        const float* vt = v + t * d;
        if (kv.type == GgmlType::F32) {
            std::memcpy(reinterpret_cast<float*>(kc) + pos * d, kt, size_t(d) * sizeof(float));
            float* vT = reinterpret_cast<float*>(vc);
            for (int64_t i = 0; i < d; i++) vT[i * n_ctx + pos] = vt[i];
        } else {
            fp16_t* kr = reinterpret_cast<fp16_t*>(kc) + pos * d;
            for (int64_t i = 0; i < d; i++) kr[i] = fp32_to_fp16(kt[i]);
            fp16_t* vT = reinterpret_cast<fp16_t*>(vc);
            for (int64_t i = 0; i < d; i++) vT[i * n_ctx + pos] = fp32_to_fp16(vt[i]);
        }
    }
}

void CpuBackend::attention(const KvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s,
                           float* out, Numerics num) {
    const CpuKvCache& c = static_cast<const CpuKvCache&>(kv);
    if (num == Numerics::llamacpp) attention_cpu_ggml(c, il, q, n, pos0, s, out, pool_);
    else attention_cpu(c, il, q, n, pos0, s, out, pool_, scores_);
}

void CpuBackend::swiglu(const float* gate, const float* up, int64_t n, float* out) { ops::swiglu(gate, up, out, n); }

void CpuBackend::add(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void CpuBackend::logits(const float* x, int n, const WeightView& norm, float eps, const Weight& out, float* scratch,
                        float* logits_host, Numerics num) {
    rmsnorm(x, norm, n, eps, scratch);
    matmul(out, scratch, n, logits_host, num);
}

}  // namespace kernels
}  // namespace slm
