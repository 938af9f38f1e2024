// `slm synth --preset NAME -o OUT.gguf`: a random-weight model with the exact layout of a known one (src/synth.cpp).
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "synth.h"
#include "threadpool.h"

namespace slm::cli {

namespace {
void print_help() {
    std::string presets;
    for (const std::string& p : synth::preset_names()) presets += (presets.empty() ? "" : ", ") + p;
    std::printf(
        "usage: slm synth --preset NAME -o OUT.gguf [--type F16|BF16|F32] [--seed S] [--tokenizer MODEL.gguf]\n"
        "                 [--dim N --layers N --heads N --kv-heads N --ffn N --vocab N] [--threads N] [--quiet]\n"
        "\n"
        "Writes a Llama model with random weights and the exact layout of a known model: the metadata keys,\n"
        "tensor names, shapes and order llama.cpp's converter writes (tied embeddings, Llama 3.x rope_freqs), so\n"
        "llama.cpp and slm load it like the real one. Speed does not depend on the weights' values: use it to\n"
        "measure at the true size (slm bench, slm quantize). The same seed gives the same file everywhere.\n"
        "\n"
        "presets: %s\n"
        "\n"
        "options:\n"
        "  --preset NAME     the layout to copy (required unless --dim, --layers, --heads, --ffn are all given)\n"
        "  -o, --out FILE    the GGUF to write\n"
        "  --type T          matrix type: F16 (default), BF16 or F32; norms stay F32. Quantize with slm quantize.\n"
        "  --seed S          generator seed (default 1)\n"
        "  --tokenizer FILE  copy the tokenizer.* metadata of this GGUF (its vocabulary size replaces --vocab);\n"
        "                    default: a generated SentencePiece-style vocabulary of --vocab tokens\n"
        "  --dim, --layers, --heads, --kv-heads, --ffn, --vocab N   override one field of the preset (or give all)\n"
        "  --threads N       worker threads (default: all cores)\n"
        "  --quiet           no progress line\n",
        presets.c_str());
}
}  // namespace

int cmd_synth(int argc, char** argv) {
    Args args(argc, argv,
              {"--preset", "-o", "--out", "--type", "--seed", "--tokenizer", "--dim", "--layers", "--heads", "--kv-heads",
               "--ffn", "--vocab", "--threads", "-t"},
              {"--quiet"});
    if (args.help()) {
        print_help();
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument '%s' (see --help)", args.positionals()[0].c_str());
    synth::Options opt;
    if (args.given({"--preset"})) {
        const std::string name = args.get({"--preset"});
        auto p = synth::preset(name);
        if (!p) {
            std::string all;
            for (const std::string& n : synth::preset_names()) all += " " + n;
            fail("--preset %s: unknown; presets:%s", name.c_str(), all.c_str());
        }
        opt.shape = *p;
    } else {
        for (const char* o : {"--dim", "--layers", "--heads", "--ffn"})
            if (!args.given({o})) fail("give --preset NAME, or all of --dim --layers --heads --ffn (missing %s)", o);
        opt.shape.name = "synth";
        opt.shape.n_vocab = 32000;
        opt.shape.n_ctx_train = 4096;
    }
    synth::Shape& s = opt.shape;
    auto field = [&](const char* o, int& v, int64_t max) {
        if (!args.given({o})) return;
        const int64_t x = args.get_int({o}, 0);
        if (x <= 0 || x > max) fail("%s %lld: expected 1..%lld", o, (long long)x, (long long)max);
        v = int(x);
    };
    field("--dim", s.n_embd, 1 << 16);
    field("--layers", s.n_layer, 1024);
    field("--heads", s.n_head, 1024);
    field("--ffn", s.n_ff, 1 << 18);
    field("--vocab", s.n_vocab, 1 << 22);
    if (!args.given({"--preset"})) s.n_head_kv = s.n_head;
    field("--kv-heads", s.n_head_kv, 1024);
    if (args.given({"--dim"}) || args.given({"--heads"})) s.head_dim = 0;  // n_embd / n_head again
    const std::string type = args.get({"--type"}, "F16");
    auto t = type_from_name(type);
    if (!t || (*t != GgmlType::F16 && *t != GgmlType::BF16 && *t != GgmlType::F32))
        fail("--type %s: expected F16, BF16 or F32", type.c_str());
    opt.type = *t;
    const std::string seed = args.get({"--seed"}, "1");
    char* end = nullptr;
    opt.seed = std::strtoull(seed.c_str(), &end, 10);
    if (seed.empty() || *end || seed[0] == '-') fail("--seed %s: expected a non-negative integer", seed.c_str());
    opt.tokenizer = args.get({"--tokenizer"});
    opt.progress = !args.has("--quiet");
    const std::string out = args.require({"-o", "--out"});
    const int64_t threads = args.get_int({"--threads", "-t"}, 0);
    if (threads < 0 || threads > 1024) fail("--threads %lld: expected 0..1024", (long long)threads);
    ThreadPool pool{int(threads)};
    synth::write_model(opt, out, pool);
    return 0;
}

}  // namespace slm::cli
