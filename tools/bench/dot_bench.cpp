// dot_bench: single-thread throughput of every dot-product variant of the CPU kernel sets (one per SIMD level), as GB/s of
// weight bytes read (the figure that matters for batch-1 decoding, which streams every weight once per token).
//
// Build (after `make`, which produces build/libslm.a) and run from the repository root:
//   g++ -std=c++20 -O2 -Isrc tools/bench/dot_bench.cpp build/libslm.a -pthread -o build/dot_bench
//   ./build/dot_bench [--mb 64] [--n 576,1536,2048,8192] [--seconds 0.5] [--types q4_0,q8_0,f16]
//
// For each type: a weight matrix of ~MB megabytes (rows of n elements, random values quantized with the
// type's own quantizer, so it does not fit in cache), one activation row quantized to the type's partner;
// each variant computes the dot of every row with it, repeatedly for SECONDS, and the best pass counts.
// Every variant's results are compared with the scalar reference on the way (max difference relative to the
// rms of the results), so a wrong kernel shows up here too.
// Types without kernels are skipped; new types in the kernel sets show up here without an edit.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "common.h"
#include "types.h"

using namespace slm;

namespace {

struct Options {
    double mb = 64;
    std::vector<int64_t> ns;  // row lengths (default: the real ones, 576 1536 2048 8192)
    double seconds = 0.5;
    std::vector<GgmlType> types;
};

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,
                              GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL};

void usage() {
    std::printf(
        "usage: dot_bench [--mb MB] [--n N,N,...] [--seconds S] [--types t1,t2,...]\n"
        "  single-thread dot-product throughput (GB/s of weight bytes) of each kernel variant\n"
        "  --mb       weight matrix size per type in MiB (default 64: larger than the caches)\n"
        "  --n        row lengths, comma-separated multiples of 32 (default 576,1536,2048,8192: SmolLM2-135M's and\n"
        "             Llama-3.2-1B's; a type whose blocks do not divide a length is reported and skipped)\n"
        "  --seconds  time per variant (default 0.5)\n"
        "  --types    comma-separated type names (default: every type with kernels)\n");
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fail("option %s needs a value", a.c_str());
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            usage();
            std::exit(0);
        } else if (a == "--mb") {
            o.mb = std::atof(value().c_str());
            if (!(o.mb > 0)) fail("--mb must be a positive number");
        } else if (a == "--n") {
            const std::string list = value();
            size_t pos = 0;
            while (pos <= list.size()) {
                const size_t comma = list.find(',', pos);
                const std::string v = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
                char* end = nullptr;
                const long long n = std::strtoll(v.c_str(), &end, 10);
                if (v.empty() || *end || n <= 0 || n % 32 || n > (1 << 24))
                    fail("--n %s: expected positive multiples of 32 (up to 16777216), comma-separated", v.c_str());
                o.ns.push_back(n);
                if (comma == std::string::npos) break;
                pos = comma + 1;
            }
        } else if (a == "--seconds") {
            o.seconds = std::atof(value().c_str());
            if (!(o.seconds > 0)) fail("--seconds must be a positive number");
        } else if (a == "--types") {
            std::string list = value();
            size_t pos = 0;
            while (pos <= list.size()) {
                size_t comma = list.find(',', pos);
                std::string name = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
                auto t = type_from_name(name);
                if (!t) fail("--types: unknown type '%s'", name.c_str());
                o.types.push_back(*t);
                if (comma == std::string::npos) break;
                pos = comma + 1;
            }
        } else {
            fail("unknown option '%s' (try --help)", a.c_str());
        }
    }
    if (o.types.empty()) o.types.assign(std::begin(kAllTypes), std::end(kAllTypes));
    if (o.ns.empty()) o.ns = {576, 1536, 2048, 8192};  // SmolLM2-135M's and Llama-3.2-1B's row lengths
    return o;
}

double now_s() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

void bench_type(GgmlType t, const Options& o, int64_t n) {
    // Every level up to this run's (SLM_SIMD caps it), the reference first (backend.h's probe::dot_variants).
    const std::vector<probe::DotVariant> vs = probe::dot_variants(t);
    if (vs.empty()) {
        std::printf("%-6s  (no kernels yet)\n", type_name(t));
        return;
    }
    if (!codec::can_quantize(t)) {
        std::printf("%-6s  (no quantizer to build test data)\n", type_name(t));
        return;
    }
    const GgmlType act = probe::vec_dot_type(t);
    const int64_t bs = std::max(type_info(t).block_size, type_info(act).block_size);
    if (n % bs) {
        // (llama.cpp's quantizer gives such rows a fallback type: Q8_0 / Q5_0 / Q4_1 ... instead of a K-quant)
        std::printf("%-6s  (n = %lld is not a multiple of its %lld-element blocks)\n", type_name(t), (long long)n, (long long)bs);
        return;
    }
    const int64_t rb = row_bytes(t, n);
    const int64_t rows = std::max<int64_t>(1, int64_t(o.mb * 1024 * 1024) / rb);
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    std::vector<uint8_t> w(size_t(rows * rb));
    for (int64_t r = 0; r < rows; r++) {
        for (auto& v : x) v = 0.02f * nd(rng);
        codec::quantize_row(t, x.data(), w.data() + r * rb, n);
    }
    for (auto& v : x) v = nd(rng);
    std::vector<uint8_t> y(size_t(row_bytes(act, n)));
    probe::quantize_activation(t, x.data(), y.data(), n);  // as the forward pass does

    std::vector<float> ref(static_cast<size_t>(rows)), out(static_cast<size_t>(rows));
    std::printf("%-6s  %6.1f MiB, %lld rows x %lld:", type_name(t), double(rows * rb) / (1024 * 1024),
                (long long)rows, (long long)n);
    double scalar_gbs = 0;
    const auto dot_ref = vs.front().dot;
    for (const probe::DotVariant& v : vs) {
        double best = 1e30;
        const double start = now_s();
        do {
            const double t0 = now_s();
            for (int64_t r = 0; r < rows; r++) out[size_t(r)] = v.dot(n, w.data() + r * rb, y.data());
            best = std::min(best, now_s() - t0);
        } while (now_s() - start < o.seconds);
        if (v.dot == dot_ref) ref = out;
        // Differences relative to the typical size of a result (single results can cancel to ~0).
        double max_diff = 0, sum_sq = 0;
        for (int64_t r = 0; r < rows; r++) {
            max_diff = std::max(max_diff, double(std::fabs(out[size_t(r)] - ref[size_t(r)])));
            sum_sq += double(ref[size_t(r)]) * ref[size_t(r)];
        }
        const double max_rel = max_diff / (std::sqrt(sum_sq / double(rows)) + 1e-30);
        const double gbs = double(rows * rb) / best / 1e9;
        if (v.dot == dot_ref) scalar_gbs = gbs;
        std::printf("  %s %.2f GB/s", v.level, gbs);
        if (v.dot != dot_ref) std::printf(" (x%.1f, max diff %.0e of rms)", gbs / scalar_gbs, max_rel);
        std::fflush(stdout);
    }
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Options o = parse(argc, argv);
        size_t most = 0;  // the highest level any type has a variant for
        const char* top = "scalar";
        for (GgmlType t : kAllTypes)
            if (const auto vs = probe::dot_variants(t); vs.size() > most) most = vs.size(), top = vs.back().level;
        std::printf("dot_bench: single thread, SIMD levels up to %s\n", top);
        for (int64_t n : o.ns) {
            std::printf("n = %lld\n", (long long)n);
            for (GgmlType t : o.types) bench_type(t, o, n);
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "dot_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
