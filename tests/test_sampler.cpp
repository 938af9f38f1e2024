// Sampler: greedy, temperature, top-k / top-p / min-p, repetition penalty, and seeded reproducibility.
#include <cmath>
#include <set>
#include <vector>

#include "common.h"
#include "sampler.h"
#include "test_util.h"

using namespace slm;

namespace {
SamplerParams plain(float temp) {  // every filter off
    SamplerParams p;
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}
std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int draws) {
    std::vector<double> f(logits.size(), 0.0);
    for (int i = 0; i < draws; i++) f[size_t(s.sample(logits.data(), int(logits.size()), {}))] += 1.0 / draws;
    return f;
}
}  // namespace

TEST_CASE("sampler: argmax takes the lowest id on ties") {
    std::vector<float> l{1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
    CHECK(argmax(l.data(), 5) == 1);
    std::vector<float> one{-7.0f};
    CHECK(argmax(one.data(), 1) == 0);
}

TEST_CASE("sampler: temperature 0 is greedy whatever the seed") {
    std::vector<float> l{0.1f, 0.2f, 2.5f, 2.4f};
    for (uint64_t seed : {0ull, 1ull, 12345ull}) {
        SamplerParams p = plain(0.0f);
        p.seed = seed;
        Sampler s(p);
        for (int i = 0; i < 10; i++) CHECK(s.sample(l.data(), 4, {}) == 2);
    }
}

TEST_CASE("sampler: the same seed gives the same tokens, another seed other tokens") {
    std::vector<float> l(50);
    for (size_t i = 0; i < l.size(); i++) l[i] = float(std::sin(double(i)));
    auto run = [&](uint64_t seed) {
        SamplerParams p = plain(1.0f);
        p.seed = seed;
        Sampler s(p);
        std::vector<int32_t> out;
        for (int i = 0; i < 64; i++) out.push_back(s.sample(l.data(), int(l.size()), {}));
        return out;
    };
    CHECK(run(42) == run(42));
    CHECK(run(42) != run(43));
    Rng a(7), b(7);
    for (int i = 0; i < 100; i++) REQUIRE(a.next() == b.next());
    double mean = 0;
    Rng r(0);
    for (int i = 0; i < 20000; i++) {
        double u = r.uniform();
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
        mean += u / 20000;
    }
    CHECK(std::fabs(mean - 0.5) < 0.01);
}

TEST_CASE("sampler: temperature 1 draws from the softmax distribution") {
    std::vector<float> l{float(std::log(0.5)), float(std::log(0.3)), float(std::log(0.2))};
    Sampler s(plain(1.0f));
    auto f = frequencies(s, l, 40000);
    CHECK(std::fabs(f[0] - 0.5) < 0.015);
    CHECK(std::fabs(f[1] - 0.3) < 0.015);
    CHECK(std::fabs(f[2] - 0.2) < 0.015);
    // A low temperature sharpens it: p ~ p^(1/T) normalized; at T = 0.5: 0.25, 0.09, 0.04 over 0.38.
    Sampler cold(plain(0.5f));
    auto g = frequencies(cold, l, 40000);
    CHECK(std::fabs(g[0] - 0.25 / 0.38) < 0.015);
    CHECK(std::fabs(g[2] - 0.04 / 0.38) < 0.015);
}

TEST_CASE("sampler: top-k, top-p and min-p keep the right candidates") {
    std::vector<float> l{float(std::log(0.5)), float(std::log(0.3)), float(std::log(0.15)), float(std::log(0.05))};
    SUBCASE("top-k 2") {
        SamplerParams p = plain(1.0f);
        p.top_k = 2;
        Sampler s(p);
        auto f = frequencies(s, l, 5000);
        CHECK(f[2] == 0.0);
        CHECK(f[3] == 0.0);
        CHECK(std::fabs(f[0] - 0.625) < 0.03);  // 0.5 / 0.8
    }
    SUBCASE("top-k 1 is greedy") {
        SamplerParams p = plain(2.0f);
        p.top_k = 1;
        Sampler s(p);
        auto f = frequencies(s, l, 500);
        CHECK(f[1] + f[2] + f[3] == 0.0);
    }
    SUBCASE("top-p 0.7 keeps the smallest set reaching 0.7") {
        SamplerParams p = plain(1.0f);
        p.top_p = 0.7f;
        Sampler s(p);
        auto f = frequencies(s, l, 5000);
        CHECK(f[0] > 0.5);
        CHECK(f[1] > 0.3);
        CHECK(f[2] == 0.0);
        CHECK(f[3] == 0.0);
    }
    SUBCASE("min-p 0.25 keeps p >= 0.125") {
        SamplerParams p = plain(1.0f);
        p.min_p = 0.25f;
        Sampler s(p);
        auto f = frequencies(s, l, 5000);
        CHECK(f[2] > 0.0);
        CHECK(f[3] == 0.0);
    }
}

TEST_CASE("sampler: repetition penalty over the last N tokens") {
    std::vector<float> l{2.0f, 1.9f, -1.0f, -1.2f};
    SamplerParams p = plain(0.0f);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 2;
    Sampler s(p);
    CHECK(s.sample(l.data(), 4, {}) == 0);
    CHECK(s.sample(l.data(), 4, {0}) == 1);           // 2.0 / 1.5 < 1.9
    CHECK(s.sample(l.data(), 4, {0, 0, 0}) == 1);     // once per distinct token, not per occurrence
    CHECK(s.sample(l.data(), 4, {0, 3, 3}) == 0);     // 0 is outside the window of 2
    CHECK(s.sample(l.data(), 4, {0, 1, 99, -5}) == 0);  // ids out of range are ignored
    // Negative logits are multiplied (pushed further down): -1.0 * 1.5 < -1.2
    std::vector<float> neg{-1.0f, -1.2f};
    CHECK(s.sample(neg.data(), 2, {0}) == 1);
    p.repeat_penalty = 0.0f;
    CHECK_THROWS_AS(Sampler{p}, slm::Error);
}
