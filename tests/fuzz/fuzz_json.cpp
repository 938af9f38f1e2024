// JSON parser: anything accepted must write back (dump) to text that parses to an equal value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    json::Value v;
    if (!json::try_parse(text, &v)) return 0;
    const std::string out = v.dump();
    json::Value back;
    std::string err;
    FUZZ_CHECK(json::try_parse(out, &back, &err));
    FUZZ_CHECK(back == v);
    for (const json::JsonlLine& l : json::jsonl_lines(text)) FUZZ_CHECK(l.line_no >= 1 && l.text.size() <= size);
    return 0;
}
