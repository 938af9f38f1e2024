// Options shared by `slm run`, `slm chat` and `slm logits`: loading the model (mmap / --no-mmap / --mlock,
// LoRA), the context (--ctx, --kv-type, --batch), the thread pool and the sampler settings.
#pragma once
#include <memory>
#include <set>
#include <string>

#include "args.h"
#include "chat_template.h"
#include "forward.h"
#include "model.h"
#include "sampler.h"
#include "threadpool.h"

namespace slm::cli {

// Option names, to merge into each command's sets.
extern const std::set<std::string> kModelValueOpts;    // -m --model --threads -t --ctx -c --kv-type --batch --lora --lora-scale
extern const std::set<std::string> kModelFlagOpts;     // --no-mmap --mlock --verbose -v --ctx-beyond-train
extern const std::set<std::string> kSamplerValueOpts;  // --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --seed
extern const char* kModelHelp;    // help text for those options
extern const char* kSamplerHelp;

struct Loaded {
    std::unique_ptr<ThreadPool> pool;
    std::unique_ptr<Backend> backend;  // computes on the pool (declared after it: destroyed first)
    std::unique_ptr<Model> model;
    ContextOptions ctx_opt;
    gguf::LoadMode mode = gguf::LoadMode::mmap;
    double load_seconds = 0;
    bool verbose = false;
};

// Loads the model named by -m with the options above; prints the --verbose lines (config, load mode, SIMD).
Loaded load_model(const Args& a, const char* cmd);
SamplerParams sampler_params(const Args& a);
const char* load_mode_name(gguf::LoadMode m);
// A line with the context length and the KV cache size, for --verbose.
void print_context(const Loaded& l, const Session& ctx, const char* cmd);
// The chat template for a loaded model: --chat-template NAME if given, else the model's
// tokenizer.chat_template; prints the template's note (no template in the model) on stderr.
chat::Template chat_template(const Args& a, const Model& m);
extern const char* kChatTemplateHelp;

// A line with peak RSS (VmHWM), for --verbose.
void print_memory(const Loaded& l, const Session& ctx);
// "PREFIX: device memory (cuda ...) T MiB = weights W + KV cache K + scratch S MiB" on stderr; nothing for a
// backend without device memory (the CPU).
void print_device_memory(const Backend& b, const char* prefix);

}  // namespace slm::cli
