// The Llama 3 chat format: text form, and the token form that keeps user text from forging special tokens.
#include <filesystem>

#include "chat_template.h"
#include "common.h"
#include "gguf.h"
#include "test_util.h"
#include "tokenizer.h"

using namespace slm;

TEST_CASE("chat: format_llama3 builds the Llama 3 prompt") {
    std::vector<chat::Message> msgs{{"system", "You are terse."}, {"user", "  Hi there!\n"}};
    const std::string expect =
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n";
    CHECK(chat::format_llama3(msgs, true) == expect);
    // Without the generation prompt the assistant header is absent.
    const std::string no_gen = chat::format_llama3(msgs, false);
    CHECK(no_gen == expect.substr(0, expect.size() - std::string("<|start_header_id|>assistant<|end_header_id|>\n\n").size()));
    CHECK(chat::format_llama3({}, false) == "<|begin_of_text|>");
    CHECK(chat::trim(" \t\n x y \r\n") == "x y");
    CHECK(chat::trim(" \n ") == "");
}
