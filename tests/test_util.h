// Shared test helpers: where the fixtures are, a scratch directory under build/, reading files.
#pragma once
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sys/wait.h>
#include <sstream>
#include <string>
#include <vector>

#include "backend.h"
#include "common.h"
#include "threadpool.h"

namespace slm::test {

// The message of the slm::Error that fn throws, or "" when it throws none (so a CHECK on the text fails).
inline std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A CPU backend on a 2-thread pool, for loading models (Model::load asks a backend what it supports) and for
// tests that do not care about the thread count.
inline Backend& cpu() {
    static ThreadPool pool(2);
    static std::unique_ptr<Backend> be = make_cpu_backend(pool);
    return *be;
}

// ../shared/fixtures relative to the project root (tests run from there), or $SLM_FIXTURES.
inline std::string fixtures_dir() {
    if (const char* e = std::getenv("SLM_FIXTURES")) return e;
    return "../shared/fixtures";
}
inline std::string fixture(const std::string& rel) { return fixtures_dir() + "/" + rel; }
inline bool have_fixture(const std::string& rel) { return std::filesystem::exists(fixture(rel)); }

// Use at the top of a test case: returns from it with a message when the fixture is absent.
#define SLM_REQUIRE_FIXTURE(rel)                                                        \
    do {                                                                                \
        if (!slm::test::have_fixture(rel)) {                                            \
            MESSAGE("skipped: fixture " << slm::test::fixture(rel) << " is not present"); \
            return;                                                                     \
        }                                                                               \
    } while (0)

// A fresh scratch directory for one test: $SLM_TEST_TMP (default build/test-tmp)/<name>.
inline std::string scratch_dir(const std::string& name) {
    const char* base = std::getenv("SLM_TEST_TMP");
    std::filesystem::path p = std::filesystem::path(base ? base : "build/test-tmp") / name;
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p.string();
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
inline std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}
inline std::vector<float> read_f32(const std::string& path) {
    auto b = read_bytes(path);
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

// n values uniform in [-scale, scale) from seed, by a fixed mapping of raw 32-bit draws (the values do not
// depend on the standard library's distributions).
inline std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = scale * (float(g() >> 8) / float(1 << 24) * 2.0f - 1.0f);
    return v;
}

// A kquants/TYPE.dot.txt fixture: one value per line after '#' comment lines (printed with 9 significant
// digits, so each parses back to the exact float ggml computed).
inline std::vector<double> read_dot_txt(const std::string& path) {
    std::istringstream in(read_text(path));
    std::vector<double> v;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        v.push_back(std::stod(line));
    }
    return v;
}

// One logits reference file (fixtures/logits/*.txt): the prompt's ids and, per position, the log-sum-exp and
// the listed top logits.
struct RefLogits {
    std::vector<int32_t> tokens;
    struct Pos {
        double lse = 0;
        std::vector<std::pair<int32_t, float>> top;
    };
    std::vector<Pos> pos;
};

inline RefLogits read_ref(const std::string& path) {
    RefLogits r;
    std::istringstream in(read_text(path));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("#", 0) == 0) {
            size_t k = line.find("tokens ");
            if (k == std::string::npos) continue;
            std::istringstream ts(line.substr(k + 7));
            int32_t id;
            while (ts >> id) r.tokens.push_back(id);
        } else if (line.rfind("pos ", 0) == 0) {
            std::istringstream ls(line);
            std::string w;
            int p;
            RefLogits::Pos P;
            ls >> w >> p >> w >> P.lse >> w;
            REQUIRE(w == "top");
            REQUIRE(p == int(r.pos.size()));
            while (ls >> w) {
                size_t c = w.find(':');
                REQUIRE(c != std::string::npos);
                P.top.push_back({int32_t(std::stol(w.substr(0, c))), std::stof(w.substr(c + 1))});
            }
            r.pos.push_back(P);
        }
    }
    REQUIRE(!r.tokens.empty());
    REQUIRE(r.pos.size() == r.tokens.size());
    return r;
}

// Runs the built binary ($SLM_BIN) with `args` (a shell fragment; quote paths with q()), optional environment
// assignments in front (`env`, e.g. "SLM_SIMD=avx2"), stdin from /dev/null; stdout and stderr are captured in
// files of a scratch directory named `name`.
struct CmdResult {
    int rc = -1;
    std::string out, err;
};
inline std::string q(const std::string& s) { return "'" + s + "'"; }
inline CmdResult run_slm(const std::string& args, const std::string& name, const std::string& env = "") {
    const char* bin = std::getenv("SLM_BIN");
    REQUIRE_MESSAGE(bin != nullptr, "SLM_BIN is not set (run through make test)");
    const std::string dir = scratch_dir("cmd-" + name);
    const std::string cmd = env + (env.empty() ? "" : " ") + q(bin) + " " + args + " >" + dir + "/out 2>" + dir +
                            "/err </dev/null";
    CmdResult r;
    const int st = std::system(cmd.c_str());
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = read_text(dir + "/out");
    r.err = read_text(dir + "/err");
    return r;
}

}  // namespace slm::test
