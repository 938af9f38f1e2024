// slm experiment: the whole study on a tiny float model (llama3-tiny: the QLoRA freeze to Q4_1, training,
// merge, quantize, audit, eval, report), its --resume, and its refusals.
#include <doctest/doctest.h>

#include <filesystem>

#include "../tools/experiment.h"
#include "json.h"
#include "test_util.h"

using namespace slm;
namespace fs = std::filesystem;

TEST_CASE("experiment: the Pareto front keeps exactly the points nothing beats on both axes") {
    using cli::experiment::Point;
    const std::vector<Point> pts = {{"a", 10, 0.5}, {"b", 20, 0.4}, {"c", 15, 0.9}, {"d", 5, 0.95}, {"e", 12, 0.6}, {"f", 20, 0.3}};
    const std::vector<Point> f = cli::experiment::pareto_front(pts);
    std::vector<std::string> names;
    for (const Point& p : f) names.push_back(p.label);
    CHECK(names == std::vector<std::string>{"d", "c", "b"});  // a and e lose to c; f loses to b
    CHECK(cli::experiment::pareto_front({}).empty());
    CHECK(cli::experiment::pareto_front({{"x", 1, 1}}).size() == 1);
}

TEST_CASE("experiment: end to end on llama3-tiny, resume skips finished steps, refusals") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const std::string base = test::fixture("models/llama3-tiny-f16.gguf");
    const std::string root = test::scratch_dir("experiment");
    const std::string out = root + "/run";
    fs::remove_all(out);
    const std::string common = "--base " + test::q(base) + " --out " + test::q(out) +
                               " --train-n 9 --test-n 3 --epochs 1 --shots 1 --formats Q8_0,Q4_K_M --threads 2";
    test::CmdResult r = test::run_slm("experiment " + common + " --dry-run", "exp-dry");
    REQUIRE_MESSAGE(r.rc == 0, r.err);
    CHECK(r.out.find("slm quantize") != std::string::npos);
    CHECK(r.out.find("Q4_1") != std::string::npos);  // a float base is frozen in 4 bits for QLoRA
    CHECK(!fs::exists(out + "/steps"));              // a dry run makes nothing

    r = test::run_slm("experiment " + common, "exp-run");
    REQUIRE_MESSAGE(r.rc == 0, r.err << r.out);
    const json::Value rep = json::parse(test::read_text(out + "/report.json"));
    const json::Value& rows = rep.at("results");
    REQUIRE(rows.size() == 4);  // base, tuned F16, Q8_0, Q4_K_M
    std::vector<std::string> formats;
    for (const json::Value& row : rows.as_array()) {
        formats.push_back(row.at("format").as_string());
        CHECK(fs::exists(row.at("model").as_string()));
        const double ex = row.at("eval").at("exact").as_number();
        CHECK(ex >= 0.0);
        CHECK(ex <= 1.0);
        CHECK(row.at("eval").at("n").as_int() == 3);
        CHECK(row.at("bits_per_weight").as_number() > 3.0);
    }
    CHECK(formats == std::vector<std::string>{"base", "F16", "Q8_0", "Q4_K_M"});
    CHECK(rows[0].at("eval").at("system_prompt").as_bool());   // the untuned base gets the task's instructions
    CHECK(!rows[1].at("eval").at("system_prompt").as_bool());  // the tuned model is evaluated as trained
    CHECK(rows[2].at("audit").at("kl_mean").as_number() >= 0.0);
    CHECK(rows[1].at("bits_per_weight").as_number() == doctest::Approx(16.0).epsilon(0.01));
    int n_files = 0;
    for (const json::Value& f : rep.at("files").as_array()) {
        CAPTURE(f.at("path").as_string());
        CHECK(fs::exists(f.at("path").as_string()));
        n_files++;
    }
    CHECK(n_files >= 15);
    CHECK(fs::exists(out + "/models/base-Q4_1.gguf"));
    CHECK(rep.at("training").at("steps").as_int() >= 1);
    CHECK(rep.at("handwritten").at("tuned-F16").at("n").as_int() == 3);  // gen-data's hand-written messages, graded too
    const std::string md = test::read_text(out + "/report.md");
    CHECK(md.find("## Base vs tuned") != std::string::npos);
    CHECK(md.find("## Accuracy by format") != std::string::npos);
    CHECK(md.find("## Speed by format") != std::string::npos);
    CHECK(md.find("## Memory by format") != std::string::npos);
    CHECK(md.find("tuned Q4_K_M") != std::string::npos);
    CHECK(test::read_text(out + "/plots/accuracy_vs_speed.svg").find("Pareto") != std::string::npos);

    // --resume: every step is found done; nothing is recomputed.
    const auto mtime = fs::last_write_time(out + "/models/tuned-Q8_0.gguf");
    r = test::run_slm("experiment " + common + " --resume", "exp-resume");
    REQUIRE_MESSAGE(r.rc == 0, r.err);
    CHECK(r.out.find("done before") != std::string::npos);
    CHECK(r.out.find("evaluate tuned") == std::string::npos);
    CHECK(fs::last_write_time(out + "/models/tuned-Q8_0.gguf") == mtime);

    // Refusals: an existing experiment without --resume, --resume of nothing, a missing base, an --out that is a file.
    r = test::run_slm("experiment " + common, "exp-again");
    CHECK(r.rc != 0);
    CHECK(r.err.find("--resume") != std::string::npos);
    r = test::run_slm("experiment --base " + test::q(base) + " --out " + test::q(root + "/none") + " --resume", "exp-nothing");
    CHECK(r.rc != 0);
    CHECK(r.err.find("holds no experiment") != std::string::npos);
    r = test::run_slm("experiment --base " + test::q(root + "/missing.gguf") + " --out " + test::q(root + "/x"), "exp-missing");
    CHECK(r.rc != 0);
    CHECK(r.err.find("missing.gguf") != std::string::npos);
    r = test::run_slm("experiment --base " + test::q(base) + " --out " + test::q(base), "exp-file");
    CHECK(r.rc != 0);
    CHECK(r.err.find("not a folder") != std::string::npos);
    r = test::run_slm("experiment --base " + test::q(base) + " --out " + test::q(root + "/y") + " --formats 'Q4;rm'", "exp-fmt");
    CHECK(r.rc != 0);
}
