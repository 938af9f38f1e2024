// Chat templates: how a conversation becomes the token ids a model was trained on. One renderer for every
// caller (run --chat, chat, eval, train). Four families, recognized from the model's own template text
// (tokenizer.chat_template, a Jinja program) by what it contains, as llama.cpp does; no Jinja is interpreted.
//
//   llama3   <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> ... and, for the
//            generation prompt, <|start_header_id|>assistant<|end_header_id|>\n\n. Contents trimmed (`| trim`).
//            Recognized by <|start_header_id|> and <|end_header_id|> in the template. End of turn: <|eot_id|>.
//   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n ... and <|im_start|>assistant\n for the generation prompt.
//            Contents as given. Recognized by <|im_start|>. A template that inserts a default system message
//            when the first message is not a system one (SmolLM2, Qwen) does so here too: the literal text
//            after "<|im_start|>system\n" in the template is taken as that default. BOS first only where the
//            template writes bos_token. End of turn: <|im_end|>.
//   llama2   Llama 2 / Mistral [INST]: BOS [INST] USER [/INST] ASSISTANT EOS BOS [INST] ... with the system
//            message inside the first user turn as <<SYS>>\nSYSTEM\n<</SYS>>\n\n (Llama 2's template) or, for a
//            template without <<SYS>> (Mistral's), as SYSTEM\n\n before the first user text. Contents stripped;
//            "[INST] " + user + " [/INST]", " " + assistant + " " + EOS (Llama 2's spacing). [INST] / [/INST]
//            are ids where the vocabulary has them as special tokens (Mistral v3), text otherwise. Recognized
//            by [INST]. End of turn: EOS.
//   none     the turns' contents concatenated, each followed by "\n", no special tokens (BOS where the tokenizer
//            adds one by default): for base models such as stories260K. End of turn: EOS, if any.
//
// Message contents are encoded with parse_special = false, so a user typing "<|im_end|>" cannot forge a turn
// boundary; the template's own special tokens are inserted as ids. Plain text that is adjacent in the rendered
// text (a role name, "\n", the content) is encoded as one fragment, so the ids equal what tokenizing the
// template's text output (with special tokens parsed) gives.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace slm {
class Tokenizer;
namespace chat {

struct Message {
    std::string role, content;  // role: "system", "user", "assistant" (llama3 / chatml: any role name)
};

enum class Family { none, llama3, chatml, llama2 };
const char* family_name(Family f);          // "none", "llama3", "chatml", "llama2"
extern const char* const kFamilyChoices;    // "llama3|chatml|llama2|none" (for help texts and errors)

// What the template text contains, as llama.cpp detects it; false if it is none of the known families.
bool detect_family(const std::string& template_text, Family& out);

struct Template {
    Family family = Family::none;
    std::string source;          // "model", "--chat-template", "no template in the model"
    std::string default_system;  // chatml: system message inserted when the first message is not a system one
    bool add_bos = false;        // chatml / none: start with BOS
    bool llama2_sys_block = true;  // llama2: <<SYS>> block (Llama 2) or system text before the first user text (Mistral)
    std::string note;            // a line for stderr when the choice deserves one (no template in the model), or ""
    // Special-token ids of the family (-1 where unused) and the ids that end an assistant turn.
    int32_t bos = -1, eos = -1;
    int32_t start_header = -1, end_header = -1, eot = -1;  // llama3
    int32_t im_start = -1, im_end = -1;                    // chatml
    int32_t inst = -1, inst_end = -1;                      // llama2 with [INST]/[/INST] as special tokens
    std::vector<int32_t> end_of_turn;                      // generation stops at any of these
};

// The template for a model: override_name ("llama3", "chatml", "llama2", "none"; "" = none given) wins; else
// the family recognized in template_text (the model's tokenizer.chat_template); an empty template_text gives
// `none` with a note. Throws slm::Error for an unknown override name or an unrecognized template (naming the
// choices), and when the vocabulary lacks a special token the family needs.
Template resolve(const Tokenizer& tok, const std::string& template_text, const std::string& override_name = "");

struct Rendered {
    std::vector<int32_t> ids;
    std::vector<uint8_t> assistant;     // per id: 1 for an assistant message's content and its end-of-turn token
    std::vector<int32_t> end_of_turn;   // the family's end-of-turn ids (where generation stops)
};

// Renders msgs (add_generation_prompt: end with the assistant header, ready for the model to answer).
// Throws slm::Error for a conversation the family cannot express (llama2: a system message after the first,
// two user or two assistant messages in a row).
Rendered render(const Tokenizer& tok, const Template& t, const std::vector<Message>& msgs, bool add_generation_prompt);

// The same conversation as text, special tokens written out (what the Jinja template would print): for tests,
// --verbose and debugging. Tokenizing it with parse_special = true gives render()'s ids, except where message
// contents themselves contain special-token text.
std::string render_text(const Tokenizer& tok, const Template& t, const std::vector<Message>& msgs,
                        bool add_generation_prompt);

// Whitespace trim (spaces, tabs, newlines) on both sides.
std::string trim(const std::string& s);

}  // namespace chat
}  // namespace slm
