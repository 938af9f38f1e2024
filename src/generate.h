// The one decode loop, shared by `slm run`, `slm chat` and `slm eval`: feed the prompt in batches, then choose
// one token at a time (the sampler, or the caller's pick: constrained decoding), stream the text out (never
// half a UTF-8 character, never the start of a stop string that may still complete), and stop at EOS/EOT (or
// any control token), a stop string, the caller's condition, the token budget or the end of the context.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "forward.h"
#include "sampler.h"

namespace slm {

struct GenerateOptions {
    int n_predict = 256;                 // < 0: until a stop or the end of the context
    std::vector<std::string> stop;       // stop strings (not printed)
    bool stop_at_eog = true;             // stop at the tokenizer's EOS / EOT
    std::vector<int32_t> stop_tokens;    // extra stop ids (e.g. BOS for llama2.c-style stories)
    bool render_special = false;         // print control tokens' text (<|eot_id|>, ...); off, as llama.cpp does
    // Called after each chunk of a long prompt (tokens done, total, seconds so far), for a progress line.
    std::function<void(int, int, double)> on_prompt_progress;
    int prompt_chunk = 256;              // tokens per progress step
    bool stop_at_control = false;        // any control token ends the turn, not only EOS/EOT
    // Chooses the next token instead of the sampler (e.g. greedy under a grammar); nullptr: the sampler.
    std::function<int32_t(const float* logits)> pick;
    // Called with each kept token once its text is added; returning true ends generation there, without
    // another forward pass (e.g. the answer is complete).
    std::function<bool(int32_t id, const std::string& text)> done;
};

struct GenerateResult {
    std::vector<int32_t> tokens;   // generated ids (the stop token included if one ended it)
    std::string text;              // the generated text, stop string cut off
    std::string stop_reason;       // "eog", "stop-token", "stop-string", "done", "length", "context"
    int n_prompt = 0;              // prompt tokens evaluated in this call
    double prompt_seconds = 0, gen_seconds = 0;
    int n_gen_evals = 0;           // single-token evaluations during generation
};

// Evaluates `prompt` (appended after what ctx already holds) and generates. on_text receives text pieces as
// they become safe to show. history: the tokens before the prompt for the repetition penalty (may be empty).
GenerateResult generate(Session& ctx, Sampler& sampler, const std::vector<int32_t>& prompt,
                        const GenerateOptions& opt, const std::function<void(const std::string&)>& on_text,
                        std::vector<int32_t> history = {});

// Length of the longest prefix of s[0..n) that ends on a UTF-8 character boundary (an incomplete trailing
// sequence is held back; invalid bytes count as complete so they never block the stream).
size_t utf8_complete_prefix(const std::string& s);

// Peak resident memory of this process in KiB (VmHWM from /proc/self/status), or -1 if unavailable.
long peak_rss_kib();

}  // namespace slm
