#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common.h"
#include "tokenizer.h"

namespace slm {

size_t utf8_complete_prefix(const std::string& s) {
    // Walk back over at most 3 continuation bytes to the last lead byte; hold it back only if its sequence is
    // not complete yet.
    const size_t n = s.size();
    size_t i = n;
    int cont = 0;
    while (i > 0 && cont < 4) {
        const unsigned char b = static_cast<unsigned char>(s[i - 1]);
        if ((b & 0xC0) != 0x80) {  // a lead byte or ASCII
            int need = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return (cont + 1 < need) ? i - 1 : n;
        }
        cont++;
        i--;
    }
    return n;  // only continuation bytes (invalid): let them through
}

long peak_rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

void LookupDraft::add(const int32_t* ids, size_t n) {
    corpus_.insert(corpus_.end(), ids, ids + n);
    corpus_.push_back(-1);
    if (corpus_.size() > max_corpus_) corpus_.erase(corpus_.begin(), corpus_.end() - long(max_corpus_));
}

std::vector<int32_t> LookupDraft::propose(const int32_t* ctx, size_t n, int k) const {
    std::vector<int32_t> out;
    if (k <= 0 || n == 0) return out;
    for (size_t m = std::min(n, size_t(std::max(1, max_match_))); m >= 1; m--) {
        const int32_t* tail = ctx + (n - m);
        // the most recent occurrence with at least one token after it
        for (size_t end = corpus_.size(); end-- > m;) {  // corpus_[end - m .. end) == tail, corpus_[end] follows
            if (corpus_[end] < 0) continue;
            if (!std::equal(tail, tail + m, corpus_.begin() + long(end - m))) continue;
            for (size_t j = end; j < corpus_.size() && corpus_[j] >= 0 && int(out.size()) < k; j++) out.push_back(corpus_[j]);
            return out;
        }
    }
    return out;
}

namespace {
// Bytes at the end of `text` that are a proper prefix of some stop string: they may still become a stop string,
// so they are not shown yet.
size_t held_for_stop(const std::string& text, size_t from, const std::vector<std::string>& stops) {
    size_t hold = 0;
    for (const std::string& st : stops) {
        for (size_t len = std::min(st.size() - 1, text.size() - from); len > hold; len--)
            if (text.compare(text.size() - len, len, st, 0, len) == 0) {
                hold = len;
                break;
            }
    }
    return hold;
}
}  // namespace

GenerateResult generate(Session& ctx, Sampler& sampler, const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                        const std::function<void(const std::string&)>& on_text, std::vector<int32_t> history) {
    using clock = std::chrono::steady_clock;
    const Model& model = ctx.model();
    const Tokenizer& tok = model.tokenizer();
    const int n_vocab = model.config().n_vocab;
    for (const std::string& s : opt.stop)
        if (s.empty()) fail("generate: empty stop string");
    GenerateResult res;
    if (prompt.empty()) fail("generate: empty prompt (at least BOS is needed)");

    auto t0 = clock::now();
    const float* logits = nullptr;
    const int n_prompt = int(prompt.size()), chunk = std::max(1, opt.prompt_chunk);
    for (int done = 0; done < n_prompt;) {
        const int nb = opt.on_prompt_progress ? std::min(chunk, n_prompt - done) : n_prompt;
        logits = ctx.eval(prompt.data() + done, nb);
        done += nb;
        if (opt.on_prompt_progress)
            opt.on_prompt_progress(done, n_prompt, std::chrono::duration<double>(clock::now() - t0).count());
    }
    res.prompt_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    res.n_prompt = int(prompt.size());
    history.insert(history.end(), prompt.begin(), prompt.end());

    std::string text;     // everything generated so far (bytes)
    size_t emitted = 0;   // bytes of `text` already handed to on_text
    auto emit_upto = [&](size_t end) {
        if (end > emitted) {
            if (on_text) on_text(text.substr(emitted, end - emitted));
            emitted = end;
        }
    };
    size_t max_stop = 0;
    for (const std::string& s : opt.stop) max_stop = std::max(max_stop, s.size());

    auto tg = clock::now();
    res.stop_reason = "length";
    // Lookup decoding: rows[r] are the logits after draft[r - 1] (rows[0]: after the chosen token); `next` is
    // the draft token that the next choice may confirm. The KV cache holds the draft tokens already evaluated.
    const float* rows = nullptr;
    std::vector<int32_t> draft;
    size_t next = 0;
    auto drop_unconfirmed = [&] {  // forget the draft tokens from `next` on: the cache as without a draft
        if (next < draft.size()) ctx.truncate(ctx.n_past() - int(draft.size() - next));
        draft.clear();
        next = 0;
    };
    const int start_past = ctx.n_past();  // the prompt is in the cache; generated token i is evaluated at start_past + i
    for (int i = 0; opt.n_predict < 0 || i < opt.n_predict; i++) {
        const int32_t id = opt.pick ? opt.pick(logits) : sampler.sample(logits, n_vocab, history);
        res.tokens.push_back(id);
        history.push_back(id);
        if ((opt.stop_at_eog && (id == tok.eos_id() || id == tok.eot_id())) || (opt.stop_at_control && tok.is_control(id))) {
            res.stop_reason = "eog";
            break;
        }
        if (std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), id) != opt.stop_tokens.end()) {
            res.stop_reason = "stop-token";
            break;
        }
        if (opt.render_special || !tok.is_control(id)) text += tok.token_to_piece(id);
        if (max_stop) {
            // A stop string can only have appeared in the part not yet searched (plus its own length back).
            const size_t from = emitted > max_stop ? emitted - max_stop : 0;
            size_t cut = std::string::npos;
            for (const std::string& st : opt.stop) cut = std::min(cut, text.find(st, from));
            if (cut != std::string::npos) {
                text.resize(cut);
                emit_upto(std::max(emitted, utf8_complete_prefix(text)));
                res.stop_reason = "stop-string";
                break;
            }
        }
        const size_t safe = text.size() - held_for_stop(text, emitted, opt.stop);
        emit_upto(std::min(safe, utf8_complete_prefix(text.substr(0, safe))));
        if (opt.done && opt.done(id, text)) {
            res.stop_reason = "done";
            break;
        }
        if (start_past + i >= ctx.n_ctx()) {  // the positions without a draft: tokens 0..i-1 evaluated
            res.stop_reason = "context";
            break;
        }
        if (opt.n_predict >= 0 && i + 1 >= opt.n_predict) break;  // no need to evaluate the last token
        if (next < draft.size() && draft[next] == id) {  // the draft guessed it: its logits are already there
            next++;
            logits = rows + size_t(next) * size_t(n_vocab);
            res.n_draft_kept++;
            continue;
        }
        drop_unconfirmed();
        if (opt.draft) {
            // Room: the cache after this pass must fit, and drafts past the last needed position are wasted.
            int room = std::min(opt.draft_max, ctx.n_ctx() - ctx.n_past() - 1);
            if (opt.n_predict >= 0) room = std::min(room, opt.n_predict - i - 2);
            if (room > 0) draft = opt.draft->propose(history.data(), history.size(), room);
        }
        if (draft.empty()) {
            logits = ctx.eval(&id, 1);
        } else {
            std::vector<int32_t> batch(1, id);
            batch.insert(batch.end(), draft.begin(), draft.end());
            rows = ctx.eval(batch, /*all_logits=*/true);
            logits = rows;
            res.n_drafted += int(draft.size());
        }
        res.n_gen_evals++;
    }
    // The draft tokens no choice confirmed are forgotten, as is the last choice if a draft had evaluated it.
    drop_unconfirmed();
    res.gen_seconds = std::chrono::duration<double>(clock::now() - tg).count();
    // Flush what is left (an incomplete UTF-8 tail at the very end is printed as is).
    emit_upto(text.size());
    res.text = text;
    return res;
}

}  // namespace slm
