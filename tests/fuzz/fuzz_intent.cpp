// Intent task: data lines (the JSONL reader of slm eval) and grading of model replies. A reply that grades
// as exact against a gold answer must be valid, and every valid answer's canonical text grades exact.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "intent/eval.h"
#include "intent/schema.h"
#include "json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace slm;
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        std::vector<intent::EvalItem> items = intent::parse_eval_text(text, "fuzz.jsonl");
        for (const intent::EvalItem& it : items) {
            std::string why;
            FUZZ_CHECK(intent::validate(it.gold, &why));
            const intent::Grade g = intent::grade(it.gold.dump(), it.gold);
            FUZZ_CHECK(g.exact && g.valid_schema);
        }
    } catch (const Error&) {
    }
    static const json::Value gold = json::parse(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2})");
    const intent::Grade g = intent::grade(text, gold);
    if (g.exact) FUZZ_CHECK(g.valid_json && g.valid_schema && g.action && g.product && g.quantity);
    if (g.valid_schema) FUZZ_CHECK(g.valid_json);
    const size_t end = intent::json_object_end(text);
    FUZZ_CHECK(end == std::string::npos || end <= text.size());
    return 0;
}
