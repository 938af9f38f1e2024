// The GEMM tiles of the quantized types (kernels/cpu/gemm_tile.h, each type's file): at every SIMD level that
// has one, bit for bit equal to one call of that level's dot per output (so a tile never moves the logits),
// close to matmul_reference, and writing exactly its rows x tokens. Awkward shapes: token counts 1, 3, 17,
// 64, 513 (micro-tiles of 4 tokens leave 1 or 3 over), row counts not a multiple of the micro-tile, the real
// row lengths of the study's models (256, 576, 1536, 2048, 8192) where the block size allows.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "test_levels.h"
#include "test_util.h"

using namespace slm;

namespace {

struct Problem {
    GgmlType type;
    int64_t n_in, n_out, n_tok;
    std::vector<uint8_t> w;   // n_out rows of `type`
    std::vector<float> x;     // n_tok rows of floats
};

Problem make_problem(GgmlType t, int64_t n_in, int64_t n_out, int64_t n_tok, uint32_t seed) {
    Problem p{t, n_in, n_out, n_tok, {}, {}};
    const std::vector<float> wf = test::random_vec(size_t(n_in * n_out), seed);
    p.x = test::random_vec(size_t(n_in * n_tok), seed + 1);
    const kernels::TypeOps& ops = kernels::type_ops(t);
    const int64_t rb = row_bytes(t, n_in);
    p.w.resize(size_t(rb * n_out));
    for (int64_t r = 0; r < n_out; r++) ops.quantize(wf.data() + r * n_in, p.w.data() + r * rb, n_in);
    return p;
}

// The activations as the kernels see them (the set's quantizer to the partner type).
std::vector<uint8_t> convert(const kernels::KernelSet& ks, const Problem& p) {
    const GgmlType at = ks.ref(p.type).vec_dot_type;
    const int64_t xb = row_bytes(at, p.n_in);
    std::vector<uint8_t> xq(size_t(xb * p.n_tok));
    for (int64_t t = 0; t < p.n_tok; t++) ks.activation_quantizer(at)(p.x.data() + t * p.n_in, xq.data() + t * xb, p.n_in);
    return xq;
}

// Y by one dot call per output, the way matmul runs a type without a tile.
std::vector<float> by_dot(const kernels::KernelSet& ks, const Problem& p, const std::vector<uint8_t>& xq) {
    const int64_t wb = row_bytes(p.type, p.n_in), xb = row_bytes(ks.ref(p.type).vec_dot_type, p.n_in);
    std::vector<float> y(size_t(p.n_tok * p.n_out));
    for (int64_t t = 0; t < p.n_tok; t++)
        for (int64_t r = 0; r < p.n_out; r++)
            y[size_t(t * p.n_out + r)] = ks.dot(p.type)(p.n_in, p.w.data() + r * wb, xq.data() + t * xb);
    return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const GgmlType kTiled[] = {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q3_K,
                           GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::F16,
                           GgmlType::F32,  GgmlType::BF16};

}  // namespace

TEST_CASE("gemm tiles: bit-identical to the level's dot, close to the reference, on awkward shapes") {
    ThreadPool pool(2);
    MatmulScratch scratch;
    int tiles_checked = 0;
    for (const kernels::KernelSet* ks : test::simd_sets("gemm tiles")) {
        for (GgmlType type : kTiled) {
            if (!ks->has(type) || !ks->gemm(type)) continue;
            CAPTURE(ks->name());
            CAPTURE(std::string(type_name(type)));
            const int64_t bs = type_info(type).block_size;
            for (int64_t n_in : {256, 576, 1536, 2048, 8192}) {
                if (n_in % bs) continue;
                for (int64_t n_tok : {1, 3, 17, 64, 513}) {
                    // Long rows with many tokens are slow to check against the double reference: fewer rows there.
                    const int64_t n_out = n_in * n_tok > (1 << 20) ? 6 : 13;
                    CAPTURE(n_in);
                    CAPTURE(n_tok);
                    const Problem p = make_problem(type, n_in, n_out, n_tok, uint32_t(n_in + n_tok));
                    const std::vector<uint8_t> xq = convert(*ks, p);
                    const std::vector<float> want = by_dot(*ks, p, xq);
                    std::vector<float> got(want.size(), -1.0f);
                    matmul(*ks, ggml_view(type, p.w.data(), n_in, n_out), p.x.data(), n_tok, got.data(), pool, scratch);
                    CHECK(same_bits(got, want));
                    // Against the double reference on the activations as quantized (where the partner dequantizes).
                    const GgmlType at = ks->ref(type).vec_dot_type;
                    std::vector<float> xd(p.x.size());
                    for (int64_t t = 0; t < n_tok; t++)
                        kernels::type_ops(at).dequantize(xq.data() + t * row_bytes(at, n_in), xd.data() + t * n_in, n_in);
                    std::vector<float> ref(want.size());
                    matmul_reference(ggml_view(type, p.w.data(), n_in, n_out), xd.data(), n_tok, ref.data());
                    double maxd = 0;
                    for (size_t i = 0; i < ref.size(); i++) maxd = std::max(maxd, std::fabs(double(got[i]) - ref[i]));
                    // Dots here are ~sqrt(n_in)/3; the float partial sums (and Q4_1's f16 block sums) round.
                    CHECK(maxd < 2e-4 * std::sqrt(double(n_in)) * (at == GgmlType::Q8_1 ? 50 : 1));
                }
            }
            tiles_checked++;
        }
    }
    MESSAGE("gemm tiles checked (type x level): " << tiles_checked);
    // Every type above has a tile at AVX-512 VNNI (the float types' AVX-512 tile serves it).
    if (simd_level() == SimdLevel::avx512_vnni)
        for (GgmlType type : kTiled) {
            CAPTURE(std::string(type_name(type)));
            const bool has_tile = kernels::for_level(SimdLevel::avx512_vnni).gemm(type) != nullptr;
            CHECK(has_tile);
        }
}

TEST_CASE("gemm tiles: a tile writes exactly its rows x tokens") {
    for (const kernels::KernelSet* ks : test::simd_sets("gemm tile ranges")) {
        for (GgmlType type : kTiled) {
            if (!ks->has(type) || !ks->gemm(type)) continue;
            CAPTURE(ks->name());
            CAPTURE(std::string(type_name(type)));
            const int64_t n_in = 512, n_out = 23, n_tok = 19;
            const Problem p = make_problem(type, n_in, n_out, n_tok, 7);
            const std::vector<uint8_t> xq = convert(*ks, p);
            const std::vector<float> want = by_dot(*ks, p, xq);
            kernels::GemmTile g;
            g.n_in = n_in;
            g.n_out = n_out;
            g.n_tok = n_tok;
            g.w = p.w.data();
            g.w_stride = row_bytes(type, n_in);
            g.x = xq.data();
            g.x_stride = row_bytes(ks->ref(type).vec_dot_type, n_in);
            std::vector<float> y(want.size(), 12345.0f);
            g.y = y.data();
            g.y_stride = n_out;
            g.r0 = 2, g.r1 = 21, g.t0 = 1, g.t1 = 18;
            g.dot = ks->dot(type);
            ks->gemm(type)(g);
            int wrong = 0;
            for (int64_t t = 0; t < n_tok; t++)
                for (int64_t r = 0; r < n_out; r++) {
                    const bool inside = r >= g.r0 && r < g.r1 && t >= g.t0 && t < g.t1;
                    const float v = y[size_t(t * n_out + r)], w = want[size_t(t * n_out + r)];
                    if (inside ? std::memcmp(&v, &w, sizeof v) != 0 : v != 12345.0f) wrong++;
                }
            CHECK(wrong == 0);
        }
    }
}
