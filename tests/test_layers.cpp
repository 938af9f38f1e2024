// The layering rules of README's Architecture section, checked on the source tree (tests run from the project
// root): src/ and tools/ include no kernels/ header (the CPU backend is reached through backend.h's
// make_cpu_backend; the one exception is the GPU kernel benchmark, which times the CUDA kernels themselves), and
// kernels/ includes only the base headers of src/.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Every quoted include of every .h / .cpp / .cu file under dir: (file, included path).
std::vector<std::pair<std::string, std::string>> includes_under(const std::string& dir) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!fs::exists(dir)) return out;
    const std::regex inc(R"re(^\s*#\s*include\s+"([^"]+)")re");
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        const std::string ext = e.path().extension().string();
        if (ext != ".h" && ext != ".cpp" && ext != ".cu" && ext != ".cuh") continue;
        std::ifstream f(e.path());
        std::string line;
        std::smatch m;
        while (std::getline(f, line))
            if (std::regex_search(line, m, inc)) out.push_back({e.path().generic_string(), m[1].str()});
    }
    return out;
}

bool is_kernel_header(const std::string& inc) { return inc.rfind("cpu/", 0) == 0 || inc.rfind("cuda/", 0) == 0; }

}  // namespace

TEST_CASE("layers: src/ and tools/ reach the kernels only through backend.h") {
    REQUIRE_MESSAGE(fs::exists("src/backend.h"), "run from the project root");
    int n = 0;
    for (const char* dir : {"src", "tools"})
        for (const auto& fi : includes_under(dir)) {
            const std::string &file = fi.first, &inc = fi.second;  // (no structured bindings: clang 14 cannot capture them)
            n++;
            // the kernel benchmarks time the kernels themselves: the GPU one, the training GEMM's and the inference
            // GEMM tiles' (dot_bench reaches the CPU dots through backend.h's probe::dot_variants)
            if (file == "tools/bench/train_gemm_bench.cpp" || file == "tools/bench/gpu_bench.cu" ||
                file == "tools/bench/gemm_bench.cpp")
                continue;
            CAPTURE(file);
            CHECK_MESSAGE(!is_kernel_header(inc), file << " includes the kernel header " << inc);
        }
    CHECK(n > 100);
}

TEST_CASE("layers: kernels/ include only the base headers of src/") {
    const std::set<std::string> base = {"types.h", "common.h", "tensor.h", "backend.h", "ops.h", "threadpool.h"};
    int n = 0;
    for (const auto& fi : includes_under("kernels")) {
        const std::string &file = fi.first, &inc = fi.second;
        n++;
        CAPTURE(file);
        CHECK_MESSAGE((is_kernel_header(inc) || base.count(inc)), file << " includes " << inc << ", which is not a base header");
    }
    CHECK(n > 50);
}
