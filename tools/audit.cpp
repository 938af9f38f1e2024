// `slm audit REF.gguf QUANT.gguf`: per-tensor errors, per-layer / per-kind totals, and the two models' next-token
// distributions compared over a text (src/audit.cpp).
#include <cstdio>
#include <optional>

#include "args.h"
#include "input_file.h"
#include "output_file.h"
#include "audit.h"
#include "commands.h"
#include "common.h"
#include "gguf.h"
#include "model.h"
#include "forward.h"
#include "threadpool.h"
#include "tokenizer.h"

namespace slm::cli {

namespace {
void print_help() {
    std::printf(
        "usage: slm audit REF.gguf QUANT.gguf [--text FILE] [--json OUT] [--svg OUT] [--threads N] [--ctx N]\n"
        "                 [--no-text]\n"
        "\n"
        "Measures what quantization did to a model. For every tensor (dequantized, compared with the reference as\n"
        "f32): bits per weight, RMSE, max |error|, SNR in dB, relative Frobenius error; totals per layer and per\n"
        "tensor kind. Then both models read a text (default: a built-in multilingual sample) and, per position,\n"
        "the KL divergence KL(P_ref || P_quant) of their next-token distributions is reported (mean, median, p99,\n"
        "max) with the top-1 agreement and both perplexities. The models must share tokenizer and shape.\n"
        "\n"
        "options:\n"
        "  --text FILE   text to evaluate (UTF-8); default: the built-in sample\n"
        "  --ctx N       evaluate at most N tokens of the text (default 512)\n"
        "  --no-text     weights only (no forward passes)\n"
        "  --json OUT    write the full report as JSON (per-position KL included)\n"
        "  --svg OUT     write a heatmap of relative error by layer x tensor kind\n"
        "  --threads N   worker threads (default 0: one per core)\n");
}

}  // namespace

int cmd_audit(int argc, char** argv) {
    Args args(argc, argv, {"--text", "--json", "--svg", "--threads", "-t", "--ctx"}, {"--no-text"});
    if (args.help()) {
        print_help();
        return 0;
    }
    const auto& pos = args.positionals();
    if (pos.size() != 2) fail("expected REF.gguf QUANT.gguf, got %zu argument(s) (see --help)", pos.size());
    int64_t threads = args.get_int({"--threads", "-t"}, 0);
    if (threads < 0 || threads > 1024) fail("--threads %lld: expected 0..1024", (long long)threads);
    int64_t n_ctx = args.get_int({"--ctx"}, 512);
    if (n_ctx < 2 || n_ctx > 1 << 20) fail("--ctx %lld: expected 2..1048576", (long long)n_ctx);
    std::string text = audit::default_text();
    if (args.given({"--text"})) {
        std::string path = args.get({"--text"});
        text = read_input_file(path, "a UTF-8 text file (--text)");
        if (text.empty()) fail("--text %s: the file is empty", path.c_str());
    }
    // Outputs are created before the work, so a bad path fails now rather than after the audit.
    std::optional<OutputFile> json_out, svg_out;
    if (args.given({"--json"})) json_out.emplace(args.get({"--json"}));
    if (args.given({"--svg"})) svg_out.emplace(args.get({"--svg"}));

    ThreadPool pool(static_cast<int>(threads));
    audit::Report rep;
    {
        gguf::File ref = gguf::File::open(pos[0]);
        gguf::File q = gguf::File::open(pos[1]);
        rep = audit::audit_weights(ref, q, pool, /*progress=*/true);
    }
    if (!args.has("--no-text")) {
        std::unique_ptr<Backend> backend = make_cpu_backend(pool);
        auto ref = Model::load(pos[0], *backend);
        auto q = Model::load(pos[1], *backend);
        audit::check_compatible(*ref, *q);
        const Tokenizer& tok = ref->tokenizer();
        std::vector<int32_t> ids = tok.encode(text, tok.add_bos_default());
        ContextOptions co;
        co.n_ctx = int(std::max<size_t>(2, std::min(ids.size(), size_t(n_ctx))));
        Context cr(*ref, *backend, co), cq(*q, *backend, co);
        rep.text = audit::audit_text(cr, cq, ids, int(n_ctx));
    }
    std::fputs(audit::format_report(rep).c_str(), stdout);
    if (json_out) {
        json_out->write(audit::to_json(rep).dump(2) + "\n");
        json_out->commit();
    }
    if (svg_out) {
        svg_out->write(audit::to_svg(rep));
        svg_out->commit();
    }
    return 0;
}

}  // namespace slm::cli
