// `slm quantize IN.gguf OUT.gguf TYPE`: converts a llama model to one of llama.cpp's quantization mixes
// (the plan and the conversion live in src/quantize.cpp).
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "gguf.h"
#include "quantize.h"
#include "threadpool.h"

namespace slm::cli {

namespace {
void print_help() {
    std::printf(
        "usage: slm quantize IN.gguf OUT.gguf TYPE [--threads N] [--dry-run] [--allow-requantize]\n"
        "\n"
        "Quantizes a llama model (F32/F16/BF16 GGUF) with llama.cpp's per-tensor type plan for TYPE (no\n"
        "importance matrix): norms stay F32, the output / tied embedding gets Q6_K (Q8_0 for Q8_0), attn_v and\n"
        "ffn_down get more bits on chosen layers, K types fall back to legacy types when rows are not a multiple\n"
        "of 256. All metadata is copied; general.file_type and general.quantization_version are set.\n"
        "\n"
        "TYPE: %s\n"
        "\n"
        "options:\n"
        "  --threads N         worker threads (default 0: one per core)\n"
        "  --dry-run           print the plan (tensor, shape, from -> to, bytes) and bits per weight; write nothing\n"
        "                      (OUT.gguf may then be left out)\n"
        "  --allow-requantize  accept already quantized input (dequantize, then quantize: errors add up)\n",
        quant::mix_names().c_str());
}
}  // namespace

int cmd_quantize(int argc, char** argv) {
    Args args(argc, argv, {"--threads", "-t"}, {"--dry-run", "--allow-requantize"});
    if (args.help()) {
        print_help();
        return 0;
    }
    const auto& pos = args.positionals();
    const bool dry = args.has("--dry-run");
    if (!(pos.size() == 3 || (dry && pos.size() == 2)))
        fail("expected IN.gguf OUT.gguf TYPE, got %zu argument(s) (see --help)", pos.size());
    const std::string& in_path = pos[0];
    const std::string& type_arg = pos.back();
    auto mix = quant::mix_from_name(type_arg);
    if (!mix) fail("unknown TYPE '%s'; valid types: %s", type_arg.c_str(), quant::mix_names().c_str());
    int64_t threads = args.get_int({"--threads", "-t"}, 0);
    if (threads < 0 || threads > 1024) fail("--threads %lld: expected 0..1024", (long long)threads);

    if (dry) {
        gguf::File in = gguf::File::open(in_path);
        quant::ModelShape shape = quant::model_shape(in);
        std::vector<quant::TensorDesc> descs;
        for (const auto& t : in.tensors()) {
            quant::TensorDesc d;
            d.name = t.name;
            d.ne = t.ne;
            d.n_dims = t.n_dims;
            d.type = t.type;
            descs.push_back(d);
        }
        std::fputs(quant::format_plan(quant::make_plan(*mix, shape, descs)).c_str(), stdout);
        return 0;
    }
    ThreadPool pool(static_cast<int>(threads));
    quant::QuantizeOptions opts;
    opts.allow_requantize = args.has("--allow-requantize");
    auto res = quant::quantize_file(in_path, pos[1], *mix, pool, opts);
    std::printf("%s -> %s (%s): %zu tensors, %.2f MB -> %.2f MB, %.3f -> %.3f bits per weight, %.2f s, %.1f MB/s "
                "(%d threads)\n",
                in_path.c_str(), pos[1].c_str(), mix->name, res.plan.entries.size(), res.plan.bytes_from / 1e6,
                res.plan.bytes_to / 1e6, res.plan.bpw_from(), res.plan.bpw_to(), res.seconds, res.mb_per_s,
                pool.size());
    if (res.plan.n_fallback)
        std::printf("%d tensor(s) used a fallback type (row length not a multiple of the block)\n", res.plan.n_fallback);
    return 0;
}

}  // namespace slm::cli
