// `slm experiment`: the study end to end, as resumable steps.
//
// Each step is one `slm` subcommand run as a child process (this same binary, /proc/self/exe) with its inputs
// and outputs on disk under OUT, so a step can be rerun by hand from the command recorded for it, and the
// child's peak memory (wait4's ru_maxrss) is the step's own. A step that finished writes OUT/steps/NAME.json
// (its command, seconds, peak RSS, energy where measured); `--resume` skips the steps that have one and whose
// outputs still exist. The training step checkpoints, so an interrupted training resumes where it stopped.
//
//   data       slm gen-data                      OUT/data/{train,val,test}.jsonl
//   base       slm convert (HF directory) / link OUT/models/base.gguf; a float base is quantized to the frozen
//              + slm quantize Q4_1 (QLoRA)       4-bit base OUT/models/base-Q4_1.gguf (see kQloraType)
//   eval-base  slm eval (system prompt, few-shot) OUT/eval/base.json
//   train      slm train (LoRA r8 a16, frozen)   OUT/models/adapter.gguf, OUT/train/train.json
//   merge      slm merge --type F16              OUT/models/tuned-F16.gguf
//   quant-T    slm quantize (T = Q8_0 ...)       OUT/models/tuned-T.gguf
//   audit-T    slm audit tuned-F16 tuned-T       OUT/audit/T.json (KL, top-1 agreement, per-layer error)
//   eval-T     slm eval (as trained: no system)  OUT/eval/tuned-T.json
//   report     (in process)                      OUT/report.md, OUT/report.json, OUT/plots/*.svg
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>
#include <string>
#include <vector>

#include "args.h"
#include "backend.h"
#include "commands.h"
#include "experiment.h"
#include "common.h"
#include "gguf.h"
#include "input_file.h"
#include "intent/data.h"
#include "json.h"
#include "output_file.h"
#include "progress.h"
#include "svg.h"
#include "threadpool.h"

namespace fs = std::filesystem;

namespace slm::cli {

namespace {

const char* kHelp =
    "usage: slm experiment [--base MODEL.gguf|HF_DIR] [--data DIR] [--out DIR] [--train-n N] [--test-n N]\n"
    "                      [--epochs E] [--lr LR] [--full] [--no-qlora] [--gpu] [--resume] [--threads N]\n"
    "\n"
    "Runs the study end to end: generate the intent data; evaluate the untuned base (the task's system prompt,\n"
    "few-shot, the model's chat template); fine-tune LoRA (rank 8, alpha 16, loss on the answer only) on the\n"
    "frozen 4-bit base (QLoRA); merge to F16; quantize to Q8_0, Q5_K_M, Q4_K_M, Q3_K_M (and GPTQ-4 with --gpu);\n"
    "audit each quantized variant against the tuned F16 model; evaluate every variant on the held-out test\n"
    "split (exact match, valid JSON, per field and language, tokens/s, latency, peak RAM, energy where the\n"
    "machine has a counter); write OUT/report.md, OUT/report.json and SVG plots (OUT/plots/).\n"
    "Every step is a `slm` subcommand whose command, time and peak memory are recorded (OUT/steps/);\n"
    "--resume continues an interrupted run, skipping finished steps. Models are kept in OUT/models/.\n"
    "\n"
    "  --base PATH     the base model: a GGUF file or a Hugging Face directory (converted with slm convert).\n"
    "                  Default: SmolLM2-135M-Instruct*.gguf found in $SLM_MODELS, models/ or\n"
    "                  ../shared/fixtures/models/ (tools/get-model.sh fetches it where a network exists)\n"
    "  --data DIR      use DIR/{train,val,test}.jsonl instead of generating them\n"
    "  --out DIR       output folder (default experiments/run); must be new unless --resume\n"
    "  --train-n N     training examples (default 1440; --full: 2700); validation is a ninth of it\n"
    "  --test-n N      test examples (default 150; --full: 600); the hand-written messages (gen-data's\n"
    "                  handwritten.jsonl) are graded too, the first N of them when N is smaller\n"
    "  --epochs E      training epochs (default 1; --full: 5)\n"
    "  --lr LR         peak learning rate (default 2e-3)\n"
    "  --batch N       sequences per optimizer step (default 8)\n"
    "  --full          the study's size: 2,700 train / 300 val examples, 5 epochs, 600 test messages\n"
    "  --no-qlora      a float base is trained as it is (plain LoRA) instead of frozen in 4 bits\n"
    "  --formats LIST  the quantized variants (default Q8_0,Q5_K_M,Q4_K_M,Q3_K_M; any `slm quantize` type)\n"
    "  --gpu           also GPTQ-4 and the GPU rows (slm built with `make cuda`)\n"
    "  --constrained   evaluate every variant with schema-constrained decoding (default: plain greedy, so the\n"
    "                  valid-JSON rate is a measurement)\n"
    "  --shots K       few-shot examples for the untuned base (default 3)\n"
    "  --seed S        data and training seed (default 1)\n"
    "  --threads N     worker threads of every step (default 0: one per core)\n"
    "  --resume        continue the experiment in --out\n"
    "  --dry-run       print the steps' commands and stop\n";

// The 4-bit type a float base is frozen in for QLoRA. The study used bitsandbytes' NF4 (4-bit codes, one
// absmax scale per 64 weights). slm's kernels run backward through every ggml type; Q4_1 is the nearest ggml
// equivalent (4-bit codes, a scale and a minimum per 32 weights: 5 bits per weight against NF4's ~4.5), its
// rows dequantize with one multiply-add per weight, and it is the type of the fixture's SmolLM2 file.
constexpr const char* kQloraType = "Q4_1";
const std::vector<std::string> kCpuFormats = {"Q8_0", "Q5_K_M", "Q4_K_M", "Q3_K_M"};

// The published figures (Llama 3.2 1B; FP16/GPTQ speeds on a T4).
struct Published {
    const char* format;
    double exact;  // < 0: not published
};
const Published kStudy[] = {{"base", 0.82}, {"F16", 0.99}, {"Q8_0", -1}, {"Q5_K_M", 0.99},
                            {"Q4_K_M", 0.89}, {"Q3_K_M", 0.60}, {"GPTQ-4", -1}};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string shell_quote(const std::string& s) {
    if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+") == std::string::npos)
        return s;
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string join_cmd(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + shell_quote(a);
    return s;
}

json::Value read_json(const std::string& path) {
    return json::parse(read_input_file(path, "JSON report", uint64_t(1) << 30));
}

// The package energy counter (Intel RAPL through powercap), in microjoules; -1 where there is none or it
// cannot be read (most VMs).
struct Rapl {
    std::string path;
    double range_uj = 0;
    Rapl() {
        const char* p = "/sys/class/powercap/intel-rapl:0/energy_uj";
        std::ifstream f(p);
        double v;
        if (f >> v) {
            path = p;
            std::ifstream r("/sys/class/powercap/intel-rapl:0/max_energy_range_uj");
            if (!(r >> range_uj)) range_uj = 0;
        }
    }
    double read() const {
        if (path.empty()) return -1;
        std::ifstream f(path);
        double v;
        return f >> v ? v : -1;
    }
    // Joules between two readings (one wrap of the counter allowed).
    double joules(double a, double b) const {
        if (a < 0 || b < 0) return -1;
        double d = b - a;
        if (d < 0) d += range_uj;
        return d >= 0 ? d * 1e-6 : -1;
    }
};

struct StepResult {
    double seconds = 0;
    double cpu_s = -1;  // user + system CPU seconds of the step's process (a measure the machine's load barely moves)
    long peak_rss_kib = -1;
    double energy_j = -1;
};

// Runs `slm ARGS...` (this binary) with stdout appended to log; stderr stays the terminal's (progress lines).
StepResult run_child(const std::vector<std::string>& args, const std::string& log, const Rapl& rapl) {
    std::vector<std::string> full = {"slm"};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : full) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::fflush(stdout);
    std::fflush(stderr);
    StepResult r;
    const double e0 = rapl.read(), t0 = now_s();
    const pid_t pid = fork();
    if (pid < 0) fail("cannot start a step: fork: %s", std::strerror(errno));
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            ::close(fd);
        }
        execv("/proc/self/exe", cargv.data());
        std::fprintf(stderr, "slm experiment: cannot run /proc/self/exe: %s\n", std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru {};
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) fail("waiting for a step: %s", std::strerror(errno));
    r.seconds = now_s() - t0;
    r.energy_j = rapl.joules(e0, rapl.read());
    r.peak_rss_kib = ru.ru_maxrss;
    r.cpu_s = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("step failed (%s): %s\n  its output: %s", WIFEXITED(status) ? strfmt("exit %d", WEXITSTATUS(status)).c_str()
                                                                          : strfmt("signal %d", WTERMSIG(status)).c_str(),
             join_cmd(full).c_str(), log.c_str());
    return r;
}

struct Step {
    std::string name;                  // also the file OUT/steps/NAME.json
    std::string what;                  // one line for the progress output
    std::vector<std::string> args;     // slm subcommand and its arguments (empty: an in-process step)
    std::vector<std::string> outputs;  // files that must exist for the step to count as done
    double cost = 1;                   // relative cost, for the ETA
    std::function<void()> in_process;  // for steps that are not a subcommand
};

struct Variant {
    std::string format;  // "base", "F16", "Q8_0", ... "GPTQ-4"
    std::string model;   // path
    std::string eval;    // OUT/eval/NAME.json
    std::string audit;   // OUT/audit/FORMAT.json ("" for base and F16)
    bool gpu = false;
};

std::string find_default_base() {
    std::vector<std::string> dirs;
    if (const char* m = std::getenv("SLM_MODELS"); m && *m) dirs.push_back(m);
    dirs.push_back("models");
    dirs.push_back("../shared/fixtures/models");
    for (const auto& d : dirs) {
        std::error_code ec;
        if (!fs::is_directory(d, ec)) continue;
        std::vector<std::string> hits;
        for (const auto& e : fs::directory_iterator(d, ec)) {
            const std::string n = e.path().filename().string();
            if (n.rfind("SmolLM2-135M-Instruct", 0) == 0 && e.path().extension() == ".gguf" && e.is_regular_file(ec))
                hits.push_back(e.path().string());
        }
        std::sort(hits.begin(), hits.end());
        if (!hits.empty()) return hits.front();
    }
    fail("no base model: pass --base MODEL.gguf (or a Hugging Face directory), or put SmolLM2-135M-Instruct "
         "(a GGUF file named SmolLM2-135M-Instruct*.gguf) in $SLM_MODELS, models/ or ../shared/fixtures/models/; "
         "tools/get-model.sh downloads it where a network exists");
}

bool is_float_model(const std::string& gguf_path) {
    gguf::File f = gguf::File::open(gguf_path);
    for (const auto& t : f.tensors())
        if (t.name == "token_embd.weight" || t.name.find("attn_q.weight") != std::string::npos)
            if (t.type != GgmlType::F32 && t.type != GgmlType::F16 && t.type != GgmlType::BF16) return false;
    return true;
}

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("model name", 0) == 0) {
            const size_t c = line.find(':');
            if (c == std::string::npos) break;
            std::string v = line.substr(c + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    return "unknown";
}


// ---- plots ----------------------------------------------------------------------------------------------

}  // namespace
}  // namespace slm::cli

namespace slm::cli::experiment {
std::vector<Point> pareto_front(std::vector<Point> pts) {
    std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.x > b.x || (a.x == b.x && a.y > b.y); });
    std::vector<Point> front;
    double best_y = -1e300;
    for (const Point& p : pts)
        if (p.y > best_y) {
            front.push_back(p);
            best_y = p.y;
        }
    std::reverse(front.begin(), front.end());
    return front;
}
}  // namespace slm::cli::experiment

namespace slm::cli {
namespace {
using experiment::Point;
using experiment::pareto_front;

double nice_step(double range) {
    const double raw = range / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (raw <= m * mag) return m * mag;
    return 10 * mag;
}

std::string scatter_svg(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                        const std::vector<Point>& pts, bool mark_pareto, const std::string& note) {
    const double W = 640, H = 420, L = 70, R = 30, T = 50, B = 60;
    svg::Doc d(W, H);
    d.rect(0, 0, W, H, "#ffffff");
    d.text(W / 2, 26, title, 16, "middle");
    double x0 = 1e300, x1 = -1e300;
    for (const Point& p : pts) x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
    if (pts.empty()) x0 = 0, x1 = 1;
    if (x1 - x0 < 1e-9) x0 -= 1, x1 += 1;
    const double pad = (x1 - x0) * 0.08;
    x0 = std::max(0.0, x0 - pad);
    x1 += pad;
    const double y0 = 0, y1 = 1.0;
    auto X = [&](double v) { return L + (v - x0) / (x1 - x0) * (W - L - R); };
    auto Y = [&](double v) { return H - B - (v - y0) / (y1 - y0) * (H - T - B); };
    d.line(L, H - B, W - R, H - B, "#444");
    d.line(L, T, L, H - B, "#444");
    const double xs = nice_step(x1 - x0);
    for (double v = std::ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs) {
        d.line(X(v), H - B, X(v), H - B + 5, "#444");
        d.line(X(v), T, X(v), H - B, "#eeeeee");
        d.text(X(v), H - B + 18, strfmt("%g", v), 11, "middle");
    }
    for (double v = 0; v <= 1.0 + 1e-9; v += 0.2) {
        d.line(L - 5, Y(v), L, Y(v), "#444");
        d.line(L, Y(v), W - R, Y(v), "#eeeeee");
        d.text(L - 8, Y(v) + 4, strfmt("%.1f", v), 11, "end");
    }
    d.text((L + W - R) / 2, H - 18, xlabel, 12, "middle");
    d.text(18, (T + H - B) / 2, ylabel, 12, "middle", -90);
    if (mark_pareto && pts.size() > 1) {
        const std::vector<Point> f = pareto_front(pts);
        for (size_t i = 1; i < f.size(); i++) d.line(X(f[i - 1].x), Y(f[i - 1].y), X(f[i].x), Y(f[i].y), "#d62728", 2);
        for (const Point& p : f) d.rect(X(p.x) - 7, Y(p.y) - 7, 14, 14, "none", "Pareto front: " + p.label, "#d62728");
    }
    for (const Point& p : pts) {
        d.rect(X(p.x) - 4, Y(p.y) - 4, 8, 8, "#1f77b4", strfmt("%s: %g, %.3f", p.label.c_str(), p.x, p.y));
        d.text(X(p.x) + 9, Y(p.y) - 6, p.label, 11);
    }
    if (!note.empty()) d.text(L, H - 3, note, 10, "start", 0, "#666");
    return d.str();
}

// ---- the report -----------------------------------------------------------------------------------------

double num_or(const json::Value* v, double def) { return v && v->is_number() ? v->as_number() : def; }
const json::Value* path_of(const json::Value& v, std::initializer_list<const char*> keys) {
    const json::Value* cur = &v;
    for (const char* k : keys) {
        if (!cur->is_object()) return nullptr;
        cur = cur->find(k);
        if (!cur) return nullptr;
    }
    return cur;
}
std::string f3(double v) { return v < 0 || !std::isfinite(v) ? "–" : strfmt("%.3f", v); }
std::string f1(double v) { return v < 0 || !std::isfinite(v) ? "–" : strfmt("%.1f", v); }

// Bits per weight of a GGUF file: tensor bytes over tensor elements (every tensor, embeddings and norms
// included), and the element count.
// What a GGUF file's tensors are, from one read of its header: bits per weight (tensor bytes over tensor
// elements, every tensor included, embeddings and norms too), the element count, and the types the weights are
// stored in by share of the weights ("q5_0 61%, q6_K 25%, q4_K 14%").
struct FileStats {
    double bpw = 0;
    int64_t n_params = 0;
    std::string types;
};
FileStats file_stats(const std::string& path) {
    gguf::File f = gguf::File::open(path);
    std::map<std::string, int64_t> n;
    double bytes = 0;
    FileStats st;
    for (const auto& t : f.tensors()) {
        n[type_name(t.type)] += t.n_elements();
        st.n_params += t.n_elements();
        bytes += double(t.nbytes);
    }
    st.bpw = st.n_params ? bytes * 8 / double(st.n_params) : 0;
    std::vector<std::pair<int64_t, std::string>> v;
    for (const auto& [k, c] : n) v.push_back({c, k});
    std::sort(v.rbegin(), v.rend());
    for (const auto& [c, k] : v) {
        const double pct = 100.0 * double(c) / double(std::max<int64_t>(1, st.n_params));
        if (pct < 0.5) continue;
        st.types += strfmt("%s%s %.0f%%", st.types.empty() ? "" : ", ", k.c_str(), pct);
    }
    return st;
}


struct Config {
    std::string base_arg, base_resolved, data_arg, out;
    int train_n = 1440, test_n = 150, epochs = 1, batch = 8, shots = 3, threads = 0;
    double lr = 2e-3;
    uint64_t seed = 1;
    bool full = false, qlora = true, gpu = false, constrained = false, resume = false, dry_run = false;
    std::string command;  // as typed
};

struct Row {  // one evaluated model
    Variant v;
    json::Value eval, audit;
    StepResult step;  // of its evaluation
    double bpw = 0;
    int64_t n_params = 0;
    std::string types;  // FileStats::types
    uint64_t file_bytes = 0;
};

std::string by_lang_cells(const json::Value& eval, const std::vector<std::string>& langs) {
    std::string s;
    for (const auto& l : langs) {
        const json::Value* t = path_of(eval, {"by_lang", l.c_str()});
        if (!t) {
            s += " – |";
            continue;
        }
        s += strfmt(" %s |", f3(num_or(t->find("exact"), -1)).c_str());
    }
    return s;
}

// The layers (or tensor kinds) of an audit with the largest relative error, "blk 3 (0.021), ...".
std::string worst_groups(const json::Value& audit, const char* group, const char* key, int k) {
    const json::Value* g = audit.find(group);
    if (!g || !g->is_array()) return "–";
    std::vector<std::pair<double, std::string>> v;
    for (const json::Value& e : g->as_array()) {
        const json::Value* id = e.find(key);
        std::string name = !id ? "?" : id->is_string() ? id->as_string() : id->is_number() ? strfmt("%lld", (long long)id->as_number()) : "?";
        v.push_back({num_or(path_of(e, {"rel_fro"}), num_or(path_of(e, {"error", "rel_fro"}), -1)), name});
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string s;
    for (int i = 0; i < k && i < int(v.size()); i++) s += strfmt("%s%s %s (%.4f)", i ? ", " : "", key, v[size_t(i)].second.c_str(), v[size_t(i)].first);
    return s.empty() ? "–" : s;
}

double published(const std::string& format) {
    for (const Published& p : kStudy)
        if (format == p.format) return p.exact;
    return -1;
}

void write_report(const Config& cfg, const std::string& out, const std::vector<Row>& rows, const json::Value& train,
                  const json::Value& hw_base, const json::Value& hw_tuned,
                  const std::vector<std::pair<std::string, std::string>>& files, const json::Value& steps_json,
                  const std::string& machine, const std::string& backend_name, double total_s, double total_cpu_s, const Rapl& rapl) {
    const std::vector<std::string> langs = {"en", "es", "de", "fr", "it", "pt", "mix"};
    const Row* base = nullptr;
    const Row* f16 = nullptr;
    for (const Row& r : rows) {
        if (r.v.format == "base") base = &r;
        if (r.v.format == "F16" && !r.v.gpu) f16 = &r;
    }
    auto exact = [](const Row& r) { return num_or(r.eval.find("exact"), -1); };
    auto decode_tps = [](const Row& r) { return num_or(path_of(r.eval, {"speed", "decode_tokens_per_second"}), -1); };
    auto label = [](const Row& r) { return r.v.format == "base" ? std::string("base") : "tuned " + r.v.format + (r.v.gpu ? " (GPU)" : ""); };
    const int n_test = base ? int(num_or(base->eval.find("n"), 0)) : 0;

    std::string md = "# slm experiment: the study, reproduced\n\n";
    md += strfmt("Base model: `%s`. Test split: %d messages (`%s`). Command: `%s`.\n\n", cfg.base_resolved.c_str(), n_test,
                 (fs::path(out) / "data" / "test.jsonl").string().c_str(), cfg.command.c_str());
    md += strfmt("Machine: %s; CPU kernels: %s. The whole run took %s (%s of CPU time in its steps).\n\n", machine.c_str(),
                 backend_name.c_str(), fmt_duration(total_s).c_str(), fmt_duration(total_cpu_s).c_str());

    md += "## Base vs tuned\n\n";
    md += "The untuned base gets the task's system prompt and " + std::to_string(cfg.shots) +
          " solved examples; the tuned model gets only the message, as it was trained (`slm train --drop-system`: the\n"
          "instructions are in the weights now, so every prompt is ~400 tokens shorter). Decoding: " +
          std::string(cfg.constrained ? "schema-constrained greedy" : "plain greedy (no constraint), so valid JSON is measured") + ".\n\n";
    md += "| model | exact match | valid JSON | action | product | quantity | en | es | de | fr | it | pt | mixed | study (Llama 3.2 1B) |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const Row* r : {base, f16}) {
        if (!r) continue;
        md += strfmt("| %s | **%s** | %s | %s | %s | %s |%s %s |\n", label(*r).c_str(), f3(exact(*r)).c_str(),
                     f3(num_or(r->eval.find("valid_json"), -1)).c_str(), f3(num_or(path_of(r->eval, {"fields", "action"}), -1)).c_str(),
                     f3(num_or(path_of(r->eval, {"fields", "product"}), -1)).c_str(),
                     f3(num_or(path_of(r->eval, {"fields", "quantity"}), -1)).c_str(), by_lang_cells(r->eval, langs).c_str(),
                     f3(published(r->v.format)).c_str());
    }

    if (!hw_base.is_null() && !hw_tuned.is_null()) {
        md += strfmt("\nOn the %d hand-written messages (`handwritten.jsonl`: phrasings no generator made, never trained on):\n\n",
                     int(num_or(hw_base.find("n"), 0)));
        md += "| model | exact match | valid JSON | action | product | quantity | en | es | de | fr | it | pt | mixed |\n";
        md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for (const auto* e : {&hw_base, &hw_tuned})
            md += strfmt("| %s | **%s** | %s | %s | %s | %s |%s\n", e == &hw_base ? "base" : "tuned F16",
                         f3(num_or(e->find("exact"), -1)).c_str(), f3(num_or(e->find("valid_json"), -1)).c_str(),
                         f3(num_or(path_of(*e, {"fields", "action"}), -1)).c_str(), f3(num_or(path_of(*e, {"fields", "product"}), -1)).c_str(),
                         f3(num_or(path_of(*e, {"fields", "quantity"}), -1)).c_str(), by_lang_cells(*e, langs).c_str());
    }

    md += "\n## Accuracy by format\n\nEvery quantized variant is made from the tuned F16 model. KL and top-1 agreement: `slm audit` "
          "against tuned F16 on the test split's messages and answers (next-token distributions).\n\n";
    md += "| format | bits/weight | stored as (share of weights) | exact match | valid JSON | action | product | quantity | KL vs F16 | top-1 agreement | study |\n";
    md += "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const Row& r : rows) {
        if (r.v.format == "base") continue;
        md += strfmt("| %s | %.2f | %s | **%s** | %s | %s | %s | %s | %s | %s | %s |\n", label(r).c_str(), r.bpw, r.types.c_str(), f3(exact(r)).c_str(),
                     f3(num_or(r.eval.find("valid_json"), -1)).c_str(), f3(num_or(path_of(r.eval, {"fields", "action"}), -1)).c_str(),
                     f3(num_or(path_of(r.eval, {"fields", "product"}), -1)).c_str(),
                     f3(num_or(path_of(r.eval, {"fields", "quantity"}), -1)).c_str(),
                     r.audit.is_null() ? "–" : strfmt("%.4f", num_or(path_of(r.audit, {"text", "kl_mean"}), -1)).c_str(),
                     r.audit.is_null() ? "–" : f3(num_or(path_of(r.audit, {"text", "top1_agreement"}), -1)).c_str(),
                     f3(published(r.v.format)).c_str());
    }
    // The cliff, in words, from the numbers above.
    if (f16) {
        std::string worst_fmt;
        double worst_drop = 0;
        for (const Row& r : rows)
            if (r.v.format != "base" && r.v.format != "F16" && exact(*f16) - exact(r) > worst_drop)
                worst_drop = exact(*f16) - exact(r), worst_fmt = r.v.format;
        md += "\n";
        if (worst_drop >= 0.05)
            md += strfmt("The largest drop from tuned F16 (%.3f) is **%s: %.3f lower**. ", exact(*f16), worst_fmt.c_str(), worst_drop);
        else
            md += strfmt("No format loses 0.05 or more exact match against tuned F16 (%.3f): no cliff on this model. ", exact(*f16));
        md += "Read it with the audit: bits per weight are the file's tensor bytes over its weights, and the \"stored as\" column "
              "shows the types actually used. Where a model's rows are not a multiple of 256 (SmolLM2: 576 and 1536 wide), "
              "llama.cpp's K-quant mixes fall back to other types (Q2_K and Q3_K to q4_0, Q4_K to q5_0, Q5_K to q5_1, Q6_K to q8_0), "
              "so a mix holds more bits than its name says; the KL and top-1 columns are what the model's next-token "
              "distributions felt.\n";
    }

    md += "\n## Speed by format\n\nGreedy decoding of the test split, " +
          (backend_name.empty() ? std::string("") : backend_name) + "; prompt tokens are each message's own (the shared prefix is evaluated once). "
          "Decoding uses slm eval's lookup decoding (draft tokens guessed from earlier replies and checked in one "
          "forward pass; the replies are exactly those of one token per pass): generation tok/s is generated tokens "
          "over decoding time, forward passes/s what the model itself ran at.\n\n";
    md += "| format | prompt tok/s | generation tok/s | forward passes/s (tokens per pass) | latency p50 (ms) | latency p95 (ms) | energy per generated token |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|\n";
    for (const Row& r : rows) {
        const double gen = num_or(path_of(r.eval, {"speed", "generated_tokens"}), 0);
        const double passes = num_or(path_of(r.eval, {"speed", "decode_evals"}), 0);
        const double dec_s = num_or(path_of(r.eval, {"speed", "decode_seconds"}), 0);
        const std::string pass_col = passes > 0 && dec_s > 0 ? strfmt("%.1f (%.2f)", passes / dec_s, gen / passes) : "-";
        md += strfmt("| %s | %s | %s | %s | %s | %s | %s |\n", label(r).c_str(),
                     f1(num_or(path_of(r.eval, {"speed", "prompt_tokens_per_second"}), -1)).c_str(), f1(decode_tps(r)).c_str(),
                     pass_col.c_str(),
                     f1(num_or(path_of(r.eval, {"speed", "latency_ms_p50"}), -1)).c_str(),
                     f1(num_or(path_of(r.eval, {"speed", "latency_ms_p95"}), -1)).c_str(),
                     r.step.energy_j >= 0 && gen > 0 ? strfmt("%.3f J (RAPL package)", r.step.energy_j / gen).c_str()
                                                      : "not available");
    }
    if (rapl.path.empty())
        md += "\nEnergy: not available (this machine exposes no RAPL counter at /sys/class/powercap/intel-rapl:0; no figure is made up).\n";

    md += "\n## Memory by format\n\n| format | file size (MiB) | weights | peak RAM of the evaluation (MiB) |\n|---|---:|---:|---:|\n";
    for (const Row& r : rows)
        md += strfmt("| %s | %.1f | %.1f M | %.1f |\n", label(r).c_str(), double(r.file_bytes) / 1048576.0, double(r.n_params) / 1e6,
                     r.step.peak_rss_kib >= 0 ? double(r.step.peak_rss_kib) / 1024.0 : -1.0);

    md += "\n## What quantization did (slm audit against tuned F16)\n\n| format | perplexity F16 → quantized | layers with the largest relative error | tensor kinds with the largest error |\n|---|---|---|---|\n";
    for (const Row& r : rows) {
        if (r.audit.is_null()) continue;
        md += strfmt("| %s | %.3f → %.3f | %s | %s |\n", r.v.format.c_str(), num_or(path_of(r.audit, {"text", "ppl_ref"}), -1),
                     num_or(path_of(r.audit, {"text", "ppl_quant"}), -1), worst_groups(r.audit, "by_layer", "layer", 3).c_str(),
                     worst_groups(r.audit, "by_kind", "kind", 3).c_str());
    }

    if (!train.is_null()) {
        md += "\n## Training\n\n";
        md += strfmt("LoRA rank %lld, alpha %g on `%s` (frozen), %lld examples (%lld tokens, %lld of them answer tokens), %d epochs, "
                     "batch %d, peak learning rate %g, cosine schedule: %lld steps in %s, %.0f tokens/s (%.1f GFLOP/s). "
                     "Loss per answer token at the end %.4f",
                     (long long)num_or(train.find("rank"), 0), num_or(train.find("alpha"), 0),
                     train.find("base") && train.at("base").is_string() ? train.at("base").as_string().c_str() : "?",
                     (long long)num_or(train.find("examples"), 0), (long long)num_or(train.find("tokens"), 0),
                     (long long)num_or(train.find("targets"), 0), int(num_or(train.find("epochs"), 0)), int(num_or(train.find("batch"), 0)),
                     num_or(train.find("lr"), 0), (long long)num_or(train.find("steps"), 0), fmt_duration(num_or(train.find("seconds"), 0)).c_str(),
                     num_or(train.find("tokens_per_second"), 0), num_or(train.find("gflops"), 0), num_or(train.find("final_loss"), 0));
        if (const json::Value* vl = train.find("val_loss"); vl && vl->is_number()) md += strfmt(", validation %.4f", vl->as_number());
        if (const json::Value* ve = train.find("val_exact"); ve && ve->is_number())
            md += strfmt(", validation exact match %.3f (%d examples)", ve->as_number(), int(num_or(train.find("val_n"), 0)));
        md += ".\n";
    }

    md += "\n## Plots\n\n![accuracy against generation speed](plots/accuracy_vs_speed.svg)\n\n![accuracy against bits per weight](plots/accuracy_vs_bpw.svg)\n";
    md += "\n## The study's own figures (Llama 3.2 1B, for comparison)\n\nUntuned 0.82 exact match, QLoRA-tuned ~0.99; Q5_K_M 0.99, Q4_K_M 0.89, Q3_K_M 0.60; "
          "GPTQ 4-bit 82% slower than FP16 on a T4 (7.92 against 44.56 tokens/s).\n";
    md += "\n## Files\n\n| role | path |\n|---|---|\n";
    for (const auto& [role, path] : files) md += strfmt("| %s | `%s` |\n", role.c_str(), path.c_str());
    md += "\nEvery variant can be evaluated again on other data: `slm eval -m MODEL --data FILE.jsonl --no-system` (tuned models).\n";

    // Plots.
    std::vector<Point> sp, bp;
    for (const Row& r : rows) {
        if (decode_tps(r) > 0 && exact(r) >= 0) sp.push_back({label(r), decode_tps(r), exact(r)});
        if (r.v.format != "base" && exact(r) >= 0) bp.push_back({r.v.format + (r.v.gpu ? " GPU" : ""), r.bpw, exact(r)});
    }
    write_output_file((fs::path(out) / "plots" / "accuracy_vs_speed.svg").string(),
                      scatter_svg("Exact match against generation speed", "generation tokens/s (greedy, batch 1)", "exact match", sp,
                                  true, "red: the Pareto front (no other variant is both faster and more accurate)"));
    write_output_file((fs::path(out) / "plots" / "accuracy_vs_bpw.svg").string(),
                      scatter_svg("Exact match against bits per weight (tuned model)", "bits per weight (file tensor bytes / weights)",
                                  "exact match", bp, false, ""));

    // report.json: every figure, with where it came from.
    json::Value j = json::Value::object();
    j.set("command", cfg.command);
    j.set("machine", machine);
    j.set("cpu_kernels", backend_name);
    j.set("slm", json::Value(std::string("slm built ") + __DATE__ + " " + __TIME__ + " with " + __VERSION__));
    j.set("seconds", total_s);
    j.set("cpu_seconds", total_cpu_s);
    json::Value c = json::Value::object();
    c.set("base", cfg.base_resolved);
    c.set("train_n", cfg.train_n);
    c.set("test_n", cfg.test_n);
    c.set("epochs", cfg.epochs);
    c.set("lr", cfg.lr);
    c.set("batch", cfg.batch);
    c.set("shots", cfg.shots);
    c.set("seed", int64_t(cfg.seed));
    c.set("qlora", cfg.qlora);
    c.set("constrained", cfg.constrained);
    c.set("gpu", cfg.gpu);
    j.set("config", c);
    j.set("training", train);
    if (!hw_base.is_null()) {
        json::Value hw = json::Value::object();
        for (const auto& [name, e] : {std::pair<const char*, const json::Value*>{"base", &hw_base}, {"tuned-F16", &hw_tuned}}) {
            json::Value o = json::Value::object();
            for (const char* k : {"n", "exact", "valid_json", "fields", "by_lang"})
                if (const json::Value* x = e->find(k)) o.set(k, *x);
            hw.set(name, o);
        }
        j.set("handwritten", hw);
    }
    json::Value rs = json::Value::array();
    for (const Row& r : rows) {
        json::Value o = json::Value::object();
        o.set("format", r.v.format);
        o.set("role", r.v.format == "base" ? "base" : "tuned-" + r.v.format);
        o.set("gpu", r.v.gpu);
        o.set("model", r.v.model);
        o.set("file_bytes", int64_t(r.file_bytes));
        o.set("weights", r.n_params);
        o.set("bits_per_weight", r.bpw);
        o.set("stored_as", r.types);
        o.set("eval_report", r.v.eval);
        o.set("audit_report", r.v.audit.empty() ? json::Value() : json::Value(r.v.audit));
        json::Value ev = json::Value::object();
        for (const char* k : {"n", "exact", "valid_json", "valid_schema", "fields", "by_lang", "by_action", "by_noise", "speed", "few_shot",
                              "system_prompt", "constrained", "chat_template"})
            if (const json::Value* x = r.eval.find(k)) ev.set(k, *x);
        o.set("eval", ev);
        if (!r.audit.is_null()) {
            json::Value au = json::Value::object();
            if (const json::Value* t = r.audit.find("text"); t && t->is_object()) {
                for (const char* k : {"kl_mean", "kl_median", "kl_p99", "kl_max", "top1_agreement", "ppl_ref", "ppl_quant", "n_positions"})
                    if (const json::Value* x = t->find(k)) au.set(k, *x);
            }
            if (const json::Value* t = r.audit.find("total")) au.set("weights_total", *t);
            o.set("audit", au);
        }
        o.set("eval_seconds", r.step.seconds);
        o.set("eval_peak_rss_mib", r.step.peak_rss_kib >= 0 ? json::Value(double(r.step.peak_rss_kib) / 1024.0) : json::Value());
        const double gen = num_or(path_of(r.eval, {"speed", "generated_tokens"}), 0);
        o.set("energy_j_per_generated_token", r.step.energy_j >= 0 && gen > 0 ? json::Value(r.step.energy_j / gen) : json::Value("not available"));
        o.set("study_exact", published(r.v.format) >= 0 ? json::Value(published(r.v.format)) : json::Value());
        rs.push_back(o);
    }
    j.set("results", rs);
    json::Value fj = json::Value::array();
    for (const auto& [role, path] : files) {
        json::Value o = json::Value::object();
        o.set("role", role);
        o.set("path", path);
        std::error_code ec;
        const auto sz = fs::file_size(path, ec);
        o.set("bytes", ec ? json::Value() : json::Value(int64_t(sz)));
        fj.push_back(o);
    }
    j.set("files", fj);
    j.set("steps", steps_json);
    write_output_file((fs::path(out) / "report.json").string(), j.dump(2) + "\n");
    write_output_file((fs::path(out) / "report.md").string(), md);
}

}  // namespace
}  // namespace slm::cli

namespace slm::cli {

int cmd_experiment(int argc, char** argv) {
    Args args(argc, argv,
              {"--base", "--data", "--out", "-o", "--train-n", "--test-n", "--epochs", "--lr", "--batch", "--shots", "--seed",
               "--threads", "-t", "--formats"},
              {"--full", "--no-qlora", "--gpu", "--constrained", "--resume", "--dry-run"});
    if (args.help()) {
        std::fputs(kHelp, stdout);
        return 0;
    }
    if (!args.positionals().empty()) fail("unexpected argument \"%s\" (see --help)", args.positionals()[0].c_str());
    Config cfg;
    for (int i = 0; i < argc; i++) cfg.command += (i ? " " : "slm ") + shell_quote(argv[i]);
    cfg.full = args.has("--full");
    if (cfg.full) cfg.train_n = 2700, cfg.test_n = 600, cfg.epochs = 5;
    auto bounded = [&](const char* name, int64_t def, int64_t lo, int64_t hi) {
        const int64_t v = args.get_int({name}, def);
        if (v < lo || v > hi) fail("%s must be in [%lld, %lld] (got %lld)", name, (long long)lo, (long long)hi, (long long)v);
        return v;
    };
    cfg.train_n = int(bounded("--train-n", cfg.train_n, 9, 10000000));
    cfg.test_n = int(bounded("--test-n", cfg.test_n, 1, 10000000));
    cfg.epochs = int(bounded("--epochs", cfg.epochs, 1, 1000));
    cfg.batch = int(bounded("--batch", cfg.batch, 1, 4096));
    cfg.shots = int(bounded("--shots", cfg.shots, 0, 200));
    cfg.threads = int(bounded("--threads", 0, 0, 1024));
    if (args.given({"-t"})) cfg.threads = int(args.get_int({"-t"}, 0));
    cfg.seed = uint64_t(bounded("--seed", 1, 0, int64_t(1) << 62));
    cfg.lr = args.get_float({"--lr"}, cfg.lr);
    if (!(cfg.lr > 0 && cfg.lr < 1)) fail("--lr must be in (0, 1) (got %g)", cfg.lr);
    cfg.qlora = !args.has("--no-qlora");
    cfg.gpu = args.has("--gpu");
    cfg.constrained = args.has("--constrained");
    cfg.resume = args.has("--resume");
    cfg.dry_run = args.has("--dry-run");
    cfg.out = args.get({"--out", "-o"}, "experiments/run");
    cfg.data_arg = args.get({"--data"});
    cfg.base_arg = args.get({"--base"});

    // The output folder: new, or an experiment to resume. Nothing a user made is overwritten.
    const fs::path out(cfg.out);
    std::error_code ec;
    const bool exists = fs::exists(out, ec);
    if (exists && !fs::is_directory(out, ec)) fail("--out %s exists and is not a folder", cfg.out.c_str());
    if (cfg.resume) {
        if (!fs::is_directory(out / "steps", ec))
            fail("--resume: %s holds no experiment (no steps/ folder); leave out --resume to start one", cfg.out.c_str());
    } else if (exists && !fs::is_empty(out, ec) && !cfg.dry_run) {
        fail("%s already exists and is not empty: add --resume to continue the experiment in it, or choose another --out",
             cfg.out.c_str());
    }

    // The base and the data.
    const bool base_is_dir = !cfg.base_arg.empty() && fs::is_directory(cfg.base_arg, ec);
    cfg.base_resolved = cfg.base_arg.empty() ? find_default_base() : cfg.base_arg;
    if (!base_is_dir) {
        if (!fs::is_regular_file(cfg.base_resolved, ec)) fail("--base %s: no such file or folder", cfg.base_resolved.c_str());
        (void)gguf::File::open(cfg.base_resolved);  // a bad file fails now, with the reader's message
    } else if (!fs::is_regular_file(fs::path(cfg.base_resolved) / "config.json", ec)) {
        fail("--base %s: a folder without config.json (a Hugging Face checkpoint directory was expected)", cfg.base_resolved.c_str());
    }
    std::string data_dir = (out / "data").string();
    if (!cfg.data_arg.empty()) {
        data_dir = cfg.data_arg;
        for (const char* f : {"train.jsonl", "val.jsonl", "test.jsonl"})
            if (!fs::is_regular_file(fs::path(data_dir) / f, ec)) fail("--data %s: %s is missing", data_dir.c_str(), f);
    }
    if (cfg.gpu) {
        try {
            (void)make_cuda_backend(0);
        } catch (const Error& e) {
            fail("--gpu: %s (build slm with `make cuda` and run build/slm-cuda experiment --gpu)", e.what());
        }
    }
    const std::string train_jsonl = (fs::path(data_dir) / "train.jsonl").string();
    const std::string val_jsonl = (fs::path(data_dir) / "val.jsonl").string();
    const std::string test_jsonl = (fs::path(data_dir) / "test.jsonl").string();
    auto P = [&](const std::string& rel) { return (out / rel).string(); };
    const std::string threads = std::to_string(cfg.threads);

    // The plan.
    std::vector<Step> steps;
    if (cfg.data_arg.empty()) {
        const int n = int(std::ceil(double(cfg.train_n) / 0.9));
        steps.push_back({"data", strfmt("generate %d train+val and %d test messages", n, cfg.test_n),
                         {"gen-data", "-o", data_dir, "--n", std::to_string(n), "--n-test", std::to_string(cfg.test_n), "--seed",
                          std::to_string(cfg.seed)},
                         {train_jsonl, val_jsonl, test_jsonl}, 1, {}});
    }
    const std::string base_gguf = P("models/base.gguf");
    if (base_is_dir) {
        steps.push_back({"base", "convert the Hugging Face checkpoint to GGUF (F16)",
                         {"convert", cfg.base_resolved, "-o", base_gguf, "--type", "F16"}, {base_gguf}, 20, {}});
    } else {
        const std::string target = fs::absolute(cfg.base_resolved).string();
        steps.push_back({"base", "link the base model into models/", {}, {base_gguf}, 0.1, [=] {
                             std::error_code e2;
                             fs::remove(base_gguf, e2);
                             fs::create_symlink(target, base_gguf, e2);
                             if (e2) fail("cannot link %s to %s: %s", base_gguf.c_str(), target.c_str(), e2.message().c_str());
                         }});
    }
    const bool base_float = base_is_dir || is_float_model(cfg.base_resolved);
    std::string frozen = base_gguf;
    if (base_float && cfg.qlora) {
        frozen = P(std::string("models/base-") + kQloraType + ".gguf");
        steps.push_back({"freeze", strfmt("quantize the frozen base to %s for QLoRA", kQloraType),
                         {"quantize", base_gguf, frozen, kQloraType, "--threads", threads}, {frozen}, 5, {}});
    }
    const std::string audit_text = P("data/audit.txt");
    steps.push_back({"audit-text", "write the audit text (test messages and answers)", {}, {audit_text}, 0.1, [=] {
                         std::string text;
                         int k = 0;
                         const std::string data = read_input_file(test_jsonl, "test data");
                         for (const json::JsonlLine& l : json::jsonl_lines(data)) {
                             if (k >= 60) break;
                             json::Value v = json::parse(l.text);
                             const json::Value* m = v.find("messages");
                             if (!m || !m->is_array()) continue;
                             for (const json::Value& msg : m->as_array()) {
                                 const json::Value* role = msg.find("role");
                                 const json::Value* content = msg.find("content");
                                 if (role && content && role->is_string() && content->is_string() && role->as_string() != "system")
                                     text += content->as_string() + "\n";
                             }
                             text += "\n";
                             k++;
                         }
                         write_output_file(audit_text, text);
                     }});
    std::vector<Variant> variants;
    auto eval_args = [&](const Variant& v, const std::string& data) {
        std::vector<std::string> a = {"eval", "-m", v.model, "--data", data, "--json", v.eval, "--report",
                                      v.eval.substr(0, v.eval.size() - 5) + ".md", "--threads", threads};
        if (v.format == "base") {
            a.push_back("--few-shot");
            a.push_back(std::to_string(cfg.shots));
        } else {
            a.push_back("--no-system");
        }
        if (cfg.constrained) a.push_back("--constrained");
        if (v.gpu) a.push_back("--gpu");
        return a;
    };
    // Costs in seconds of SmolLM2-135M on 2 cores (measured 2026-12-02), for the ETA before a step has been timed;
    // once steps have run, the ETA scales these by how fast the machine really was.
    const double ex_cost = 0.4;  // per test message evaluated by a tuned model (the base, with its long prompt: x2.75)
    variants.push_back({"base", base_gguf, P("eval/base.json"), "", false});
    steps.push_back({"eval-base", "evaluate the untuned base", eval_args(variants.back(), test_jsonl), {variants.back().eval},
                     ex_cost * 2.75 * cfg.test_n, {}});
    const std::string adapter = P("models/adapter.gguf"), ckpt = P("train/checkpoint.gguf"), train_json = P("train/train.json");
    {
        std::vector<std::string> a = {"train", "-m", frozen, "--data", train_jsonl, "--val", val_jsonl, "--drop-system",
                                      "--rank", "8", "--alpha", "16", "--epochs", std::to_string(cfg.epochs), "--lr",
                                      strfmt("%g", cfg.lr), "--batch", std::to_string(cfg.batch), "--threads", threads, "--seed",
                                      std::to_string(cfg.seed), "--eval-n", "50", "--save-every", "10", "--ckpt", ckpt,
                                      "--json", train_json, "-o", adapter};
        steps.push_back({"train", strfmt("QLoRA fine-tune (rank 8, alpha 16, %d epochs) on the frozen base", cfg.epochs), a,
                         {adapter, train_json}, 0.5 * cfg.train_n * cfg.epochs, {}});
    }
    const std::string tuned_f16 = P("models/tuned-F16.gguf");
    steps.push_back({"merge", "merge the adapter into the base (F16)",
                     {"merge", "-m", base_gguf, "--lora", adapter, "-o", tuned_f16, "--type", "F16"}, {tuned_f16}, 3, {}});
    variants.push_back({"F16", tuned_f16, P("eval/tuned-F16.json"), "", false});
    std::vector<std::string> formats = kCpuFormats;
    if (args.given({"--formats"})) {
        formats.clear();
        const std::string list = args.get({"--formats"});
        size_t p = 0;
        while (p <= list.size()) {
            const size_t c = std::min(list.find(',', p), list.size());
            const std::string f = list.substr(p, c - p);
            if (!f.empty() && f != "F16") {
                if (f.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
                    fail("--formats: \"%s\" is not a type name (e.g. Q8_0,Q5_K_M,Q4_K_M,Q3_K_M)", f.c_str());
                formats.push_back(f);
            }
            p = c + 1;
        }
    }
    if (cfg.gpu) formats.push_back("GPTQ-4");
    for (const std::string& f : formats) {
        const std::string m = P("models/tuned-" + f + ".gguf");
        std::vector<std::string> a = {"quantize", tuned_f16, m, f, "--threads", threads};
        if (f == "GPTQ-4") a.insert(a.end(), {"--calib", train_jsonl});
        steps.push_back({"quant-" + f, "quantize tuned F16 to " + f, a, {m}, f == "GPTQ-4" ? 60.0 : 5.0, {}});
        variants.push_back({f, m, P("eval/tuned-" + f + ".json"), P("audit/" + f + ".json"), f == "GPTQ-4"});
        steps.push_back({"audit-" + f, "audit " + f + " against tuned F16",
                         {"audit", tuned_f16, m, "--text", audit_text, "--ctx", "512", "--json", P("audit/" + f + ".json"), "--svg",
                          P("audit/" + f + ".svg"), "--threads", threads},
                         {P("audit/" + f + ".json")}, 20, {}});
    }
    if (cfg.gpu) variants.push_back({"F16", tuned_f16, P("eval/tuned-F16-gpu.json"), "", true});
    for (const Variant& v : variants) {
        if (v.format == "base") continue;
        steps.push_back({"eval-" + v.format + (v.gpu && v.format == "F16" ? "-gpu" : ""), "evaluate tuned " + v.format + (v.gpu ? " on the GPU" : ""),
                         eval_args(v, test_jsonl), {v.eval}, ex_cost * cfg.test_n, {}});
    }

    // The hand-written messages (slm gen-data writes them; a --data folder may have them): base and tuned F16.
    const std::string hw_jsonl = (fs::path(data_dir) / "handwritten.jsonl").string();
    const bool have_hw = cfg.data_arg.empty() || fs::is_regular_file(hw_jsonl, ec);
    if (have_hw) {
        // How many there are: gen-data's own set (a --data folder's file, if it has one, may differ: eval counts it).
        const std::string hw_text = intent::handwritten_jsonl();
        const int n_hw = int(std::count(hw_text.begin(), hw_text.end(), '\n'));
        for (const Variant& v0 : {variants[0], variants[1]}) {
            Variant v = v0;
            v.eval = P("eval/" + std::string(v.format == "base" ? "base" : "tuned-F16") + "-handwritten.json");
            std::vector<std::string> a = eval_args(v, hw_jsonl);
            if (cfg.test_n < n_hw) a.insert(a.end(), {"--limit", std::to_string(cfg.test_n)});
            steps.push_back({std::string(v.format == "base" ? "eval-base" : "eval-F16") + "-hw",
                             std::string("evaluate ") + (v.format == "base" ? "the base" : "tuned F16") + " on the hand-written messages",
                             a, {v.eval}, ex_cost * (v.format == "base" ? 2.75 : 1.0) * std::min(n_hw, cfg.test_n), {}});
        }
    }

    if (cfg.dry_run) {
        for (size_t i = 0; i < steps.size(); i++)
            std::printf("%2zu/%zu %-12s %s\n       %s\n", i + 1, steps.size(), steps[i].name.c_str(), steps[i].what.c_str(),
                        steps[i].args.empty() ? "(in process)" : ("slm " + join_cmd(steps[i].args)).c_str());
        return 0;
    }

    for (const char* d : {"models", "eval", "audit", "train", "logs", "steps", "plots"}) {
        fs::create_directories(out / d, ec);
        if (ec) fail("cannot create %s: %s", (out / d).string().c_str(), ec.message().c_str());
    }
    if (cfg.data_arg.empty()) fs::create_directories(data_dir, ec);
    // The report is written at the end: check now that it can be.
    OutputFile::check_target(P("report.md"));
    OutputFile::check_target(P("report.json"));

    ThreadPool pool(cfg.threads);
    const std::string backend_name = make_cpu_backend(pool)->name();
    const std::string machine = strfmt("%s, %u hardware threads", cpu_model_name().c_str(), std::thread::hardware_concurrency());
    const Rapl rapl;
    std::printf("slm experiment: %zu steps into %s (base %s; %s)\n", steps.size(), cfg.out.c_str(), cfg.base_resolved.c_str(),
                backend_name.c_str());
    double total_cost = 0, done_cost = 0, spent = 0;
    for (const Step& s : steps) total_cost += s.cost;
    const double t_start = now_s();
    json::Value steps_json = json::Value::array();
    std::map<std::string, StepResult> results;
    for (size_t i = 0; i < steps.size(); i++) {
        const Step& s = steps[i];
        const std::string rec = P("steps/" + s.name + ".json");
        bool done = fs::is_regular_file(rec, ec);
        for (const auto& o : s.outputs) done = done && fs::exists(o, ec);
        StepResult r;
        json::Value j;  // the step's record, as on disk
        if (done) {
            j = read_json(rec);
            r.seconds = num_or(j.find("seconds"), 0);
            r.peak_rss_kib = long(num_or(j.find("peak_rss_kib"), -1));
            r.cpu_s = num_or(j.find("cpu_seconds"), -1);
            r.energy_j = num_or(j.find("energy_j"), -1);
            std::printf("[%zu/%zu] %-12s done before (%s)\n", i + 1, steps.size(), s.name.c_str(), fmt_duration(r.seconds).c_str());
        } else {
            const double eta = done_cost > 0 ? spent / done_cost * (total_cost - done_cost) : -1;
            std::printf("[%zu/%zu] %-12s %s  (elapsed %s, ETA %s)\n", i + 1, steps.size(), s.name.c_str(), s.what.c_str(),
                        fmt_duration(now_s() - t_start).c_str(), eta < 0 ? "after the first step" : fmt_duration(eta).c_str());
            std::vector<std::string> a = s.args;
            if (s.name == "train" && cfg.resume && fs::is_regular_file(ckpt, ec)) {
                a.push_back("--resume");
                a.push_back(ckpt);
                std::printf("       resuming the training from %s\n", ckpt.c_str());
            }
            if (a.empty()) {
                const double t0 = now_s();
                s.in_process();
                r.seconds = now_s() - t0;
            } else {
                r = run_child(a, P("logs/" + s.name + ".log"), rapl);
            }
            j = json::Value::object();
            j.set("step", s.name);
            j.set("command", a.empty() ? json::Value() : json::Value("slm " + join_cmd(a)));
            j.set("seconds", r.seconds);
            j.set("cpu_seconds", r.cpu_s >= 0 ? json::Value(r.cpu_s) : json::Value());
            j.set("peak_rss_kib", int64_t(r.peak_rss_kib));
            j.set("energy_j", r.energy_j >= 0 ? json::Value(r.energy_j) : json::Value());
            write_output_file(rec, j.dump(2) + "\n");
            spent += r.seconds;
            done_cost += s.cost;
        }
        results[s.name] = r;
        steps_json.push_back(std::move(j));
    }

    // Gather and report.
    std::vector<Row> rows;
    std::vector<std::pair<std::string, std::string>> files = {{"train data", train_jsonl}, {"validation data", val_jsonl},
                                                                {"test data", test_jsonl}, {"base", base_gguf}};
    if (frozen != base_gguf) files.push_back({"frozen base (QLoRA)", frozen});
    files.push_back({"adapter", adapter});
    for (const Variant& v : variants) {
        Row r;
        r.v = v;
        r.eval = read_json(v.eval);
        if (!v.audit.empty()) r.audit = read_json(v.audit);
        std::string step_name = v.format == "base" ? "eval-base" : "eval-" + v.format + (v.gpu && v.format == "F16" ? "-gpu" : "");
        r.step = results[step_name];
        const FileStats st = file_stats(v.model);
        r.bpw = st.bpw;
        r.n_params = st.n_params;
        r.types = st.types;
        r.file_bytes = fs::file_size(fs::canonical(v.model, ec), ec);
        rows.push_back(std::move(r));
        if (v.format != "base" && !(v.gpu && v.format == "F16")) files.push_back({"tuned-" + v.format, v.model});
        files.push_back({"evaluation " + (v.format == "base" ? std::string("base") : "tuned-" + v.format) + (v.gpu ? " (GPU)" : ""), v.eval});
        if (!v.audit.empty()) files.push_back({"audit " + v.format, v.audit});
    }
    json::Value hw_base, hw_tuned;
    if (have_hw) {
        hw_base = read_json(P("eval/base-handwritten.json"));
        hw_tuned = read_json(P("eval/tuned-F16-handwritten.json"));
        files.push_back({"hand-written messages", hw_jsonl});
        files.push_back({"evaluation base (hand-written)", P("eval/base-handwritten.json")});
        files.push_back({"evaluation tuned-F16 (hand-written)", P("eval/tuned-F16-handwritten.json")});
    }
    const json::Value train = fs::is_regular_file(train_json, ec) ? read_json(train_json) : json::Value();
    files.push_back({"training figures", train_json});
    files.push_back({"report", P("report.md")});
    files.push_back({"report data", P("report.json")});
    files.push_back({"plot: accuracy vs speed", P("plots/accuracy_vs_speed.svg")});
    files.push_back({"plot: accuracy vs bits per weight", P("plots/accuracy_vs_bpw.svg")});
    double total_s = 0, total_cpu = 0;
    for (const auto& [name, r] : results) total_s += r.seconds, total_cpu += std::max(0.0, r.cpu_s);
    write_report(cfg, cfg.out, rows, train, hw_base, hw_tuned, files, steps_json, machine, backend_name, total_s, total_cpu, rapl);

    // The headline on stdout.
    std::printf("\n%-22s %8s %8s %10s %8s\n", "model", "exact", "JSON ok", "gen tok/s", "bpw");
    for (const Row& r : rows)
        std::printf("%-22s %8.3f %8.3f %10.1f %8.2f\n",
                    (r.v.format == "base" ? std::string("base") : "tuned " + r.v.format + (r.v.gpu ? " GPU" : "")).c_str(),
                    num_or(r.eval.find("exact"), -1), num_or(r.eval.find("valid_json"), -1),
                    num_or(path_of(r.eval, {"speed", "decode_tokens_per_second"}), -1), r.bpw);
    std::printf("\nreport: %s (data: %s, plots: %s)\n", P("report.md").c_str(), P("report.json").c_str(), P("plots/").c_str());
    return 0;
}

}  // namespace slm::cli
