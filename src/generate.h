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

// Draft tokens for lookup decoding (speculation without a draft model): the continuation is guessed from what
// followed the same few tokens in sequences seen before (the prompt, earlier replies), and the guess is checked
// by ONE forward pass over the chosen token plus the draft. A draft token is kept only when it is exactly what
// the sampler or pick chose from the logits of the position before it; the first miss discards the rest (the KV
// cache is truncated). Since a batch's logits are bit-identical to token-by-token evaluation (forward.h), the
// generated tokens, the text and the final KV state are the same as without a draft: only the number of
// forward passes changes. Short structured answers (JSON with fixed keys) are where it pays.
class LookupDraft {
public:
    explicit LookupDraft(int max_match = 3, size_t max_corpus = size_t(1) << 16) : max_match_(max_match), max_corpus_(max_corpus) {}
    // Adds a sequence the continuation may repeat. The oldest tokens are dropped beyond max_corpus.
    void add(const int32_t* ids, size_t n);
    void add(const std::vector<int32_t>& ids) { add(ids.data(), ids.size()); }
    // Up to k tokens that followed the most recent occurrence of the longest tail (max_match tokens down to
    // 1) of ctx[0..n) in what was added; empty if none.
    std::vector<int32_t> propose(const int32_t* ctx, size_t n, int k) const;
    size_t size() const { return corpus_.size(); }

private:
    int max_match_;
    size_t max_corpus_;
    std::vector<int32_t> corpus_;  // the sequences, each followed by -1
};

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
    // Lookup decoding (LookupDraft above): proposals from `draft`, looked up with the tokens so far (history,
    // prompt and generated), at most draft_max tokens per forward pass. nullptr: one token per pass.
    const LookupDraft* draft = nullptr;
    int draft_max = 8;
};

struct GenerateResult {
    std::vector<int32_t> tokens;   // generated ids (the stop token included if one ended it)
    std::string text;              // the generated text, stop string cut off
    std::string stop_reason;       // "eog", "stop-token", "stop-string", "done", "length", "context"
    int n_prompt = 0;              // prompt tokens evaluated in this call
    double prompt_seconds = 0, gen_seconds = 0;
    int n_gen_evals = 0;           // forward passes during generation (one token each, or a token + its draft)
    int n_drafted = 0, n_draft_kept = 0;  // draft tokens evaluated, and those the choice confirmed
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
