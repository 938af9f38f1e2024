// `slm chat`: an interactive conversation in the model's chat template. Reads one user message per line from
// stdin (a terminal or a pipe), streams each reply to stdout. /reset forgets the conversation, /exit ends.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "args.h"
#include "chat_template.h"
#include "commands.h"
#include "common.h"
#include "generate.h"
#include "run_common.h"
#include "tokenizer.h"

namespace slm::cli {

static const char* kChatUsage =
    "usage: slm chat -m MODEL [--system TEXT] [options]\n"
    "Interactive chat (in the model's chat template) with history. Type a message and Enter; /reset starts over,\n"
    "/exit (or end of input) quits. Works with stdin piped: one user message per line.\n"
    "  --system TEXT         system message\n"
    "  -n, --n-predict N     tokens per reply at most (default 512; -1 = until EOT / the end of the context)\n";

int cmd_chat(int argc, char** argv) {
    std::set<std::string> vals = {"--system", "-n", "--n-predict", "--chat-template"};
    std::set<std::string> flags;
    vals.insert(kModelValueOpts.begin(), kModelValueOpts.end());
    vals.insert(kSamplerValueOpts.begin(), kSamplerValueOpts.end());
    flags.insert(kModelFlagOpts.begin(), kModelFlagOpts.end());
    Args a(argc, argv, vals, flags);
    if (a.help()) {
        std::printf("%s%s%s%s", kChatUsage, kChatTemplateHelp, kModelHelp, kSamplerHelp);
        return 0;
    }
    if (!a.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", a.positionals()[0].c_str());
    const int64_t n_predict = a.get_int({"-n", "--n-predict"}, 512);
    if (n_predict < -1) fail("option -n: expected -1 or more, got %lld", (long long)n_predict);
    SamplerParams sp = sampler_params(a);
    Loaded l = load_model(a, "chat");
    const Model& m = *l.model;
    const Tokenizer& tok = m.tokenizer();

    std::vector<chat::Message> base;
    if (a.given({"--system"})) base.push_back({"system", a.get({"--system"})});
    const chat::Template tpl = chat_template(a, m);  // fails early, clearly, for a vocabulary without the family's specials
    if (l.verbose) std::fprintf(stderr, "slm chat: chat template %s (%s)\n", chat::family_name(tpl.family), tpl.source.c_str());

    Context ctx(m, *l.backend, l.ctx_opt);
    print_context(l, ctx, "chat");
    Sampler sampler(sp);
    std::vector<chat::Message> msgs = base;
    const bool interactive = isatty(0);
    GenerateOptions go;
    go.n_predict = int(n_predict);
    go.stop_tokens = tpl.end_of_turn;

    std::string line;
    for (;;) {
        if (interactive) {
            std::fprintf(stderr, "> ");
            std::fflush(stderr);
        }
        if (!std::getline(std::cin, line)) break;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::string cmd = chat::trim(line);
        if (cmd.empty()) continue;
        if (cmd == "/exit" || cmd == "/quit") break;
        if (cmd == "/reset") {
            msgs = base;
            std::fprintf(stderr, "(conversation reset)\n");
            continue;
        }
        msgs.push_back({"user", line});
        std::vector<int32_t> ids = chat::render(tok, tpl, msgs, true).ids;
        if (int64_t(ids.size()) >= ctx.n_ctx()) {
            std::fprintf(stderr, "(the conversation no longer fits the context of %d tokens: /reset, or use a larger --ctx)\n",
                         ctx.n_ctx());
            msgs.pop_back();
            continue;
        }
        // Reuse the cached prefix (system prompt and earlier turns); re-evaluate from the first difference
        // (a reply re-tokenized from its text may split differently from the tokens that were generated).
        const int keep = ctx.reuse_prefix(ids);
        std::vector<int32_t> prompt(ids.begin() + long(keep), ids.end());
        std::vector<int32_t> history(ids.begin(), ids.begin() + long(keep));
        GenerateResult r = generate(ctx, sampler, prompt, go, [&](const std::string& piece) {
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
        }, history);
        std::printf("\n");
        std::fflush(stdout);
        msgs.push_back({"assistant", r.text});
        if (l.verbose)
            std::fprintf(stderr, "(prompt %d tokens, %.1f tok/s; reply %zu tokens, %.1f tok/s; stop: %s; context %d/%d)\n",
                         r.n_prompt, r.prompt_seconds > 0 ? r.n_prompt / r.prompt_seconds : 0.0, r.tokens.size(),
                         r.gen_seconds > 0 ? double(r.tokens.size()) / r.gen_seconds : 0.0, r.stop_reason.c_str(),
                         ctx.n_past(), ctx.n_ctx());
    }
    if (l.verbose) print_memory(l, ctx);
    return 0;
}

}  // namespace slm::cli
