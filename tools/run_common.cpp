#include "run_common.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "common.h"
#include "generate.h"
#include "tokenizer.h"

namespace slm::cli {

const std::set<std::string> kModelValueOpts = {"-m", "--model", "-t", "--threads", "-c", "--ctx", "--kv-type",
                                               "--batch", "--lora", "--lora-scale"};
const std::set<std::string> kModelFlagOpts = {"--no-mmap", "--mlock", "--verbose", "-v", "--ctx-beyond-train", "--gpu"};
const std::set<std::string> kSamplerValueOpts = {"--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
                                                 "--repeat-last-n", "--seed"};

const char* kModelHelp =
    "  -m, --model FILE      GGUF model (llama architecture)\n"
    "  -t, --threads N       worker threads (default 0: one per core)\n"
    "  -c, --ctx N           context length (0 or absent: the model's trained context, at most 8192; a larger\n"
    "                        N is capped at the trained context, with a warning)\n"
    "  --ctx-beyond-train    let --ctx go past the model's trained context (the KV cache is allocated at once)\n"
    "  --kv-type f16|f32     KV cache element type (default f16)\n"
    "  --batch N             prompt tokens per forward batch (default 256)\n"
    "  --lora FILE           apply a llama.cpp LoRA adapter (GGUF)\n"
    "  --lora-scale S        its user scale (default 1; effective scale S * alpha / rank)\n"
    "  --no-mmap             read the weights into memory instead of mapping the file\n"
    "  --mlock               map the file and lock it in RAM (mlock), so idle pages are not reclaimed\n"
    "  -v, --verbose         configuration, load mode, SIMD level, timings and peak RSS on stderr\n"
    "  --gpu                 compute on CUDA device 0 (F16 and GPTQ-4 weights as stored, other types dequantized\n"
    "                        to fp32 with the CPU's activation rounding; f16 KV cache; no LoRA; needs the binary\n"
    "                        `make cuda` builds: build/slm-cuda); --verbose and run's summary print VRAM by use\n";

const char* kSamplerHelp =
    "  --temp T              temperature (default 0.8; 0 = greedy)\n"
    "  --top-k K             keep the K most likely tokens (default 40; 0 = off)\n"
    "  --top-p P             keep the smallest set with probability >= P (default 0.95; 1 = off)\n"
    "  --min-p P             drop tokens below P x the top probability (default 0.05; 0 = off)\n"
    "  --repeat-penalty R    penalize tokens of the last N (default 1 = off)\n"
    "  --repeat-last-n N     the penalty's window (default 64; -1 = all)\n"
    "  --seed S              sampling seed (default 0): the same seed gives the same text\n";

const char* kChatTemplateHelp =
    "  --chat-template NAME  llama3|chatml|llama2|none (default: the family of the model's own template;\n"
    "                        none for a model without one: the turns' texts concatenated)\n";

chat::Template chat_template(const Args& a, const Model& m) {
    chat::Template t = chat::resolve(m.tokenizer(), m.file().get_string("tokenizer.chat_template", ""),
                                     a.get({"--chat-template"}));
    if (!t.note.empty()) std::fprintf(stderr, "%s\n", t.note.c_str());
    return t;
}

const char* load_mode_name(gguf::LoadMode m) {
    switch (m) {
        case gguf::LoadMode::mmap: return "mmap";
        case gguf::LoadMode::read: return "read (--no-mmap)";
        case gguf::LoadMode::mlock: return "mmap + mlock";
    }
    return "?";
}

Loaded load_model(const Args& a, const char* cmd) {
    Loaded l;
    const std::string path = a.require({"-m", "--model"});
    l.verbose = a.has("--verbose") || a.has("-v");
    if (a.has("--no-mmap") && a.has("--mlock")) fail("--no-mmap and --mlock exclude each other");
    l.mode = a.has("--no-mmap") ? gguf::LoadMode::read : a.has("--mlock") ? gguf::LoadMode::mlock : gguf::LoadMode::mmap;

    const int64_t threads = a.get_int({"-t", "--threads"}, 0);
    if (threads < 0 || threads > 1024) fail("option --threads: expected 0..1024, got %lld", (long long)threads);
    const int64_t n_ctx = a.get_int({"-c", "--ctx"}, 0);
    if (n_ctx < 0 || n_ctx > (1 << 24)) fail("option --ctx: expected 0..16777216, got %lld", (long long)n_ctx);
    l.ctx_opt.n_ctx = int(n_ctx);
    l.ctx_opt.ctx_beyond_train = a.has("--ctx-beyond-train");
    const std::string kv = a.get({"--kv-type"}, "f16");
    if (kv == "f16" || kv == "F16") l.ctx_opt.kv_type = GgmlType::F16;
    else if (kv == "f32" || kv == "F32") l.ctx_opt.kv_type = GgmlType::F32;
    else fail("option --kv-type: expected f16 or f32, got \"%s\"", kv.c_str());
    const int64_t batch = a.get_int({"--batch"}, 256);
    if (batch < 1 || batch > 65536) fail("option --batch: expected 1..65536, got %lld", (long long)batch);
    l.ctx_opt.n_batch = int(batch);
    const double lora_scale = a.get_float({"--lora-scale"}, 1.0);
    if (std::fabs(lora_scale) > 1000) fail("option --lora-scale: expected a value in [-1000, 1000], got %g", lora_scale);

    l.pool = std::make_unique<ThreadPool>(int(threads));
    l.backend = a.has("--gpu") ? make_cuda_backend(0) : make_cpu_backend(*l.pool);
    auto t0 = std::chrono::steady_clock::now();
    l.model = Model::load(path, *l.backend, {l.mode});
    if (a.given({"--lora"})) l.model->load_lora(a.get({"--lora"}), *l.backend, float(lora_scale));
    l.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (l.verbose) {
        std::fprintf(stderr, "slm %s: model %s\n", cmd, path.c_str());
        std::fprintf(stderr, "slm %s: %s\n", cmd, l.model->config().describe().c_str());
        std::fprintf(stderr, "slm %s: weights: %s, %.1f MiB file, loaded in %.3f s%s\n", cmd, load_mode_name(l.mode),
                     double(l.model->file().file_size()) / 1048576.0, l.load_seconds,
                     l.model->n_lora() ? strfmt(", %d LoRA adapter(s)", l.model->n_lora()).c_str() : "");
        std::fprintf(stderr, "slm %s: backend %s, KV cache %s\n", cmd, l.backend->name().c_str(),
                     type_name(l.ctx_opt.kv_type));
    }
    return l;
}

SamplerParams sampler_params(const Args& a) {
    SamplerParams p;
    const double temp = a.get_float({"--temp"}, p.temp);
    if (!(temp >= 0) || temp > 100) fail("option --temp: expected a value in [0, 100] (0 = greedy), got %g", temp);
    p.temp = float(temp);
    const int64_t top_k = a.get_int({"--top-k"}, p.top_k);
    if (top_k < 0 || top_k > (1 << 24)) fail("option --top-k: expected 0 (off) or more, got %lld", (long long)top_k);
    p.top_k = int(top_k);
    p.top_p = float(a.get_float({"--top-p"}, p.top_p));
    p.min_p = float(a.get_float({"--min-p"}, p.min_p));
    p.repeat_penalty = float(a.get_float({"--repeat-penalty"}, p.repeat_penalty));
    const int64_t last_n = a.get_int({"--repeat-last-n"}, p.repeat_last_n);
    if (last_n < -1 || last_n > (1 << 24)) fail("option --repeat-last-n: expected -1 (all) or 0..16777216, got %lld", (long long)last_n);
    p.repeat_last_n = int(last_n);
    const int64_t seed = a.get_int({"--seed"}, 0);
    if (seed < 0) fail("option --seed: expected 0 or more, got %lld", (long long)seed);
    p.seed = uint64_t(seed);
    if (!(p.top_p > 0 && p.top_p <= 1)) fail("option --top-p: expected a value in (0, 1], got %g", double(p.top_p));
    if (!(p.min_p >= 0 && p.min_p <= 1)) fail("option --min-p: expected a value in [0, 1], got %g", double(p.min_p));
    if (!(p.repeat_penalty > 0 && p.repeat_penalty <= 100)) fail("option --repeat-penalty: expected a value in (0, 100]");
    return p;
}

void print_context(const Loaded& l, const Session& ctx, const char* cmd) {
    if (!l.verbose) return;
    std::fprintf(stderr, "slm %s: context %d positions (trained %d), KV cache %.1f MiB (%s, allocated at start)\n", cmd,
                 ctx.n_ctx(), l.model->config().n_ctx_train, double(ctx.kv_bytes()) / 1048576.0,
                 type_name(ctx.kv_type()));
}

void print_memory(const Loaded& l, const Session& ctx) {
    if (!l.verbose) return;
    std::fprintf(stderr, "memory: peak RSS %.1f MiB (VmHWM), KV cache %.1f MiB (%d positions, %s)\n",
                 double(peak_rss_kib()) / 1024.0, double(ctx.kv_bytes()) / 1048576.0, ctx.n_ctx(),
                 type_name(ctx.kv_type()));
    print_device_memory(*l.backend, "memory");
}

void print_device_memory(const Backend& b, const char* prefix) {
    const Backend::DeviceMemory m = b.device_memory();
    if (m.total() == 0) return;
    std::fprintf(stderr, "%s: device memory (%s) %.1f MiB = weights %.1f + KV cache %.1f + scratch %.1f MiB\n", prefix,
                 b.name().c_str(), m.total() / 1048576.0, m.weights / 1048576.0, m.kv / 1048576.0, m.scratch / 1048576.0);
}

}  // namespace slm::cli
