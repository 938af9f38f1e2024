// Q2_K and Q3_K kernels: the quantizers against ggml's bytes, the dequantizers bit-exactly against ggml's
// floats, the dot products against ggml's results, and every SIMD variant against the scalar reference.
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/q2_K.h"
#include "cpu/q3_K.h"
#include "cpu/q8_K.h"
#include "test_levels.h"
#include "test_util.h"

using namespace slm;
using namespace slm::kernels;

namespace {

constexpr int kRows = 48, kCols = 1024;

struct Variant {
    std::string name;
    vec_dot_fn fn;
};

// The scalar reference and the dot of every SIMD level this run checks (test_levels.h names the ones skipped).
std::vector<Variant> runnable_variants(GgmlType t) {
    std::vector<Variant> v{{"scalar", type_ops(t).dot_ref}};
    for (auto& d : test::simd_dots(t)) v.push_back({d.name, d.fn});
    return v;
}

// Bytes of the quantized rows must equal ggml's, block for block.
void check_quantize_fixture(GgmlType t) {
    const std::string name = type_name(t);
    auto in = test::read_f32(test::fixture("kquants/input.f32"));
    auto ref = test::read_bytes(test::fixture("kquants/" + name + ".q"));
    REQUIRE(in.size() == size_t(kRows) * kCols);
    const int64_t rb = row_bytes(t, kCols);
    REQUIRE(ref.size() == size_t(rb * kRows));
    std::vector<uint8_t> out(ref.size(), 0xAA);
    // row by row, as `slm quantize` calls it
    for (int r = 0; r < kRows; r++) type_ops(t).quantize(in.data() + r * kCols, out.data() + r * rb, kCols);
    const int64_t bs = type_info(t).type_size;
    int bad = 0;
    for (size_t b = 0; b < out.size() / bs; b++) {
        if (std::memcmp(out.data() + b * bs, ref.data() + b * bs, bs) != 0) {
            if (bad++ < 5) FAIL_CHECK(name << ": block " << b << " (row " << b / (kCols / QK_K) << ") differs");
        }
    }
    CHECK(bad == 0);
    // the whole input in one call (n = 48 * 1024) gives the same bytes
    std::vector<uint8_t> out2(ref.size(), 0x55);
    type_ops(t).quantize(in.data(), out2.data(), int64_t(in.size()));
    CHECK(out2 == out);
}

// Dequantizing ggml's blocks must give ggml's floats bit for bit.
void check_dequantize_fixture(GgmlType t) {
    const std::string name = type_name(t);
    auto q = test::read_bytes(test::fixture("kquants/" + name + ".q"));
    auto deq = test::read_bytes(test::fixture("kquants/" + name + ".deq"));
    REQUIRE(deq.size() == size_t(kRows) * kCols * 4);
    REQUIRE(q.size() == size_t(row_bytes(t, kCols) * kRows));
    std::vector<float> out(size_t(kRows) * kCols);
    type_ops(t).dequantize(q.data(), out.data(), int64_t(out.size()));
    int bad = 0;
    for (size_t i = 0; i < out.size(); i++) {
        uint32_t a = f32_bits(out[i]), b;
        std::memcpy(&b, deq.data() + 4 * i, 4);
        if (a != b && bad++ < 5) FAIL_CHECK(name << ": value " << i << " is " << out[i] << ", ggml has " << f32_from_bits(b));
    }
    CHECK(bad == 0);
}

// sum_i |x_i * y_i| of a quantized weight row and a Q8_K row: the scale of the allowed rounding difference.
double abs_dot(GgmlType t, const void* xq, const void* yq, int64_t n) {
    std::vector<float> x(n), y(n);
    type_ops(t).dequantize(xq, x.data(), n);
    dequantize_row_q8_K(yq, y.data(), n);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += std::fabs(double(x[i]) * double(y[i]));
    return s;
}

// Every runnable variant, on ggml's quantized rows and y quantized to Q8_K, gives ggml's dot product.
void check_dot_fixture(GgmlType t) {
    const std::string name = type_name(t);
    auto q = test::read_bytes(test::fixture("kquants/" + name + ".q"));
    auto y = test::read_f32(test::fixture("kquants/y.f32"));
    auto ref = slm::test::read_dot_txt(test::fixture("kquants/" + name + ".dot.txt"));
    REQUIRE(y.size() == size_t(kCols));
    REQUIRE(ref.size() == size_t(kRows));
    const int64_t rb = row_bytes(t, kCols);
    REQUIRE(q.size() == size_t(rb * kRows));
    std::vector<block_q8_K> yq(kCols / QK_K);
    quantize_row_q8_K(y.data(), yq.data(), kCols);
    for (const Variant& v : runnable_variants(t)) {
        REQUIRE_MESSAGE(bool(v.fn), name << " has no " << v.name << " dot");
        for (int r = 0; r < kRows; r++) {
            const uint8_t* xr = q.data() + r * rb;
            const double got = v.fn(kCols, xr, yq.data());
            const double tol = 1e-5 * abs_dot(t, xr, yq.data(), kCols);
            INFO(name << " " << v.name << " row " << r << ": got " << got << ", ggml " << ref[r] << ", tol " << tol);
            CHECK(std::fabs(got - ref[r]) <= tol);
        }
    }
}

// A random fp16 scale: mostly ordinary magnitudes, sometimes the extremes (largest finite, subnormal, zero).
fp16_t random_scale(std::mt19937& rng, bool allow_negative) {
    std::uniform_int_distribution<int> pick(0, 9);
    std::uniform_real_distribution<float> u(0.5f, 2.f);
    float v;
    switch (pick(rng)) {
        case 0: v = 65504.f; break;          // largest fp16
        case 1: v = 6e-8f * u(rng); break;   // subnormal fp16
        case 2: v = 0.f; break;
        default: v = u(rng) * std::pow(10.f, float(int(rng() % 7) - 5)); break;
    }
    if (allow_negative && (rng() & 1)) v = -v;
    return fp32_to_fp16(v);
}

// A random Q8_K row from floats of random magnitude (1e-30 .. 1e20), some blocks all zero.
std::vector<block_q8_K> random_q8_K(std::mt19937& rng, int64_t n) {
    std::vector<float> f(n);
    std::normal_distribution<float> g(0.f, 1.f);
    for (int64_t b = 0; b < n / QK_K; b++) {
        const int kind = int(rng() % 8);
        const float mag = kind == 0 ? 0.f : kind == 1 ? 1e-30f : kind == 2 ? 1e20f : std::pow(10.f, float(int(rng() % 5) - 2));
        for (int i = 0; i < QK_K; i++) f[b * QK_K + i] = mag * g(rng);
    }
    std::vector<block_q8_K> y(n / QK_K);
    quantize_row_q8_K(f.data(), y.data(), n);
    return y;
}

// Random blocks of type t: the quant bits and scale bytes are uniformly random (every bit pattern is a valid
// block), the fp16 scales from random_scale.
std::vector<uint8_t> random_blocks(std::mt19937& rng, GgmlType t, int64_t n) {
    std::vector<uint8_t> bytes(size_t(row_bytes(t, n)));
    for (auto& b : bytes) b = uint8_t(rng());
    for (int64_t i = 0; i < n / QK_K; i++) {
        if (t == GgmlType::Q3_K) {
            auto* b = reinterpret_cast<block_q3_K*>(bytes.data()) + i;
            b->d = random_scale(rng, true);
        } else {
            auto* b = reinterpret_cast<block_q2_K*>(bytes.data()) + i;
            b->d = random_scale(rng, false);
            b->dmin = random_scale(rng, false);
        }
    }
    return bytes;
}

// Every SIMD variant agrees with the scalar reference on random rows of awkward lengths.
void check_dot_variants_random(GgmlType t) {
    std::mt19937 rng(1234 + unsigned(t));
    const auto variants = runnable_variants(t);
    int compared = 0;
    for (int64_t n : {int64_t(1) * QK_K, int64_t(2) * QK_K, int64_t(3) * QK_K, int64_t(7) * QK_K, int64_t(4096)}) {
        for (int rep = 0; rep < 20; rep++) {
            auto x = random_blocks(rng, t, n);
            auto y = random_q8_K(rng, n);
            const double ref = type_ops(t).dot_ref(n, x.data(), y.data());
            const double tol = 1e-5 * abs_dot(t, x.data(), y.data(), n);
            for (const Variant& v : variants) {
                if (v.name == "scalar") continue;
                const double got = v.fn(n, x.data(), y.data());
                INFO(std::string(type_name(t)) << " " << v.name << " n=" << n << " rep " << rep << ": " << got << " vs scalar " << ref);
                CHECK(std::fabs(got - ref) <= tol);
                compared++;
            }
        }
    }
    if (variants.size() == 1) MESSAGE(std::string(type_name(t)) << ": no SIMD variant runs here; nothing to compare");
    else CHECK(compared > 0);
}

// The scalar dot equals the dot of the dequantized rows (computed in double) up to float rounding: checks
// the reference itself, independently of ggml's fixture.
void check_scalar_dot_vs_dequantized(GgmlType t) {
    std::mt19937 rng(99 + unsigned(t));
    for (int rep = 0; rep < 20; rep++) {
        const int64_t n = QK_K * (1 + rep % 4);
        auto x = random_blocks(rng, t, n);
        auto y = random_q8_K(rng, n);
        std::vector<float> xf(n), yf(n);
        type_ops(t).dequantize(x.data(), xf.data(), n);
        dequantize_row_q8_K(y.data(), yf.data(), n);
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            exact += double(xf[i]) * double(yf[i]);
            mag += std::fabs(double(xf[i]) * double(yf[i]));
        }
        const double got = type_ops(t).dot_ref(n, x.data(), y.data());
        INFO(std::string(type_name(t)) << " n=" << n << " rep " << rep << ": " << got << " vs " << exact);
        CHECK(std::fabs(got - exact) <= 1e-5 * mag);
    }
}

}  // namespace

// ---- Q3_K ----

TEST_CASE("kernel: q3_K quantize matches ggml's bytes") {
    SLM_REQUIRE_FIXTURE("kquants/q3_K.q");
    check_quantize_fixture(GgmlType::Q3_K);
}

TEST_CASE("kernel: q3_K dequantize matches ggml bit-exactly") {
    SLM_REQUIRE_FIXTURE("kquants/q3_K.deq");
    check_dequantize_fixture(GgmlType::Q3_K);
}

TEST_CASE("kernel: q3_K dot products match ggml's") {
    SLM_REQUIRE_FIXTURE("kquants/q3_K.dot.txt");
    check_dot_fixture(GgmlType::Q3_K);
}

TEST_CASE("kernel: q3_K SIMD dots agree with the scalar reference on random rows") {
    check_dot_variants_random(GgmlType::Q3_K);
}

TEST_CASE("kernel: q3_K scalar dot equals the dot of the dequantized rows") {
    check_scalar_dot_vs_dequantized(GgmlType::Q3_K);
}

TEST_CASE("kernel: q3_K layout facts") {
    // One hand-made block: value e = 32*k + l has high bit k of hmask[l]; check the decoding of a few values
    // against the layout comment in q3_K.cpp.
    block_q3_K b{};
    b.d = fp32_to_fp16(1.f);
    // scale j = 5 -> stored 37 = 0b100101: low nibble 5 in scales[5], high bits 0b10 in scales[8 + 1] bits 2..3
    // scale j = 12 -> stored 20 = 0b010100: low nibble 4 in scales[4] >> 4, high bits 0b01 in scales[8] bits 6..7
    for (int j = 0; j < 16; j++) {
        int stored = (j == 5 ? 37 : j == 12 ? 20 : 32);  // others 0 after the offset
        if (j < 8) b.scales[j] |= uint8_t(stored & 0xF);
        else b.scales[j - 8] |= uint8_t((stored & 0xF) << 4);
        b.scales[8 + j % 4] |= uint8_t((stored >> 4) << (2 * (j / 4)));
    }
    // value 80 (sub-block 5): h = 0, s = 2, l = 16 -> qs[16] bits 4..5; high bit: hmask[16] bit 2
    b.qs[16] = uint8_t(3 << 4);
    b.hmask[16] = uint8_t(1 << 2);  // q = 3 - 0 = 3
    // value 200 (sub-block 12): h = 1, s = 2, l = 8 -> qs[40] bits 4..5 = 1; hmask[8] bit 6 clear -> q = 1 - 4
    b.qs[40] = uint8_t(1 << 4);
    float out[QK_K];
    dequantize_row_q3_K(&b, out, QK_K);
    CHECK(out[80] == 5.f * 3.f);
    CHECK(out[200] == -12.f * -3.f);
    CHECK(out[81] == 5.f * -4.f);  // every other value of sub-block 5 has quant 0 - 4
    CHECK(out[0] == 0.f);          // scale 0
}

// ---- Q2_K ----

TEST_CASE("kernel: q2_K quantize matches ggml's bytes") {
    SLM_REQUIRE_FIXTURE("kquants/q2_K.q");
    check_quantize_fixture(GgmlType::Q2_K);
}

TEST_CASE("kernel: q2_K dequantize matches ggml bit-exactly") {
    SLM_REQUIRE_FIXTURE("kquants/q2_K.deq");
    check_dequantize_fixture(GgmlType::Q2_K);
}

TEST_CASE("kernel: q2_K dot products match ggml's") {
    SLM_REQUIRE_FIXTURE("kquants/q2_K.dot.txt");
    check_dot_fixture(GgmlType::Q2_K);
}

TEST_CASE("kernel: q2_K SIMD dots agree with the scalar reference on random rows") {
    check_dot_variants_random(GgmlType::Q2_K);
}

TEST_CASE("kernel: q2_K scalar dot equals the dot of the dequantized rows") {
    check_scalar_dot_vs_dequantized(GgmlType::Q2_K);
}

TEST_CASE("kernel: q2_K layout facts") {
    // One hand-made block, decoded by hand from the layout comment in q2_K.cpp.
    block_q2_K b{};
    b.d = fp32_to_fp16(0.5f);
    b.dmin = fp32_to_fp16(0.25f);
    b.scales[12] = uint8_t((3 << 4) | 6);  // sub-block 12: scale 6, min 3
    // value 200 (sub-block 12): h = 1, s = 2, l = 8 -> qs[32 + 8] bits 4..5
    b.qs[40] = uint8_t(2 << 4);
    // value 33 (sub-block 2): h = 0, s = 1, l = 1 -> qs[1] bits 2..3; scale 0 there, min 15
    b.qs[1] = uint8_t(3 << 2);
    b.scales[2] = uint8_t(15 << 4);
    float out[QK_K];
    dequantize_row_q2_K(&b, out, QK_K);
    CHECK(out[200] == 0.5f * 6 * 2 - 0.25f * 3);
    CHECK(out[201] == 0.5f * 6 * 0 - 0.25f * 3);
    CHECK(out[33] == -0.25f * 15);
    CHECK(out[0] == 0.f);
}
