// slm-gpu-bench: the GPU figures of issue 14 from one sitting. Prints (and writes to argv[1], if given) a
// markdown report: the device-to-device copy bandwidth (the roofline's ceiling), the batch-1 GEMV of FP16 and
// GPTQ-4 weights on Llama-3.2-1B's matrix shapes with each one's share of that ceiling, and decode / prefill of
// a random-weight Llama-3.2-1B-shaped model (FP16, GPTQ-4 with an fp16 head, GPTQ-4 throughout), decode
// replayed as one CUDA graph per token, against the roofline (weight bytes per token over the copy bandwidth).
// Timings: CUDA events around CUDA-graph replays (many launches per graph), median of several batches, weights
// rotated over enough copies to exceed the L2 several times; random (never zero) data.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cuda/decode.h"
#include "cuda/kernels.cuh"
#include "types.h"

using namespace slm;

namespace {

std::string g_report;
void out(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void out(const char* fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::fputs(buf, stdout);
    std::fflush(stdout);
    g_report += buf;
}

uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

// Fills n items in parallel: f(i, hash) -> value.
template <typename T, typename F>
void fill(std::vector<T>& v, uint64_t seed, F f) {
    const unsigned nt = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> th;
    for (unsigned t = 0; t < nt; t++)
        th.emplace_back([&, t] {
            const size_t a = v.size() * t / nt, b = v.size() * (t + 1) / nt;
            for (size_t i = a; i < b; i++) v[i] = f(i, mix(seed * 0x9e3779b97f4a7c15ull + i));
        });
    for (auto& x : th) x.join();
}

std::vector<uint16_t> random_f16(size_t n, float amp, uint64_t seed) {
    std::vector<uint16_t> v(n);
    fill(v, seed, [amp](size_t, uint64_t h) { return fp32_to_fp16(amp * (float(h >> 40) / float(1 << 24) * 2 - 1)); });
    return v;
}

struct HostGptq {
    std::vector<uint32_t> qw;
    std::vector<uint16_t> sc;
    std::vector<int8_t> z;
    std::vector<int32_t> perm;
};
HostGptq random_gptq(int n_out, int n_in, int g, bool act, uint64_t seed) {
    HostGptq q;
    const int ng = (n_in + g - 1) / g;
    q.qw.resize(size_t(n_out) * n_in / 8);
    fill(q.qw, seed, [](size_t, uint64_t h) { return uint32_t(h); });
    const float amp = std::sqrt(3.0f / float(n_in));
    q.sc.assign(size_t(n_out) * ng, fp32_to_fp16(amp / 7.5f));
    q.z.resize(size_t(n_out) * ng);
    fill(q.z, seed + 1, [](size_t, uint64_t h) { return int8_t(7 + (h & 1)); });
    if (act) {
        q.perm.resize(static_cast<size_t>(n_in));
        for (int i = 0; i < n_in; i++) q.perm[size_t(i)] = i;
        for (int i = n_in - 1; i > 0; i--) std::swap(q.perm[size_t(i)], q.perm[size_t(mix(seed + i) % uint64_t(i + 1))]);
    }
    return q;
}

double copy_bandwidth() {
    const size_t bytes = size_t(2) << 30;
    void *a, *b;
    SLM_CUDA(cudaMalloc(&a, bytes));
    SLM_CUDA(cudaMalloc(&b, bytes));
    SLM_CUDA(cudaMemset(a, 0x5a, bytes));
    cudaEvent_t e0, e1;
    SLM_CUDA(cudaEventCreate(&e0));
    SLM_CUDA(cudaEventCreate(&e1));
    std::vector<double> t;
    for (int i = 0; i < 12; i++) {
        SLM_CUDA(cudaEventRecord(e0));
        SLM_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
        SLM_CUDA(cudaEventRecord(e1));
        SLM_CUDA(cudaEventSynchronize(e1));
        float ms;
        SLM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (i >= 2) t.push_back(ms / 1e3);
    }
    std::sort(t.begin(), t.end());
    cudaFree(a);
    cudaFree(b);
    return 2.0 * double(bytes) / t[t.size() / 2];  // read + write
}

// Median seconds per call of `launch(i)` over graphs of `per_graph` calls.
template <typename L>
double time_graph(L launch, int per_graph) {
    cudaStream_t st;
    SLM_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    launch(0, st);  // warm-up, outside capture (sets smem attributes, loads the module)
    SLM_CUDA(cudaStreamSynchronize(st));
    cudaGraph_t g;
    cudaGraphExec_t ge;
    SLM_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < per_graph; i++) launch(i, st);
    SLM_CUDA(cudaStreamEndCapture(st, &g));
    SLM_CUDA(cudaGraphInstantiate(&ge, g, 0));
    cudaEvent_t e0, e1;
    SLM_CUDA(cudaEventCreate(&e0));
    SLM_CUDA(cudaEventCreate(&e1));
    std::vector<double> t;
    for (int r = 0; r < 8; r++) {
        SLM_CUDA(cudaEventRecord(e0, st));
        SLM_CUDA(cudaGraphLaunch(ge, st));
        SLM_CUDA(cudaEventRecord(e1, st));
        SLM_CUDA(cudaEventSynchronize(e1));
        float ms;
        SLM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 2) t.push_back(ms / 1e3 / per_graph);
    }
    std::sort(t.begin(), t.end());
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    cudaStreamDestroy(st);
    return t[t.size() / 2];
}

void bench_gemv(double bw) {
    out("\n## Batch-1 GEMV (y = W x), Llama-3.2-1B shapes\n\n");
    out("| n_out x n_in | FP16 us | FP16 GB/s | FP16 %% of copy | GPTQ-4 g128 us | GPTQ-4 GB/s | GPTQ-4 %% of copy | "
        "int4 speed-up | act-order us |\n|---|---|---|---|---|---|---|---|---|\n");
    const int shapes[][2] = {{2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
    for (const auto& sh : shapes) {
        const int N = sh[0], K = sh[1], g = 128, ng = K / g;
        const size_t f16_bytes = size_t(N) * K * 2, q_bytes = size_t(N) * K / 2 + size_t(N) * ng * 3;
        const int R = int(std::max<size_t>(2, (size_t(1) << 30) / f16_bytes + 1));  // >= 1 GB of fp16 copies
        const int Rq = int(std::max<size_t>(2, (size_t(1) << 30) / q_bytes + 1));
        std::vector<uint16_t> w = random_f16(f16_bytes / 2, 0.05f, uint64_t(N) * 7 + K);
        std::vector<void*> wf(static_cast<size_t>(R));
        for (auto& p : wf) {
            SLM_CUDA(cudaMalloc(&p, f16_bytes));
            SLM_CUDA(cudaMemcpy(p, w.data(), f16_bytes, cudaMemcpyHostToDevice));
        }
        w.clear();
        w.shrink_to_fit();
        float *x, *y;
        SLM_CUDA(cudaMalloc(&x, size_t(K) * 4));
        SLM_CUDA(cudaMalloc(&y, size_t(N) * 4));
        std::vector<float> hx(static_cast<size_t>(K));
        for (int i = 0; i < K; i++) hx[size_t(i)] = float(mix(i) >> 40) / float(1 << 24) - 0.5f;
        SLM_CUDA(cudaMemcpy(x, hx.data(), size_t(K) * 4, cudaMemcpyHostToDevice));
        const double t16 = time_graph(
            [&](int i, cudaStream_t st) {
                cuda::gemv_f16(static_cast<const __half*>(wf[size_t(i % R)]), K, N, x, y, st);
            },
            200);
        for (void* p : wf) cudaFree(p);
        double tq = 0, ta = 0;
        for (bool act : {false, true}) {
            if (act && N != 2048) continue;
            const HostGptq hq = random_gptq(N, K, g, act, uint64_t(N) * 13 + K);
            std::vector<cuda::GptqDev> d(static_cast<size_t>(Rq));
            std::vector<void*> allocs;
            for (auto& m : d) {
                void *a, *b, *c, *e = nullptr;
                SLM_CUDA(cudaMalloc(&a, hq.qw.size() * 4));
                SLM_CUDA(cudaMalloc(&b, hq.sc.size() * 2));
                SLM_CUDA(cudaMalloc(&c, hq.z.size()));
                SLM_CUDA(cudaMemcpy(a, hq.qw.data(), hq.qw.size() * 4, cudaMemcpyHostToDevice));
                SLM_CUDA(cudaMemcpy(b, hq.sc.data(), hq.sc.size() * 2, cudaMemcpyHostToDevice));
                SLM_CUDA(cudaMemcpy(c, hq.z.data(), hq.z.size(), cudaMemcpyHostToDevice));
                if (act) {
                    SLM_CUDA(cudaMalloc(&e, size_t(K) * 4));
                    SLM_CUDA(cudaMemcpy(e, hq.perm.data(), size_t(K) * 4, cudaMemcpyHostToDevice));
                }
                allocs.insert(allocs.end(), {a, b, c, e});
                m.qweight = static_cast<uint32_t*>(a), m.scales = static_cast<__half*>(b), m.zeros = static_cast<int8_t*>(c);
                m.perm = static_cast<int32_t*>(e);
                m.n_in = K, m.n_out = N, m.group_size = g, m.n_groups = ng;
            }
            const double t = time_graph([&](int i, cudaStream_t st) { cuda::gemv_int4(d[size_t(i % Rq)], x, y, st); }, 200);
            (act ? ta : tq) = t;
            for (void* p : allocs)
                if (p) cudaFree(p);
        }
        cudaFree(x);
        cudaFree(y);
        const double gb16 = (f16_bytes + 4.0 * (N + K)) / t16 / 1e9, gbq = (q_bytes + 4.0 * (N + K)) / tq / 1e9;
        char act_s[32] = "";
        if (ta > 0) std::snprintf(act_s, sizeof act_s, "%.2f", ta * 1e6);
        out("| %d x %d | %.2f | %.0f | %.0f%% | %.2f | %.0f | %.0f%% | %.2fx | %s |\n", N, K, t16 * 1e6, gb16,
            100 * gb16 * 1e9 / bw, tq * 1e6, gbq, 100 * gbq * 1e9 / bw, t16 / tq, act_s);
    }
}

struct Variant {
    const char* name;
    bool gptq_layers, gptq_head;
};

void bench_model(double bw) {
    out("\n## Random-weight Llama-3.2-1B-shaped model, batch 1\n\n");
    out("16 layers, dim 2048, 32 heads / 8 KV heads of 64, FFN 8192, vocab 128256, tied embeddings; GPTQ-4 group 128. "
        "Decode at positions 512..612 after a 512-token prefill, one CUDA graph per token with on-device greedy "
        "argmax; roofline = copy bandwidth / (weight bytes + KV bytes read per token).\n\n");
    out("| weights | VRAM for weights | decode tok/s | roofline tok/s | %% of roofline | us/token | prefill pp512 tok/s |\n"
        "|---|---|---|---|---|---|---|\n");
    cuda::LlamaShape s;
    s.n_layer = 16, s.n_embd = 2048, s.n_head = 32, s.n_head_kv = 8, s.head_dim = 64, s.n_ff = 8192, s.n_vocab = 128256;
    s.n_rot = 64, s.n_ctx = 1024, s.rms_eps = 1e-5f, s.rope_base = 500000.0f;
    double fp16_tps = 0;
    for (const Variant v : {Variant{"FP16", false, false}, Variant{"GPTQ-4 (fp16 head)", true, false},
                            Variant{"GPTQ-4 (int4 head)", true, true}}) {
        cuda::HostLlama m;
        m.shape = s;
        m.inv_freq.resize(size_t(s.n_rot / 2));
        for (int i = 0; i < s.n_rot / 2; i++) m.inv_freq[size_t(i)] = std::pow(double(s.rope_base), -2.0 * i / s.n_rot);
        std::vector<float> norms(size_t(2 * s.n_layer + 1) * s.n_embd, 1.0f);
        std::vector<std::vector<uint16_t>> f16;
        std::vector<HostGptq> q;
        f16.reserve(200), q.reserve(200);
        uint64_t seed = 1;
        auto mat = [&](int n_out, int n_in, bool as_gptq) {
            cuda::HostMatrix h;
            h.n_in = n_in, h.n_out = n_out;
            if (as_gptq) {
                q.push_back(random_gptq(n_out, n_in, 128, false, seed++));
                h.qweight = q.back().qw.data(), h.scales = q.back().sc.data(), h.zeros = q.back().z.data();
                h.group_size = 128;
            } else {
                f16.push_back(random_f16(size_t(n_out) * n_in, std::sqrt(3.0f / float(n_in)), seed++));
                h.f16 = f16.back().data();
            }
            return h;
        };
        const int E = s.n_embd, Dq = s.n_head * s.head_dim, Dkv = s.n_head_kv * s.head_dim, F = s.n_ff;
        for (int il = 0; il < s.n_layer; il++) {
            cuda::HostLayer L;
            L.attn_norm = &norms[size_t(2 * il) * E];
            L.ffn_norm = &norms[size_t(2 * il + 1) * E];
            L.wq = mat(Dq, E, v.gptq_layers), L.wk = mat(Dkv, E, v.gptq_layers), L.wv = mat(Dkv, E, v.gptq_layers);
            L.wo = mat(E, Dq, v.gptq_layers);
            L.w_gate = mat(F, E, v.gptq_layers), L.w_up = mat(F, E, v.gptq_layers), L.w_down = mat(E, F, v.gptq_layers);
            m.layers.push_back(L);
        }
        m.output = mat(s.n_vocab, E, v.gptq_head);
        m.output_norm = &norms[size_t(2 * s.n_layer) * E];
        cuda::CudaLlama gpu(m);
        f16.clear(), q.clear();
        std::vector<int32_t> ids(512);
        for (int i = 0; i < 512; i++) ids[size_t(i)] = int32_t(mix(i + 99) % uint64_t(s.n_vocab));
        const double t_pp = gpu.time_prefill(ids.data(), 512, 3);
        gpu.eval(ids.data(), 512, 0);
        const double t_tok = gpu.time_decode(500);
        const double kv_bytes = 2.0 * s.n_layer * 562 * Dkv * 2;
        const double roof = bw / (double(gpu.weight_bytes()) + kv_bytes);
        if (!v.gptq_layers) fp16_tps = 1 / t_tok;
        out("| %s | %.2f GB | %.0f | %.0f | %.0f%% | %.1f | %.0f |\n", v.name, gpu.weight_bytes() / 1e9, 1 / t_tok, roof,
            100 / t_tok / roof, t_tok * 1e6, 512 / t_pp);
        if (v.gptq_layers) out("|  (vs FP16) | | %.2fx | | | | |\n", 1 / t_tok / fp16_tps);
    }
}

}  // namespace

int main(int argc, char** argv) {
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        std::printf("no CUDA device\n");
        return 1;
    }
    try {
        cudaDeviceProp p{};
        SLM_CUDA(cudaGetDeviceProperties(&p, 0));
        const double bw = copy_bandwidth();
        out("# slm GPU bench\n\ndevice: %s, %d SMs, %.0f MB L2, %.1f GB; device-to-device copy %.0f GB/s (read + write)\n",
            p.name, p.multiProcessorCount, p.l2CacheSize / 1e6, p.totalGlobalMem / 1e9, bw / 1e9);
        bench_gemv(bw);
        bench_model(bw);
    } catch (const std::exception& e) {
        std::printf("error: %s\n", e.what());
        return 1;
    }
    if (argc > 1) {
        FILE* f = std::fopen(argv[1], "w");
        if (f) std::fputs(g_report.c_str(), f), std::fclose(f);
    }
    return 0;
}
