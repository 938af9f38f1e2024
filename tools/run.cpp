// `slm run`: generate text from a prompt, streamed to stdout; speeds on stderr.
#include <algorithm>
#include <cstdio>

#include "args.h"
#include "chat_template.h"
#include "commands.h"
#include "common.h"
#include "progress.h"
#include "generate.h"
#include "run_common.h"
#include "tokenizer.h"

namespace slm::cli {

static const char* kRunUsage =
    "usage: slm run -m MODEL -p PROMPT [options]\n"
    "Generates text after PROMPT and streams it to stdout; ends with prompt and generation speed on stderr.\n"
    "  -p, --prompt TEXT     the prompt (\"\" starts from BOS alone); special tokens written in it are parsed\n"
    "  -n, --n-predict N     tokens to generate at most (default 256; -1 = until EOS / the end of the context)\n"
    "  --chat                wrap the prompt in the model's chat template (user turn + assistant header);\n"
    "                        generation stops at the template's end-of-turn token\n"
    "  --system TEXT         system message for --chat\n"
    "  --stop TEXT           stop when TEXT is generated (not printed)\n"
    "  --no-echo             do not print the prompt before the continuation\n"
    "  --special             print the text of special tokens the model generates (default: left out)\n";

int cmd_run(int argc, char** argv) {
    std::set<std::string> vals = {"-p", "--prompt", "-n", "--n-predict", "--system", "--stop", "--chat-template"};
    std::set<std::string> flags = {"--chat", "--no-echo", "--special"};
    vals.insert(kModelValueOpts.begin(), kModelValueOpts.end());
    vals.insert(kSamplerValueOpts.begin(), kSamplerValueOpts.end());
    flags.insert(kModelFlagOpts.begin(), kModelFlagOpts.end());
    Args a(argc, argv, vals, flags);
    if (a.help()) {
        std::printf("%s%s%s%s", kRunUsage, kChatTemplateHelp, kModelHelp, kSamplerHelp);
        return 0;
    }
    if (!a.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", a.positionals()[0].c_str());
    const std::string prompt = a.require({"-p", "--prompt"});
    const int64_t n_predict = a.get_int({"-n", "--n-predict"}, 256);
    if (n_predict < -1) fail("option -n: expected -1 or more, got %lld", (long long)n_predict);
    const bool chat_mode = a.has("--chat");
    if (a.given({"--system"}) && !chat_mode) fail("option --system needs --chat");
    if (a.given({"--chat-template"}) && !chat_mode) fail("option --chat-template needs --chat");
    SamplerParams sp = sampler_params(a);

    Loaded l = load_model(a, "run");
    const Model& m = *l.model;
    const Tokenizer& tok = m.tokenizer();

    std::vector<int32_t> ids, end_of_turn;
    if (chat_mode) {
        const chat::Template tpl = chat_template(a, m);
        std::vector<chat::Message> msgs;
        if (a.given({"--system"})) msgs.push_back({"system", a.get({"--system"})});
        msgs.push_back({"user", prompt});
        chat::Rendered rd = chat::render(tok, tpl, msgs, true);
        ids = std::move(rd.ids);
        end_of_turn = std::move(rd.end_of_turn);
        if (l.verbose) std::fprintf(stderr, "slm run: chat template %s (%s)\n", chat::family_name(tpl.family), tpl.source.c_str());
    } else {
        const bool add_bos = tok.add_bos_default() || prompt.empty();
        ids = tok.encode(prompt, add_bos, /*parse_special=*/true);
        if (ids.empty() || (prompt.empty() && tok.bos_id() < 0))
            fail("the prompt is empty and the tokenizer has no BOS token to start from");
    }
    Context ctx(m, *l.backend, l.ctx_opt);
    print_context(l, ctx, "run");
    if (int64_t(ids.size()) > ctx.n_ctx())
        fail("the prompt has %zu tokens, more than the context size %d (use a larger --ctx)", ids.size(), ctx.n_ctx());
    if (l.verbose) std::fprintf(stderr, "slm run: prompt %zu tokens, context %d\n", ids.size(), ctx.n_ctx());

    GenerateOptions go;
    go.n_predict = int(n_predict);
    go.render_special = a.has("--special");
    if (a.given({"--stop"})) go.stop.push_back(a.get({"--stop"}));
    // A BOS in the middle of generated text starts a new document (llama2.c stops there too).
    if (!chat_mode && tok.bos_id() >= 0) go.stop_tokens.push_back(tok.bos_id());
    go.stop_tokens.insert(go.stop_tokens.end(), end_of_turn.begin(), end_of_turn.end());

    if (!chat_mode && !a.has("--no-echo")) {
        std::fwrite(prompt.data(), 1, prompt.size(), stdout);
        std::fflush(stdout);
    }
    // SentencePiece: the first piece after a bare BOS carries the word-start space; don't print it.
    bool strip_space = !chat_mode && prompt.empty() && tok.model_name() == "llama";
    // Long prompts (thousands of tokens on a big model) take a while: a progress line once it exceeds a second.
    Progress prompt_progress("prompt", "tokens", "tok/s", 1.0, true, 1.0, 0.0);
    go.on_prompt_progress = [&](int done, int total, double) {
        prompt_progress.update(done, total);
        if (done == total) prompt_progress.finish();
    };
    Sampler sampler(sp);
    GenerateResult r = generate(ctx, sampler, ids, go, [&](const std::string& piece) {
        std::string s = piece;
        if (strip_space && !s.empty()) {
            if (s[0] == ' ') s.erase(0, 1);
            strip_space = false;
        }
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
    });
    std::printf("\n");
    std::fflush(stdout);

    const size_t n_gen = r.tokens.size();
    std::fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f tok/s) | generation: %zu tokens in %.3f s (%.1f tok/s) | stop: %s\n",
                 r.n_prompt, r.prompt_seconds, r.prompt_seconds > 0 ? r.n_prompt / r.prompt_seconds : 0.0, n_gen,
                 r.gen_seconds, r.gen_seconds > 0 ? double(n_gen) / r.gen_seconds : 0.0, r.stop_reason.c_str());
    if (!l.verbose) print_device_memory(*l.backend, "memory");  // --gpu: VRAM by use (--verbose prints it below)
    if (l.verbose) {
        std::fprintf(stderr, "timings: load %.3f s (%s), prompt %.3f s, generation %.3f s (%d forward passes)\n",
                     l.load_seconds, load_mode_name(l.mode), r.prompt_seconds, r.gen_seconds, r.n_gen_evals);
        print_memory(l, ctx);
    }
    return 0;
}

}  // namespace slm::cli
