// K-quants Q4_K, Q5_K, Q6_K: quantizers byte-identical to ggml's, dequantizers bit-identical, dot products
// against ggml's values, and every SIMD variant this CPU runs against the scalar reference.
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "cpu/kernels.h"
#include "cpu/q4_K.h"
#include "cpu/q5_K.h"
#include "cpu/q6_K.h"
#include "cpu/q8_K.h"
#include "test_levels.h"
#include "test_util.h"

namespace {

using namespace slm::kernels;
using slm::GgmlType;

constexpr int kRows = 48, kCols = 1024;  // the fixture's shape

struct Variant {
    std::string name;
    vec_dot_fn fn;
    bool runs_here;  // always true: simd_variants() returns only what runs here
};

struct KQuant {
    GgmlType type;
    std::string name;  // fixture file stem
    size_t block_bytes;
    std::vector<Variant> variants;  // SIMD variants (the scalar reference is type_ops(type).dot_ref)
};

// The SIMD variants this run checks (test_levels.h names the levels it skips).
std::vector<Variant> simd_variants(GgmlType t) {
    std::vector<Variant> v;
    for (auto& d : slm::test::simd_dots(t)) v.push_back({d.name, d.fn, true});
    return v;
}

KQuant q4_K() { return {GgmlType::Q4_K, "q4_K", sizeof(block_q4_K), simd_variants(GgmlType::Q4_K)}; }
KQuant q5_K() { return {GgmlType::Q5_K, "q5_K", sizeof(block_q5_K), simd_variants(GgmlType::Q5_K)}; }
KQuant q6_K() { return {GgmlType::Q6_K, "q6_K", sizeof(block_q6_K), simd_variants(GgmlType::Q6_K)}; }

// ---- helpers ----

std::vector<uint8_t> quantize(const KQuant& k, const float* x, int64_t n) {
    std::vector<uint8_t> out(size_t(n / QK_K) * k.block_bytes);
    type_ops(k.type).quantize(x, out.data(), n);
    return out;
}

std::vector<block_q8_K> quantize_q8_K(const float* x, int64_t n) {
    std::vector<block_q8_K> out(size_t(n / QK_K));
    quantize_row_q8_K(x, out.data(), n);
    return out;
}

std::vector<float> dequantize(GgmlType t, const void* q, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    type_ops(t).dequantize(q, out.data(), n);
    return out;
}

// sum_i |x_i * y_i| of the dequantized operands: the scale of the rounding error a dot product may have.
double abs_dot(const std::vector<float>& x, const std::vector<float>& y) {
    double s = 0;
    for (size_t i = 0; i < x.size(); i++) s += std::fabs(double(x[i]) * y[i]);
    return s;
}


// ---- the checks, shared by the three types ----

void check_quantize_matches_ggml(const KQuant& k) {
    const std::string qfile = "kquants/" + k.name + ".q";
    SLM_REQUIRE_FIXTURE(qfile);
    auto in = slm::test::read_f32(slm::test::fixture("kquants/input.f32"));
    auto ref = slm::test::read_bytes(slm::test::fixture(qfile));
    REQUIRE(in.size() == size_t(kRows) * kCols);
    const size_t row_bytes = size_t(kCols / QK_K) * k.block_bytes;
    REQUIRE(ref.size() == kRows * row_bytes);
    int rows_equal = 0;
    for (int r = 0; r < kRows; r++) {
        auto out = quantize(k, in.data() + size_t(r) * kCols, kCols);
        const bool same = std::memcmp(out.data(), ref.data() + r * row_bytes, row_bytes) == 0;
        if (!same) {
            size_t b = 0;
            while (out[b] == ref[r * row_bytes + b]) b++;
            FAIL_CHECK(k.name << " row " << r << ": first differing byte " << b << " (block " << b / k.block_bytes
                              << ", offset " << b % k.block_bytes << "): ours " << int(out[b]) << ", ggml "
                              << int(ref[r * row_bytes + b]));
        }
        rows_equal += same;
    }
    CHECK(rows_equal == kRows);
    // Quantizing all rows in one call (as `slm quantize` may) gives the same bytes as row by row.
    CHECK(quantize(k, in.data(), int64_t(in.size())) == ref);
}

void check_dequantize_matches_ggml(const KQuant& k) {
    const std::string stem = "kquants/" + k.name;
    SLM_REQUIRE_FIXTURE(stem + ".deq");
    auto q = slm::test::read_bytes(slm::test::fixture(stem + ".q"));
    auto ref = slm::test::read_f32(slm::test::fixture(stem + ".deq"));
    REQUIRE(ref.size() == size_t(kRows) * kCols);
    REQUIRE(q.size() == size_t(kRows) * (kCols / QK_K) * k.block_bytes);
    auto out = dequantize(k.type, q.data(), int64_t(ref.size()));
    size_t mismatches = 0;
    for (size_t i = 0; i < out.size(); i++) mismatches += std::memcmp(&out[i], &ref[i], 4) != 0;
    CHECK_MESSAGE(mismatches == 0, k.name << ": " << mismatches << " values differ bitwise from ggml's");
}

void check_dot_matches_ggml(const KQuant& k) {
    const std::string stem = "kquants/" + k.name;
    SLM_REQUIRE_FIXTURE(stem + ".dot.txt");
    auto q = slm::test::read_bytes(slm::test::fixture(stem + ".q"));
    auto yf = slm::test::read_f32(slm::test::fixture("kquants/y.f32"));
    auto ref = slm::test::read_dot_txt(slm::test::fixture(stem + ".dot.txt"));
    REQUIRE(yf.size() == size_t(kCols));
    REQUIRE(ref.size() == size_t(kRows));
    REQUIRE(type_ops(k.type).vec_dot_type == GgmlType::Q8_K);
    auto y8 = quantize_q8_K(yf.data(), kCols);
    auto ydeq = dequantize(GgmlType::Q8_K, y8.data(), kCols);
    const size_t row_bytes = size_t(kCols / QK_K) * k.block_bytes;

    std::vector<Variant> all = {{"scalar", type_ops(k.type).dot_ref, true}};
    all.insert(all.end(), k.variants.begin(), k.variants.end());
    for (const Variant& v : all) {
        if (!v.runs_here) continue;
        for (int r = 0; r < kRows; r++) {
            const uint8_t* row = q.data() + r * row_bytes;
            auto xdeq = dequantize(k.type, row, kCols);
            const double tol = 1e-5 * abs_dot(xdeq, ydeq) + 1e-30;
            const float got = v.fn(kCols, row, y8.data());
            CHECK_MESSAGE(std::fabs(double(got) - ref[r]) <= tol,
                          k.name << " " << v.name << " row " << r << ": " << got << " vs ggml " << ref[r]);
        }
    }
}

// Random Q8_K activations: quants in [-127, 127] with consistent block sums, scales over many magnitudes.
std::vector<block_q8_K> random_q8_K(std::mt19937& rng, int64_t n) {
    std::vector<block_q8_K> y(size_t(n / QK_K));
    std::uniform_int_distribution<int> q(-127, 127);
    std::uniform_real_distribution<float> e(-20, 20);
    for (auto& b : y) {
        b.d = std::ldexp(1.0f + float(rng() % 1000) / 1000.f, int(e(rng))) * (rng() % 2 ? 1.f : -1.f);
        for (int j = 0; j < QK_K; j++) b.qs[j] = int8_t(q(rng));
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += b.qs[16 * j + l];
            b.bsums[j] = int16_t(s);
        }
    }
    return y;
}

// Random weight blocks of every bit pattern: random bytes, with the fp16 super-block scales replaced by
// finite values over a wide range (an inf or NaN scale would make every comparison meaningless).
std::vector<uint8_t> random_blocks(std::mt19937& rng, const KQuant& k, int64_t n,
                                   const std::vector<size_t>& fp16_offsets) {
    std::vector<uint8_t> x(size_t(n / QK_K) * k.block_bytes);
    for (auto& b : x) b = uint8_t(rng());
    std::uniform_real_distribution<float> e(-14, 14);
    for (size_t blk = 0; blk < x.size() / k.block_bytes; blk++)
        for (size_t off : fp16_offsets) {
            const float v = std::ldexp(1.0f + float(rng() % 1000) / 1000.f, int(e(rng))) * (rng() % 2 ? 1.f : -1.f);
            const slm::fp16_t h = slm::fp32_to_fp16(v);
            std::memcpy(&x[blk * k.block_bytes + off], &h, 2);
        }
    return x;
}

// Rows of floats with the features that trip quantizers: mixed magnitudes, outliers, constant stretches,
// zeros, tiny and huge values.
std::vector<float> random_floats(std::mt19937& rng, int64_t n, int kind) {
    std::vector<float> x(static_cast<size_t>(n));
    std::normal_distribution<float> g(0, 1);
    const float scale = kind == 1 ? 1e-6f : kind == 2 ? 3e3f : 0.05f;
    for (auto& v : x) v = g(rng) * scale;
    if (kind == 3) {
        for (int64_t i = 0; i < n; i += 37) x[size_t(i)] *= 50;  // outliers
        for (int64_t i = 0; i < std::min<int64_t>(n, 64); i++) x[size_t(i)] = 0.5f;  // a constant stretch
        for (int64_t i = 64; i < std::min<int64_t>(n, 96); i++) x[size_t(i)] = 0;    // a zero sub-block
    }
    return x;
}

void check_simd_agree_with_scalar(const KQuant& k, const std::vector<size_t>& fp16_offsets) {
    std::mt19937 rng(1234 + int(k.type));
    const vec_dot_fn scalar = type_ops(k.type).dot_ref;
    int checked = 0;
    for (int64_t n : {256, 512, 768, 1792, 4096}) {
        for (int trial = 0; trial < 8; trial++) {
            // half the trials: raw random blocks; the other half: quantized random floats of several kinds
            std::vector<uint8_t> x;
            if (trial % 2 == 0) {
                x = random_blocks(rng, k, n, fp16_offsets);
            } else {
                auto f = random_floats(rng, n, trial / 2);
                x = quantize(k, f.data(), n);
            }
            auto y = random_q8_K(rng, n);
            const double tol =
                1e-5 * abs_dot(dequantize(k.type, x.data(), n), dequantize(GgmlType::Q8_K, y.data(), n)) + 1e-30;
            const float ref = scalar(n, x.data(), y.data());
            for (const Variant& v : k.variants) {
                if (!v.runs_here) continue;
                const float got = v.fn(n, x.data(), y.data());
                CHECK_MESSAGE(std::fabs(double(got) - ref) <= tol,
                              k.name << " " << v.name << " n=" << n << " trial " << trial << ": " << got
                                     << " vs scalar " << ref);
                checked++;
            }
        }
    }
    MESSAGE(k.name << ": " << checked << " SIMD dots compared with the scalar reference");
}

// Quantize -> dequantize must stay close to the input, and rows that are all zero must come back as exact
// zeros. The bounds are loose sanity limits (about 1.5x the error of the format on Gaussian rows with
// outliers, where a fixed 4/5/6-bit grid gives roughly 0.1/0.05/0.03); a broken quantizer gives ~1.
void check_round_trip(const KQuant& k, double max_rel_rms) {
    std::mt19937 rng(99 + int(k.type));
    for (int kind : {0, 2, 3}) {  // not kind 1 (~1e-6): its fp16 super-block scales underflow, as in ggml
        auto f = random_floats(rng, 2048, kind);
        auto back = dequantize(k.type, quantize(k, f.data(), 2048).data(), 2048);
        double err = 0, ref = 0;
        for (size_t i = 0; i < f.size(); i++) {
            err += double(back[i] - f[i]) * (back[i] - f[i]);
            ref += double(f[i]) * f[i];
        }
        CHECK_MESSAGE(std::sqrt(err / ref) < max_rel_rms, k.name << " kind " << kind << ": relative RMS error "
                                                                 << std::sqrt(err / ref));
    }
    std::vector<float> zeros(512, 0.f);
    for (float v : dequantize(k.type, quantize(k, zeros.data(), 512).data(), 512)) CHECK(v == 0.f);
}

void check_bad_lengths(const KQuant& k) {
    std::vector<float> f(300, 1.f);
    std::vector<uint8_t> buf(2 * k.block_bytes);
    CHECK_THROWS_AS(type_ops(k.type).quantize(f.data(), buf.data(), 300), slm::Error);
    CHECK_THROWS_AS(type_ops(k.type).dequantize(buf.data(), f.data(), 300), slm::Error);
}

}  // namespace

// ---- Q4_K ----
TEST_CASE("kernel: q4_K quantize matches ggml's bytes") { check_quantize_matches_ggml(q4_K()); }
TEST_CASE("kernel: q4_K dequantize matches ggml bit for bit") { check_dequantize_matches_ggml(q4_K()); }
TEST_CASE("kernel: q4_K dot with q8_K matches ggml") { check_dot_matches_ggml(q4_K()); }
TEST_CASE("kernel: q4_K SIMD dots agree with the scalar reference") {
    check_simd_agree_with_scalar(q4_K(), {offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)});
}
TEST_CASE("kernel: q4_K round trip and bad lengths") {
    check_round_trip(q4_K(), 0.15);
    check_bad_lengths(q4_K());
}

// ---- Q5_K ----
TEST_CASE("kernel: q5_K quantize matches ggml's bytes") { check_quantize_matches_ggml(q5_K()); }
TEST_CASE("kernel: q5_K dequantize matches ggml bit for bit") { check_dequantize_matches_ggml(q5_K()); }
TEST_CASE("kernel: q5_K dot with q8_K matches ggml") { check_dot_matches_ggml(q5_K()); }
TEST_CASE("kernel: q5_K SIMD dots agree with the scalar reference") {
    check_simd_agree_with_scalar(q5_K(), {offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)});
}
TEST_CASE("kernel: q5_K round trip and bad lengths") {
    check_round_trip(q5_K(), 0.08);
    check_bad_lengths(q5_K());
}

// ---- Q6_K ----
TEST_CASE("kernel: q6_K quantize matches ggml's bytes") { check_quantize_matches_ggml(q6_K()); }
TEST_CASE("kernel: q6_K dequantize matches ggml bit for bit") { check_dequantize_matches_ggml(q6_K()); }
TEST_CASE("kernel: q6_K dot with q8_K matches ggml") { check_dot_matches_ggml(q6_K()); }
TEST_CASE("kernel: q6_K SIMD dots agree with the scalar reference") {
    check_simd_agree_with_scalar(q6_K(), {offsetof(block_q6_K, d)});
}
TEST_CASE("kernel: q6_K round trip and bad lengths") {
    check_round_trip(q6_K(), 0.05);
    check_bad_lengths(q6_K());
}

// ---- shared helpers ----
TEST_CASE("kernel: q4_K scale/min packing round-trips through get_scale_min_k4") {
    // Every 6-bit value in every slot: pack with set_scale_min_k4, read back both ways.
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; trial++) {
        uint8_t sc[8], mn[8], packed[12];
        std::memset(packed, 0xAA, sizeof(packed));  // garbage: packing must not depend on prior contents
        for (int j = 0; j < 8; j++) {
            sc[j] = uint8_t(trial < 64 ? trial : rng() % 64);
            mn[j] = uint8_t(trial < 64 ? 63 - trial : rng() % 64);
        }
        for (int j = 0; j < 8; j++) set_scale_min_k4(j, sc[j], mn[j], packed);
        uint8_t all[16];
        unpack_scales_mins_k4(packed, all);
        for (int j = 0; j < 8; j++) {
            uint8_t d, m;
            get_scale_min_k4(j, packed, &d, &m);
            CHECK(d == sc[j]);
            CHECK(m == mn[j]);
            CHECK(all[j] == sc[j]);
            CHECK(all[8 + j] == mn[j]);
        }
    }
}
