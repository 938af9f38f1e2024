// The intent task's answer schema (../shared/intents/SPEC.md), compiled into slm: the ten actions with their
// product / quantity rules, the product catalog (embedded from catalog.tsv), the validator, the grader and
// the one system prompt that `slm gen-data` writes into the data and `slm eval` sends to the model.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"

namespace slm::intent {

// Whether an action's answer must name a product / a quantity, may, or must leave it null.
enum class Need { required, optional, null };

struct ActionRule {
    const char* name;     // "add_to_cart"
    Need product;         // required: a catalog id; optional: id or null; null: always null
    Need quantity;        // optional: the stated number or null; null: always null (never "required")
    const char* meaning;  // one line, for the system prompt and reports
};

// The ten actions in SPEC.md's order.
const std::vector<ActionRule>& actions();
int num_actions();
int action_index(std::string_view name);  // -1 when not an action

struct Product {
    std::string id;        // catalog id, the value of "product"
    std::string category;  // "apparel", ...
    // words[l] = the synonyms for catalog_languages()[l] as listed in the catalog (", "-separated there)
    std::vector<std::vector<std::string>> words;
};

struct Catalog {
    std::vector<std::string> languages;  // header columns after id and category: "en", "es", ...
    std::vector<Product> products;       // in file order
    int index(std::string_view id) const;  // -1 when absent
};

// Parses catalog.tsv text (header row "id<TAB>category<TAB>lang...", then one product a row; synonyms
// separated by ", "). `source` names the file in errors, which also give the line number.
Catalog parse_catalog(std::string_view tsv, const std::string& source);
// The catalog compiled into the binary (src/intent_catalog.inc) and its raw text.
const Catalog& catalog();
std::string_view embedded_catalog_tsv();

// Largest quantity an answer may state; the constrained decoder allows exactly the integers 1..kMaxQuantity.
constexpr int64_t kMaxQuantity = 9999;

struct Answer {
    std::string action;
    std::optional<std::string> product;
    std::optional<int64_t> quantity;
};
json::Value to_json(const Answer& a);
// The canonical text: {"action": "add_to_cart", "product": "t-shirt", "quantity": 2} (what gen-data writes and
// what the constrained decoder produces).
std::string canonical_text(const Answer& a);

// True when v is an answer SPEC.md allows: an object with exactly the keys action, product, quantity; action
// one of the ten; product a catalog id or null as the action requires; quantity an integer in
// [1, kMaxQuantity] or null as the action requires. Otherwise false, with the reason in *why.
bool validate(const json::Value& v, std::string* why = nullptr);

// Parses a model's reply: exactly one JSON object, surrounding whitespace allowed, nothing else.
bool parse_reply(std::string_view reply, json::Value* out, std::string* why = nullptr);

struct Grade {
    bool valid_json = false;    // the reply is one JSON object
    bool valid_schema = false;  // ... and validate() accepts it
    bool exact = false;         // ... and it equals the gold answer (key order and spacing ignored, types not)
    bool action = false, product = false, quantity = false;  // per-field agreement with gold
    std::string pred_action;    // the predicted action name, "" when there is none (not JSON / not a string)
};
// Grades a reply against a gold answer (gold must itself be valid).
Grade grade(std::string_view reply, const json::Value& gold);

// The fixed system prompt: the task, the schema and the catalog ids.
const std::string& system_prompt();

}  // namespace slm::intent
