// Tests of the float types (f32, f16, bf16) and the legacy block types (q4_0, q4_1, q5_0, q5_1, q8_0, q8_1):
// quantizers byte-identical to ggml's (kquants fixtures), dequantizers bit-exact, and every dot product
// variant this CPU runs agreeing with the scalar reference on random rows of awkward lengths.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "test_levels.h"
#include "test_util.h"
#include "types.h"

using slm::GgmlType;
using slm::kernels::type_ops;
using slm::kernels::TypeOps;
using slm::kernels::vec_dot_fn;

namespace {

struct Variant {
    std::string name;
    vec_dot_fn fn;
};

std::string tname(GgmlType t) { return slm::type_name(t); }

// The SIMD variants of a type this run checks, besides the scalar reference (test_levels.h names the levels
// it skips).
std::vector<Variant> simd_variants(const TypeOps& ops) {
    std::vector<Variant> v;
    for (auto& d : slm::test::simd_dots(ops.type)) v.push_back({d.name, d.fn});
    return v;
}

// Random floats: mostly normal(0, scale), some exact zeros and some 100x outliers.
std::vector<float> random_row(std::mt19937& rng, int64_t n, float scale) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::uniform_int_distribution<int> pick(0, 49);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) {
        int p = pick(rng);
        x = p == 0 ? 0.f : p == 1 ? 100.f * scale * nd(rng) : scale * nd(rng);
    }
    return v;
}

// Tolerance of a dot product: float summation order is the only freedom, so the error scales with the
// sum of the magnitudes of the products, not with the (possibly cancelling) result.
bool close_dot(double got, double want, double abs_sum, double rel = 1e-5) {
    return std::fabs(got - want) <= rel * abs_sum;
}

}  // namespace

// ---------------------------------------------------------------- float types

namespace {

// Row in a float type as raw bytes, with its exact float values.
struct FloatRow {
    std::vector<uint8_t> bytes;
    std::vector<float> values;
};

FloatRow make_float_row(GgmlType t, const std::vector<float>& x) {
    const TypeOps& ops = type_ops(t);
    FloatRow r;
    r.bytes.resize(size_t(slm::row_bytes(t, int64_t(x.size()))));
    ops.quantize(x.data(), r.bytes.data(), int64_t(x.size()));
    r.values.resize(x.size());
    ops.dequantize(r.bytes.data(), r.values.data(), int64_t(x.size()));
    return r;
}

void check_float_dots(GgmlType t) {
    const TypeOps& ops = type_ops(t);
    REQUIRE(ops.vec_dot_type == GgmlType::F32);
    REQUIRE(bool(ops.dot_ref));
    auto variants = simd_variants(ops);
    std::mt19937 rng(1234 + int(t));
    const int64_t lengths[] = {0, 1, 2, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1000, 4096, 4097};
    // F16 only reaches 65504, so its extreme scales stay inside that range.
    const float scales[] = {1.f, 1e-3f, t == GgmlType::F16 ? 30.f : 1e15f, t == GgmlType::F16 ? 1e-3f : 1e-15f};
    int checked = 0;
    for (int64_t n : lengths) {
        for (float scale : scales) {
            auto x = random_row(rng, n, scale);
            auto y = random_row(rng, n, 1.f / std::sqrt(scale));
            FloatRow row = make_float_row(t, x);
            // The scalar reference against an independent double-precision sum of the exact values.
            double want = 0, abs_sum = 0;
            for (int64_t i = 0; i < n; i++) {
                want += double(row.values[size_t(i)]) * y[size_t(i)];
                abs_sum += std::fabs(double(row.values[size_t(i)]) * y[size_t(i)]);
            }
            float ref = ops.dot_ref(n, row.bytes.data(), y.data());
            CHECK_MESSAGE(close_dot(ref, want, abs_sum, 1e-6), tname(t) << " scalar n=" << n);
            for (const Variant& v : variants) {
                float got = v.fn(n, row.bytes.data(), y.data());
                CHECK_MESSAGE(close_dot(got, ref, abs_sum),
                              tname(t) << " " << std::string(v.name) << " n=" << n << " scale=" << scale
                                                << ": got " << got << " want " << ref);
                checked++;
            }
        }
    }
    MESSAGE(tname(t) << ": " << checked << " SIMD dot checks");
}

}  // namespace

TEST_CASE("kernel: f32 copy in and out, dots agree with the scalar reference") {
    const TypeOps& ops = type_ops(GgmlType::F32);
    std::vector<float> x = {1.f, -0.f, 3.5e-42f, INFINITY, 1e38f, -2.25f, std::nanf("")};
    std::vector<float> q(x.size()), back(x.size());
    ops.quantize(x.data(), q.data(), int64_t(x.size()));
    ops.dequantize(q.data(), back.data(), int64_t(x.size()));
    CHECK(std::memcmp(x.data(), back.data(), x.size() * 4) == 0);
    check_float_dots(GgmlType::F32);
}

namespace {
// F16C's vcvtps2ph / vcvtph2ps: an independent implementation of the same IEEE conversions.
__attribute__((target("avx2,f16c"))) uint16_t hw_to_f16(float f) {
    return uint16_t(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0));
}
__attribute__((target("avx2,f16c"))) float hw_from_f16(uint16_t h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
}  // namespace

TEST_CASE("kernel: f16 conversions match F16C, dots agree with the scalar reference") {
    const TypeOps& ops = type_ops(GgmlType::F16);
    // Every half value converts to float and back unchanged (NaNs stay NaN).
    std::vector<uint16_t> all(65536);
    for (int i = 0; i < 65536; i++) all[size_t(i)] = uint16_t(i);
    std::vector<float> f(65536);
    ops.dequantize(all.data(), f.data(), 65536);
    std::vector<uint16_t> back(65536);
    ops.quantize(f.data(), back.data(), 65536);
    int mismatches = 0;
    for (int i = 0; i < 65536; i++) {
        bool is_nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        if (is_nan) mismatches += !std::isnan(f[size_t(i)]) || (back[size_t(i)] & 0x7fff) <= 0x7c00;
        else mismatches += back[size_t(i)] != uint16_t(i);
    }
    CHECK(mismatches == 0);
    if (slm::cpu_level() >= slm::SimdLevel::avx2) {  // F16C
        // Rounding of arbitrary floats (normal, subnormal-half range, ties, overflow) against the hardware.
        std::mt19937 rng(7);
        std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
        int bad = 0, bad_back = 0;
        for (int i = 0; i < 200000; i++) {
            uint32_t u = bits(rng);
            if (i % 2) u = (u & 0x8fffffffu) | 0x30000000u;  // exponents near the half range
            if (i % 7 == 0) u &= 0xffffe000u | 0x1000u;        // exact ties at the rounding point
            float v = slm::f32_from_bits(u);
            if (std::isnan(v)) continue;
            uint16_t h;
            ops.quantize(&v, &h, 1);
            bad += h != hw_to_f16(v);
            float d;
            ops.dequantize(&h, &d, 1);
            float hw = hw_from_f16(h);
            bad_back += std::memcmp(&d, &hw, 4) != 0;
        }
        CHECK(bad == 0);
        CHECK(bad_back == 0);
    } else {
        MESSAGE("skipped: F16C comparison (this CPU lacks F16C)");
    }
    check_float_dots(GgmlType::F16);
}

TEST_CASE("kernel: bf16 rounds to nearest even, dots agree with the scalar reference") {
    const TypeOps& ops = type_ops(GgmlType::BF16);
    auto to_bf16 = [&](float v) {
        uint16_t h;
        ops.quantize(&v, &h, 1);
        return h;
    };
    // bf16 keeps 8 significant bits: 1 + 2^-8 is a tie (to even: 1.0), 1 + 3*2^-8 rounds up to 1 + 2^-6.
    CHECK(to_bf16(1.0f) == 0x3f80);
    CHECK(to_bf16(1.0f + std::ldexp(1.f, -8)) == 0x3f80);
    CHECK(to_bf16(1.0f + 3 * std::ldexp(1.f, -8)) == 0x3f82);
    CHECK(to_bf16(-2.0f) == 0xc000);
    CHECK(to_bf16(INFINITY) == 0x7f80);
    uint16_t nan = to_bf16(std::nanf(""));
    CHECK((nan & 0x7f80) == 0x7f80);
    CHECK((nan & 0x7f) != 0);
    // Every non-NaN bf16 value survives the round trip bit for bit; rounding is checked against a wide
    // reference: the nearer of the two neighbouring bf16 values, ties to the even one.
    std::mt19937 rng(11);
    std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        uint32_t u = bits(rng);
        if (i % 5 == 0) u = (u & 0xffff0000u) | 0x8000u;  // exact ties
        float v = slm::f32_from_bits(u);
        if (std::isnan(v) || std::isinf(v)) continue;
        uint16_t h = to_bf16(v);
        float lo = slm::f32_from_bits(u & 0xffff0000u);
        // The upper neighbour of the largest finite bf16 is 2^128 (it rounds to infinity), exact in double.
        float hi_f = slm::f32_from_bits((u & 0xffff0000u) + 0x10000u);
        double hi = std::isinf(hi_f) ? std::copysign(std::ldexp(1.0, 128), double(v)) : double(hi_f);
        double dlo = std::fabs(double(v) - lo), dhi = std::fabs(hi - v);
        uint16_t want;
        if (dlo < dhi) want = uint16_t(u >> 16);
        else if (dhi < dlo) want = uint16_t((u >> 16) + 1);
        else want = (u >> 16) & 1 ? uint16_t((u >> 16) + 1) : uint16_t(u >> 16);
        bad += h != want;
        float back;
        ops.dequantize(&h, &back, 1);
        bad += slm::f32_bits(back) != uint32_t(h) << 16;
    }
    CHECK(bad == 0);
    check_float_dots(GgmlType::BF16);
}

// ---------------------------------------------------------------- legacy block types

#include "cpu/q8_0.h"
#include "cpu/q8_1.h"

namespace {

constexpr int kRows = 48, kCols = 1024;  // the kquants fixtures

std::vector<float> dequantize_all(GgmlType t, const void* data, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    type_ops(t).dequantize(data, out.data(), n);
    return out;
}

std::vector<uint8_t> quantize_all(GgmlType t, const std::vector<float>& x) {
    std::vector<uint8_t> q(static_cast<size_t>(slm::row_bytes(t, int64_t(x.size()))));
    type_ops(t).quantize(x.data(), q.data(), int64_t(x.size()));
    return q;
}

std::vector<Variant> block_variants(GgmlType t) { return simd_variants(type_ops(t)); }

// Every fixture check for one weight type: quantize (bytes), dequantize (bits), dots (every variant).
void check_block_fixtures(GgmlType t, const std::string& name) {
    SLM_REQUIRE_FIXTURE("kquants/" + name + ".q");
    const TypeOps& ops = type_ops(t);
    auto in = slm::test::read_f32(slm::test::fixture("kquants/input.f32"));
    auto ref_q = slm::test::read_bytes(slm::test::fixture("kquants/" + name + ".q"));
    auto ref_deq = slm::test::read_f32(slm::test::fixture("kquants/" + name + ".deq"));
    REQUIRE(in.size() == size_t(kRows * kCols));
    const size_t row_size = size_t(slm::row_bytes(t, kCols));
    REQUIRE(ref_q.size() == kRows * row_size);
    REQUIRE(ref_deq.size() == in.size());

    // quantize: row by row, as `slm quantize` calls it, byte for byte.
    std::vector<uint8_t> q(row_size);
    int bad_rows = 0;
    for (int r = 0; r < kRows; r++) {
        ops.quantize(in.data() + size_t(r) * kCols, q.data(), kCols);
        if (std::memcmp(q.data(), ref_q.data() + size_t(r) * row_size, row_size) != 0) {
            bad_rows++;
            size_t first = 0;
            while (q[first] == ref_q[size_t(r) * row_size + first]) first++;
            MESSAGE(name << " row " << r << ": first differing byte " << first << " (block " << first / size_t(slm::type_info(t).type_size) << ")");
        }
    }
    CHECK_MESSAGE(bad_rows == 0, name << ": " << bad_rows << " rows differ from ggml's quantizer");

    // dequantize: bit for bit.
    auto deq = dequantize_all(t, ref_q.data(), int64_t(in.size()));
    CHECK(std::memcmp(deq.data(), ref_deq.data(), deq.size() * 4) == 0);

    // dot with y quantized to the partner type, against ggml's figures.
    auto y = slm::test::read_f32(slm::test::fixture("kquants/y.f32"));
    REQUIRE(y.size() == size_t(kCols));
    auto yq = quantize_all(ops.vec_dot_type, y);
    auto ydeq = dequantize_all(ops.vec_dot_type, yq.data(), kCols);
    auto want = slm::test::read_dot_txt(slm::test::fixture("kquants/" + name + ".dot.txt"));
    REQUIRE(want.size() == size_t(kRows));
    std::vector<Variant> all = {{"scalar", ops.dot_ref}};
    for (const Variant& v : block_variants(t)) all.push_back(v);
    for (int r = 0; r < kRows; r++) {
        double abs_sum = 0;
        for (int j = 0; j < kCols; j++) abs_sum += std::fabs(double(ref_deq[size_t(r) * kCols + j]) * ydeq[size_t(j)]);
        for (const Variant& v : all) {
            float got = v.fn(kCols, ref_q.data() + size_t(r) * row_size, yq.data());
            CHECK_MESSAGE(close_dot(got, want[size_t(r)], abs_sum),
                          name << " " << std::string(v.name) << " row " << r << ": got " << got << " ggml " << want[size_t(r)]);
        }
    }
}

// Random weight blocks: random quant bits with random fp16 scales (and minimums) spanning many orders of
// magnitude, from fp16 subnormals to thousands. Each block starts with its fp16 scale (and, for the _1 types,
// its fp16 minimum right after).
std::vector<uint8_t> random_blocks(GgmlType t, int64_t n, std::mt19937& rng) {
    const auto& ti = slm::type_info(t);
    const int64_t nb = n / ti.block_size;
    std::vector<uint8_t> data(size_t(nb * ti.type_size));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> log_scale(-7.f, 3.5f);
    std::uniform_int_distribution<int> sign(0, 1);
    for (auto& b : data) b = uint8_t(byte(rng));
    const bool has_min = t == GgmlType::Q4_1 || t == GgmlType::Q5_1;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t* blk = data.data() + i * ti.type_size;
        uint16_t d = slm::fp32_to_fp16((sign(rng) ? -1.f : 1.f) * std::pow(10.f, log_scale(rng)));
        std::memcpy(blk, &d, 2);
        if (has_min) {
            uint16_t m = slm::fp32_to_fp16((sign(rng) ? -1.f : 1.f) * std::pow(10.f, log_scale(rng)));
            std::memcpy(blk + 2, &m, 2);
        }
        if (t == GgmlType::Q8_0) {  // slm's quants never hold -128; keep weights in the same range
            for (int j = 0; j < 32; j++)
                if (blk[2 + j] == 0x80) blk[2 + j] = 0x81;
        }
    }
    return data;
}

void check_block_simd_vs_scalar(GgmlType t) {
    const TypeOps& ops = type_ops(t);
    auto variants = block_variants(t);
    std::mt19937 rng(99 + int(t));
    const int64_t lengths[] = {32, 64, 96, 224, 4096};
    const float act_scales[] = {1.f, 1e-4f, 100.f};  // Q8_1 keeps d*sum(q) in fp16: stay below 65504
    int checked = 0;
    for (int64_t n : lengths) {
        for (float s : act_scales) {
            for (int rep = 0; rep < 3; rep++) {
                auto wq = random_blocks(t, n, rng);
                auto act = random_row(rng, n, s);
                auto yq = quantize_all(ops.vec_dot_type, act);
                auto x = dequantize_all(t, wq.data(), n);
                auto y = dequantize_all(ops.vec_dot_type, yq.data(), n);
                double abs_sum = 0;
                for (int64_t j = 0; j < n; j++) abs_sum += std::fabs(double(x[size_t(j)]) * y[size_t(j)]);
                const float ref = ops.dot_ref(n, wq.data(), yq.data());
                for (const Variant& v : variants) {
                    float got = v.fn(n, wq.data(), yq.data());
                    CHECK_MESSAGE(close_dot(got, ref, abs_sum),
                                  tname(t) << " " << std::string(v.name) << " n=" << n << ": got " << got << " want " << ref);
                    checked++;
                }
            }
        }
    }
    MESSAGE(tname(t) << ": " << checked << " SIMD dot checks");
}

}  // namespace

TEST_CASE("kernel: q4_0 matches ggml's bytes, values and dots") {
    check_block_fixtures(GgmlType::Q4_0, "q4_0");
    check_block_simd_vs_scalar(GgmlType::Q4_0);
}
TEST_CASE("kernel: q4_1 matches ggml's bytes, values and dots") {
    check_block_fixtures(GgmlType::Q4_1, "q4_1");
    check_block_simd_vs_scalar(GgmlType::Q4_1);
}
TEST_CASE("kernel: q5_0 matches ggml's bytes, values and dots") {
    check_block_fixtures(GgmlType::Q5_0, "q5_0");
    check_block_simd_vs_scalar(GgmlType::Q5_0);
}
TEST_CASE("kernel: q5_1 matches ggml's bytes, values and dots") {
    check_block_fixtures(GgmlType::Q5_1, "q5_1");
    check_block_simd_vs_scalar(GgmlType::Q5_1);
}
TEST_CASE("kernel: q8_0 matches ggml's bytes, values and dots") {
    check_block_fixtures(GgmlType::Q8_0, "q8_0");
    check_block_simd_vs_scalar(GgmlType::Q8_0);
}

// ---------------------------------------------------------------- activation quantizers (Q8_0, Q8_1)

namespace {

// Rows that stress the rounding: exact halves (amax = 127 makes the scale exactly 1, so k + 0.5 is a
// true tie, which roundf takes away from zero), zeros, and tiny / huge magnitudes.
std::vector<float> activation_test_rows(std::mt19937& rng, int64_t n) {
    std::vector<float> x;
    std::uniform_int_distribution<int> k(-127, 126);
    for (int64_t b = 0; b < n / 32; b++) {
        int kind = int(b % 5);
        for (int j = 0; j < 32; j++) {
            float v;
            if (kind == 0) v = j == 0 ? 127.f : float(k(rng)) + 0.5f;
            else if (kind == 1) v = 0.f;
            else v = random_row(rng, 1, kind == 2 ? 1e-30f : kind == 3 ? 1e30f : 1.f)[0];
            x.push_back(v);
        }
    }
    return x;
}

}  // namespace

TEST_CASE("kernel: q8_0 activation quantizer: reference and AVX2 give ggml's bytes") {
    SLM_REQUIRE_FIXTURE("kquants/q8_0.q");
    auto in = slm::test::read_f32(slm::test::fixture("kquants/input.f32"));
    auto ref = slm::test::read_bytes(slm::test::fixture("kquants/q8_0.q"));
    std::vector<uint8_t> out(ref.size());
    type_ops(GgmlType::Q8_0).quantize(in.data(), out.data(), int64_t(in.size()));
    CHECK(out == ref);
    std::mt19937 rng(5);
    auto x = activation_test_rows(rng, 32 * 40);
    std::vector<uint8_t> a(size_t(slm::row_bytes(GgmlType::Q8_0, int64_t(x.size())))), b(a.size());
    type_ops(GgmlType::Q8_0).quantize(x.data(), a.data(), int64_t(x.size()));
    // The ties really are rounded away from zero (2.5 -> 3, -2.5 -> -3), as C's roundf does.
    const auto* blk = reinterpret_cast<const slm::kernels::block_q8_0*>(a.data());
    CHECK(slm::fp16_to_fp32(blk[0].d) == 1.0f);
    for (int j = 1; j < 32; j++) CHECK(blk[0].qs[j] == int(std::round(x[size_t(j)])));
    for (const slm::kernels::KernelSet* ks : slm::test::simd_sets("q8_0 quantizer")) {
        INFO(ks->name());
        std::fill(out.begin(), out.end(), 0);
        ks->quantizer(GgmlType::Q8_0)(in.data(), out.data(), int64_t(in.size()));
        CHECK(out == ref);
        ks->quantizer(GgmlType::Q8_0)(x.data(), b.data(), int64_t(x.size()));
        CHECK(a == b);
    }
}

TEST_CASE("kernel: q8_1 activation quantizer: ggml's Q8_0 quants plus the scaled sum") {
    SLM_REQUIRE_FIXTURE("kquants/q8_0.q");
    using slm::kernels::block_q8_0;
    using slm::kernels::block_q8_1;
    auto in = slm::test::read_f32(slm::test::fixture("kquants/input.f32"));
    auto ref8_0 = slm::test::read_bytes(slm::test::fixture("kquants/q8_0.q"));
    const size_t nb = in.size() / 32;
    std::vector<block_q8_1> q(nb);
    type_ops(GgmlType::Q8_1).quantize(in.data(), q.data(), int64_t(in.size()));
    const auto* r = reinterpret_cast<const block_q8_0*>(ref8_0.data());
    int bad = 0;
    for (size_t b = 0; b < nb; b++) {
        // d and qs come from the same arithmetic as Q8_0 (ggml's quantize_row_q8_1_ref), so ggml's Q8_0
        // bytes check them; s = fp16(sum(qs) * d) with the float d = amax / 127.
        bad += q[b].d != r[b].d || std::memcmp(q[b].qs, r[b].qs, 32) != 0;
        float amax = 0;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            amax = std::max(amax, std::fabs(in[b * 32 + size_t(j)]));
            sum += q[b].qs[j];
        }
        bad += q[b].s != slm::fp32_to_fp16(float(sum) * (amax / 127));
    }
    CHECK(bad == 0);
    for (const slm::kernels::KernelSet* ks : slm::test::simd_sets("q8_1 quantizer")) {
        INFO(ks->name());
        std::vector<block_q8_1> v(nb);
        ks->quantizer(GgmlType::Q8_1)(in.data(), v.data(), int64_t(in.size()));
        CHECK(std::memcmp(v.data(), q.data(), nb * sizeof(block_q8_1)) == 0);
        std::mt19937 rng(6);
        auto x = activation_test_rows(rng, 32 * 40);
        std::vector<block_q8_1> a(x.size() / 32), c(x.size() / 32);
        type_ops(GgmlType::Q8_1).quantize(x.data(), a.data(), int64_t(x.size()));
        ks->quantizer(GgmlType::Q8_1)(x.data(), c.data(), int64_t(x.size()));
        CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(block_q8_1)) == 0);
    }
    // Dequantize and the (reference-only) Q8_1 x Q8_1 dot are consistent with each other.
    const auto& ops = type_ops(GgmlType::Q8_1);
    std::vector<float> deq(in.size());
    ops.dequantize(q.data(), deq.data(), int64_t(in.size()));
    double want = 0, abs_sum = 0;
    for (size_t j = 0; j < 1024; j++) {
        want += double(deq[1024 + j]) * deq[j];
        abs_sum += std::fabs(double(deq[1024 + j]) * deq[j]);
    }
    CHECK(close_dot(ops.dot_ref(1024, q.data() + 32, q.data()), want, abs_sum));
}
