// Training data: examples in the `messages` format `slm gen-data` writes, rendered into token ids with a mask
// of the tokens the loss is computed on (the assistant's content and its end-of-turn token), and the greedy
// exact-match evaluation used for validation.
//
// Prompts are rendered by the model's own chat template (chat::resolve / chat::render, the renderer of
// `slm run --chat`, `slm chat` and `slm eval`), so a model is trained on exactly the prompts it is evaluated
// on: Llama 3, ChatML (with the template's default system message where it has one, as SmolLM2's does),
// [INST], or `none` for a model without a template (stories260K: the turns' texts, one per line).
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

// Prompt tokens for msgs (chat::render with the generation prompt: ending with the assistant header, as at
// inference) and, when `answer` is given, the answer and the template's end-of-turn token appended with mask 1
// on exactly those tokens. The answer is encoded on its own, as the model will produce it after the header.
Sequence render(const Tokenizer& tok, const chat::Template& tpl, const std::vector<chat::Message>& prompt,
                const std::string* answer);

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
Dataset load_dataset(const std::string& path, const Tokenizer& tok, const chat::Template& tpl, const DataOptions& opt);

// Exact match of `model` (LoRA already applied) on the intent examples of the JSONL file at `path`, through
// intent::evaluate (the code of `slm eval`: greedy, unconstrained, the model's template), without the system
// prompt when drop_system (as the model was trained). limit < 0: all. Per-language counts in the result.
// Where the prompt cannot fit the model's context it says so on stderr and returns n = 0.
struct MatchResult {
    int n = 0, exact = 0;
    std::map<std::string, std::pair<int, int>> by_lang;  // lang -> (exact, n)
    double accuracy() const { return n ? double(exact) / n : 0.0; }
    std::string summary() const;  // "exact 0.512 (128/250); de 0.40 (10/25), ..."
};
MatchResult exact_match(const Model& model, Backend& backend, const std::string& path, bool drop_system, int limit,
                        const std::string& chat_template = "", bool progress = true);

}  // namespace slm::train
