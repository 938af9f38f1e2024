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
        if (ctx.n_past() >= ctx.n_ctx()) {
            res.stop_reason = "context";
            break;
        }
        if (opt.n_predict >= 0 && i + 1 >= opt.n_predict) break;  // no need to evaluate the last token
        logits = ctx.eval(&id, 1);
        res.n_gen_evals++;
    }
    res.gen_seconds = std::chrono::duration<double>(clock::now() - tg).count();
    // Flush what is left (an incomplete UTF-8 tail at the very end is printed as is).
    emit_upto(text.size());
    res.text = text;
    return res;
}

}  // namespace slm
