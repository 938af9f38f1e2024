// The Llama 3 chat format (as Meta's and llama.cpp's "llama3" template):
//   <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>
//   <|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>
//   ... and, for the generation prompt, <|start_header_id|>assistant<|end_header_id|>\n\n
// Contents are trimmed of surrounding whitespace, as both templates do.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace slm {
class Tokenizer;
namespace chat {

struct Message {
    std::string role, content;  // role: "system", "user", "assistant" (or any header name)
};

// The prompt as text; tokenize it with parse_special = true and add_bos = false (it starts with the BOS text).
std::string format_llama3(const std::vector<Message>& msgs, bool add_generation_prompt);

// The same prompt as token ids, with the header/eot tokens inserted as ids and every message's content encoded
// as plain text (parse_special = false), so a user typing "<|eot_id|>" cannot forge a turn boundary.
// Throws slm::Error if the tokenizer lacks the Llama 3 special tokens.
std::vector<int32_t> tokenize_llama3(const Tokenizer& tok, const std::vector<Message>& msgs,
                                     bool add_generation_prompt);

// Whitespace trim (spaces, tabs, newlines) on both sides.
std::string trim(const std::string& s);

}  // namespace chat
}  // namespace slm
