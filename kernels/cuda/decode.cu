// Speed of light, one decode token: every weight byte once plus the KV cache read by attention. Llama-3.2-1B:
// 973 M layer weights + the tied 128256 x 2048 output (263 M). FP16: 2.47 GB -> <= 1,740 tok/s at 4.3 TB/s;
// GPTQ-4 g128 (0.523 bytes/weight) with an fp16 head: 1.03 GB -> <= 4,170 tok/s; with a GPTQ-4 head too:
// 0.65 GB -> <= 6,650 tok/s. Launch gaps are removed by replaying one CUDA graph per token.
//
// Launches per layer at decode: 5 where q|k|v and gate|up are concatenated: the [q|k|v] GEMV (rmsnorm of x in
// its prologue, RoPE and the fp16 KV-cache store in its epilogue), attention, the o GEMV adding into x, the
// [gate|up] GEMV (rmsnorm in its prologue), the down GEMV reading silu(gate)*up and adding into x. (It was 9:
// rmsnorm, rope and store_kv were kernels of their own, each ~2-5 us of launch and tail at batch 1, about as
// much as a 2048x2048 GEMV.) q/k/v and gate/up are uploaded as one concatenated matrix each where their
// formats agree (same group size and act-order permutation: GPTQ gives q, k, v one Hessian, so they do).
//
// The layer loop mirrors src/forward.cpp step by step (DESIGN.md: "keep it an explicit mirror"):
//   x = embed(token)
//   per layer: xb = rmsnorm(x) ; q,k,v = Wq xb, Wk xb, Wv xb ; rope(q, k) ; store k, v ; att = attention(q, cache)
//              x += Wo att ; xb = rmsnorm(x) ; x += Wdown (silu(Wgate xb) * (Wup xb))
//   logits = Woutput rmsnorm(x)
#include "cuda/decode.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "cuda/kernels.cuh"

namespace slm::cuda {

namespace {

struct DevMatrix {
    int n_in = 0, n_out = 0;
    __half* f16 = nullptr;
    GptqDev q;
    bool gptq = false;
};

__global__ void argmax_step_kernel(const float* logits, int n, int32_t* tok, int* pos, int32_t* gen, int* count) {
    __shared__ float bv[1024];
    __shared__ int bi[1024];
    float best = -INFINITY;
    int arg = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (logits[i] > best) best = logits[i], arg = i;
    bv[threadIdx.x] = best;
    bi[threadIdx.x] = arg;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const float o = bv[threadIdx.x + s];
            const int oi = bi[threadIdx.x + s];
            if (o > bv[threadIdx.x] || (o == bv[threadIdx.x] && oi < bi[threadIdx.x])) bv[threadIdx.x] = o, bi[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        *tok = bi[0];
        gen[*count] = bi[0];
        *count += 1;
        *pos += 1;
    }
}

template <typename T>
T* dev_alloc(size_t n, size_t& total) {
    T* p = nullptr;
    SLM_CUDA(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)));
    total += n * sizeof(T);
    return p;
}
template <typename T>
T* upload(const T* host, size_t n, size_t& total) {
    T* p = dev_alloc<T>(n, total);
    SLM_CUDA(cudaMemcpy(p, host, n * sizeof(T), cudaMemcpyHostToDevice));
    return p;
}

}  // namespace

struct CudaLlama::Impl {
    LlamaShape s;
    cudaStream_t st = nullptr;
    std::vector<void*> allocs;
    DevMatrix output;  // also the embedding (tied)
    float* output_norm = nullptr;
    double* inv_freq = nullptr;
    struct Layer {
        float *attn_norm, *ffn_norm;
        DevMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
        DevMatrix qkv, gate_up;  // concatenated (n_out 0 where the parts could not be joined)
    };
    std::vector<Layer> layers;
    __half *k_cache = nullptr, *v_cache = nullptr;  // [n_layer][n_ctx][dkv]
    float *x, *xb, *qkvb, *att, *gub, *wide, *tmp, *logits;
    __half *xh = nullptr, *wh = nullptr;  // prefill scratch: activations and one dequantized GPTQ matrix
    int32_t *ids = nullptr, *tok = nullptr, *gen = nullptr;
    int *pos = nullptr, *count = nullptr;
    cudaGraphExec_t graph = nullptr;
    size_t scratch_bytes = 0;

    template <typename T>
    T* track(T* p) {
        allocs.push_back(p);
        return p;
    }

    // One matrix of the rows of several (q, k, v or gate, up), if their formats agree; n_out = 0 otherwise.
    DevMatrix concat(const std::vector<const HostMatrix*>& parts, size_t& bytes) {
        const HostMatrix& a = *parts[0];
        int n_out = 0;
        for (const HostMatrix* p : parts) {
            const bool same = p->n_in == a.n_in && p->gptq() == a.gptq() && p->group_size == a.group_size &&
                              ((!p->perm && !a.perm) ||
                               (p->perm && a.perm && std::memcmp(p->perm, a.perm, size_t(a.n_in) * 4) == 0));
            if (!same) return DevMatrix{};
            n_out += p->n_out;
        }
        std::vector<uint16_t> f16, sc;
        std::vector<uint32_t> qw;
        std::vector<int8_t> z;
        const int ng = a.gptq() ? (a.n_in + a.group_size - 1) / a.group_size : 0;
        for (const HostMatrix* p : parts) {
            const size_t n = size_t(p->n_in) * p->n_out;
            if (!a.gptq()) {
                f16.insert(f16.end(), p->f16, p->f16 + n);
            } else {
                qw.insert(qw.end(), p->qweight, p->qweight + n / 8);
                sc.insert(sc.end(), p->scales, p->scales + size_t(ng) * p->n_out);
                z.insert(z.end(), p->zeros, p->zeros + size_t(ng) * p->n_out);
            }
        }
        HostMatrix h = a;
        h.n_out = n_out;
        h.f16 = a.gptq() ? nullptr : f16.data();
        if (a.gptq()) h.qweight = qw.data(), h.scales = sc.data(), h.zeros = z.data();
        return matrix(h, bytes);
    }

    DevMatrix matrix(const HostMatrix& h, size_t& bytes) {
        DevMatrix m;
        m.n_in = h.n_in;
        m.n_out = h.n_out;
        const size_t n = size_t(h.n_in) * h.n_out;
        if (!h.gptq()) {
            if (!h.f16) throw std::runtime_error("CudaLlama: a matrix has no weights");
            m.f16 = track(upload(reinterpret_cast<const __half*>(h.f16), n, bytes));
            return m;
        }
        if (!gemv_int4_supported(h.n_in, h.group_size))
            throw std::runtime_error("CudaLlama: GPTQ shape not supported by the int4 GEMV (n_in and group % 32)");
        m.gptq = true;
        const int ng = (h.n_in + h.group_size - 1) / h.group_size;
        m.q.n_in = h.n_in, m.q.n_out = h.n_out, m.q.group_size = h.group_size, m.q.n_groups = ng;
        m.q.qweight = track(upload(h.qweight, n / 8, bytes));
        m.q.scales = track(upload(reinterpret_cast<const __half*>(h.scales), size_t(ng) * h.n_out, bytes));
        m.q.zeros = track(upload(h.zeros, size_t(ng) * h.n_out, bytes));
        if (h.perm) m.q.perm = track(upload(h.perm, size_t(h.n_in), bytes));
        return m;
    }

    // out = W in (n = 1: the GEMV, which can also read silu(gate)*up or rmsnorm(in), and add into out or
    // apply RoPE and store K, V; n > 1: the GEMM, plain input and output only).
    void matmul(const DevMatrix& m, const float* in, int n, float* out, GemvInput gin = GemvInput::plain,
                GemvOutput gout = GemvOutput::store, const GemvFuse& f = {}) {
        if (n == 1) {
            if (m.gptq) gemv_int4(m.q, in, out, st, gin, gout, f);
            else gemv_f16(m.f16, m.n_in, m.n_out, in, out, st, gin, gout, f);
            return;
        }
        if (gin != GemvInput::plain || gout != GemvOutput::store) throw std::runtime_error("CudaLlama: fused GEMM");
        const __half* w = m.f16;
        if (m.gptq) {
            gptq_dequantize_f16(m.q, wh, st);
            w = wh;
        }
        gemm_f16(w, m.n_in, m.n_out, in, n, out, xh, st);
    }

    // The layer loop for n tokens at positions pos0.. (pos_dev: read the position from device memory).
    void forward(const int32_t* ids_dev, int n, int pos0, const int* pos_dev) {
        const int E = s.n_embd, Dq = s.n_head * s.head_dim, Dkv = s.n_head_kv * s.head_dim, F = s.n_ff;
        float* q = qkvb;  // [n][Dq], then k [n][Dkv], then v [n][Dkv]: for n = 1 exactly the fused GEMV's output
        float* k = q + size_t(n) * Dq;
        float* v = k + size_t(n) * Dkv;
        float* gate = gub;  // [n][F], then up [n][F]
        float* up = gate + size_t(n) * F;
        if (output.gptq) embed_gptq(output.q, ids_dev, n, x, st);
        else embed_f16(output.f16, ids_dev, n, E, x, st);
        for (int il = 0; il < s.n_layer; il++) {
            Layer& L = layers[size_t(il)];
            __half* kc = k_cache + size_t(il) * s.n_ctx * Dkv;
            __half* vc = v_cache + size_t(il) * s.n_ctx * Dkv;
            if (L.qkv.n_out && n == 1) {
                // xb = rmsnorm(x) ; q,k,v = W xb ; rope(q, k) ; store k, v: one GEMV (gemv.cu's GemvFuse)
                GemvFuse f;
                f.norm_w = L.attn_norm, f.eps = s.rms_eps;
                f.n_head = s.n_head, f.n_kv = s.n_head_kv, f.hd = s.head_dim, f.n_rot = s.n_rot;
                f.pos0 = pos0, f.pos_dev = pos_dev, f.inv_freq = inv_freq, f.k_cache = kc, f.v_cache = vc;
                matmul(L.qkv, x, 1, q, GemvInput::rmsnorm, GemvOutput::rope_kv, f);
            } else {
                rmsnorm(x, L.attn_norm, n, E, s.rms_eps, xb, st);
                qkv_unfused(L, n, q, k, v);
                rope(q, s.n_head, k, s.n_head_kv, s.head_dim, s.n_rot, n, pos0, pos_dev, inv_freq, st);
                store_kv(k, v, n, Dkv, pos0, pos_dev, kc, vc, st);
            }
            attention(q, kc, vc, n, pos0, pos_dev, s.n_head, s.n_head_kv, s.head_dim, s.n_ctx, att, st);
            if (n == 1) {
                matmul(L.wo, att, 1, x, GemvInput::plain, GemvOutput::add);  // x += Wo att
            } else {
                matmul(L.wo, att, n, tmp);
                add(x, tmp, int64_t(n) * E, st);
            }
            if (L.gate_up.n_out && n == 1) {
                GemvFuse f;  // gate|up = W rmsnorm(x)
                f.norm_w = L.ffn_norm, f.eps = s.rms_eps;
                matmul(L.gate_up, x, 1, gub, GemvInput::rmsnorm, GemvOutput::store, f);
            } else {
                rmsnorm(x, L.ffn_norm, n, E, s.rms_eps, xb, st);
                gate_up_unfused(L, n, gate, up);
            }
            if (n == 1) {
                matmul(L.w_down, gub, 1, x, GemvInput::swiglu, GemvOutput::add);  // x += Wdown (silu(gate) * up)
            } else {
                swiglu(gate, up, int64_t(n) * F, gate, st);
                matmul(L.w_down, gate, n, tmp);
                add(x, tmp, int64_t(n) * E, st);
            }
        }
        // The head on the last token only: logits = Woutput rmsnorm(x), the rmsnorm in the GEMV's prologue.
        const float* last = x + size_t(n - 1) * E;
        GemvFuse f;
        f.norm_w = output_norm, f.eps = s.rms_eps;
        matmul(output, last, 1, logits, GemvInput::rmsnorm, GemvOutput::store, f);
    }

    // q, k, v = Wq xb, Wk xb, Wv xb without the fused epilogue (prefill, or parts that could not be joined).
    void qkv_unfused(const Layer& L, int n, float* q, float* k, float* v) {
        const int Dq = s.n_head * s.head_dim, Dkv = s.n_head_kv * s.head_dim;
        if (L.qkv.n_out) {
            matmul(L.qkv, xb, n, wide);
            split_columns(wide, n, Dq + 2 * Dkv, 0, Dq, q, st);
            split_columns(wide, n, Dq + 2 * Dkv, Dq, Dkv, k, st);
            split_columns(wide, n, Dq + 2 * Dkv, Dq + Dkv, Dkv, v, st);
        } else {
            matmul(L.wq, xb, n, q);
            matmul(L.wk, xb, n, k);
            matmul(L.wv, xb, n, v);
        }
    }

    // gate, up = Wgate xb, Wup xb without fusion (prefill, or parts that could not be joined).
    void gate_up_unfused(const Layer& L, int n, float* gate, float* up) {
        const int F = s.n_ff;
        if (L.gate_up.n_out) {
            matmul(L.gate_up, xb, n, wide);
            split_columns(wide, n, 2 * F, 0, F, gate, st);
            split_columns(wide, n, 2 * F, F, F, up, st);
        } else {
            matmul(L.w_gate, xb, n, gate);
            matmul(L.w_up, xb, n, up);
        }
    }

    void capture() {
        cudaGraph_t g = nullptr;
        SLM_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
        forward(tok, 1, 0, pos);
        argmax_step_kernel<<<1, 1024, 0, st>>>(logits, s.n_vocab, tok, pos, gen, count);
        SLM_CUDA(cudaGetLastError());
        SLM_CUDA(cudaStreamEndCapture(st, &g));
        SLM_CUDA(cudaGraphInstantiate(&graph, g, 0));
        SLM_CUDA(cudaGraphDestroy(g));
    }
};

CudaLlama::CudaLlama(const HostLlama& m) : impl_(new Impl) {
    Impl& I = *impl_;
    I.s = m.shape;
    const LlamaShape& s = I.s;
    if (s.n_layer <= 0 || s.n_embd % 32 || s.n_ctx <= 0 || int(m.layers.size()) != s.n_layer ||
        int(m.inv_freq.size()) != s.n_rot / 2 || s.n_head % s.n_head_kv)
        throw std::runtime_error("CudaLlama: bad model shape");
    SLM_CUDA(cudaStreamCreateWithFlags(&I.st, cudaStreamNonBlocking));
    size_t wb = 0, sb = 0;
    if (m.output.n_in != s.n_embd || m.output.n_out != s.n_vocab) throw std::runtime_error("CudaLlama: bad output shape");
    I.output = I.matrix(m.output, wb);
    I.output_norm = I.track(upload(m.output_norm, size_t(s.n_embd), wb));
    I.inv_freq = I.track(upload(m.inv_freq.data(), m.inv_freq.size(), sb));
    size_t max_gptq = 0, max_in = 0;
    for (const HostLayer& hl : m.layers) {
        Impl::Layer L;
        L.attn_norm = I.track(upload(hl.attn_norm, size_t(s.n_embd), wb));
        L.ffn_norm = I.track(upload(hl.ffn_norm, size_t(s.n_embd), wb));
        L.wo = I.matrix(hl.wo, wb);
        L.w_down = I.matrix(hl.w_down, wb);
        L.qkv = I.concat({&hl.wq, &hl.wk, &hl.wv}, wb);
        if (L.qkv.n_out) L.wq = L.wk = L.wv = DevMatrix{};
        else L.wq = I.matrix(hl.wq, wb), L.wk = I.matrix(hl.wk, wb), L.wv = I.matrix(hl.wv, wb);
        L.gate_up = I.concat({&hl.w_gate, &hl.w_up}, wb);
        if (!L.gate_up.n_out) L.w_gate = I.matrix(hl.w_gate, wb), L.w_up = I.matrix(hl.w_up, wb);
        for (const DevMatrix* d : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.qkv, &L.gate_up}) {
            if (d->gptq) max_gptq = std::max(max_gptq, size_t(d->n_in) * d->n_out);
            max_in = std::max(max_in, size_t(d->n_in));
        }
        I.layers.push_back(L);
    }
    weight_bytes_ = wb;
    const size_t T = size_t(s.n_ctx), E = s.n_embd, Dq = size_t(s.n_head) * s.head_dim,
                 Dkv = size_t(s.n_head_kv) * s.head_dim, F = s.n_ff;
    I.k_cache = I.track(dev_alloc<__half>(size_t(s.n_layer) * T * Dkv, sb));
    I.v_cache = I.track(dev_alloc<__half>(size_t(s.n_layer) * T * Dkv, sb));
    I.x = I.track(dev_alloc<float>(T * E, sb));
    I.xb = I.track(dev_alloc<float>(T * std::max(E, Dq), sb));
    I.qkvb = I.track(dev_alloc<float>(T * (Dq + 2 * Dkv), sb));
    I.att = I.track(dev_alloc<float>(T * Dq, sb));
    I.gub = I.track(dev_alloc<float>(T * 2 * F, sb));
    I.wide = I.track(dev_alloc<float>(T * std::max(2 * F, Dq + 2 * Dkv), sb));
    I.tmp = I.track(dev_alloc<float>(T * E, sb));
    I.logits = I.track(dev_alloc<float>(size_t(s.n_vocab), sb));
    I.xh = I.track(dev_alloc<__half>(T * std::max(max_in, E), sb));
    I.wh = I.track(dev_alloc<__half>(std::max<size_t>(max_gptq, 1), sb));
    I.ids = I.track(dev_alloc<int32_t>(T, sb));
    I.tok = I.track(dev_alloc<int32_t>(1, sb));
    I.gen = I.track(dev_alloc<int32_t>(T, sb));
    I.pos = I.track(dev_alloc<int>(1, sb));
    I.count = I.track(dev_alloc<int>(1, sb));
    I.scratch_bytes = sb;
    logits_.resize(size_t(s.n_vocab));
    // cudaMemcpy from pageable memory may return before its DMA lands, and I.st does not wait for the legacy
    // stream it ran on: wait here, before any kernel on I.st reads the weights.
    SLM_CUDA(cudaDeviceSynchronize());
}

CudaLlama::~CudaLlama() {
    if (impl_->graph) cudaGraphExecDestroy(impl_->graph);
    for (void* p : impl_->allocs) cudaFree(p);
    if (impl_->st) cudaStreamDestroy(impl_->st);
}

const std::vector<float>& CudaLlama::eval(const int32_t* ids, int n, int pos) {
    Impl& I = *impl_;
    if (n <= 0 || pos < 0 || pos + n > I.s.n_ctx) throw std::runtime_error("CudaLlama::eval: positions out of range");
    SLM_CUDA(cudaMemcpyAsync(I.ids, ids, size_t(n) * sizeof(int32_t), cudaMemcpyHostToDevice, I.st));
    I.forward(I.ids, n, pos, nullptr);
    SLM_CUDA(cudaMemcpyAsync(logits_.data(), I.logits, logits_.size() * sizeof(float), cudaMemcpyDeviceToHost, I.st));
    SLM_CUDA(cudaStreamSynchronize(I.st));
    pos_ = pos + n;
    return logits_;
}

std::vector<int32_t> CudaLlama::generate_greedy(int n_tokens) {
    Impl& I = *impl_;
    std::vector<int32_t> out;
    if (n_tokens <= 0) return out;
    const int32_t first = int32_t(std::max_element(logits_.begin(), logits_.end()) - logits_.begin());
    out.push_back(first);
    if (pos_ + n_tokens > I.s.n_ctx) throw std::runtime_error("CudaLlama::generate_greedy: past the context");
    const int zero = 0;
    SLM_CUDA(cudaMemcpyAsync(I.tok, &first, sizeof first, cudaMemcpyHostToDevice, I.st));
    SLM_CUDA(cudaMemcpyAsync(I.pos, &pos_, sizeof pos_, cudaMemcpyHostToDevice, I.st));
    SLM_CUDA(cudaMemcpyAsync(I.count, &zero, sizeof zero, cudaMemcpyHostToDevice, I.st));
    if (!I.graph) I.capture();
    for (int i = 1; i < n_tokens; i++) SLM_CUDA(cudaGraphLaunch(I.graph, I.st));
    std::vector<int32_t> gen(size_t(n_tokens - 1));
    if (!gen.empty())
        SLM_CUDA(cudaMemcpyAsync(gen.data(), I.gen, gen.size() * sizeof(int32_t), cudaMemcpyDeviceToHost, I.st));
    SLM_CUDA(cudaStreamSynchronize(I.st));
    out.insert(out.end(), gen.begin(), gen.end());
    pos_ += n_tokens - 1;
    return out;
}

double CudaLlama::time_decode(int reps) {
    Impl& I = *impl_;
    if (pos_ + reps / 5 + 1 > I.s.n_ctx) throw std::runtime_error("CudaLlama::time_decode: past the context");
    if (!I.graph) I.capture();
    cudaEvent_t a, b;
    SLM_CUDA(cudaEventCreate(&a));
    SLM_CUDA(cudaEventCreate(&b));
    std::vector<double> per;
    const int batch = std::max(1, reps / 5), zero = 0, first = 0;
    for (int it = 0; it < 6; it++) {  // the first batch warms up
        SLM_CUDA(cudaMemcpyAsync(I.pos, &pos_, sizeof pos_, cudaMemcpyHostToDevice, I.st));
        SLM_CUDA(cudaMemcpyAsync(I.count, &zero, sizeof zero, cudaMemcpyHostToDevice, I.st));
        SLM_CUDA(cudaMemcpyAsync(I.tok, &first, sizeof first, cudaMemcpyHostToDevice, I.st));
        SLM_CUDA(cudaEventRecord(a, I.st));
        for (int i = 0; i < batch; i++) SLM_CUDA(cudaGraphLaunch(I.graph, I.st));
        SLM_CUDA(cudaEventRecord(b, I.st));
        SLM_CUDA(cudaEventSynchronize(b));
        float ms = 0;
        SLM_CUDA(cudaEventElapsedTime(&ms, a, b));
        if (it > 0) per.push_back(double(ms) / 1e3 / batch);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(per.begin(), per.end());
    return per[per.size() / 2];
}

double CudaLlama::time_prefill(const int32_t* ids, int n, int reps) {
    Impl& I = *impl_;
    if (n <= 0 || n > I.s.n_ctx) throw std::runtime_error("CudaLlama::time_prefill: bad length");
    SLM_CUDA(cudaMemcpyAsync(I.ids, ids, size_t(n) * sizeof(int32_t), cudaMemcpyHostToDevice, I.st));
    cudaEvent_t a, b;
    SLM_CUDA(cudaEventCreate(&a));
    SLM_CUDA(cudaEventCreate(&b));
    std::vector<double> t;
    for (int it = 0; it <= reps; it++) {
        SLM_CUDA(cudaEventRecord(a, I.st));
        I.forward(I.ids, n, 0, nullptr);
        SLM_CUDA(cudaEventRecord(b, I.st));
        SLM_CUDA(cudaEventSynchronize(b));
        float ms = 0;
        SLM_CUDA(cudaEventElapsedTime(&ms, a, b));
        if (it > 0) t.push_back(double(ms) / 1e3);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    pos_ = n;
    return t[t.size() / 2];
}

}  // namespace slm::cuda
