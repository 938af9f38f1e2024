// libFuzzer harness: chat templates. The input is split at NUL bytes into a template text, an override name and
// messages (role, content pairs); resolve() and render() run over the fixture vocabularies (SmolLM2 ChatML,
// llama3-tiny, the Llama 2 SentencePiece vocabulary, stories260K). slm::Error is the expected refusal. On
// success: ids in range, one mask entry per id, the end-of-turn ids in range, and message contents never turn
// into the family's special tokens (the only <|im_end|> / <|eot_id|> ids are the ones the template put there).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "chat_template.h"
#include "common.h"
#include "tokenizer.h"

namespace {
std::vector<std::unique_ptr<slm::Tokenizer>> g_tok;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_chat_template: %s\n", what);
        std::abort();
    }
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* d = std::getenv("SLM_FIXTURES");
    const std::string dir = d && *d ? d : "../shared/fixtures";
    for (const char* rel : {"models/SmolLM2-135M-Instruct-Q4_1.gguf", "models/llama3-tiny-f16.gguf",
                            "tokenizer/llama-spm/vocab.gguf", "models/stories260K.gguf"}) {
        try {
            g_tok.push_back(std::make_unique<slm::Tokenizer>(slm::Tokenizer::load(dir + "/" + rel)));
        } catch (const slm::Error& e) {
            std::fprintf(stderr, "fuzz_chat_template: %s (set SLM_FIXTURES)\n", e.what());
            std::exit(1);
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    if (size < 2) return 0;
    const slm::Tokenizer& tok = *g_tok[data[0] % g_tok.size()];
    const bool gen = data[0] & 0x10;
    std::vector<std::string> parts(1);
    for (size_t i = 1; i < size; i++) {
        if (data[i] == 0) parts.emplace_back();
        else parts.back() += char(data[i]);
    }
    static const char* kRoles[] = {"system", "user", "assistant", "tool"};
    const std::string tpl = parts[0];
    const std::string override_name = parts.size() > 1 ? parts[1] : "";
    std::vector<chat::Message> msgs;
    for (size_t i = 2; i < parts.size(); i++) {
        const char* role = kRoles[(parts[i].empty() ? 0 : uint8_t(parts[i][0])) % 4];
        msgs.push_back({role, parts[i].empty() ? "" : parts[i].substr(1)});
    }
    try {
        const chat::Template t = chat::resolve(tok, tpl, override_name);
        const chat::Rendered r = chat::render(tok, t, msgs, gen);
        check(r.ids.size() == r.assistant.size(), "mask size");
        for (int32_t id : r.ids) check(id >= 0 && id < tok.n_vocab(), "id out of range");
        for (int32_t id : r.end_of_turn) check(id >= 0 && id < tok.n_vocab(), "end-of-turn id out of range");
        // Count the family's turn tokens: exactly what the structure puts there, whatever the contents say.
        size_t n_turn = 0, want = 0;
        const int32_t turn = t.family == chat::Family::chatml ? t.im_end : t.family == chat::Family::llama3 ? t.eot : -1;
        if (turn >= 0) {
            for (int32_t id : r.ids) n_turn += id == turn;
            want = msgs.size() + (t.family == chat::Family::chatml && !msgs.empty() && msgs[0].role != "system" &&
                                  !t.default_system.empty());
            check(n_turn == want, "a message content produced an end-of-turn token");
        }
        (void)chat::render_text(tok, t, msgs, gen);
    } catch (const Error&) {
    }
    return 0;
}
