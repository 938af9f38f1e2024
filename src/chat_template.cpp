#include "chat_template.h"

#include "common.h"
#include "tokenizer.h"

namespace slm::chat {

std::string trim(const std::string& s) {
    const char* ws = " \t\n\r\f\v";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    const size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

std::string format_llama3(const std::vector<Message>& msgs, bool add_generation_prompt) {
    std::string out = "<|begin_of_text|>";
    for (const Message& m : msgs)
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
}

std::vector<int32_t> tokenize_llama3(const Tokenizer& tok, const std::vector<Message>& msgs,
                                     bool add_generation_prompt) {
    auto special = [&](const char* text) {
        const int32_t id = tok.find_token(text);
        if (id < 0 || !tok.is_control(id))
            fail("chat: the tokenizer has no special token %s (not a Llama 3 vocabulary?)", text);
        return id;
    };
    const int32_t bot = special("<|begin_of_text|>"), sh = special("<|start_header_id|>"),
                  eh = special("<|end_header_id|>"), eot = special("<|eot_id|>");
    std::vector<int32_t> ids{bot};
    auto append_text = [&](const std::string& s) {
        if (s.empty()) return;
        const std::vector<int32_t> t = tok.encode(s, /*add_bos=*/false, /*parse_special=*/false);
        ids.insert(ids.end(), t.begin(), t.end());
    };
    auto header = [&](const std::string& role) {
        ids.push_back(sh);
        append_text(role);
        ids.push_back(eh);
        append_text("\n\n");
    };
    for (const Message& m : msgs) {
        header(m.role);
        append_text(trim(m.content));
        ids.push_back(eot);
    }
    if (add_generation_prompt) header("assistant");
    return ids;
}

}  // namespace slm::chat
