// The f32 GEMM of training (kernels/cpu/gemm_f32.*) at every SIMD level against a double reference on awkward
// shapes, and the backend's training forward (matmul_train, LoRA pair included) and both matmul_dw paths
// against ops::linear / ops::linear_backward, bit-identical across thread counts.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backend.h"
#include "cpu/gemm_f32.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "ops.h"
#include "test_levels.h"
#include "test_util.h"
#include "threadpool.h"

using namespace slm;

namespace {

double max_rel_err(const std::vector<float>& a, const std::vector<double>& ref) {
    double mx = 0, scale = 0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < a.size(); i++) mx = std::max(mx, std::fabs(double(a[i]) - ref[i]));
    return mx / std::max(scale, 1e-30);
}

std::vector<kernels::gemm_f32::Kernel> all_kernels() {
    std::vector<kernels::gemm_f32::Kernel> ks{kernels::gemm_f32::for_level(SimdLevel::scalar)};
    for (const kernels::KernelSet* s : test::simd_sets("gemm_f32")) ks.push_back(kernels::gemm_f32::for_level(s->level()));
    return ks;
}

}  // namespace

TEST_CASE("gemm_f32: every level matches the double reference on awkward shapes, and touches nothing else") {
    for (const kernels::gemm_f32::Kernel& k : all_kernels()) {
        CAPTURE(k.name);
        for (int M : {1, 5, 8, 9, 14, 37}) {  // 37: several row blocks, so b is packed (see gemm)
            for (int N : {1, 7, 16, 17, 32, 33, 70}) {
                for (int K : {1, 3, 64, 131}) {
                    CAPTURE(M);
                    CAPTURE(N);
                    CAPTURE(K);
                    const int lda = K + 3, ldb = N + 5, ldd = N + 2;
                    const std::vector<float> a = test::random_vec(size_t(M * lda), uint32_t(M * 7 + K));
                    const std::vector<float> b = test::random_vec(size_t(K * ldb), uint32_t(N * 11 + K));
                    std::vector<float> d = test::random_vec(size_t(M * ldd), uint32_t(M + N));
                    std::vector<double> ref(d.begin(), d.end());
                    for (int r = 0; r < M; r++)
                        for (int c = 0; c < N; c++) {
                            double s = 0;
                            for (int i = 0; i < K; i++) s += double(a[size_t(r * lda + i)]) * double(b[size_t(i * ldb + c)]);
                            ref[size_t(r * ldd + c)] += s;
                        }
                    const std::vector<float> before = d;
                    kernels::gemm_f32::gemm(k, M, N, K, a.data(), lda, b.data(), ldb, d.data(), ldd);
                    CHECK(max_rel_err(d, ref) < 2e-6 * std::sqrt(double(K)));
                    bool untouched = true;  // the padding columns of each row keep their values
                    for (int r = 0; r < M; r++)
                        for (int c = N; c < ldd; c++) untouched &= d[size_t(r * ldd + c)] == before[size_t(r * ldd + c)];
                    CHECK(untouched);
                }
            }
        }
    }
}

TEST_CASE("gemm_f32: gemm_panels on b in panels gives gemm's bits at every level") {
    for (const kernels::gemm_f32::Kernel& k : all_kernels()) {
        CAPTURE(k.name);
        for (int M : {1, 9, 37})
            for (int N : {1, 17, 33, 70})
                for (int K : {1, 64, 131}) {
                    CAPTURE(M);
                    CAPTURE(N);
                    CAPTURE(K);
                    const int lda = K + 1, n_panels = (N + k.nc - 1) / k.nc;
                    const int64_t pstride = int64_t(K) * k.nc + 5;  // panels need not be adjacent
                    const std::vector<float> a = test::random_vec(size_t(M * lda), uint32_t(M + K));
                    const std::vector<float> b = test::random_vec(size_t(K * N), uint32_t(N * 3 + K));
                    std::vector<float> bp(size_t(pstride * n_panels), 1e30f);  // unused slots would poison d
                    for (int i = 0; i < K; i++)
                        for (int c = 0; c < N; c++) bp[size_t((c / k.nc) * pstride + i * k.nc + c % k.nc)] = b[size_t(i * N + c)];
                    const std::vector<float> d0 = test::random_vec(size_t(M * N), uint32_t(M * N));
                    std::vector<float> want = d0, got = d0;
                    kernels::gemm_f32::gemm(k, M, N, K, a.data(), lda, b.data(), N, want.data(), N);
                    kernels::gemm_f32::gemm_panels(k, M, N, K, a.data(), lda, bp.data(), pstride, got.data(), N);
                    CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
                    CHECK(want != d0);
                }
    }
}

TEST_CASE("gemm_f32: transpose, scaled and accumulated: the scalar reference, and every level bit for bit") {
    const kernels::gemm_f32::Kernel ref = kernels::gemm_f32::for_level(SimdLevel::scalar);
    {  // the reference against the definition
        const int rows = 19, cols = 37;
        const std::vector<float> src = test::random_vec(size_t(rows * cols), 3);
        std::vector<float> dst(size_t(cols * rows), 1.0f);
        kernels::gemm_f32::transpose(ref, src.data(), rows, cols, cols, dst.data(), rows, 2.0f, true);
        bool ok = true;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) ok &= dst[size_t(c * rows + r)] == 1.0f + 2.0f * src[size_t(r * cols + c)];
        CHECK(ok);
    }
    for (const kernels::gemm_f32::Kernel& k : all_kernels()) {
        CAPTURE(k.name);
        for (int rows : {1, 7, 8, 15, 16, 17, 33, 40})
            for (int cols : {1, 5, 8, 16, 19, 32, 45}) {
                for (int acc = 0; acc < 2; acc++) {
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(acc);
                    const int lds = cols + 3, ldd = rows + 2;  // padding on both sides must stay untouched
                    const float scale = acc ? 0.37f : -1.5f;
                    const std::vector<float> src = test::random_vec(size_t(rows * lds), uint32_t(rows * 13 + cols));
                    const std::vector<float> init = test::random_vec(size_t(cols * ldd), uint32_t(rows + cols * 7));
                    std::vector<float> want = init, got = init;
                    kernels::gemm_f32::transpose(ref, src.data(), rows, cols, lds, want.data(), ldd, scale, acc);
                    kernels::gemm_f32::transpose(k, src.data(), rows, cols, lds, got.data(), ldd, scale, acc);
                    CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
                    bool moved = false;  // the reference did write every element of the block
                    for (int c = 0; c < cols; c++) moved |= want[size_t(c * ldd)] != init[size_t(c * ldd)];
                    CHECK(moved);
                }
            }
    }
}

TEST_CASE("train: matmul_train (with and without LoRA) matches ops::linear, whatever the thread count") {
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
        for (int n_out : {40, 300}) {  // 300: 64-row items on one thread, 16-row items on three
            CAPTURE(type_name(t));
            CAPTURE(n_out);
            const int n_in = t == GgmlType::F32 ? 72 : 512, r = 3;  // 512: two K blocks of 256
            const std::vector<float> wf = test::random_vec(size_t(n_in * n_out), 17);
            std::vector<uint8_t> wq(static_cast<size_t>(row_bytes(t, n_in) * n_out));
            for (int o = 0; o < n_out; o++)
                kernels::type_ops(t).quantize(wf.data() + size_t(o * n_in), wq.data() + size_t(o * row_bytes(t, n_in)), n_in);
            const WeightView W = ggml_view(t, wq.data(), n_in, n_out);
            std::vector<float> Wd(size_t(n_in * n_out));
            for (int o = 0; o < n_out; o++) dequantize_row(W, o, Wd.data() + size_t(o * n_in));
            const std::vector<float> A = test::random_vec(size_t(r * n_in), 5), B = test::random_vec(size_t(n_out * r), 6);
            for (int n : {1, 6, 70}) {
                CAPTURE(n);
                const std::vector<float> x = test::random_vec(size_t(n * n_in), uint32_t(20 + n));
                std::vector<double> xd(x.begin(), x.end()), Wdd(Wd.begin(), Wd.end()), Ad(A.begin(), A.end()),
                    Bd(B.begin(), B.end()), ref_plain(size_t(n * n_out)), ref_lora(size_t(n * n_out)), ref_u(size_t(n * r));
                ops::linear<double>(xd.data(), Wdd.data(), nullptr, nullptr, 0, n, n_in, n_out, 0, ref_plain.data());
                ops::linear<double>(xd.data(), Wdd.data(), Ad.data(), Bd.data(), 0.75, n, n_in, n_out, r, ref_lora.data());
                for (int tk = 0; tk < n; tk++)
                    for (int k = 0; k < r; k++) {
                        double s = 0;
                        for (int i = 0; i < n_in; i++) s += Ad[size_t(k * n_in + i)] * xd[size_t(tk * n_in + i)];
                        ref_u[size_t(tk * r + k)] = s;
                    }
                std::vector<float> y_by_threads[2];
                for (int threads : {1, 3}) {
                    ThreadPool pool(threads);
                    auto be = make_cpu_backend(pool);
                    std::vector<float> y(size_t(n * n_out), 9.0f), yl(size_t(n * n_out), 9.0f), u(size_t(n * r));
                    be->matmul_train(W, x.data(), n, y.data(), nullptr);
                    CHECK(max_rel_err(y, ref_plain) < 1e-5);
                    Backend::LoraTerm lt;
                    lt.A = A.data();
                    lt.B = B.data();
                    lt.r = r;
                    lt.scale = 0.75f;
                    lt.u = u.data();
                    be->matmul_train(W, x.data(), n, yl.data(), &lt);
                    CHECK(max_rel_err(yl, ref_lora) < 1e-5);
                    CHECK(max_rel_err(u, ref_u) < 1e-5);
                    y.insert(y.end(), yl.begin(), yl.end());
                    y_by_threads[threads == 1 ? 0 : 1] = y;
                }
                CHECK(y_by_threads[0] == y_by_threads[1]);
            }
        }
    }
}

TEST_CASE("train: matmul_dw's two paths (narrow dy, narrow x) match the reference, whatever the thread count") {
    for (const std::pair<int, int> shape : {std::pair{8, 200}, std::pair{200, 8}, std::pair{33, 70}}) {
        const int n_out = shape.first, n_in = shape.second;  // (no structured binding: clang 14 cannot capture one)
        CAPTURE(n_out);
        CAPTURE(n_in);
        for (int n : {1, 9, 70}) {
            CAPTURE(n);
            const std::vector<float> dy = test::random_vec(size_t(n * n_out), 31), x = test::random_vec(size_t(n * n_in), 32);
            const std::vector<float> dW0 = test::random_vec(size_t(n_out * n_in), 33);
            std::vector<double> ref(dW0.begin(), dW0.end());
            for (int o = 0; o < n_out; o++)
                for (int i = 0; i < n_in; i++) {
                    double s = 0;
                    for (int t = 0; t < n; t++) s += double(dy[size_t(t * n_out + o)]) * double(x[size_t(t * n_in + i)]);
                    ref[size_t(o * n_in + i)] += 0.5 * s;
                }
            std::vector<float> got[2];
            for (int threads : {1, 2}) {
                ThreadPool pool(threads);
                auto be = make_cpu_backend(pool);
                std::vector<float> dW = dW0;
                be->matmul_dw(dy.data(), x.data(), n, n_out, n_in, 0.5f, dW.data());
                CHECK(max_rel_err(dW, ref) < 1e-5);
                got[threads - 1] = dW;
            }
            CHECK(got[0] == got[1]);
        }
    }
}

TEST_CASE("kernel sets: every level's dequantizer is bit-identical to the reference (training's weight tiles)") {
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                       GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                       GgmlType::Q6_K}) {
        CAPTURE(type_name(t));
        const kernels::TypeOps& ref = kernels::type_ops(t);
        const bool has_quantizer = ref.quantize != nullptr;
        REQUIRE(has_quantizer);
        const int64_t n = 3 * 256;
        const std::vector<float> x = test::random_vec(size_t(n), 77, 3.0f);
        std::vector<uint8_t> q(static_cast<size_t>(row_bytes(t, n)));
        ref.quantize(x.data(), q.data(), n);
        std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
        ref.dequantize(q.data(), want.data(), n);
        for (const kernels::KernelSet* s : test::simd_sets("dequantize")) {
            CAPTURE(s->name());
            std::fill(got.begin(), got.end(), -1.0f);
            s->dequantizer(t)(q.data(), got.data(), n);
            CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
        }
    }
}
