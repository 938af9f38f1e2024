#include "chat_template.h"

#include <algorithm>

#include "common.h"
#include "tokenizer.h"

namespace slm::chat {

const char* const kFamilyChoices = "llama3|chatml|llama2|none";

const char* family_name(Family f) {
    switch (f) {
        case Family::none: return "none";
        case Family::llama3: return "llama3";
        case Family::chatml: return "chatml";
        case Family::llama2: return "llama2";
    }
    return "?";
}

std::string trim(const std::string& s) {
    const char* ws = " \t\n\r\f\v";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    const size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

namespace {

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

bool parse_family(const std::string& name, Family& out) {
    for (Family f : {Family::llama3, Family::chatml, Family::llama2, Family::none})
        if (name == family_name(f)) {
            out = f;
            return true;
        }
    return false;
}

// ChatML templates that add a default system message when the conversation has none (SmolLM2, Qwen2.5):
// {% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nTEXT<|im_end|>\n' }}{% endif %}
// The default is the literal TEXT; "" when the template has no such branch.
std::string chatml_default_system(const std::string& tpl) {
    const bool has_branch = contains(tpl, "messages[0]['role'] != 'system'") ||
                            contains(tpl, "messages[0][\"role\"] != \"system\"") ||
                            contains(tpl, "messages[0].role != 'system'");
    if (!has_branch) return "";
    const std::string head = "<|im_start|>system\n";
    // The literal sits in a quoted Jinja string: the first occurrence whose text runs to <|im_end|> without
    // leaving the quotes (no ' " { } + between), i.e. not the generic  '<|im_start|>' + message['role'] ...
    for (size_t p = tpl.find(head); p != std::string::npos; p = tpl.find(head, p + 1)) {
        const size_t b = p + head.size();
        const size_t e = tpl.find("<|im_end|>", b);
        if (e == std::string::npos) break;
        const std::string text = tpl.substr(b, e - b);
        if (text.find_first_of("'\"{}+") != std::string::npos || text.empty()) continue;
        // Jinja string escapes that such literals use.
        std::string out;
        for (size_t i = 0; i < text.size(); i++) {
            if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
                out += '\n';
                i++;
            } else {
                out += text[i];
            }
        }
        return out;
    }
    return "";
}

int32_t need_special(const Tokenizer& tok, Family f, const char* text) {
    const int32_t id = tok.find_token(text);
    if (id < 0 || !(tok.token_type(id) == TokenType::control || tok.token_type(id) == TokenType::user_defined))
        fail("chat template %s: the vocabulary has no special token %s (choose another with --chat-template %s)",
             family_name(f), text, kFamilyChoices);
    return id;
}

int32_t optional_special(const Tokenizer& tok, const char* text) {
    const int32_t id = tok.find_token(text);
    if (id < 0 || !(tok.token_type(id) == TokenType::control || tok.token_type(id) == TokenType::user_defined))
        return -1;
    return id;
}

void add_unique(std::vector<int32_t>& v, int32_t id) {
    if (id >= 0 && std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

// A rendered conversation before tokenization: special tokens (id >= 0) and plain text, each flagged when it
// belongs to an assistant message (its content and its end-of-turn token).
struct Seg {
    int32_t id = -1;
    std::string text;
    bool assistant = false;
};

std::vector<Seg> segments(const Template& t, const std::vector<Message>& msgs, bool gen) {
    std::vector<Seg> s;
    auto special = [&](int32_t id, bool asst = false) { s.push_back({id, "", asst}); };
    auto text = [&](std::string x, bool asst = false) {
        if (!x.empty()) s.push_back({-1, std::move(x), asst});
    };
    switch (t.family) {
        case Family::llama3:
            special(t.bos);
            for (const Message& m : msgs) {
                const bool a = m.role == "assistant";
                special(t.start_header);
                text(m.role);
                special(t.end_header);
                text("\n\n");
                text(trim(m.content), a);
                special(t.eot, a);
            }
            if (gen) {
                special(t.start_header);
                text("assistant");
                special(t.end_header);
                text("\n\n");
            }
            break;
        case Family::chatml:
            if (t.add_bos) special(t.bos);
            if (!msgs.empty() && msgs[0].role != "system" && !t.default_system.empty()) {
                special(t.im_start);
                text("system\n" + t.default_system);
                special(t.im_end);
                text("\n");
            }
            for (const Message& m : msgs) {
                const bool a = m.role == "assistant";
                special(t.im_start);
                text(m.role + "\n");
                text(m.content, a);
                special(t.im_end, a);
                text("\n");
            }
            if (gen) {
                special(t.im_start);
                text("assistant\n");
            }
            break;
        case Family::llama2: {
            size_t i = 0;
            std::string system;
            bool has_system = false;
            if (!msgs.empty() && msgs[0].role == "system") {
                system = msgs[0].content;
                has_system = true;
                i = 1;
            }
            bool first = true;
            for (size_t k = 0; i < msgs.size(); i++, k++) {
                const Message& m = msgs[i];
                const char* want = k % 2 == 0 ? "user" : "assistant";
                if (m.role != want)
                    fail("chat template llama2: message %zu has role \"%s\" where \"%s\" was expected (a system "
                         "message may only come first, then user and assistant alternate)",
                         i + 1, m.role.c_str(), want);
                if (m.role == "user") {
                    std::string content = m.content;
                    if (first && has_system)
                        content = t.llama2_sys_block ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
                                                     : system + "\n\n" + content;
                    first = false;
                    special(t.bos);
                    if (t.inst >= 0) {
                        special(t.inst);
                        text(" " + trim(content));
                        special(t.inst_end);
                    } else {
                        text("[INST] " + trim(content) + " [/INST]");
                    }
                } else {
                    text(" " + trim(m.content) + (t.inst >= 0 ? "" : " "), true);
                    special(t.eos, true);
                }
            }
            (void)gen;  // the generation prompt is the end of the last [INST] turn
            break;
        }
        case Family::none:
            if (t.add_bos) special(t.bos);
            for (const Message& m : msgs) text(m.content + "\n", m.role == "assistant");
            break;
    }
    return s;
}

}  // namespace

bool detect_family(const std::string& tpl, Family& out) {
    // The order of llama.cpp's llm_chat_detect_template for these families: ChatML first, then [INST], then
    // Llama 3's header tokens.
    if (contains(tpl, "<|im_start|>")) {
        out = Family::chatml;
        return true;
    }
    if (contains(tpl, "[INST]")) {
        out = Family::llama2;
        return true;
    }
    if (contains(tpl, "<|start_header_id|>") && contains(tpl, "<|end_header_id|>")) {
        out = Family::llama3;
        return true;
    }
    return false;
}

Template resolve(const Tokenizer& tok, const std::string& template_text, const std::string& override_name) {
    Template t;
    if (!override_name.empty()) {
        if (!parse_family(override_name, t.family))
            fail("--chat-template: unknown template \"%s\" (choices: %s)", override_name.c_str(), kFamilyChoices);
        t.source = "--chat-template";
    } else if (template_text.empty()) {
        t.family = Family::none;
        t.source = "no template in the model";
        t.note = std::string("note: the model has no chat template (tokenizer.chat_template): using \"none\" (the "
                             "turns' texts concatenated); choose one with --chat-template ") + kFamilyChoices;
    } else {
        if (!detect_family(template_text, t.family))
            fail("the model's chat template (tokenizer.chat_template) is none of the known families (llama3: "
                 "<|start_header_id|>, chatml: <|im_start|>, llama2: [INST]); choose one with --chat-template %s",
                 kFamilyChoices);
        t.source = "model";
    }
    Family detected = Family::none;
    const bool text_is_family = !template_text.empty() && detect_family(template_text, detected) && detected == t.family;

    switch (t.family) {
        case Family::llama3:
            t.bos = need_special(tok, t.family, "<|begin_of_text|>");
            t.start_header = need_special(tok, t.family, "<|start_header_id|>");
            t.end_header = need_special(tok, t.family, "<|end_header_id|>");
            t.eot = need_special(tok, t.family, "<|eot_id|>");
            add_unique(t.end_of_turn, t.eot);
            add_unique(t.end_of_turn, optional_special(tok, "<|eom_id|>"));
            add_unique(t.end_of_turn, tok.eos_id());
            break;
        case Family::chatml:
            t.im_start = need_special(tok, t.family, "<|im_start|>");
            t.im_end = need_special(tok, t.family, "<|im_end|>");
            if (text_is_family) {
                t.default_system = chatml_default_system(template_text);
                t.add_bos = contains(template_text, "bos_token") && tok.bos_id() >= 0 && tok.bos_id() != t.im_start;
            }
            t.bos = tok.bos_id();
            add_unique(t.end_of_turn, t.im_end);
            add_unique(t.end_of_turn, tok.eos_id());
            break;
        case Family::llama2:
            t.bos = tok.bos_id();
            t.eos = tok.eos_id();
            if (t.bos < 0 || t.eos < 0)
                fail("chat template llama2: the vocabulary has no %s token (choose another with --chat-template %s)",
                     t.bos < 0 ? "BOS" : "EOS", kFamilyChoices);
            t.inst = optional_special(tok, "[INST]");
            t.inst_end = optional_special(tok, "[/INST]");
            if (t.inst < 0 || t.inst_end < 0) t.inst = t.inst_end = -1;
            t.llama2_sys_block = !text_is_family || contains(template_text, "<<SYS>>");
            add_unique(t.end_of_turn, t.eos);
            break;
        case Family::none:
            t.add_bos = tok.add_bos_default() && tok.bos_id() >= 0;
            t.bos = tok.bos_id();
            add_unique(t.end_of_turn, tok.eos_id());
            break;
    }
    if (t.eos < 0) t.eos = tok.eos_id();
    return t;
}

Rendered render(const Tokenizer& tok, const Template& t, const std::vector<Message>& msgs, bool add_generation_prompt) {
    const std::vector<Seg> segs = segments(t, msgs, add_generation_prompt);
    Rendered r;
    r.end_of_turn = t.end_of_turn;
    // Plain text between two special tokens is one fragment (as in the template's text output), encoded with
    // parse_special = false; each token is flagged by where its bytes start in the fragment.
    size_t i = 0;
    while (i < segs.size()) {
        if (segs[i].id >= 0) {
            r.ids.push_back(segs[i].id);
            r.assistant.push_back(segs[i].assistant ? 1 : 0);
            i++;
            continue;
        }
        size_t j = i;
        std::string frag;
        std::vector<std::pair<size_t, size_t>> asst;  // byte ranges of assistant text in frag
        for (; j < segs.size() && segs[j].id < 0; j++) {
            if (segs[j].assistant) asst.push_back({frag.size(), frag.size() + segs[j].text.size()});
            frag += segs[j].text;
        }
        const std::vector<int32_t> ids = tok.encode(frag, /*add_bos=*/false, /*parse_special=*/false);
        size_t total = 0;
        for (int32_t id : ids) total += tok.token_to_piece(id).size();
        // SentencePiece puts one space in front of a fragment: its first piece starts one byte early.
        const bool lengths_match = total == frag.size() || total == frag.size() + 1;
        if (lengths_match) {
            long pos = -long(total - frag.size());
            for (int32_t id : ids) {
                const size_t start = size_t(std::max(0L, pos));
                bool a = false;
                for (auto [b, e] : asst) a = a || (start >= b && start < e);
                r.ids.push_back(id);
                r.assistant.push_back(a ? 1 : 0);
                pos += long(tok.token_to_piece(id).size());
            }
        } else {
            // Pieces that do not spell the text (unknown-token replacements, user-defined tokens inside a
            // message): flag per segment, encoding each on its own.
            for (size_t k = i; k < j; k++) {
                for (int32_t id : tok.encode(segs[k].text, false, false)) {
                    r.ids.push_back(id);
                    r.assistant.push_back(segs[k].assistant ? 1 : 0);
                }
            }
        }
        i = j;
    }
    return r;
}

std::string render_text(const Tokenizer& tok, const Template& t, const std::vector<Message>& msgs,
                        bool add_generation_prompt) {
    std::string out;
    for (const Seg& s : segments(t, msgs, add_generation_prompt)) out += s.id >= 0 ? tok.token_text(s.id) : s.text;
    return out;
}

}  // namespace slm::chat
