// The intent dataset generator (`slm gen-data`): short shopper messages in six languages and mixes of two,
// each with its gold answer, built from phrasing templates, the product lexicon and a noise model.
// Two disjoint banks: Bank::train (train.jsonl, val.jsonl, the few-shot examples of `slm eval`) and
// Bank::test (test.jsonl): different templates, different slang / filler / emoji / descriptor words and two
// noise kinds of its own, so test accuracy measures generalization beyond the training phrasings.
// Deterministic per seed on every machine (own PRNG, integer arithmetic for every random choice).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "intent/schema.h"
#include "json.h"

namespace slm::intent {

// splitmix64: tiny, fast, and the same sequence on every platform (std:: distributions are not).
class Rng {
public:
    explicit Rng(uint64_t seed) : s_(seed) {}
    uint64_t next() {
        uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    int uniform(int n) { return int(next() % uint64_t(n)); }             // [0, n); n > 0
    bool chance(int per_mille) { return uniform(1000) < per_mille; }      // probability per_mille / 1000
    int weighted(const std::vector<int>& w);                              // index i with probability w[i] / sum
private:
    uint64_t s_;
};

enum class Bank { train, test };

struct Example {
    std::string text;                // the shopper's message
    Answer gold;
    std::string lang;                // "en" ... "pt", or "en+es" for a mix (frame language + product language)
    std::vector<std::string> noise;  // noise kinds applied, in order ("typo_swap", "emoji", ...)
};

struct GenOptions {
    uint64_t seed = 1;
    int noise_per_mille = 400;          // share of examples that get noise (1 to 3 kinds)
    int mix_per_mille = 120;            // share of examples that mix two languages
    std::vector<std::string> langs;     // empty: all six
};

class Generator {
public:
    Generator(const GenOptions& opt, Bank bank);
    // The next example; never one of the hand-written messages (handwritten_jsonl), so those stay unseen.
    Example next();

private:
    Example draw();
    GenOptions opt_;
    Bank bank_;
    Rng rng_;
    std::vector<int> langs_;
    // Products come from a shuffled deck of the whole catalog, refilled when empty, and each product's nouns in
    // a language take turns, so every product word of every language appears about equally often: a model
    // trained on a few hundred examples has seen each of them, where independent draws leave a third unseen.
    std::vector<int> deck_;
    std::vector<int> noun_turn_;  // [product * n_languages + lang]: how often that product was named in that language
};

// The noise kinds each bank draws from.
const std::vector<std::string>& noise_kinds(Bank bank);
// Every template string of a bank ("lang|action|text"), for the disjointness test.
std::vector<std::string> template_strings(Bank bank);

// One JSONL line in the chat format: {"messages": [system, user, assistant], "lang": ..., "noise": [...]}.
std::string to_jsonl(const Example& e);

struct DatasetCounts { int train = 0, val = 0, test = 0; };
// Writes DIR/train.jsonl (90% of n), DIR/val.jsonl (10%) and DIR/test.jsonl (n_test, from Bank::test), and
// DIR/handwritten.jsonl (handwritten_jsonl(): messages no generator made, for evaluation only).
// Every output is created (output_file.h) and the free disk space checked before the first example is made;
// with `progress`, a progress line on stderr once it runs longer than a second.
DatasetCounts write_dataset(const std::string& dir, int n, int n_test, const GenOptions& opt, bool progress = false);

// Hand-written test messages (src/intent/handwritten.cpp), JSONL in the {"text", "gold", "lang"} format.
const char* handwritten_jsonl();

// K solved examples for few-shot prompting: from Bank::train with a fixed seed (so disjoint from test.jsonl's
// phrasings), the actions taken in turn so that K >= 10 shows every action.
std::vector<Example> few_shot_examples(int k);

}  // namespace slm::intent
