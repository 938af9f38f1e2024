// The forward pass, bit for bit: `slm logits --out` must reproduce the sha256 of the last position's logits
// recorded in tests/golden/logits_sha256.tsv (by tests/golden/gen_logits_sha256.sh) for every fixture model, KV
// type, numerics mode and SIMD level this CPU runs. A change that moves a single bit of any logit fails here; a
// change of numerics that is meant must regenerate the table and say so in its commit.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cpu/cpu_features.h"
#include "sha256.h"
#include "test_util.h"

using namespace slm;

namespace {

struct GoldenRow {
    std::string model, settings, simd, sha;
};

std::vector<GoldenRow> read_golden(std::string* tokens) {
    std::ifstream f("tests/golden/logits_sha256.tsv");
    REQUIRE_MESSAGE(f.good(), "cannot open tests/golden/logits_sha256.tsv (run from the project root)");
    std::vector<GoldenRow> rows;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty()) continue;
        if (line[0] == '#') {
            const size_t a = line.find("(tokens: "), b = line.find(';', a);
            if (a != std::string::npos && b != std::string::npos) *tokens = line.substr(a + 9, b - a - 9);
            continue;
        }
        std::istringstream in(line);
        GoldenRow r;
        std::getline(in, r.model, '\t');
        std::getline(in, r.settings, '\t');
        std::getline(in, r.simd, '\t');
        std::getline(in, r.sha, '\t');
        rows.push_back(r);
    }
    return rows;
}

// The levels SLM_SIMD can select on this CPU.
std::set<std::string> levels_here() {
    const CpuFeatures& f = cpu_features();
    std::set<std::string> l{"scalar"};
    if (f.avx2 && f.fma && f.f16c) l.insert("avx2");
    if (l.count("avx2") && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) {
        l.insert("avx512");
        if (f.avx512vnni) l.insert("avx512_vnni");
    }
    return l;
}

}  // namespace

TEST_CASE("logits golden: every fixture model reproduces its recorded logits bit for bit") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    std::string tokens;
    const std::vector<GoldenRow> rows = read_golden(&tokens);
    REQUIRE(rows.size() >= 39);
    REQUIRE(!tokens.empty());
    const bool asan = std::getenv("SLM_ASAN") != nullptr;
    const std::set<std::string> here = levels_here();
    const std::string dir = test::scratch_dir("logits-golden");

    std::map<std::string, std::string> path = {
        {"stories260K", test::fixture("models/stories260K.gguf")},
        {"llama3-tiny-f16", test::fixture("models/llama3-tiny-f16.gguf")},
        {"SmolLM2-Q4_1", test::fixture("models/SmolLM2-135M-Instruct-Q4_1.gguf")},
    };
    std::set<std::string> skipped_levels;
    int checked = 0;
    for (const GoldenRow& r : rows) {
        if (!here.count(r.simd)) {
            skipped_levels.insert(r.simd);
            continue;
        }
        // Under the sanitizers (slow) check the small model and one quantized type at the top level only.
        if (asan && !(r.simd == *here.rbegin() && (r.model == "stories260K" || r.model == "llama3-tiny-Q4_K_M")))
            continue;
        if (!path.count(r.model)) {
            const std::string prefix = "llama3-tiny-";
            REQUIRE_MESSAGE(r.model.rfind(prefix, 0) == 0, "unknown model " << r.model);
            const std::string type = r.model.substr(prefix.size()), out = dir + "/tiny-" + type + ".gguf";
            const test::CmdResult qr = test::run_slm("quantize " + test::q(path["llama3-tiny-f16"]) + " " +
                                                         test::q(out) + " " + type + " --threads 2",
                                                     "golden-quantize");
            REQUIRE_MESSAGE(qr.rc == 0, qr.err);
            path[r.model] = out;
        }
        if (!test::have_fixture("models/SmolLM2-135M-Instruct-Q4_1.gguf") && r.model == "SmolLM2-Q4_1") continue;
        CAPTURE(r.model);
        CAPTURE(r.settings);
        CAPTURE(r.simd);
        std::string args = "logits -m " + test::q(path[r.model]) + " --tokens '" + tokens + "' --top 1 -t 2 --out " +
                           test::q(dir + "/out.f32");
        args += r.settings.rfind("f32", 0) == 0 ? " --kv-type f32" : " --kv-type f16";
        if (r.settings == "f16-llamacpp") args += " --llamacpp-numerics";
        const test::CmdResult lr = test::run_slm(args, "golden-logits", "SLM_SIMD=" + r.simd);
        REQUIRE_MESSAGE(lr.rc == 0, lr.err);
        const std::vector<uint8_t> bytes = test::read_bytes(dir + "/out.f32");
        Sha256 h;
        h.update(bytes.data(), bytes.size());
        CHECK(h.finish_hex() == r.sha);
        checked++;
    }
    CHECK(checked > 0);
    for (const std::string& l : skipped_levels) MESSAGE("SIMD level " << l << " not on this CPU: its rows were skipped");
    MESSAGE(checked << " of " << rows.size() << " recorded logits checked");
}
