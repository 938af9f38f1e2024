// Speed of light: as the kernels it calls (gemv.cu, gemm.cu, attention.cu, elementwise.cu); this file only moves
// weights once (host -> device at first use, ggml types other than F16 and GPTQ converted to fp16) and ids/
// logits per call.
//
// The CUDA backend: src/backend.h implemented with the kernels of this folder, so Context (forward.cpp) runs the
// whole forward pass on the GPU. Weights are uploaded on first use, keyed by their host address (the GGUF
// mapping outlives the backend's use of it); F16 and GPTQ-4 stay as they are, other ggml types are dequantized to
// fp16 on the host first. The KV cache is fp16 on the device whatever type is asked (f32 is refused, so no one
// believes they got an f32 cache). Ops run on one stream; to_host synchronizes. Numerics::llamacpp is not
// reproduced (the GPU has its own roundings: fp16 activations into the matrix products).
//
// Unlike CudaLlama (decode.cu), this path does not capture CUDA graphs: Context passes positions as host
// integers per call, and LoRA pairs are refused. What the interface would need for one graph per token:
// positions in device memory (an `int* pos` the backend owns, advanced by a `next_token` op) and the fused ops
// of decode.cu (GEMV with SwiGLU input and residual output). See kernels/cuda/NOTES.md.
#include <cmath>
#include <map>
#include <tuple>
#include <memory>
#include <mutex>
#include <vector>

#include "backend.h"
#include "common.h"
#include "cuda/kernels.cuh"

namespace slm {

namespace {

using cuda::GptqDev;

class CudaKv final : public KvCache {
public:
    std::vector<__half*> k, v;  // [n_layer] device arrays [n_ctx][n_embd_kv]
    size_t bytes() const override { return size_t(n_layer) * n_ctx * n_embd_kv * 2 * 2; }
    ~CudaKv() override {
        for (__half* p : k) cudaFree(p);
        for (__half* p : v) cudaFree(p);
    }
};

struct DevWeight {
    bool gptq = false;
    __half* f16 = nullptr;  // [n_out][n_in]
    GptqDev q;
    int n_in = 0, n_out = 0;
};

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device) : device_(device) {
        int n = 0;
        if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) fail("--gpu: no CUDA device is available");
        if (device < 0 || device >= n) fail("--gpu: device %d does not exist (%d device(s))", device, n);
        SLM_CUDA(cudaSetDevice(device));
        cudaDeviceProp p{};
        SLM_CUDA(cudaGetDeviceProperties(&p, device));
        name_ = strfmt("cuda %s", p.name);
        SLM_CUDA(cudaStreamCreateWithFlags(&st_, cudaStreamNonBlocking));
    }
    ~CudaBackend() override {
        for (void* p : owned_) cudaFree(p);
        cudaStreamDestroy(st_);
    }

    std::string name() const override { return name_; }

    bool supports(const WeightView& w) const override {
        if (!codec::check_weight(w).empty()) return false;
        if (w.format == WeightFormat::gptq) return cuda::gemv_int4_supported(int(w.n_in), int(w.group_size));
        return w.n_in % 8 == 0 && (w.type == GgmlType::F16 || codec::can_dequantize(w.type));
    }
    void prepare(const WeightView& w) override { weight(w); }

    Buffer alloc(size_t n) override {
        float* p = nullptr;
        SLM_CUDA(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float)));
        SLM_CUDA(cudaMemset(p, 0, std::max<size_t>(n, 1) * sizeof(float)));
        return Buffer(std::shared_ptr<float>(p, [](float* q) { cudaFree(q); }), n);
    }
    std::unique_ptr<KvCache> make_kv_cache(int n_layer, int n_ctx, int n_embd_kv, GgmlType type) override {
        if (type != GgmlType::F16) fail("--gpu: the CUDA backend keeps an f16 KV cache (use --kv-type f16)");
        auto kv = std::make_unique<CudaKv>();
        kv->n_layer = n_layer, kv->n_ctx = n_ctx, kv->n_embd_kv = n_embd_kv, kv->type = type;
        for (int l = 0; l < n_layer; l++) {
            __half *k = nullptr, *v = nullptr;
            SLM_CUDA(cudaMalloc(&k, size_t(n_ctx) * n_embd_kv * 2));
            SLM_CUDA(cudaMalloc(&v, size_t(n_ctx) * n_embd_kv * 2));
            kv->k.push_back(k), kv->v.push_back(v);
        }
        return kv;
    }
    void to_host(const float* src, float* host, size_t n) override {
        SLM_CUDA(cudaMemcpyAsync(host, src, n * sizeof(float), cudaMemcpyDeviceToHost, st_));
        SLM_CUDA(cudaStreamSynchronize(st_));
    }

    void embed(const WeightView& table, const int32_t* ids, int n, float* x) override {
        const DevWeight& w = weight(table);
        int32_t* d = scratch_ids(n);
        SLM_CUDA(cudaMemcpyAsync(d, ids, size_t(n) * 4, cudaMemcpyHostToDevice, st_));
        if (w.gptq) cuda::embed_gptq(w.q, d, n, x, st_);
        else cuda::embed_f16(w.f16, d, n, w.n_in, x, st_);
    }
    void rmsnorm(const float* x, const WeightView& w, int n, float eps, float* out) override {
        cuda::rmsnorm(x, vec(w), n, int(w.n_in), eps, out, st_);
    }
    void matmul(const Weight& W, const float* x, int n, float* y, Numerics) override {
        if (!W.lora.empty()) fail("--gpu: LoRA adapters are not supported by the CUDA backend (%s)", W.name.c_str());
        const DevWeight& w = weight(W.w);
        if (n == 1) {
            if (w.gptq) cuda::gemv_int4(w.q, x, y, st_);
            else cuda::gemv_f16(w.f16, w.n_in, w.n_out, x, y, st_);
            return;
        }
        const __half* m = w.f16;
        if (w.gptq) {
            m = grow(wh_, wh_n_, size_t(w.n_in) * w.n_out);
            cuda::gptq_dequantize_f16(w.q, const_cast<__half*>(m), st_);
        }
        cuda::gemm_f16(m, w.n_in, w.n_out, x, n, y, grow(xh_, xh_n_, size_t(n) * w.n_in), st_);
    }
    void rope(float* q, int n_head, float* k, int n_head_kv, int n, int pos0, const RopeConfig& rc, Numerics) override {
        cuda::rope(q, n_head, k, n_head_kv, rc.head_dim, rc.n_rot, n, pos0, nullptr, inv_freq(rc), st_);
    }
    void store_kv(KvCache& kv, int il, const float* k, const float* v, int n, int pos0) override {
        CudaKv& c = static_cast<CudaKv&>(kv);
        cuda::store_kv(k, v, n, c.n_embd_kv, pos0, nullptr, c.k[size_t(il)], c.v[size_t(il)], st_);
    }
    void attention(const KvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s, float* out,
                   Numerics) override {
        const CudaKv& c = static_cast<const CudaKv&>(kv);
        cuda::attention(q, c.k[size_t(il)], c.v[size_t(il)], n, pos0, nullptr, s.n_head, s.n_head_kv, s.head_dim, c.n_ctx,
                        out, st_);
    }
    void swiglu(const float* gate, const float* up, int64_t n, float* out) override { cuda::swiglu(gate, up, n, out, st_); }
    void add(float* x, const float* y, int64_t n) override { cuda::add(x, y, n, st_); }
    void logits(const float* x, int n, const WeightView& norm, float eps, const Weight& out, float* scratch,
                float* logits_host, Numerics num) override {
        const int E = int(norm.n_in), V = int(out.w.n_out);
        cuda::rmsnorm(x, vec(norm), n, E, eps, scratch, st_);
        float* lg = grow(logits_, logits_n_, size_t(n) * V);
        if (n == 1) {
            matmul(out, scratch, 1, lg, num);
        } else {
            for (int t = 0; t < n; t++) matmul(out, scratch + size_t(t) * E, 1, lg + size_t(t) * V, num);
        }
        to_host(lg, logits_host, size_t(n) * V);
    }

private:
    template <typename T>
    T* upload(const T* h, size_t n) {
        T* d = nullptr;
        SLM_CUDA(cudaMalloc(&d, std::max<size_t>(n, 1) * sizeof(T)));
        SLM_CUDA(cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice));
        owned_.push_back(d);
        return d;
    }
    template <typename T>
    T* grow(T*& p, size_t& cap, size_t n) {
        if (n > cap) {
            if (p) cudaFree(p);
            SLM_CUDA(cudaMalloc(&p, n * sizeof(T)));
            cap = n;
        }
        return p;
    }
    int32_t* scratch_ids(int n) { return grow(ids_, ids_n_, size_t(n)); }

    const DevWeight& weight(const WeightView& w) {
        auto it = weights_.find(w.data);
        if (it != weights_.end()) return it->second;
        if (!supports(w)) fail("--gpu: the CUDA backend cannot compute with a %s weight of %lld -> %lld",
                               w.format == WeightFormat::gptq ? "GPTQ" : type_name(w.type), (long long)w.n_in,
                               (long long)w.n_out);
        DevWeight d;
        d.n_in = int(w.n_in), d.n_out = int(w.n_out);
        if (w.format == WeightFormat::gptq) {
            const WeightPart* p[4] = {nullptr, nullptr, nullptr, nullptr};
            for (int i = 0; i < w.n_parts; i++) {
                const std::string role = w.parts[size_t(i)].role;
                const int slot = role == "qweight" ? 0 : role == "scales" ? 1 : role == "zeros" ? 2 : 3;
                p[slot] = &w.parts[size_t(i)];
            }
            d.gptq = true;
            d.q.n_in = d.n_in, d.q.n_out = d.n_out, d.q.group_size = int(w.group_size);
            d.q.n_groups = int((w.n_in + w.group_size - 1) / w.group_size);
            const size_t ng = size_t(d.q.n_groups) * d.n_out;
            d.q.qweight = upload(static_cast<const uint32_t*>(p[0]->data), size_t(w.n_in) * w.n_out / 8);
            d.q.scales = reinterpret_cast<const __half*>(upload(static_cast<const uint16_t*>(p[1]->data), ng));
            d.q.zeros = upload(static_cast<const int8_t*>(p[2]->data), ng);
            if (p[3]) d.q.perm = upload(static_cast<const int32_t*>(p[3]->data), size_t(w.n_in));
        } else if (w.type == GgmlType::F16) {
            d.f16 = reinterpret_cast<__half*>(upload(static_cast<const uint16_t*>(w.data), size_t(w.n_in) * w.n_out));
        } else {
            std::vector<float> row(size_t(w.n_in));
            std::vector<uint16_t> h(size_t(w.n_in) * w.n_out);
            for (int64_t r = 0; r < w.n_out; r++) {
                codec::dequantize_weight_row(w, r, row.data());
                for (int64_t i = 0; i < w.n_in; i++) h[size_t(r * w.n_in + i)] = fp32_to_fp16(row[size_t(i)]);
            }
            d.f16 = reinterpret_cast<__half*>(upload(h.data(), h.size()));
        }
        return weights_.emplace(w.data, d).first->second;
    }
    // A host f32 vector (norm weights) on the device, uploaded once.
    const float* vec(const WeightView& w) {
        auto it = vecs_.find(w.data);
        if (it != vecs_.end()) return it->second;
        std::vector<float> h(size_t(w.n_in));
        codec::dequantize_weight_row(w, 0, h.data());
        const float* d = upload(h.data(), h.size());
        vecs_[w.data] = d;
        return d;
    }
    const double* inv_freq(const RopeConfig& rc) {
        const auto key = std::make_tuple(rc.n_rot, rc.freq_base, rc.freq_factors);
        auto it = freqs_.find(key);
        if (it != freqs_.end()) return it->second;
        std::vector<double> f(size_t(rc.n_rot / 2));
        for (int i = 0; i < rc.n_rot / 2; i++) {
            f[size_t(i)] = std::pow(double(rc.freq_base), -2.0 * i / rc.n_rot);
            if (rc.freq_factors) f[size_t(i)] /= double(rc.freq_factors[i]);
        }
        const double* d = upload(f.data(), f.size());
        freqs_[key] = d;
        return d;
    }

    int device_;
    std::string name_;
    cudaStream_t st_ = nullptr;
    std::vector<void*> owned_;
    std::map<const void*, DevWeight> weights_;
    std::map<const void*, const float*> vecs_;
    std::map<std::tuple<int, float, const float*>, const double*> freqs_;
    __half *xh_ = nullptr, *wh_ = nullptr;
    size_t xh_n_ = 0, wh_n_ = 0, ids_n_ = 0, logits_n_ = 0;
    int32_t* ids_ = nullptr;
    float* logits_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<CudaBackend>(device); }

}  // namespace slm
