// GGUF reader, then what is read from a GGUF's metadata: the llama configuration (read_model_config, which
// must refuse a count the tensors do not back without sizing anything from it) and the tokenizer.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    try {
        gguf::File f = gguf::File::from_memory(data, size, "fuzz.gguf");
        for (const gguf::KV& kv : f.metadata()) (void)kv.value.to_display();
        for (const gguf::TensorInfo& t : f.tensors()) {
            const uint8_t* p = f.tensor_data(t);
            if (t.nbytes) FUZZ_CHECK(p != nullptr && p[t.nbytes - 1] == p[t.nbytes - 1]);  // in bounds (ASan)
        }
        try {
            ModelConfig c = read_model_config(f);
            FUZZ_CHECK(c.n_layer > 0 && c.n_embd > 0 && c.n_vocab > 0);
        } catch (const Error&) {
        }
        if (f.has("tokenizer.ggml.model")) {
            Tokenizer tok = Tokenizer::from_gguf(f);
            FUZZ_CHECK(tok.n_vocab() > 0);
            std::vector<int32_t> ids = tok.encode("Hello world <|eot_id|> 123", tok.bos_id() >= 0, true);
            (void)tok.decode(ids);
        }
    } catch (const Error&) {
    }
    return 0;
}
