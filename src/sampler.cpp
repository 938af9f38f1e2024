#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "common.h"

namespace slm {

// ---- xoshiro256** (Blackman & Vigna), seeded by splitmix64 so that any 64-bit seed (0 included) gives a
// well-mixed, non-zero state ----
static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

Rng::Rng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
}

uint64_t Rng::next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }

int32_t argmax(const float* logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;  // strict: the lowest id wins ties
    return best;
}

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {
    if (!(p.repeat_penalty > 0)) fail("sampler: repeat penalty must be > 0 (got %g)", double(p.repeat_penalty));
    if (std::isnan(p.temp) || std::isnan(p.top_p) || std::isnan(p.min_p))
        fail("sampler: temperature, top-p and min-p must be numbers");
}

int32_t Sampler::sample(const float* logits, int n_vocab, const std::vector<int32_t>& history) {
    if (n_vocab <= 0) fail("sampler: empty logits");
    const float* lg = logits;

    // Repetition penalty over the last N tokens, each distinct token once (as llama.cpp / CTRL).
    if (p_.repeat_penalty != 1.0f && p_.repeat_last_n != 0 && !history.empty()) {
        work_.assign(logits, logits + n_vocab);
        size_t n = p_.repeat_last_n < 0 ? history.size() : std::min(history.size(), size_t(p_.repeat_last_n));
        std::unordered_set<int32_t> seen;
        for (size_t i = history.size() - n; i < history.size(); i++) {
            int32_t id = history[i];
            if (id < 0 || id >= n_vocab || !seen.insert(id).second) continue;
            float& l = work_[size_t(id)];
            l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
        }
        lg = work_.data();
    }

    if (p_.temp <= 0) return argmax(lg, n_vocab);

    // Candidates sorted by logit, descending; ties by id so the order is fully determined.
    auto by_logit = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    cand_.resize(size_t(n_vocab));
    for (int i = 0; i < n_vocab; i++) cand_[size_t(i)] = {lg[i], i};
    size_t n = cand_.size();
    if (p_.top_k > 0 && size_t(p_.top_k) < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
        n = size_t(p_.top_k);
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }

    // Probabilities at temperature 1 for top-p / min-p.
    const float maxl = cand_[0].first;
    std::vector<double>& prob = prob_;
    prob.resize(n);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += prob[i] = std::exp(double(cand_[i].first) - double(maxl));
    if (p_.top_p < 1.0f) {
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            cum += prob[i] / sum;
            if (cum >= double(p_.top_p)) {
                keep = i + 1;
                break;
            }
        }
        n = std::max<size_t>(1, keep);
    }
    if (p_.min_p > 0.0f) {
        // prob[0] is the largest; keep those with p >= min_p * p_max (the first one always stays).
        size_t keep = 1;
        while (keep < n && prob[keep] >= double(p_.min_p) * prob[0]) keep++;
        n = keep;
    }

    // Temperature, then draw from the renormalized distribution.
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += prob[i] = std::exp((double(cand_[i].first) - double(maxl)) / double(p_.temp));
    double r = rng_.uniform() * total;
    for (size_t i = 0; i < n; i++) {
        r -= prob[i];
        if (r < 0) return cand_[i].second;
    }
    return cand_[n - 1].second;  // rounding left r >= 0: the last candidate
}

}  // namespace slm
