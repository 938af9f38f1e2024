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
#include "cpu_features.h"
#include "kernels.h"
#include "test_util.h"
#include "types.h"

using slm::GgmlType;
using slm::kernels::type_ops;
using slm::kernels::TypeOps;
using slm::kernels::vec_dot_fn;

namespace {

struct Variant {
    const char* name;
    vec_dot_fn fn;
};

std::string tname(GgmlType t) { return slm::type_name(t); }

bool cpu_has_avx2() {
    const auto& f = slm::cpu_features();
    return f.avx2 && f.fma && f.f16c;
}
bool cpu_has_avx512() {
    const auto& f = slm::cpu_features();
    return cpu_has_avx2() && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
}

// The SIMD variants of a type that this CPU can run; a MESSAGE names the ones skipped.
std::vector<Variant> simd_variants(const TypeOps& ops) {
    std::vector<Variant> v;
    if (ops.dot_avx2) {
        if (cpu_has_avx2()) v.push_back({"avx2", ops.dot_avx2});
        else MESSAGE("skipped: " << tname(ops.type) << " avx2 dot (this CPU lacks AVX2/FMA/F16C)");
    }
    if (ops.dot_avx512) {
        if (cpu_has_avx512()) v.push_back({"avx512", ops.dot_avx512});
        else MESSAGE("skipped: " << tname(ops.type) << " avx512 dot (this CPU lacks AVX-512 F/BW/VL/DQ)");
    }
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
    REQUIRE(bool(ops.dot_scalar));
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
            float ref = ops.dot_scalar(n, row.bytes.data(), y.data());
            CHECK_MESSAGE(close_dot(ref, want, abs_sum, 1e-6), tname(t) << " scalar n=" << n);
            for (const Variant& v : variants) {
                float got = v.fn(n, row.bytes.data(), y.data());
                CHECK_MESSAGE(close_dot(got, ref, abs_sum),
                              tname(t) << " " << v.name << " n=" << n << " scale=" << scale
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
    if (cpu_has_avx2()) {
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
