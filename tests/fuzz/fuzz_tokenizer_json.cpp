// Hugging Face tokenizer.json loader (its own vocab scanner plus json::parse for the rest).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    try {
        Tokenizer tok = Tokenizer::from_tokenizer_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
        FUZZ_CHECK(tok.n_vocab() > 0);
        std::vector<int32_t> ids = tok.encode("Hello, world! 12345 \xc3\xa9t\xc3\xa9", false, true);
        for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tok.n_vocab());
        (void)tok.decode(ids);
    } catch (const Error&) {
    }
    return 0;
}
