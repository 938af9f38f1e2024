// `slm logits`: the logits of every position of a prompt, in the text format of the fixtures
// (`pos P lse X top id:logit ...`), and the last position's logits as raw float32.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "args.h"
#include "output_file.h"
#include "commands.h"
#include "ops.h"
#include "common.h"
#include "run_common.h"
#include "tokenizer.h"

namespace slm::cli {

static const char* kLogitsUsage =
    "usage: slm logits -m MODEL (--tokens \"1 2 3\" | -p TEXT) [--top K] [--out FILE.f32] [options]\n"
    "Prints, for each position, the log-sum-exp of the logits and the top-K id:logit (as the fixtures in\n"
    "logits/), and writes the last position's logits as little-endian float32 to --out.\n"
    "  --tokens \"IDS\"        token ids separated by spaces or commas (no BOS added)\n"
    "  -p, --prompt TEXT     text, tokenized with the model's tokenizer (BOS as the model says; specials parsed)\n"
    "  --top K               how many top logits per position (default 32)\n"
    "  --out FILE            write the last position's n_vocab logits as float32\n"
    "  --llamacpp-numerics   round as llama.cpp's CPU backend does (float rope angles, f16 flash attention,\n"
    "                        its Q4_K GEMM/GEMV summation orders; needs --kv-type f16): compare with its logits\n";

static std::vector<int32_t> parse_ids(const std::string& s) {
    std::vector<int32_t> ids;
    std::string tok;
    std::string norm = s;
    for (char& c : norm)
        if (c == ',' || c == '\t' || c == '\n') c = ' ';
    std::istringstream in(norm);
    while (in >> tok) {
        errno = 0;
        char* end = nullptr;
        long v = std::strtol(tok.c_str(), &end, 10);
        if (errno || !end || *end || v < 0 || v > INT32_MAX) fail("option --tokens: \"%s\" is not a token id", tok.c_str());
        ids.push_back(int32_t(v));
    }
    if (ids.empty()) fail("option --tokens: no token ids given");
    return ids;
}

int cmd_logits(int argc, char** argv) {
    std::set<std::string> vals = {"--tokens", "-p", "--prompt", "--top", "--out"};
    std::set<std::string> flags = {"--llamacpp-numerics"};
    vals.insert(kModelValueOpts.begin(), kModelValueOpts.end());
    flags.insert(kModelFlagOpts.begin(), kModelFlagOpts.end());
    Args a(argc, argv, vals, flags);
    if (a.help()) {
        std::printf("%s%s", kLogitsUsage, kModelHelp);
        return 0;
    }
    if (!a.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", a.positionals()[0].c_str());
    const bool have_tokens = a.given({"--tokens"}), have_prompt = a.given({"-p", "--prompt"});
    if (have_tokens == have_prompt) fail("give exactly one of --tokens and -p/--prompt");
    const int64_t top = a.get_int({"--top"}, 32);
    if (top < 0) fail("option --top: expected 0 or more, got %lld", (long long)top);
    std::vector<int32_t> ids;
    if (have_tokens) ids = parse_ids(a.get({"--tokens"}));  // validated before the (slower) model load

    std::optional<OutputFile> out;  // created before the model is loaded: a bad --out fails at once
    if (a.given({"--out"})) out.emplace(a.get({"--out"}));

    Loaded l = load_model(a, "logits");
    if (a.has("--llamacpp-numerics")) {
        if (l.ctx_opt.kv_type != GgmlType::F16) fail("option --llamacpp-numerics needs --kv-type f16");
        l.ctx_opt.ggml_numerics = true;
    }
    const Model& m = *l.model;
    if (have_prompt) {
        const Tokenizer& tok = m.tokenizer();
        ids = tok.encode(a.get({"-p", "--prompt"}), tok.add_bos_default(), true);
        if (ids.empty()) fail("the prompt gives no tokens");
    }
    const int V = m.config().n_vocab;
    for (int32_t id : ids)
        if (id >= V) fail("token id %d is out of range for this model's vocabulary of %d", id, V);
    Context ctx(m, *l.backend, l.ctx_opt);
    print_context(l, ctx, "logits");
    if (int64_t(ids.size()) > ctx.n_ctx())
        fail("%zu tokens do not fit the context size %d (use a larger --ctx)", ids.size(), ctx.n_ctx());
    const float* lg = ctx.eval(ids, /*all_logits=*/true);

    std::printf("# model %s\n# tokens", m.file().path().c_str());
    for (int32_t id : ids) std::printf(" %d", id);
    std::printf("\n");
    const int k = int(std::min<int64_t>(top, V));
    std::vector<int32_t> order(static_cast<size_t>(V));
    for (size_t p = 0; p < ids.size(); p++) {
        const float* row = lg + p * size_t(V);
        for (int i = 0; i < V; i++) order[size_t(i)] = i;
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t x, int32_t y) {
            return row[x] > row[y] || (row[x] == row[y] && x < y);
        });
        std::printf("pos %zu lse %.6f top", p, ops::log_sum_exp(row, V));
        for (int i = 0; i < k; i++) std::printf(" %d:%.6f", order[size_t(i)], double(row[order[size_t(i)]]));
        std::printf("\n");
    }
    if (out) {
        const float* last = lg + (ids.size() - 1) * size_t(V);
        out->write(last, sizeof(float) * size_t(V));
        out->commit();
    }
    if (l.verbose) print_memory(l, ctx);
    return 0;
}

}  // namespace slm::cli
