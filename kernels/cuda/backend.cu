// Speed of light: as the kernels it calls (gemv.cu, gemm.cu, attention.cu, elementwise.cu); this file only moves
// weights once (host -> device at first use, ggml types other than F16 and GPTQ converted to fp32) and ids/
// logits per call.
//
// The CUDA backend: src/backend.h implemented with the kernels of this folder, so Context (forward.cpp) runs the
// whole forward pass on the GPU. Weights are uploaded on first use, keyed by their host address (the GGUF
// mapping outlives the backend's use of it); F16 and GPTQ-4 stay as they are, other ggml types are dequantized to
// fp32 on the host first (below). The KV cache is fp16 on the device whatever type is asked (f32 is refused, so no one
// believes they got an f32 cache). Ops run on one stream; to_host synchronizes. Numerics::llamacpp is not
// reproduced (the GPU has its own roundings: fp16 activations into the matrix products).
//
// Other ggml types (Q8_0, Q4_K, ...) are dequantized exactly to fp32 at upload (f32.cu says why not fp16) and
// computed with the activations rounded first exactly as the CPU rounds them for that type (activations.cu), so
// the logits match the CPU's for the same file.
//
// Measuring: device_memory() counts what this backend allocated (weights, KV caches, activation buffers and
// scratch); with profiling on, each op runs alone behind a short spin kernel between two events and is counted
// with the bytes and flops of its speed of light (the figures `slm bench --gpu` prints).
//
// Unlike CudaLlama (decode.cu), this path does not capture CUDA graphs: Context passes positions as host
// integers per call, and LoRA pairs are refused. What the interface would need for one graph per token:
// positions in device memory (an `int* pos` the backend owns, advanced by a `next_token` op) and the fused ops
// of decode.cu (GEMV with SwiGLU input and residual output). See kernels/cuda/NOTES.md.
#include <algorithm>
#include <atomic>
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

using Counter = std::shared_ptr<std::atomic<size_t>>;  // live bytes of one kind, shared with what frees them

class CudaKv final : public KvCache {
public:
    std::vector<__half*> k, v;  // [n_layer] device arrays [n_ctx][n_embd_kv]
    Counter live;
    size_t bytes() const override { return size_t(n_layer) * n_ctx * n_embd_kv * 2 * 2; }
    ~CudaKv() override {
        for (__half* p : k) cudaFree(p);
        for (__half* p : v) cudaFree(p);
        if (live) *live -= bytes();
    }
};

struct DevWeight {
    bool gptq = false;
    __half* f16 = nullptr;  // [n_out][n_in]
    float* f32 = nullptr;   // [n_out][n_in]: the other ggml types, dequantized
    GptqDev q;
    int n_in = 0, n_out = 0;
    cuda::ActRound act = cuda::ActRound::none;  // how the CPU rounds this weight's activations
};

// The CPU's activation rounding for a ggml weight type computed dequantized (kernels/cuda/activations.cu).
cuda::ActRound act_round_for(GgmlType t) {
    switch (codec::activation_type(t)) {
        case GgmlType::F32: return cuda::ActRound::none;
        case GgmlType::Q8_0:
        case GgmlType::Q8_1: return cuda::ActRound::q8_32;
        case GgmlType::Q8_K: return cuda::ActRound::q8_K;
        default:
            fail("--gpu: no device form of the %s activation rounding (weights of type %s)",
                 type_name(codec::activation_type(t)), type_name(t));
    }
}

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
        for (void* p : {(void*)xh_, (void*)wh_, (void*)ids_, (void*)logits_, (void*)xr_}) cudaFree(p);
        if (ev0_) cudaEventDestroy(ev0_), cudaEventDestroy(ev1_);
        cudaStreamDestroy(st_);
    }

    std::string name() const override { return name_; }

    bool supports(const WeightView& w) const override { return why_unsupported(w).empty(); }
    // Shapes: fp16 rows are read 8 halves (16 bytes) at a time and int4 rows 32 nibbles at a time, so n_in must
    // be a multiple of 8 (32 and a group size that is a multiple of 32 for GPTQ-4); such files are refused at
    // load with this reason rather than padded.
    std::string why_unsupported(const WeightView& w) const override {
        const std::string bad = codec::check_weight(w);
        if (!bad.empty()) return bad;
        if (w.format == WeightFormat::gptq) {
            if (!cuda::gemv_int4_supported(int(w.n_in), int(w.group_size)))
                return strfmt("the CUDA int4 kernels need rows of a multiple of 32 inputs and a group size that is a "
                              "multiple of 32 (at most 102400 inputs); this weight has %lld inputs, group %lld",
                              (long long)w.n_in, (long long)w.group_size);
            return "";
        }
        if (w.n_in % 8)
            return strfmt("the CUDA kernels read fp16 rows 8 values at a time, so rows need a multiple of 8 inputs; "
                          "this weight has %lld", (long long)w.n_in);
        if (w.type != GgmlType::F16) {
            const GgmlType at = codec::activation_type(w.type);
            if (at != GgmlType::F32 && at != GgmlType::Q8_0 && at != GgmlType::Q8_1 && at != GgmlType::Q8_K)
                return strfmt("no device form of the %s activation rounding", type_name(at));
        }
        if (size_t(w.n_in) * 4 > 200 * 1024) return strfmt("rows of %lld inputs exceed the GEMV's staging", (long long)w.n_in);
        return "";
    }
    void prepare(const WeightView& w) override { weight(w); }

    Buffer alloc(size_t n) override {
        float* p = nullptr;
        const size_t bytes = std::max<size_t>(n, 1) * sizeof(float);
        SLM_CUDA(cudaMalloc(&p, bytes));
        SLM_CUDA(cudaMemsetAsync(p, 0, bytes, st_));  // on st_: ordered before the ops that use it
        *buffer_bytes_ += bytes;
        Counter c = buffer_bytes_;
        return Buffer(std::shared_ptr<float>(p, [c, bytes](float* q) { cudaFree(q), *c -= bytes; }), n);
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
        kv->live = kv_bytes_;
        *kv_bytes_ += kv->bytes();
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
        const double row = w.gptq ? w.n_in / 2.0 + 3.0 * w.q.n_groups : (w.f32 ? 4.0 : 2.0) * w.n_in;
        timed("elementwise", double(n) * (row + 4.0 * w.n_in), 0, [&] {
            if (w.gptq) cuda::embed_gptq(w.q, d, n, x, st_);
            else if (w.f32) cuda::embed_f32(w.f32, d, n, w.n_in, x, st_);
            else cuda::embed_f16(w.f16, d, n, w.n_in, x, st_);
        });
    }
    void rmsnorm(const float* x, const WeightView& w, int n, float eps, float* out) override {
        const float* wd = vec(w);
        timed("elementwise", 8.0 * n * w.n_in + 4.0 * w.n_in, 4.0 * n * w.n_in,
              [&] { cuda::rmsnorm(x, wd, n, int(w.n_in), eps, out, st_); });
    }
    void matmul(const Weight& W, const float* x, int n, float* y, Numerics) override {
        if (!W.lora.empty()) fail("--gpu: LoRA adapters are not supported by the CUDA backend (%s)", W.name.c_str());
        const DevWeight& w = weight(W.w);
        const double K = w.n_in, N = w.n_out, flops = 2.0 * n * K * N;
        if (w.act != cuda::ActRound::none) {  // the CPU's rounding of the activations (see the header)
            float* xr = grow(xr_, xr_n_, size_t(n) * w.n_in);
            timed("activation rounding", 8.0 * n * K, 0, [&] { cuda::round_activations(w.act, x, int64_t(n) * w.n_in, xr, st_); });
            x = xr;
        }
        if (w.f32) {
            if (n == 1)
                timed("gemv f32", 4.0 * K * N + 4.0 * (K + N), flops, [&] { cuda::gemv_f32(w.f32, w.n_in, w.n_out, x, 1, y, st_); });
            else
                timed("gemm f32 (prefill)", 4.0 * K * N + 4.0 * n * (K + N), flops,
                      [&] { cuda::gemm_f32(w.f32, w.n_in, w.n_out, x, n, y, st_); });
            return;
        }
        if (n == 1) {
            if (w.gptq)
                timed("gemv int4", K * N / 2 + 3.0 * N * w.q.n_groups + 4.0 * (K + N) + (w.q.perm ? 4.0 * K : 0), flops,
                      [&] { cuda::gemv_int4(w.q, x, y, st_); });
            else timed("gemv f16", 2.0 * K * N + 4.0 * (K + N), flops, [&] { cuda::gemv_f16(w.f16, w.n_in, w.n_out, x, y, st_); });
            return;
        }
        const __half* m = w.f16;
        if (w.gptq) {
            m = grow(wh_, wh_n_, size_t(w.n_in) * w.n_out);
            timed("dequantize int4 (prefill)", K * N / 2 + 3.0 * N * w.q.n_groups + 2.0 * K * N, 0,
                  [&] { cuda::gptq_dequantize_f16(w.q, const_cast<__half*>(m), st_); });
        }
        __half* xh = grow(xh_, xh_n_, size_t(n) * w.n_in);
        timed("gemm f16 (prefill)", 2.0 * K * N + 4.0 * n * (K + N), flops,
              [&] { cuda::gemm_f16(m, w.n_in, w.n_out, x, n, y, xh, st_); });
    }
    void rope(float* q, int n_head, float* k, int n_head_kv, int n, int pos0, const RopeConfig& rc, Numerics) override {
        const double* f = inv_freq(rc);
        timed("elementwise", 8.0 * n * (n_head + n_head_kv) * rc.head_dim, 6.0 * n * (n_head + n_head_kv) * rc.n_rot / 2,
              [&] { cuda::rope(q, n_head, k, n_head_kv, rc.head_dim, rc.n_rot, n, pos0, nullptr, f, st_); });
    }
    void store_kv(KvCache& kv, int il, const float* k, const float* v, int n, int pos0) override {
        CudaKv& c = static_cast<CudaKv&>(kv);
        timed("elementwise", 12.0 * n * c.n_embd_kv, 0, [&] {
            cuda::store_kv(k, v, n, c.n_embd_kv, pos0, nullptr, c.k[size_t(il)], c.v[size_t(il)], st_);
        });
    }
    void attention(const KvCache& kv, int il, const float* q, int n, int pos0, const AttentionShape& s, float* out,
                   Numerics) override {
        const CudaKv& c = static_cast<const CudaKv&>(kv);
        // K and V of every cached position read once (fp16), q read and out written (f32); 2 products per pair.
        const double ctx = pos0 + n, dq = double(s.n_head) * s.head_dim;
        timed("attention", 2.0 * 2.0 * ctx * s.n_head_kv * s.head_dim + 8.0 * n * dq,
              4.0 * dq * (double(n) * pos0 + double(n) * (n + 1) / 2), [&] {
                  cuda::attention(q, c.k[size_t(il)], c.v[size_t(il)], n, pos0, nullptr, s.n_head, s.n_head_kv, s.head_dim,
                                  c.n_ctx, out, st_);
              });
    }
    void swiglu(const float* gate, const float* up, int64_t n, float* out) override {
        timed("elementwise", 12.0 * n, 5.0 * n, [&] { cuda::swiglu(gate, up, n, out, st_); });
    }
    void add(float* x, const float* y, int64_t n) override {
        timed("elementwise", 12.0 * n, double(n), [&] { cuda::add(x, y, n, st_); });
    }
    void logits(const float* x, int n, const WeightView& norm, float eps, const Weight& out, float* scratch,
                float* logits_host, Numerics num) override {
        const int E = int(norm.n_in), V = int(out.w.n_out);
        rmsnorm(x, norm, n, eps, scratch);
        float* lg = grow(logits_, logits_n_, size_t(n) * V);
        if (n == 1) {
            matmul(out, scratch, 1, lg, num);
        } else {
            for (int t = 0; t < n; t++) matmul(out, scratch + size_t(t) * E, 1, lg + size_t(t) * V, num);
        }
        to_host(lg, logits_host, size_t(n) * V);
    }

    DeviceMemory device_memory() const override {
        DeviceMemory m;
        m.weights = weight_bytes_;
        m.kv = *kv_bytes_;
        m.scratch = *buffer_bytes_ + scratch_bytes_;
        return m;
    }
    bool can_profile() const override { return true; }
    void set_profiling(bool on) override {
        if (on && !ev0_) {
            SLM_CUDA(cudaEventCreate(&ev0_));
            SLM_CUDA(cudaEventCreate(&ev1_));
        }
        SLM_CUDA(cudaStreamSynchronize(st_));
        prof_ = on;
    }
    std::vector<KernelTime> take_profile() override {
        std::vector<KernelTime> r;
        for (auto& [k, t] : profile_) r.push_back(t);
        profile_.clear();
        return r;
    }
    double copy_bandwidth_gbs() override {
        const size_t bytes = size_t(1) << 30;  // 1 GiB each way: far beyond the L2
        void *a = nullptr, *b = nullptr;
        SLM_CUDA(cudaMalloc(&a, bytes));
        SLM_CUDA(cudaMalloc(&b, bytes));
        SLM_CUDA(cudaMemsetAsync(a, 1, bytes, st_));
        cudaEvent_t e0, e1;
        SLM_CUDA(cudaEventCreate(&e0));
        SLM_CUDA(cudaEventCreate(&e1));
        std::vector<float> ms;
        for (int i = 0; i < 11; i++) {
            SLM_CUDA(cudaEventRecord(e0, st_));
            SLM_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, st_));
            SLM_CUDA(cudaEventRecord(e1, st_));
            SLM_CUDA(cudaEventSynchronize(e1));
            float t = 0;
            SLM_CUDA(cudaEventElapsedTime(&t, e0, e1));
            if (i) ms.push_back(t);  // the first is a warm-up
        }
        cudaEventDestroy(e0), cudaEventDestroy(e1);
        cudaFree(a), cudaFree(b);
        std::sort(ms.begin(), ms.end());
        return 2.0 * double(bytes) / (double(ms[ms.size() / 2]) * 1e-3) / 1e9;  // read + write, median
    }

private:
    // Runs f (which launches on st_); while profiling, alone on the device between two events, its time added
    // to `kind` with the bytes and flops of its speed of light.
    template <typename F>
    void timed(const char* kind, double bytes, double flops, F&& f) {
        if (!prof_) {
            f();
            return;
        }
        cuda::spin(20000, st_);  // 20 us: the launches below are queued before the device reaches them
        SLM_CUDA(cudaEventRecord(ev0_, st_));
        f();
        SLM_CUDA(cudaEventRecord(ev1_, st_));
        SLM_CUDA(cudaEventSynchronize(ev1_));
        float ms = 0;
        SLM_CUDA(cudaEventElapsedTime(&ms, ev0_, ev1_));
        KernelTime& t = profile_[kind];
        t.kind = kind;
        t.calls++;
        t.seconds += double(ms) * 1e-3;
        t.bytes += bytes;
        t.flops += flops;
    }
    template <typename T>
    T* upload(const T* h, size_t n) {
        T* d = nullptr;
        SLM_CUDA(cudaMalloc(&d, std::max<size_t>(n, 1) * sizeof(T)));
        // On st_ and waited for: a plain cudaMemcpy from pageable memory may return before its DMA lands, and
        // st_ (non-blocking) would not wait for it; h may be freed when this returns.
        SLM_CUDA(cudaMemcpyAsync(d, h, n * sizeof(T), cudaMemcpyHostToDevice, st_));
        SLM_CUDA(cudaStreamSynchronize(st_));
        owned_.push_back(d);
        weight_bytes_ += std::max<size_t>(n, 1) * sizeof(T);
        return d;
    }
    template <typename T>
    T* grow(T*& p, size_t& cap, size_t n) {
        if (n > cap) {
            if (p) cudaFree(p), scratch_bytes_ -= cap * sizeof(T);
            p = nullptr;
            SLM_CUDA(cudaMalloc(&p, n * sizeof(T)));
            cap = n;
            scratch_bytes_ += n * sizeof(T);
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
            d.act = act_round_for(w.type);
            d.f16 = reinterpret_cast<__half*>(upload(static_cast<const uint16_t*>(w.data), size_t(w.n_in) * w.n_out));
        } else {
            d.act = act_round_for(w.type);
            if (w.n_in % cuda::act_round_block(d.act))
                fail("--gpu: %s rows of %lld are not whole blocks of its activation rounding", type_name(w.type),
                     (long long)w.n_in);
            std::vector<float> h(size_t(w.n_in) * w.n_out);
            for (int64_t r = 0; r < w.n_out; r++) codec::dequantize_weight_row(w, r, h.data() + size_t(r * w.n_in));
            d.f32 = upload(h.data(), h.size());
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
    size_t xh_n_ = 0, wh_n_ = 0, ids_n_ = 0, logits_n_ = 0, xr_n_ = 0;
    int32_t* ids_ = nullptr;
    float *logits_ = nullptr, *xr_ = nullptr;
    size_t weight_bytes_ = 0, scratch_bytes_ = 0;
    Counter kv_bytes_ = std::make_shared<std::atomic<size_t>>(0), buffer_bytes_ = std::make_shared<std::atomic<size_t>>(0);
    bool prof_ = false;
    cudaEvent_t ev0_ = nullptr, ev1_ = nullptr;
    std::map<std::string, KernelTime> profile_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<CudaBackend>(device); }

}  // namespace slm
