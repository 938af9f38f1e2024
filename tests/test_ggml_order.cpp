// slm computes what llama.cpp computes, not just something close: the AVX2 dot products sum in ggml's own order
// (bit-identical to the kquants fixtures' dot values, which ggml's SIMD code printed), activations are rounded
// to Q8_0 / Q8_1 as ggml's SIMD quantizers do, and the ggml_numerics forms (rope, f16 attention dot, the
// repacked Q4_K GEMM/GEMV orders) stay within rounding of slm's accurate defaults.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/f16.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "cpu/q4_K.h"
#include "ops.h"
#include "test_levels.h"
#include "test_util.h"
#include "threadpool.h"

using namespace slm;

namespace {

// The partner-type row of y as the forward pass converts it.
std::vector<uint8_t> activation_row(GgmlType partner, const std::vector<float>& y) {
    std::vector<uint8_t> out(size_t(row_bytes(partner, int64_t(y.size()))));
    kernels::active().activation_quantizer(partner)(y.data(), out.data(), int64_t(y.size()));
    return out;
}

}  // namespace

TEST_CASE("ggml order: AVX2 dot products equal ggml's SIMD results bit for bit (kquants fixtures)") {
    if (simd_level() < SimdLevel::avx2) {
        MESSAGE("skipped: this CPU has no AVX2 (or SLM_SIMD caps it)");
        return;
    }
    const kernels::KernelSet& avx2 = kernels::for_level(SimdLevel::avx2);
    SLM_REQUIRE_FIXTURE("kquants/input.f32");
    SLM_REQUIRE_FIXTURE("kquants/y.f32");
    const std::vector<float> in = test::read_f32(test::fixture("kquants/input.f32"));
    const std::vector<float> y = test::read_f32(test::fixture("kquants/y.f32"));
    const int64_t n = int64_t(y.size());
    REQUIRE(n == 1024);
    REQUIRE(in.size() == 48 * y.size());
    const std::pair<GgmlType, const char*> types[] = {
        {GgmlType::Q4_0, "q4_0"}, {GgmlType::Q4_1, "q4_1"}, {GgmlType::Q5_0, "q5_0"}, {GgmlType::Q5_1, "q5_1"},
        {GgmlType::Q8_0, "q8_0"}, {GgmlType::Q2_K, "q2_K"}, {GgmlType::Q3_K, "q3_K"}, {GgmlType::Q4_K, "q4_K"},
        {GgmlType::Q5_K, "q5_K"}, {GgmlType::Q6_K, "q6_K"}};
    for (const auto& tn : types) {
        const GgmlType t = tn.first;
        const char* name = tn.second;  // (a plain variable: clang 14 cannot capture structured bindings)
        CAPTURE(name);
        SLM_REQUIRE_FIXTURE(std::string("kquants/") + name + ".q");
        const kernels::TypeOps& ops = kernels::type_ops(t);
        REQUIRE(bool(avx2.dot(t) != ops.dot_ref));  // an AVX2 variant of its own
        const std::vector<uint8_t> q = test::read_bytes(test::fixture(std::string("kquants/") + name + ".q"));
        const std::vector<double> want = test::read_dot_txt(test::fixture(std::string("kquants/") + name + ".dot.txt"));
        REQUIRE(want.size() == 48);
        const size_t rb = size_t(row_bytes(t, n));
        REQUIRE(q.size() == 48 * rb);
        const std::vector<uint8_t> yq = activation_row(ops.vec_dot_type, y);
        int exact = 0;
        for (int r = 0; r < 48; r++) {
            const float got = avx2.dot(t)(n, q.data() + size_t(r) * rb, yq.data());
            if (got == float(want[size_t(r)])) exact++;
            else MESSAGE("row " << r << ": " << got << " vs ggml's " << want[size_t(r)]);
        }
        CHECK(exact == 48);
    }
}

TEST_CASE("ggml order: activation quantizers round as ggml's SIMD code (127/amax, half to even)") {
    // A block whose largest |x| is 127: the scale is 1 and the quants are x rounded. 2.5 and -2.5 are ties:
    // ggml's reference (weights) rounds them away from zero, its SIMD activation code to even.
    std::vector<float> x(32, 0.0f);
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 3.5f;
    x[4] = 1.25f;
    for (auto [t, off] : {std::pair{GgmlType::Q8_0, 2}, std::pair{GgmlType::Q8_1, 4}}) {
        const kernels::quantize_row_fn fn_w = kernels::type_ops(t).quantize, fn_a = kernels::type_ops(t).quantize_activation;
        uint8_t w[36] = {}, a[36] = {};
        fn_w(x.data(), w, 32);
        fn_a(x.data(), a, 32);
        const int8_t* qw = reinterpret_cast<const int8_t*>(w + off);
        const int8_t* qa = reinterpret_cast<const int8_t*>(a + off);
        CHECK(qw[0] == 127);
        CHECK(qa[0] == 127);
        CHECK(qw[1] == 3);
        CHECK(qa[1] == 2);
        CHECK(qw[2] == -3);
        CHECK(qa[2] == -2);
        CHECK(qw[3] == 4);
        CHECK(qa[3] == 4);
        CHECK(qw[4] == 1);
        CHECK(qa[4] == 1);
        CHECK(std::memcmp(w, a, 2) == 0);  // the same scale
    }

    // Random rows (several magnitudes, an all-zero block): the AVX2 version writes the scalar version's bytes,
    // and an activation quant differs from the reference quant by at most one step.
    for (uint32_t seed = 1; seed <= 20; seed++) {
        std::vector<float> v = test::random_vec(1024, seed, seed % 3 == 0 ? 1e-3f : (seed % 3 == 1 ? 1.0f : 300.0f));
        if (seed == 5) std::fill(v.begin(), v.begin() + 32, 0.0f);
        for (auto [t, bs, off] : {std::tuple{GgmlType::Q8_0, 34, 2}, std::tuple{GgmlType::Q8_1, 36, 4}}) {
            std::vector<uint8_t> a(size_t(32 * bs)), b(a.size()), c(a.size());
            kernels::type_ops(t).quantize_activation(v.data(), a.data(), 1024);
            kernels::type_ops(t).quantize(v.data(), c.data(), 1024);
            for (const kernels::KernelSet* ks : test::simd_sets(std::string(type_name(t)) + " activation quantizer")) {
                INFO(ks->name());
                ks->activation_quantizer(t)(v.data(), b.data(), 1024);
                CHECK(a == b);
            }
            int differ = 0;
            for (int blk = 0; blk < 32; blk++)
                for (int j = 0; j < 32; j++) {
                    const int qa = int8_t(a[size_t(blk * bs + off + j)]), qc = int8_t(c[size_t(blk * bs + off + j)]);
                    CHECK(std::abs(qa - qc) <= 1);
                    differ += qa != qc;
                }
            CHECK(differ < 32);  // rare: only ties and last-bit differences of the inverse scale
        }
    }
}

TEST_CASE("ggml order: llama.cpp's rope and f16 attention dot stay within rounding of slm's") {
    // rope_angles_ggml accumulates the angle in float; at small positions it rotates by nearly the same angles.
    const int n_heads = 3, hd = 64, n_rot = 64;
    std::vector<float> freqs(size_t(n_rot / 2));
    for (int i = 0; i < n_rot / 2; i++) freqs[size_t(i)] = i < 8 ? 1.0f : (i < 20 ? 1.0f + float(i - 8) : 32.0f);
    const std::vector<double> inv = ops::rope_inv_freq(n_rot, 500000.0f, freqs);
    for (int pos : {0, 1, 7, 63, 200}) {
        std::vector<float> a = test::random_vec(size_t(n_heads * hd), uint32_t(100 + pos), 1.0f), b = a, orig = a;
        ops::rope(a.data(), n_heads, hd, n_rot, pos, inv.data());
        std::vector<float> cs(static_cast<size_t>(n_rot));
        ops::rope_angles_ggml(n_rot, pos, 500000.0f, freqs.data(), cs.data());
        ops::rope_rotate(b.data(), n_heads, hd, n_rot, cs.data());
        double md = 0;
        for (size_t i = 0; i < a.size(); i++) md = std::max(md, std::fabs(double(a[i]) - b[i]));
        CAPTURE(pos);
        CHECK(md < 2e-4 * (1 + pos / 64.0));
        if (pos == 0) CHECK(b == orig);  // angle 0: cos 1, sin 0
    }

    // dot_f16_ggml_order: exact where every partial sum is exact (small integers), close otherwise, and the
    // elements past the last 32-element step are included.
    for (int n : {32, 64, 70, 5}) {
        std::vector<fp16_t> x(static_cast<size_t>(n));
        std::vector<float> y(static_cast<size_t>(n));
        double exact = 0;
        for (int i = 0; i < n; i++) {
            x[size_t(i)] = fp32_to_fp16(float(i % 7 - 3));
            y[size_t(i)] = float(i % 5 - 2);
            exact += double(i % 7 - 3) * double(i % 5 - 2);
        }
        CHECK(kernels::dot_f16_ggml_order(n, x.data(), y.data()) == float(exact));
        std::vector<float> xr = test::random_vec(size_t(n), uint32_t(n), 2.0f), yr = test::random_vec(size_t(n), uint32_t(n + 1), 2.0f);
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            x[size_t(i)] = fp32_to_fp16(xr[size_t(i)]);
            ref += double(fp16_to_fp32(x[size_t(i)])) * yr[size_t(i)];
            mag += std::fabs(double(fp16_to_fp32(x[size_t(i)])) * yr[size_t(i)]);
        }
        CHECK(std::fabs(kernels::dot_f16_ggml_order(n, x.data(), yr.data()) - ref) <= 1e-6 * mag + 1e-7);
    }
}

TEST_CASE("ggml order: Q4_K in llama.cpp's repacked GEMM/GEMV orders, and matmul's choice between them") {
    const int64_t n_in = 512, n_out = 16, n_tok = 7;  // 7 tokens: GEMM for the first 4, GEMV for the last 3
    std::vector<float> wf = test::random_vec(size_t(n_in * n_out), 7, 1.0f), xf = test::random_vec(size_t(n_in * n_tok), 8, 3.0f);
    const size_t rb = size_t(row_bytes(GgmlType::Q4_K, n_in));
    std::vector<uint8_t> w(rb * size_t(n_out));
    for (int64_t r = 0; r < n_out; r++) kernels::quantize_row_q4_K(wf.data() + r * n_in, w.data() + size_t(r) * rb, n_in);
    const size_t ab = size_t(row_bytes(GgmlType::Q8_K, n_in));
    std::vector<uint8_t> act(ab * size_t(n_tok));
    for (int64_t t = 0; t < n_tok; t++) kernels::type_ops(GgmlType::Q8_K).quantize(xf.data() + t * n_in, act.data() + size_t(t) * ab, n_in);

    // Both orders are the same dot product up to rounding.
    std::vector<float> deq(static_cast<size_t>(n_in)), xd(static_cast<size_t>(n_in));
    for (int64_t r = 0; r < n_out; r++) {
        kernels::dequantize_row_q4_K(w.data() + size_t(r) * rb, deq.data(), n_in);
        for (int64_t t = 0; t < n_tok; t++) {
            kernels::type_ops(GgmlType::Q8_K).dequantize(act.data() + size_t(t) * ab, xd.data(), n_in);
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n_in; i++) {
                ref += double(deq[size_t(i)]) * xd[size_t(i)];
                mag += std::fabs(double(deq[size_t(i)]) * xd[size_t(i)]);
            }
            const void* wr = w.data() + size_t(r) * rb;
            const void* xr = act.data() + size_t(t) * ab;
            CHECK(std::fabs(kernels::dot_q4_K_q8_K_llamacpp_gemm(n_in, wr, xr) - ref) <= 1e-5 * mag);
            CHECK(std::fabs(kernels::dot_q4_K_q8_K_llamacpp_gemv(n_in, wr, xr) - ref) <= 1e-5 * mag);
        }
    }

    // matmul in llamacpp order: tokens 0..3 through the GEMM order, 4..6 through the GEMV order.
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);
    MatmulScratch scratch;
    WeightView W{.type = GgmlType::Q4_K, .data = w.data(), .n_in = n_in, .n_out = n_out};
    std::vector<float> y(size_t(n_tok * n_out));
    matmul(W, xf.data(), n_tok, y.data(), pool, scratch, MatmulOrder::llamacpp);
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < n_out; r++) {
            const void* wr = w.data() + size_t(r) * rb;
            const void* xr = act.data() + size_t(t) * ab;
            const float want = t < 4 ? kernels::dot_q4_K_q8_K_llamacpp_gemm(n_in, wr, xr) : kernels::dot_q4_K_q8_K_llamacpp_gemv(n_in, wr, xr);
            CHECK(y[size_t(t * n_out + r)] == want);
        }
}
