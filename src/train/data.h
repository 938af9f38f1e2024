// Training data: examples in the `messages` format `slm gen-data` writes, rendered into token ids with a mask
// of the tokens the loss is computed on (the assistant's content and its end-of-turn token), and the greedy
// exact-match evaluation used for validation.
//
// Rendering goes through one function (render) so the switch to the model's own chat template
// (chat::resolve / chat::render of the real-models work) is one place. Until then the format is picked from
// the vocabulary: ChatML (<|im_start|>, SmolLM2, Qwen), Llama 3 (<|start_header_id|>), else `none` (the turns'
// texts concatenated, for base models such as stories260K).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "chat_template.h"
#include "json.h"
#include "train/trainer.h"

namespace slm {
class Backend;
class Model;
class Tokenizer;
class ThreadPool;
}

namespace slm::train {

enum class ChatFormat { none, llama3, chatml };
ChatFormat detect_chat_format(const Tokenizer& tok);
const char* chat_format_name(ChatFormat f);

// Prompt tokens for msgs (ending with the assistant header, ready to generate) and, when `answer` is given,
// the answer and end-of-turn appended with mask 1 on exactly those tokens.
Sequence render(const Tokenizer& tok, ChatFormat f, const std::vector<chat::Message>& prompt, const std::string* answer);

struct Example {
    std::vector<chat::Message> prompt;  // every message before the (last) assistant one
    std::string answer;                 // the assistant's content
    std::string lang = "?";
    int line = 0;
};

struct DataOptions {
    bool drop_system = false;  // leave out system messages (shorter sequences; eval must do the same)
    int max_seq = 256;         // longer examples are skipped (counted)
};

struct Dataset {
    std::string path;
    std::vector<Example> examples;   // those kept
    std::vector<Sequence> seqs;      // rendered, one per example
    int n_skipped_long = 0;          // longer than max_seq
    int64_t n_tokens = 0, n_targets = 0;
};

// Reads a JSONL file of {"messages": [...], "lang"?: ...}. Throws naming the file and line for a malformed
// line, an example without an assistant message, or an empty file.
Dataset load_dataset(const std::string& path, const Tokenizer& tok, ChatFormat f, const DataOptions& opt);

struct MatchResult {
    int n = 0, exact = 0;
    std::map<std::string, std::pair<int, int>> by_lang;  // lang -> (exact, n)
    double accuracy() const { return n ? double(exact) / n : 0.0; }
    std::string summary() const;  // "exact 0.512 (128/250); de 0.40 (10/25), ..."
};

// Greedy decoding (unconstrained, up to max_tokens, stopping at end of generation) of each example's prompt
// with `model` (LoRA already applied), graded by intent::grade against the gold answer.
MatchResult exact_match(const Model& model, Backend& backend, ChatFormat f, const std::vector<Example>& examples,
                        int max_tokens = 48, bool progress = true);

}  // namespace slm::train
