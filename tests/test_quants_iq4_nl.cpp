// Tests of IQ4_NL (kernels/cpu/iq4_nl.cpp): the quantizer against ggml's bytes (tests/golden/iq4_nl.tsv, made by
// tools/bench/llamacpp.sh iq4-golden from llama.cpp's own quantizer, so no llama.cpp is needed here), properties
// of the format that hold whatever ggml does, and every dot product variant against the scalar reference on
// awkward row lengths, at each SIMD level this run checks.
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "cpu/kernels.h"
#include "sha256.h"
#include "test_levels.h"
#include "test_util.h"
#include "types.h"

using slm::GgmlType;
using slm::kernels::type_ops;
using slm::kernels::TypeOps;

namespace {

constexpr int64_t kBlock = 32, kBlockBytes = 18;
const int8_t kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

std::vector<uint8_t> quantize(GgmlType t, const std::vector<float>& x) {
    std::vector<uint8_t> q(size_t(slm::row_bytes(t, int64_t(x.size()))));
    type_ops(t).quantize(x.data(), q.data(), int64_t(x.size()));
    return q;
}
std::vector<float> dequantize(GgmlType t, const std::vector<uint8_t>& q, int64_t n) {
    std::vector<float> y(static_cast<size_t>(n));
    type_ops(t).dequantize(q.data(), y.data(), n);
    return y;
}

// ---- the golden input: integer arithmetic only, identical to golden_row() in tools/bench/ggml_iq4_nl_ref.c
constexpr int kGoldenRows = 16, kGoldenCols = 576;

uint32_t next(uint32_t& s) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

std::vector<float> golden_row(int r) {
    uint32_t s = 0x9e3779b9u ^ uint32_t(r * 7919 + 1);
    const int kind = r % 8;
    std::vector<float> out(kGoldenCols);
    for (int j = 0; j < kGoldenCols; j++) {
        int32_t sum = 0;
        for (int k = 0; k < 4; k++) sum += int32_t(next(s) >> 9);
        float v = float(sum - (1 << 24)) * 0x1p-24f;
        switch (kind) {
            case 0: v *= 0x1p-5f; break;
            case 1: break;
            case 2: v = 0; break;
            case 3: v = j < kGoldenCols / 2 ? 0.25f : -0.25f; break;
            case 4: v *= 0x1p-5f; if (j % 97 == 7) v = 8.0f; break;
            case 5: v *= 0x1p-20f; break;  // tiny: the scale underflows fp16
            case 6: v = std::fabs(v) * 0x1p-3f; break;
            case 7: v *= 0x1p20f; if (j % 64 < 32) v = 0; break;
        }
        out[size_t(j)] = v;
    }
    return out;
}

struct Golden {
    std::string input;
    std::map<int, std::string> rows;
    std::map<int, float> dots;
};

Golden read_golden() {
    std::ifstream f("tests/golden/iq4_nl.tsv");
    REQUIRE_MESSAGE(f.good(), "cannot open tests/golden/iq4_nl.tsv (run from the project root)");
    Golden g;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string kind;
        ls >> kind;
        if (kind == "input") {
            ls >> g.input;
        } else if (kind == "row") {
            int r;
            std::string h;
            ls >> r >> h;
            g.rows[r] = h;
        } else if (kind == "dot") {
            int r;
            std::string v;
            ls >> r >> v;
            g.dots[r] = std::strtof(v.c_str(), nullptr);  // C99 hex float
        }
    }
    return g;
}

// Random IQ4_NL blocks: random indices, fp16 scales from subnormal to thousands, both signs.
std::vector<uint8_t> random_blocks(int64_t n, std::mt19937& rng) {
    std::vector<uint8_t> data(size_t(n / kBlock * kBlockBytes));
    std::uniform_int_distribution<int> byte(0, 255), sign(0, 1);
    std::uniform_real_distribution<float> log_scale(-7.f, 3.5f);
    for (auto& b : data) b = uint8_t(byte(rng));
    for (int64_t i = 0; i < n / kBlock; i++) {
        const uint16_t d = slm::fp32_to_fp16((sign(rng) ? -1.f : 1.f) * std::pow(10.f, log_scale(rng)));
        std::memcpy(data.data() + i * kBlockBytes, &d, 2);
    }
    return data;
}

std::vector<float> random_activations(std::mt19937& rng, int64_t n, float scale) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::uniform_int_distribution<int> pick(0, 49);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) {
        const int p = pick(rng);
        x = p == 0 ? 0.f : p == 1 ? 100.f * scale * nd(rng) : scale * nd(rng);
    }
    return v;
}

}  // namespace

TEST_CASE("kernel: iq4_nl type, levels and block layout") {
    const auto& ti = slm::type_info(GgmlType::IQ4_NL);
    CHECK(ti.block_size == kBlock);
    CHECK(ti.type_size == kBlockBytes);
    CHECK(type_ops(GgmlType::IQ4_NL).vec_dot_type == GgmlType::Q8_0);
    // Dequantizing a hand-made block: d = 0.5, element j has index j % 16 (low nibbles j = 0..15, high
    // nibbles for j + 16).
    std::vector<uint8_t> blk(kBlockBytes);
    const uint16_t half = slm::fp32_to_fp16(0.5f);
    std::memcpy(blk.data(), &half, 2);
    for (int j = 0; j < 16; j++) blk[size_t(2 + j)] = uint8_t(j | ((15 - j) << 4));
    const auto y = dequantize(GgmlType::IQ4_NL, blk, kBlock);
    for (int j = 0; j < 16; j++) {
        CHECK(y[size_t(j)] == 0.5f * kLevels[j]);
        CHECK(y[size_t(j + 16)] == 0.5f * kLevels[15 - j]);
    }
}

TEST_CASE("kernel: iq4_nl quantizer: exact on its own grid, zeros, error below q4_0's") {
    std::mt19937 rng(42);
    SUBCASE("a block of scaled levels comes back exactly") {
        // Values d * level with d an fp16 number and the bottom level -127 present: the grid 1/d = -127 / max
        // of the search is the exact one, so the indices, and d itself, are found exactly.
        std::uniform_int_distribution<int> idx(0, 15);
        int exact = 0;
        const int reps = 200;
        for (int rep = 0; rep < reps; rep++) {
            const float d = slm::fp16_to_fp32(slm::fp32_to_fp16(std::ldexp(1.f + float(rep) / 97.f, rep % 20 - 15)));
            const float sign = rep % 2 ? -1.f : 1.f;
            std::vector<float> x(kBlock);
            for (auto& v : x) v = sign * d * kLevels[idx(rng)];
            x[size_t(rep % 32)] = sign * d * -127.f;
            const auto back = dequantize(GgmlType::IQ4_NL, quantize(GgmlType::IQ4_NL, x), kBlock);
            exact += back == x;
        }
        CHECK(exact == reps);
    }
    SUBCASE("all-zero and tiny blocks: scale 0, every index 8 (level 1, the nearest to 0)") {
        for (float v : {0.f, 1e-16f, -3e-30f}) {
            std::vector<float> x(kBlock, v);
            const auto q = quantize(GgmlType::IQ4_NL, x);
            CHECK(q[0] == 0);
            CHECK(q[1] == 0);
            for (int j = 2; j < kBlockBytes; j++) CHECK(q[size_t(j)] == 0x88);
        }
    }
    SUBCASE("on bell-shaped weights the error is below q4_0's at the same size") {
        std::normal_distribution<float> nd(0.f, 0.02f);
        const int64_t n = 32 * 2048;
        std::vector<float> x(static_cast<size_t>(n));
        for (auto& v : x) v = nd(rng);
        auto sq_err = [&](GgmlType t) {
            const auto back = dequantize(t, quantize(t, x), n);
            double e = 0;
            for (int64_t i = 0; i < n; i++) e += double(back[size_t(i)] - x[size_t(i)]) * (back[size_t(i)] - x[size_t(i)]);
            return e;
        };
        const double e_nl = sq_err(GgmlType::IQ4_NL), e_q4 = sq_err(GgmlType::Q4_0);
        MESSAGE("squared error iq4_nl / q4_0 = " << e_nl / e_q4);
        CHECK(e_nl < 0.9 * e_q4);
        // And each element is within half a level step of its value (the widest step is 113 - 89 = 24), unless
        // it lies beyond an end level, where the index clamps: each index is the level nearest to x / d.
        const auto q = quantize(GgmlType::IQ4_NL, x);
        const auto back = dequantize(GgmlType::IQ4_NL, q, n);
        int bad = 0;
        for (int64_t b = 0; b < n / kBlock; b++) {
            uint16_t dh;
            std::memcpy(&dh, q.data() + b * kBlockBytes, 2);
            const float d = slm::fp16_to_fp32(dh);
            for (int j = 0; j < kBlock; j++) {
                const size_t i = size_t(b * kBlock + j);
                const uint8_t byte = q[size_t(b * kBlockBytes + 2 + j % 16)];
                const int idx = j < 16 ? byte & 15 : byte >> 4;
                const float r = x[i] / d;
                const bool clamped = (idx == 0 && r < kLevels[0]) || (idx == 15 && r > kLevels[15]);
                if (!clamped) bad += std::fabs(back[i] - x[i]) > 12.f * std::fabs(d) * 1.01f;
            }
        }
        CHECK(bad == 0);
    }
}

TEST_CASE("kernel: iq4_nl quantizer gives ggml's bytes (tests/golden/iq4_nl.tsv)") {
    const Golden g = read_golden();
    REQUIRE(g.rows.size() == size_t(kGoldenRows));
    std::vector<float> all;
    for (int r = 0; r < kGoldenRows; r++) {
        const auto row = golden_row(r);
        all.insert(all.end(), row.begin(), row.end());
    }
    // The generator still makes the input the golden file was made from.
    REQUIRE(slm::sha256_hex(all.data(), all.size() * sizeof(float)) == g.input);
    const auto y = golden_row(kGoldenRows);
    const auto yq_raw = slm::row_bytes(GgmlType::Q8_0, kGoldenCols);
    std::vector<uint8_t> yq(static_cast<size_t>(yq_raw));
    slm::kernels::for_level(slm::SimdLevel::scalar).activation_quantizer(GgmlType::Q8_0)(y.data(), yq.data(), kGoldenCols);
    const TypeOps& ops = type_ops(GgmlType::IQ4_NL);
    for (int r = 0; r < kGoldenRows; r++) {
        CAPTURE(r);
        const auto row = golden_row(r);
        const auto q = quantize(GgmlType::IQ4_NL, row);
        CHECK(slm::sha256_hex(q.data(), q.size()) == g.rows.at(r));
        // ggml's dot is its AVX2 code; slm's AVX2 dot sums in the same order: the same float. The scalar
        // reference sums in another order: close.
        const float want = g.dots.at(r);
        const float ref = ops.dot_ref(kGoldenCols, q.data(), yq.data());
        CHECK(std::fabs(ref - want) <= 1e-5f * (std::fabs(want) + 1e-30f) + 1e-35f);
        if (slm::simd_level() >= slm::SimdLevel::avx2) {
            const float got = slm::kernels::for_level(slm::SimdLevel::avx2).dot(GgmlType::IQ4_NL)(kGoldenCols, q.data(), yq.data());
            CHECK(std::memcmp(&got, &want, 4) == 0);
        }
    }
}

TEST_CASE("kernel: iq4_nl dots: scalar reference vs exact sums, every SIMD level vs the reference") {
    const TypeOps& ops = type_ops(GgmlType::IQ4_NL);
    const auto variants = slm::test::simd_dots(GgmlType::IQ4_NL);
    std::mt19937 rng(2024);
    const int64_t lengths[] = {32, 64, 96, 576, 1536, 2048 + 32, 2048, 4096 + 96};
    const float act_scales[] = {1.f, 1e-4f, 100.f};
    int checked = 0;
    for (int64_t n : lengths) {
        for (float s : act_scales) {
            for (int rep = 0; rep < 2; rep++) {
                CAPTURE(n);
                CAPTURE(s);
                // Weights from the quantizer on one rep, random blocks on the other.
                std::vector<uint8_t> wq = rep ? random_blocks(n, rng) : quantize(GgmlType::IQ4_NL, random_activations(rng, n, 0.05f));
                const auto act = random_activations(rng, n, s);
                std::vector<uint8_t> yq(size_t(slm::row_bytes(GgmlType::Q8_0, n)));
                slm::kernels::active().activation_quantizer(GgmlType::Q8_0)(act.data(), yq.data(), n);
                const auto x = dequantize(GgmlType::IQ4_NL, wq, n);
                const auto yv = dequantize(GgmlType::Q8_0, yq, n);
                double want = 0, abs_sum = 0;
                for (int64_t j = 0; j < n; j++) {
                    want += double(x[size_t(j)]) * yv[size_t(j)];
                    abs_sum += std::fabs(double(x[size_t(j)]) * yv[size_t(j)]);
                }
                const float ref = ops.dot_ref(n, wq.data(), yq.data());
                CHECK(std::fabs(ref - want) <= 1e-5 * abs_sum);
                for (const auto& v : variants) {
                    const float got = v.fn(n, wq.data(), yq.data());
                    CHECK_MESSAGE(std::fabs(double(got) - ref) <= 1e-5 * abs_sum, v.name << " n=" << n << ": got " << got << " want " << ref);
                    checked++;
                }
            }
        }
    }
    MESSAGE("iq4_nl: " << checked << " SIMD dot checks");
}
