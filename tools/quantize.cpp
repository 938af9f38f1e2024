// `slm quantize IN.gguf OUT.gguf TYPE`: converts a llama model to one of llama.cpp's quantization mixes
// (the plan and the conversion live in src/quantize.cpp), or to GPTQ-4 (src/gptq.cpp) with a calibration set.
#include <cctype>
#include <cstdio>
#include <string>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "gguf.h"
#include "gptq.h"
#include "quantize.h"
#include "threadpool.h"

namespace slm::cli {

namespace {
std::string upper(std::string s) {
    for (char& ch : s) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    return s;
}

void print_help() {
    std::printf(
        "usage: slm quantize IN.gguf OUT.gguf TYPE [--threads N] [--dry-run] [--allow-requantize]\n"
        "       slm quantize IN.gguf OUT.gguf GPTQ-4 --calib FILE.jsonl [--calib-n 300] [--group 128] [--act-order]\n"
        "                    [--sym] [--max-tokens 512]\n"
        "\n"
        "Quantizes a llama model (F32/F16/BF16 GGUF) with llama.cpp's per-tensor type plan for TYPE (no\n"
        "importance matrix): norms stay F32, the output / tied embedding gets Q6_K (Q8_0 for Q8_0), attn_v and\n"
        "ffn_down get more bits on chosen layers, K types fall back to legacy types when rows are not a multiple\n"
        "of 256. All metadata is copied; general.file_type and general.quantization_version are set.\n"
        "\n"
        "TYPE: %s\n"
        "\n"
        "GPTQ-4: 4-bit weights with an fp16 scale and a 4-bit zero per group of input columns, chosen by the GPTQ\n"
        "algorithm on real activations: the first --calib-n messages of FILE.jsonl (the `messages` JSONL of\n"
        "slm gen-data) are rendered with the model's chat template and run through the model; each layer is\n"
        "calibrated on the outputs of the layers already quantized. Embeddings, output and norms are copied.\n"
        "llama.cpp cannot load GPTQ files (the layout is slm's own, drawn in kernels/cpu/gptq.cpp).\n"
        "\n"
        "options:\n"
        "  --threads N         worker threads (default 0: one per core)\n"
        "  --dry-run           print the plan (tensor, shape, from -> to, bytes) and bits per weight; write nothing\n"
        "                      (OUT.gguf may then be left out)\n"
        "  --allow-requantize  accept already quantized input (dequantize, then quantize: errors add up)\n"
        "  --calib FILE        GPTQ-4: calibration messages (JSONL with a \"messages\" array per line)\n"
        "  --calib-n N         GPTQ-4: messages used (default 300)\n"
        "  --group N           GPTQ-4: input columns per scale group, a multiple of 8 (default 128)\n"
        "  --act-order         GPTQ-4: quantize columns by decreasing Hessian diagonal (stored permuted)\n"
        "  --sym               GPTQ-4: symmetric grid (zero point 8)\n"
        "  --max-tokens N      GPTQ-4: tokens kept per message (default 512)\n"
        "  --rtn               GPTQ-4's grid by plain rounding, no error feedback (the baseline, for comparisons)\n",
        quant::mix_names().c_str());
}
}  // namespace

int cmd_quantize(int argc, char** argv) {
    Args args(argc, argv, {"--threads", "-t", "--calib", "--calib-n", "--group", "--max-tokens"},
              {"--dry-run", "--allow-requantize", "--act-order", "--sym", "--rtn"});
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
    int64_t threads = args.get_int({"--threads", "-t"}, 0);
    if (threads < 0 || threads > 1024) fail("--threads %lld: expected 0..1024", (long long)threads);
    if (upper(type_arg) == "GPTQ-4" || upper(type_arg) == "GPTQ") {
        if (dry) fail("--dry-run: not available for GPTQ-4");
        gptq::ModelOptions o;
        o.calib_path = args.require({"--calib"});
        const int64_t n = args.get_int({"--calib-n"}, 300), g = args.get_int({"--group"}, 128),
                      mt = args.get_int({"--max-tokens"}, 512);
        if (n < 1 || n > 1000000) fail("--calib-n %lld: expected 1..1000000", (long long)n);
        if (g < 8 || g > 1 << 20 || g % 8) fail("--group %lld: expected a positive multiple of 8", (long long)g);
        if (mt < 2 || mt > 1 << 20) fail("--max-tokens %lld: expected 2..1048576", (long long)mt);
        o.calib_n = int(n);
        o.max_tokens = int(mt);
        o.gptq.group_size = g;
        o.gptq.act_order = args.has("--act-order");
        o.gptq.sym = args.has("--sym");
        o.rtn = args.has("--rtn");
        o.allow_requantize = args.has("--allow-requantize");
        ThreadPool pool(static_cast<int>(threads));
        const gptq::ModelResult r = gptq::quantize_model(in_path, pos[1], o, pool);
        std::printf("%s -> %s (GPTQ-4, group %lld%s%s): %d matrices, calibrated on %d messages (%lld tokens, %lld "
                    "distinct), "
                    "%.2f MB -> %.2f MB, %.1f s (%d threads)\n",
                    in_path.c_str(), pos[1].c_str(), (long long)g, o.gptq.act_order ? ", act-order" : "",
                    o.gptq.sym ? ", sym" : "", r.n_matrices, r.n_messages, (long long)r.n_tokens, (long long)r.n_distinct, r.bytes_in / 1e6,
                    r.bytes_out / 1e6, r.seconds, pool.size());
        return 0;
    }
    for (const char* k : {"--calib", "--calib-n", "--group", "--max-tokens"})
        if (args.given({k})) fail("%s: only for GPTQ-4", k);
    for (const char* k : {"--act-order", "--sym", "--rtn"})
        if (args.has(k)) fail("%s: only for GPTQ-4", k);
    auto mix = quant::mix_from_name(type_arg);
    if (!mix) fail("unknown TYPE '%s'; valid types: %s, GPTQ-4", type_arg.c_str(), quant::mix_names().c_str());

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
