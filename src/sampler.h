// Choosing the next token from the logits: greedy, or temperature sampling restricted by top-k, top-p and
// min-p, after a repetition penalty over the last N tokens. Seeded with our own PRNG (xoshiro256**), so a
// seed gives the same tokens on every machine and standard library.
//
// Order of the steps (as llama.cpp's default chain): repetition penalty -> top-k -> top-p -> min-p ->
// temperature -> draw. top-p and min-p look at the probabilities before the temperature is applied.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace slm {

struct SamplerParams {
    float temp = 0.8f;          // <= 0: greedy (argmax, lowest id on ties)
    int top_k = 40;             // <= 0: no limit
    float top_p = 0.95f;        // >= 1: off
    float min_p = 0.05f;        // <= 0: off; keep tokens with p >= min_p * p_max
    float repeat_penalty = 1.0f;  // 1: off; logit > 0 -> logit / r, else logit * r (each distinct token once)
    int repeat_last_n = 64;     // window of the history the penalty looks at (0: none, -1: all)
    uint64_t seed = 0;
};

// xoshiro256** seeded through splitmix64: small, fast, and fully specified (same stream everywhere).
class Rng {
public:
    explicit Rng(uint64_t seed = 0);
    uint64_t next();
    double uniform();  // [0, 1) with 53 random bits
private:
    uint64_t s_[4];
};

// Index of the largest value, the lowest index on ties.
int32_t argmax(const float* logits, int n);

class Sampler {
public:
    explicit Sampler(const SamplerParams& p);
    // history: the tokens so far (prompt and generated), used by the repetition penalty.
    int32_t sample(const float* logits, int n_vocab, const std::vector<int32_t>& history);
    const SamplerParams& params() const { return p_; }
    void reseed(uint64_t seed) { rng_ = Rng(seed); }

private:
    SamplerParams p_;
    Rng rng_;
    std::vector<float> work_;                        // penalized logits
    std::vector<std::pair<float, int32_t>> cand_;   // candidates (logit, id)
    std::vector<double> prob_;                       // their weights
};


}  // namespace slm
