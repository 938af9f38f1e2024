// `slm eval` on the intent task: read examples, prompt a model in its chat template (system prompt,
// optional few-shot turns, the user's message), decode greedily (optionally under the schema constraint),
// grade by SPEC.md, and report accuracy, breakdowns, speed and memory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "intent/schema.h"
#include "json.h"

namespace slm {
class Model;
class Session;
}

namespace slm::intent {

struct EvalItem {
    std::string text;                // the user's message
    json::Value gold;                // a valid answer
    std::string lang = "?";          // optional in the file
    std::vector<std::string> noise;  // optional in the file
    int line = 0;                    // 1-based line in the file
};

// Reads a JSONL file in either format:
//   {"messages": [{"role": "system", ...}, {"role": "user", "content": TEXT}, {"role": "assistant", "content": GOLD_JSON}], ...}
//   {"text": TEXT, "gold": {"action": ..., "product": ..., "quantity": ...}}
// with optional "lang" (string) and "noise" (array of strings). Blank lines are skipped. Any other line is an
// slm::Error naming the file, the line number and what is wrong (including a gold answer SPEC.md rejects).
std::vector<EvalItem> read_eval_file(const std::string& path);
std::vector<EvalItem> parse_eval_text(const std::string& text, const std::string& name);

struct EvalOptions {
    bool constrained = false;
    int few_shot = 0;       // solved examples before the query (from the train bank, never test phrasings)
    bool system = true;     // the task's system prompt first (false: none, as for a model trained without it;
                            // a template's own default system message, such as SmolLM2's, still applies)
    int limit = -1;         // first N examples only (< 0: all)
    int max_tokens = 48;    // unconstrained budget (constrained answers end on their own, within ~80 tokens)
    bool progress = true;   // progress line on stderr
    std::string chat_template;  // llama3|chatml|llama2|none; "" = the model's own (chat::resolve)
    bool lookup = true;     // lookup decoding from earlier replies (generate.h): same replies, fewer passes
};

struct ItemResult {
    std::string reply;
    Grade grade;
    double latency_s = 0;   // prompt + decode of this example
    int n_prompt = 0;       // tokens evaluated for this example (its own, after the cached prefix)
    int n_gen = 0;          // tokens generated (the end-of-generation token not counted)
};

struct EvalResult {
    std::string model, data, lora;
    EvalOptions opt;
    int threads = 0;               // set by the caller (the backend's pool)
    std::string chat_template;     // the family used (chat::family_name)
    int n_prefix = 0;              // shared prefix tokens (system prompt + few-shot turns), evaluated once
    double prefix_s = 0, setup_s = 0;  // prefix evaluation; building the constraint (token index)
    double prompt_s = 0, decode_s = 0; // summed over examples
    double select_s = 0;               // part of decode_s spent choosing tokens (argmax, or constrained pick)
    int64_t prompt_tokens = 0, gen_tokens = 0, decode_evals = 0;  // decode_evals: forward passes while decoding
    int64_t drafted = 0, draft_kept = 0;  // lookup decoding: draft tokens evaluated, and those the model confirmed
    long peak_rss_kib = -1;
    std::vector<EvalItem> items;   // the examples evaluated
    std::vector<ItemResult> results;

    // Aggregates.
    double exact() const;
    json::Value to_json() const;
    std::string to_markdown() const;
    std::string summary() const;   // a few lines for stdout
};

// The context size an evaluation needs: the shared prefix (system prompt, few-shot turns) and room for the
// examples and their answers, within the model's context. Throws if the prefix alone does not fit.
int eval_context_size(const Model& model, const EvalOptions& opt);
// Evaluates the session's model (with any LoRA already applied) on items. The session keeps the shared prefix
// between examples (Session::reuse_prefix); it must hold at least eval_context_size() positions.
EvalResult evaluate(Session& ctx, const std::vector<EvalItem>& items, const EvalOptions& opt);

}  // namespace slm::intent
