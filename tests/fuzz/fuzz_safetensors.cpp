// libFuzzer harness: the safetensors reader on arbitrary bytes. slm::Error is the expected refusal; anything
// else (a crash, a sanitizer report, another exception) is a finding. On a file it accepts, every tensor's
// byte range lies inside the file and matches its shape and dtype, and reading every byte is safe.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "common.h"
#include "safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    try {
        safetensors::File f = safetensors::File::from_memory(data, size, "fuzz.safetensors");
        uint64_t sum = 0;
        for (const safetensors::TensorInfo& t : f.tensors()) {
            const uint64_t n = uint64_t(t.n_elements()) * safetensors::dtype_size(t.dtype);
            if (n != t.nbytes() || t.end > f.file_size() || f.find(t.name) == nullptr) {
                std::fprintf(stderr, "fuzz_safetensors: accepted an inconsistent tensor %s\n", t.name.c_str());
                std::abort();
            }
            const uint8_t* p = f.data(t);
            for (uint64_t i = 0; i < t.nbytes(); i++) sum += p[i];  // ASan: every byte must be in the buffer
        }
        (void)sum;
    } catch (const Error&) {
    }
    return 0;
}
