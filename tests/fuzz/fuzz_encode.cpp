// Encoding arbitrary bytes with the fixture vocabularies (Llama 3 byte-level BPE, GPT-2, SentencePiece):
// ids in range, and for the byte-level vocabularies decode(encode(text)) == text exactly.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer.h"

namespace {
std::unique_ptr<slm::Tokenizer> g_tok[3];
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    using namespace slm;
    const char* rel[3] = {"tokenizer/llama3/tokenizer.json", "tokenizer/gpt2/vocab.gguf", "tokenizer/llama-spm/vocab.gguf"};
    for (int i = 0; i < 3; i++) {
        try {
            g_tok[i] = std::make_unique<Tokenizer>(Tokenizer::load(fuzz::fixture(rel[i])));
        } catch (const Error& e) {
            std::fprintf(stderr, "fuzz_encode: %s (set SLM_FIXTURES)\n", e.what());
            std::exit(1);
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    if (size == 0) return 0;
    const int which = data[0] % 3;
    const bool parse_special = data[0] & 4;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const Tokenizer& tok = *g_tok[which];
    std::vector<int32_t> ids = tok.encode(text, false, parse_special);
    for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tok.n_vocab());
    const std::string back = tok.decode(ids);
    if (which < 2 && !parse_special) FUZZ_CHECK(back == text);  // byte-level BPE loses nothing
    return 0;
}
