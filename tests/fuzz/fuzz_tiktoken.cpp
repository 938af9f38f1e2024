// tiktoken tokenizer.model loader (base64 tokens and ranks), and the tokenizer_config.json special-token list.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        Tokenizer tok = Tokenizer::from_tiktoken(text, "fuzz.model");
        FUZZ_CHECK(tok.n_vocab() > 0);
        std::vector<int32_t> ids = tok.encode("Hello, world! 12345", false, false);
        for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tok.n_vocab());
        (void)tok.decode(ids);
    } catch (const Error&) {
    }
    try {
        (void)TiktokenSpecials::from_tokenizer_config(text, "fuzz_config.json");
    } catch (const Error&) {
    }
    return 0;
}
