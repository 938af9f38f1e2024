// `slm bench -m MODEL`: prompt processing and generation speed in llama-bench's table shape, with the memory and
// compute ceilings measured in the same run (kernels/cpu/probe.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "args.h"
#include "backend.h"
#include "commands.h"
#include "common.h"
#include "forward.h"
#include "model.h"
#include "threadpool.h"

namespace slm::cli {

namespace {

void print_help() {
    std::printf(
        "usage: slm bench -m MODEL.gguf [-p 512] [-n 128] [-d DEPTH] [-t THREADS] [-r REPS] [--kv-type f16|f32]\n"
        "                 [--json] [--gpu] | slm bench --membw [-t THREADS] [--gpu]\n"
        "\n"
        "Times prompt processing (pp: -p tokens in one eval) and generation (tg: -n tokens one at a time), after\n"
        "DEPTH tokens already in the cache (not timed), on random token ids; prints llama-bench's table (model, size,\n"
        "params, backend, threads, test, t/s mean +- sd over REPS runs) plus, for tg, the bytes read per token\n"
        "(weights + the KV cache at that depth), the GB/s that makes and its share of the read bandwidth measured\n"
        "in the same run; for pp, the GFLOP/s and its share of the f32 FMA peak measured in the same run; and\n"
        "which kernel set ran. -p 0 or -n 0 skips that test.\n"
        "\n"
        "With --gpu (build/slm-cuda) the model runs on CUDA device 0 through the same layer loop; the ceiling is the\n"
        "device-to-device copy bandwidth measured in the same run (read + write), and after the timed runs one\n"
        "profiled pass of each test prints, per kernel kind (gemv f16, gemv int4, gemm f16, attention, elementwise,\n"
        "...), the device time per token, the bytes and flops its speed of light counts, and the achieved share of\n"
        "that speed of light (bytes / copy bandwidth over the time). Each op is then timed alone, so the sum is the\n"
        "kernels' own time and the rest of the unprofiled token time is launch gaps and host work. This path is\n"
        "not captured as a CUDA graph (slm-gpu-bench times the graph decode).\n"
        "\n"
        "options:\n"
        "  -m, --model FILE   the model\n"
        "  -p N               prompt tokens (default 512)\n"
        "  -n N               generated tokens (default 128)\n"
        "  -d, --depth N      tokens in the KV cache before each test (default 0)\n"
        "  -t, --threads N    threads (default: all cores)\n"
        "  -r, --reps N       repetitions (default 3)\n"
        "  --kv-type T        f16 (default) or f32\n"
        "  --json             one JSON object per test instead of the table\n"
        "  --membw            print the read bandwidth (read as decode reads) and the FMA peak, then exit\n"
        "  --membw-mib N      buffer streamed for the bandwidth (default 1024; keep it well above the caches)\n"
        "  --gpu              run on CUDA device 0 (f16 KV cache) and print the per-kernel-kind profile\n");
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Stat {
    double mean = 0, sd = 0;
};
Stat stat(const std::vector<double>& v) {
    Stat s;
    for (double x : v) s.mean += x;
    s.mean /= double(v.size());
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0;
    return s;
}

// One profiled pass's figures per kernel kind, per token (tokens: how many the pass computed).
void print_profile(const std::string& test, std::vector<Backend::KernelTime> prof, int tokens, double token_seconds,
                   double copy_gbs, bool json) {
    std::sort(prof.begin(), prof.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    double total = 0;
    for (const auto& k : prof) total += k.seconds;
    if (json) {
        for (const auto& k : prof)
            std::printf("{\"test\": \"%s\", \"kernel\": \"%s\", \"calls_per_token\": %.2f, \"us_per_token\": %.3f, "
                        "\"bytes_per_token\": %.0f, \"flops_per_token\": %.0f, \"sol_share\": %.4f}\n",
                        test.c_str(), k.kind.c_str(), double(k.calls) / tokens, k.seconds / tokens * 1e6,
                        k.bytes / tokens, k.flops / tokens, k.seconds > 0 ? k.bytes / (copy_gbs * 1e9) / k.seconds : 0);
        return;
    }
    std::printf("\n%s, per kernel kind (each op timed alone; speed of light = bytes / %.0f GB/s copy bandwidth):\n\n",
                test.c_str(), copy_gbs);
    std::printf("| kernel | calls/token | us/token | share of kernel time | MB/token | GB/s | of speed of light | GFLOP/s |\n");
    std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const auto& k : prof) {
        const double gbs = k.seconds > 0 ? k.bytes / k.seconds / 1e9 : 0;
        std::printf("| %s | %.1f | %.1f | %.0f%% | %.2f | %.0f | %.0f%% | %.0f |\n", k.kind.c_str(), double(k.calls) / tokens,
                    k.seconds / tokens * 1e6, total > 0 ? 100 * k.seconds / total : 0, k.bytes / tokens / 1e6, gbs,
                    100 * gbs / copy_gbs, k.seconds > 0 ? k.flops / k.seconds / 1e9 : 0);
    }
    std::printf("| all kernels | | %.1f | 100%% | | | | |\n", total / tokens * 1e6);
    if (token_seconds > 0) {
        const double outside = token_seconds * 1e6 - total / tokens * 1e6;
        std::printf("\nunprofiled: %.1f us/token, of which %.1f us (%.0f%%) outside the kernels (launch gaps, host work)%s\n",
                    token_seconds * 1e6, outside, 100 * outside / (token_seconds * 1e6),
                    outside < 0 ? "; negative: timing each op alone (events around it) adds more than the gaps it "
                                  "removes, so read the small kernels' times as upper bounds"
                                : "");
    }
    std::fflush(stdout);
}

// Bytes of the matrices one token reads (every layer's, plus the output projection) and their parameters.
struct Sizes {
    double weight_bytes = 0, matmul_params = 0;
};
Sizes sizes(const Model& m) {
    Sizes s;
    auto add = [&](const Weight& w) {
        if (w.w.format == WeightFormat::gptq) {  // the stored parts (qweight, scales, zeros, perm)
            for (int i = 0; i < w.w.n_parts; i++) {
                const WeightPart& p = w.w.parts[size_t(i)];
                s.weight_bytes += double(row_bytes(p.type, p.ne0)) * double(p.ne1);
            }
        } else {
            s.weight_bytes += double(w.w.row_size()) * double(w.w.n_out);
        }
        s.matmul_params += double(w.w.n_in) * double(w.w.n_out);
    };
    for (const LayerWeights& l : m.layers())
        for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*w);
    add(m.output());
    return s;
}

}  // namespace

static int bench_model(const Args& a, Backend& be, ThreadPool& pool, double membw, double peak, int n_pp, int n_tg,
                       int depth, int reps, bool json);

int cmd_bench(int argc, char** argv) {
    Args a(argc, argv, {"-m", "--model", "-p", "-n", "-d", "--depth", "-t", "--threads", "-r", "--reps", "--kv-type", "--membw-mib"},
           {"--json", "--membw", "--gpu"});
    if (a.help()) {
        print_help();
        return 0;
    }
    if (!a.positionals().empty()) fail("unexpected argument '%s' (see --help)", a.positionals()[0].c_str());
    auto count = [&](std::vector<std::string> names, int64_t def, int64_t lo, int64_t hi) {
        const int64_t v = a.get_int(names, def);
        if (v < lo || v > hi) fail("option %s: expected %lld..%lld, got %lld", names[0].c_str(), (long long)lo, (long long)hi, (long long)v);
        return int(v);
    };
    const int n_pp = count({"-p"}, 512, 0, 1 << 20), n_tg = count({"-n"}, 128, 0, 1 << 20);
    const int depth = count({"-d", "--depth"}, 0, 0, 1 << 24), reps = count({"-r", "--reps"}, 3, 1, 1000);
    const int threads = count({"-t", "--threads"}, 0, 0, 1024);
    const bool json = a.has("--json");
    ThreadPool pool(threads);
    const int membw_mib = count({"--membw-mib"}, 1024, 16, 1 << 20);
    if (!a.has("--membw") && n_pp == 0 && n_tg == 0) fail("nothing to measure: -p and -n are both 0");
    if (!a.has("--membw")) (void)a.require({"-m", "--model"});  // before the ceilings are measured

    const bool gpu = a.has("--gpu");
    if (gpu) {
        if (a.given({"--kv-type"}) && a.get({"--kv-type"}) != "f16" && a.get({"--kv-type"}) != "F16")
            fail("option --kv-type: --gpu keeps an f16 KV cache");
        auto backend = make_cuda_backend(0);
        const double copy = backend->copy_bandwidth_gbs();
        if (a.has("--membw")) {
            std::printf("device copy bandwidth: %.1f GB/s (read + write, 1 GiB device-to-device, median of 10; %s)\n",
                        copy, backend->name().c_str());
            return 0;
        }
        return bench_model(a, *backend, pool, copy, 0, n_pp, n_tg, depth, reps, json);
    }
    // The ceilings, measured first (before the model's pages compete for memory).
    const double membw = probe::read_bandwidth_gbs(pool, size_t(membw_mib) << 20);
    const double peak = probe::peak_gflops(pool);
    if (a.has("--membw")) {
        std::printf("read bandwidth: %.1f GB/s (%d threads, %d MiB streamed, best of 5)\n", membw, pool.size(), membw_mib);
        std::printf("f32 FMA peak:   %.1f GFLOP/s (%s)\n", peak, make_cpu_backend(pool)->name().c_str());
        return 0;
    }
    auto backend = make_cpu_backend(pool);
    return bench_model(a, *backend, pool, membw, peak, n_pp, n_tg, depth, reps, json);
}

// The pp and tg tests on one backend. membw: the memory ceiling (GB/s); peak: the compute ceiling (GFLOP/s),
// 0 when none is measured (GPU: its ceiling is membw, the device copy bandwidth, and a profile follows).
static int bench_model(const Args& a, Backend& be, ThreadPool& pool, double membw, double peak, int n_pp, int n_tg,
                       int depth, int reps, bool json) {
    Backend* backend = &be;
    const bool gpu = be.can_profile();
    const std::string path = a.require({"-m", "--model"});
    auto model = Model::load(path, *backend, {gguf::LoadMode::read});  // weights in memory, as llama-bench -mmp 0
    const ModelConfig& c = model->config();
    ContextOptions co;
    co.n_ctx = depth + std::max(n_pp, n_tg) + 1;
    const std::string kv = a.get({"--kv-type"}, "f16");
    if (kv == "f16" || kv == "F16") co.kv_type = GgmlType::F16;
    else if (kv == "f32" || kv == "F32") co.kv_type = GgmlType::F32;
    else fail("option --kv-type: expected f16 or f32, got \"%s\"", kv.c_str());
    co.n_batch = std::max(1, std::min(n_pp, 512));
    Context ctx(*model, *backend, co);
    const int threads_shown = gpu ? 1 : pool.size();

    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(0, c.n_vocab - 1);
    std::vector<int32_t> fill(static_cast<size_t>(depth)), prompt(static_cast<size_t>(n_pp));
    for (auto& t : fill) t = tok(rng);
    for (auto& t : prompt) t = tok(rng);
    auto prepare = [&] {
        ctx.clear();
        for (int i = 0; i < depth; i += 512) ctx.eval(fill.data() + i, std::min(512, depth - i));
    };

    const Sizes sz = sizes(*model);
    const double file_bytes = double(model->file().file_size());
    double params = 0;
    for (const gguf::TensorInfo& t : model->file().tensors()) params += double(t.n_elements());
    const int kv_el = co.kv_type == GgmlType::F16 ? 2 : 4;
    const double kv_per_pos = 2.0 * double(c.n_layer) * double(c.n_embd_kv()) * kv_el;  // K and V, all layers
    const std::string model_name = strfmt("%s %s", c.arch.c_str(), c.name.empty() ? "?" : c.name.c_str());
    const std::string backend_name = backend->name();  // "cpu avx512_vnni, 2 threads": the kernel set that ran

    if (!json) {
        std::printf("| model | size | params | backend | threads | test | t/s | ceiling |\n");
        std::printf("| --- | ---: | ---: | --- | ---: | --- | ---: | --- |\n");
    }
    auto report = [&](const std::string& test, const std::vector<double>& tps, const std::string& ceiling,
                      const std::string& json_extra) {
        const Stat s = stat(tps);
        if (json)
            std::printf("{\"model\": \"%s\", \"size_bytes\": %.0f, \"params\": %.0f, \"backend\": \"%s\", \"threads\": %d, "
                        "\"test\": \"%s\", \"t_s\": %.3f, \"t_s_sd\": %.3f, \"read_gbs\": %.2f, \"peak_gflops\": %.1f%s}\n",
                        model_name.c_str(), file_bytes, params, backend_name.c_str(), threads_shown, test.c_str(), s.mean,
                        s.sd, membw, peak, json_extra.c_str());
        else
            std::printf("| %s | %.2f GiB | %.2f B | %s | %d | %s | %.2f ± %.2f | %s |\n", model_name.c_str(),
                        file_bytes / 1073741824.0, params / 1e9, backend_name.c_str(), threads_shown, test.c_str(), s.mean,
                        s.sd, ceiling.c_str());
        std::fflush(stdout);
    };

    const std::string at = depth ? strfmt(" @ d%d", depth) : "";
    double pp_seconds = 0, tg_seconds = 0;  // per test, from the mean tokens/s
    if (gpu && n_pp > 0) {  // one untimed prompt: the first allocates the device scratch of its batch size
        prepare();
        ctx.eval(prompt.data(), n_pp);
    }
    if (n_pp > 0) {
        std::vector<double> tps;
        for (int r = 0; r < reps; r++) {
            prepare();
            const double t0 = now_s();
            ctx.eval(prompt.data(), n_pp);
            tps.push_back(n_pp / (now_s() - t0));
        }
        // 2 flops per weight per token, plus attention (q.k and p.v: 4 * n_embd_q per cached position) over the
        // average context of the batch.
        const double avg_ctx = depth + (n_pp + 1) / 2.0;
        const double flops_tok = 2 * sz.matmul_params + 4.0 * c.n_layer * c.n_embd_q() * avg_ctx;
        const double gflops = stat(tps).mean * flops_tok / 1e9;
        report("pp" + std::to_string(n_pp) + at, tps,
               peak > 0 ? strfmt("%.1f GFLOP/s = %.0f%% of %.0f (f32 FMA peak)", gflops, 100 * gflops / peak, peak)
                        : strfmt("%.1f GFLOP/s (per-kernel shares below)", gflops),
               strfmt(", \"gflops\": %.2f", gflops));
        pp_seconds = n_pp / stat(tps).mean;
    }
    if (n_tg > 0) {
        std::vector<double> tps;
        for (int r = 0; r < reps; r++) {
            prepare();
            int32_t t = tok(rng);
            const double t0 = now_s();
            for (int i = 0; i < n_tg; i++) ctx.eval(&t, 1);
            tps.push_back(n_tg / (now_s() - t0));
        }
        const double avg_ctx = depth + (n_tg + 1) / 2.0;
        const double bytes_tok = sz.weight_bytes + kv_per_pos * avg_ctx;
        const double gbs = stat(tps).mean * bytes_tok / 1e9;
        report("tg" + std::to_string(n_tg) + at, tps,
               strfmt("%.1f MB/token, %.1f GB/s = %.0f%% of %.1f GB/s %s", bytes_tok / 1e6, gbs, 100 * gbs / membw, membw,
                      gpu ? "device copy" : "read"),
               strfmt(", \"bytes_per_token\": %.0f, \"gbs\": %.2f", bytes_tok, gbs));
        tg_seconds = 1.0 / stat(tps).mean;
    }
    if (gpu) {
        const Backend::DeviceMemory m = be.device_memory();
        if (!json)
            std::printf("\ndevice memory: weights %.1f MiB, KV cache %.1f MiB, scratch %.1f MiB\n", m.weights / 1048576.0,
                        m.kv / 1048576.0, m.scratch / 1048576.0);
        if (n_pp > 0) {  // one profiled prompt
            prepare();
            be.set_profiling(true);
            ctx.eval(prompt.data(), n_pp);
            be.set_profiling(false);
            print_profile("pp" + std::to_string(n_pp) + at, be.take_profile(), n_pp, pp_seconds / n_pp, membw, json);
        }
        if (n_tg > 0) {  // one profiled generation of up to 32 tokens
            prepare();
            const int n = std::min(n_tg, 32);
            int32_t t = tok(rng);
            ctx.eval(&t, 1);
            (void)be.take_profile();
            be.set_profiling(true);
            for (int i = 0; i < n; i++) ctx.eval(&t, 1);
            be.set_profiling(false);
            print_profile("tg" + std::to_string(n_tg) + at, be.take_profile(), n, tg_seconds, membw, json);
        }
    }
    return 0;
}

}  // namespace slm::cli
