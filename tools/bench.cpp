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
        "                 [--json] | slm bench --membw [-t THREADS]\n"
        "\n"
        "Times prompt processing (pp: -p tokens in one eval) and generation (tg: -n tokens one at a time), after\n"
        "DEPTH tokens already in the cache (not timed), on random token ids; prints llama-bench's table (model, size,\n"
        "params, backend, threads, test, t/s mean +- sd over REPS runs) plus, for tg, the bytes read per token\n"
        "(weights + the KV cache at that depth), the GB/s that makes and its share of the read bandwidth measured\n"
        "in the same run; for pp, the GFLOP/s and its share of the f32 FMA peak measured in the same run; and\n"
        "which kernel set ran. -p 0 or -n 0 skips that test.\n"
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
        "  --membw-mib N      buffer streamed for the bandwidth (default 1024; keep it well above the caches)\n");
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

// Bytes of the matrices one token reads (every layer's, plus the output projection) and their parameters.
struct Sizes {
    double weight_bytes = 0, matmul_params = 0;
};
Sizes sizes(const Model& m) {
    Sizes s;
    auto add = [&](const Weight& w) {
        s.weight_bytes += double(w.w.row_size()) * double(w.w.n_out);
        s.matmul_params += double(w.w.n_in) * double(w.w.n_out);
    };
    for (const LayerWeights& l : m.layers())
        for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*w);
    add(m.output());
    return s;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    Args a(argc, argv, {"-m", "--model", "-p", "-n", "-d", "--depth", "-t", "--threads", "-r", "--reps", "--kv-type", "--membw-mib"},
           {"--json", "--membw"});
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
    const std::string path = a.has("--membw") ? "" : a.require({"-m", "--model"});

    // The ceilings, measured first (before the model's pages compete for memory).
    const double membw = probe::read_bandwidth_gbs(pool, size_t(membw_mib) << 20);
    const double peak = probe::peak_gflops(pool);
    if (a.has("--membw")) {
        std::printf("read bandwidth: %.1f GB/s (%d threads, %d MiB streamed, best of 5)\n", membw, pool.size(), membw_mib);
        std::printf("f32 FMA peak:   %.1f GFLOP/s (%s)\n", peak, make_cpu_backend(pool)->name().c_str());
        return 0;
    }
    auto backend = make_cpu_backend(pool);
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
                        model_name.c_str(), file_bytes, params, backend_name.c_str(), pool.size(), test.c_str(), s.mean,
                        s.sd, membw, peak, json_extra.c_str());
        else
            std::printf("| %s | %.2f GiB | %.2f B | %s | %d | %s | %.2f ± %.2f | %s |\n", model_name.c_str(),
                        file_bytes / 1073741824.0, params / 1e9, backend_name.c_str(), pool.size(), test.c_str(), s.mean,
                        s.sd, ceiling.c_str());
        std::fflush(stdout);
    };

    const std::string at = depth ? strfmt(" @ d%d", depth) : "";
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
               strfmt("%.1f GFLOP/s = %.0f%% of %.0f (f32 FMA peak)", gflops, 100 * gflops / peak, peak),
               strfmt(", \"gflops\": %.2f", gflops));
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
               strfmt("%.1f MB/token, %.1f GB/s = %.0f%% of %.1f GB/s read", bytes_tok / 1e6, gbs, 100 * gbs / membw, membw),
               strfmt(", \"bytes_per_token\": %.0f, \"gbs\": %.2f", bytes_tok, gbs));
    }
    return 0;
}

}  // namespace slm::cli
