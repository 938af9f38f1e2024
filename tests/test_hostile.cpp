// Hostile inputs (issue 10): each defect class with the smallest input that showed it, and the mechanisms
// that fix the class (OutputFile, open_input, read_model_config, the dense-id rule, resolve_n_ctx,
// escape_text, the JSONL line rule, option validation).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "../tools/commands.h"
#include <doctest/doctest.h>

#include "chat_template.h"
#include "common.h"
#include "forward.h"
#include "generate.h"
#include "gptq.h"
#include "hf.h"
#include "sampler.h"
#include "gguf.h"
#include "input_file.h"
#include "sha256.h"
#include "intent/data.h"
#include "intent/eval.h"
#include "json.h"
#include "model.h"
#include "output_file.h"
#include "quantize.h"
#include "safetensors.h"
#include "test_util.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "train/data.h"
#include "train/loop.h"
#include "train/trainer.h"
#include "unicode.h"

using namespace slm;
using test::contains;
using test::error_of;

namespace {


double seconds(const std::function<void()>& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_text(const std::string& path, const std::string& s) {
    std::ofstream f(path, std::ios::binary);
    f << s;
}

int run_cli(int (*cmd)(int, char**), std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    return cmd(int(argv.size()), argv.data());
}

// The smallest complete llama model: one layer, dim E (8), vocabulary of 4 (F32), with a gpt2 tokenizer.
gguf::Writer tiny_llama(int64_t E = 8) {
    gguf::Writer w;
    w.set("general.architecture", gguf::Value::make_string("llama"));
    w.set("llama.block_count", gguf::Value::make_u32(1));
    w.set("llama.embedding_length", gguf::Value::make_u32(uint32_t(E)));
    w.set("llama.feed_forward_length", gguf::Value::make_u32(uint32_t(E)));
    w.set("llama.attention.head_count", gguf::Value::make_u32(2));
    w.set("llama.context_length", gguf::Value::make_u32(512));
    w.set("tokenizer.ggml.model", gguf::Value::make_string("gpt2"));
    w.set("tokenizer.ggml.tokens", gguf::Value::make_string_array({"a", "b", "ab", "<|eot_id|>"}));
    w.set("tokenizer.ggml.merges", gguf::Value::make_string_array({"a b"}));
    auto f32 = [](int64_t n) {
        std::vector<uint8_t> b(size_t(n) * 4);
        for (int64_t i = 0; i < n; i++) {
            float v = 0.01f * float(i % 7);
            std::memcpy(&b[size_t(i) * 4], &v, 4);
        }
        return b;
    };
    w.add_tensor("token_embd.weight", GgmlType::F32, {E, 4}, f32(E * 4));
    w.add_tensor("output_norm.weight", GgmlType::F32, {E}, f32(E));
    for (const char* n : {"attn_norm", "ffn_norm"})
        w.add_tensor(std::string("blk.0.") + n + ".weight", GgmlType::F32, {E}, f32(E));
    for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})
        w.add_tensor(std::string("blk.0.") + n + ".weight", GgmlType::F32, {E, E}, f32(E * E));
    return w;
}

gguf::File in_memory(const gguf::Writer& w, const std::string& name = "tiny.gguf") {
    std::vector<uint8_t> b = w.to_bytes();
    return gguf::File::from_memory(b.data(), b.size(), name);
}

// The names in a folder (files, links, FIFOs), sorted: what a command left behind.
std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> v;
    for (auto& e : std::filesystem::directory_iterator(dir)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

// ---- 1. writers -------------------------------------------------------------------------------------------

TEST_CASE("hostile: OutputFile refuses devices, FIFOs and directories, and replaces only regular files") {
    const std::string dir = test::scratch_dir("hostile-output");
    // /dev/null: refused by the check alone (nothing is created or written).
    CHECK(contains(error_of([] { OutputFile::check_target("/dev/null"); }), "not a regular file"));
    CHECK(contains(error_of([] { OutputFile f("/dev/null"); }), "/dev/null"));
    const std::string fifo = dir + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(contains(error_of([&] { OutputFile f(fifo); }), "not a regular file"));
    CHECK(contains(error_of([&] { OutputFile f(dir); }), "is a directory"));
    CHECK(contains(error_of([&] { OutputFile f(dir + "/no/such/folder/out.gguf"); }), "no/such/folder"));
    const std::string dangling = dir + "/dangling";
    REQUIRE(::symlink((dir + "/nowhere").c_str(), dangling.c_str()) == 0);
    CHECK(contains(error_of([&] { OutputFile f(dangling); }), "symbolic link"));

    // A regular file is replaced only at commit; an uncommitted OutputFile leaves no temporary behind.
    const std::string out = dir + "/out.txt";
    write_text(out, "old");
    {
        OutputFile f(out);
        f.write("new");
        CHECK(test::read_text(out) == "old");
        size_t n_files = 0;
        for (auto& e : std::filesystem::directory_iterator(dir)) n_files += e.is_regular_file();
        CHECK(n_files == 2);  // out.txt and the temporary, in the same folder
    }
    CHECK(test::read_text(out) == "old");
    size_t n_files = 0;
    for (auto& e : std::filesystem::directory_iterator(dir)) n_files += e.is_regular_file();
    CHECK(n_files == 1);
    write_output_file(out, "new");
    CHECK(test::read_text(out) == "new");
    // A symlink to a regular file: the link is replaced, the file it pointed to is untouched.
    const std::string target = std::filesystem::absolute(dir + "/target.txt").string(), link = dir + "/link.txt";
    write_text(target, "keep");
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    write_output_file(link, "written");
    CHECK(test::read_text(target) == "keep");
    CHECK(test::read_text(link) == "written");
}

TEST_CASE("hostile: gguf::Writer and slm quantize fail on a bad output before the work") {
    const std::string dir = test::scratch_dir("hostile-quantize-out");
    tiny_llama(32).write(dir + "/tiny.gguf");
    const std::string fifo = dir + "/fifo.gguf";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(contains(error_of([&] { tiny_llama().write(fifo); }), "not a regular file"));
    ThreadPool pool(1);
    quant::QuantizeOptions o;
    o.progress = false;
    const quant::Mix q8 = *quant::mix_from_name("Q8_0");
    std::string e = error_of([&] { quant::quantize_file(dir + "/tiny.gguf", dir + "/missing/out.gguf", q8, pool, o); });
    CHECK(contains(e, dir + "/missing/out.gguf"));  // names the target, not a temporary
    CHECK(!contains(e, ".tmp"));
    CHECK(contains(error_of([&] { quant::quantize_file(dir + "/tiny.gguf", fifo, q8, pool, o); }), "not a regular file"));
    quant::quantize_file(dir + "/tiny.gguf", dir + "/q8.gguf", q8, pool, o);
    CHECK(gguf::File::open(dir + "/q8.gguf").find_tensor("blk.0.attn_q.weight")->type == GgmlType::Q8_0);
}

TEST_CASE("hostile: slm train, merge and GPTQ quantize refuse a bad output before loading anything") {
    const std::string dir = test::scratch_dir("hostile-train-out");
    const std::string fifo = dir + "/fifo.gguf", missing = dir + "/no/such/folder/out.gguf";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // The model, adapter and data do not exist: an error that names the output (and not them) shows that the
    // output was opened first, before any of the work.
    const std::string model = dir + "/absent-model.gguf", data = dir + "/absent.jsonl";
    for (const std::string& out : {fifo, missing}) {
        CAPTURE(out);
        std::string e = error_of([&] { run_cli(cli::cmd_train, {"train", "-m", model, "--data", data, "-o", out}); });
        CHECK(contains(e, out));
        CHECK(!contains(e, "absent"));
        e = error_of([&] {
            run_cli(cli::cmd_train, {"train", "-m", model, "--data", data, "-o", dir + "/a.gguf", "--ckpt", out});
        });
        CHECK(contains(e, out));
        CHECK(!contains(e, "absent"));
        e = error_of([&] { run_cli(cli::cmd_merge, {"merge", "-m", model, "--lora", dir + "/absent-lora.gguf", "-o", out}); });
        CHECK(contains(e, out));
        CHECK(!contains(e, "absent"));
        ThreadPool pool(1);
        gptq::ModelOptions go;
        go.calib_path = data;
        go.progress = false;
        e = error_of([&] { gptq::quantize_model(model, out, go, pool); });
        CHECK(contains(e, out));
        CHECK(!contains(e, "absent"));
    }
    CHECK(contains(error_of([&] { run_cli(cli::cmd_train, {"train", "-m", model, "--data", data, "-o", fifo}); }),
                   "not a regular file"));
    CHECK(names_in(dir) == std::vector<std::string>{"fifo.gguf"});  // no temporary left behind
}

TEST_CASE("hostile: train_loop opens its outputs before the first step and commits every checkpoint") {
    const std::string dir = test::scratch_dir("hostile-train-loop");
    const std::string fifo = dir + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::unique_ptr<Model> m = Model::from_file(in_memory(tiny_llama()), test::cpu());
    ThreadPool pool(1);
    auto be = make_cpu_backend(pool);
    train::TrainerOptions topt;
    topt.lora.rank = 2;
    train::Trainer tr(*m, *be, pool, topt);
    train::Dataset d;
    train::Sequence s;
    s.ids = {0, 1, 2, 1, 0, 2};
    s.mask = {0, 0, 1, 1, 1, 1};
    d.seqs = {s, s, s};
    d.examples.resize(3);
    for (const auto& q : d.seqs) d.n_tokens += int64_t(q.ids.size()), d.n_targets += q.n_targets();
    train::LoopOptions lo;
    lo.batch = 1;
    lo.epochs = 2;  // 6 steps
    lo.lr = 1e-2;
    lo.eval_n = 0;
    lo.progress = false;
    lo.save_every = 2;
    lo.ckpt_path = dir + "/c.ckpt";
    lo.out = dir + "/adapter.gguf";

    const std::vector<float> start = tr.params();
    train::LoopOptions bad = lo;
    bad.ckpt_path = fifo;
    CHECK(contains(error_of([&] { train::train_loop(tr, pool, d, nullptr, bad); }), "not a regular file"));
    bad = lo;
    bad.out = dir + "/missing/adapter.gguf";
    CHECK(contains(error_of([&] { train::train_loop(tr, pool, d, nullptr, bad); }), "missing"));
    CHECK(tr.params() == start);  // not one step ran
    CHECK(names_in(dir) == std::vector<std::string>{"fifo"});

    // Stopped early: the checkpoint is there, the adapter (written only when every step has run) is not.
    bad = lo;
    bad.stop_after = 3;
    train::train_loop(tr, pool, d, nullptr, bad);
    CHECK(names_in(dir) == std::vector<std::string>{"c.ckpt", "fifo"});
    // Resumed to the end: checkpoints every 2 steps and at the end, then the adapter; no temporary is left.
    bad.stop_after = 0;
    bad.resume = lo.ckpt_path;
    train::TrainOutputs outs = train::open_outputs(bad);
    train::train_loop(tr, pool, d, nullptr, bad, &outs);
    CHECK(names_in(dir) == std::vector<std::string>{"adapter.gguf", "c.ckpt", "fifo"});
    train::AdamW adam;
    CHECK(train::load_checkpoint(lo.ckpt_path, tr, adam) == 6);
    CHECK(gguf::File::open(lo.out).get_string("general.type", "") == "adapter");
}

TEST_CASE("hostile: export-hf opens every output before converting, convert refuses a FIFO in the checkpoint") {
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    const std::string dir = test::scratch_dir("hostile-export-hf");
    const std::string out = dir + "/hf";
    std::filesystem::create_directories(out);
    REQUIRE(::mkfifo((out + "/generation_config.json").c_str(), 0600) == 0);  // the last file it writes
    hf::ExportOptions eo;
    eo.progress = false;
    std::string e;
    const double s = seconds([&] { e = error_of([&] { hf::export_hf(test::fixture("models/stories260K.gguf"), out, test::cpu(), eo); }); });
    CHECK(contains(e, "generation_config.json"));
    CHECK(contains(e, "not a regular file"));
    CHECK(s < 5.0);
    CHECK(names_in(out) == std::vector<std::string>{"generation_config.json"});  // no shard, no config, no temporary
    std::filesystem::remove(out + "/generation_config.json");
    const hf::ExportResult r = hf::export_hf(test::fixture("models/stories260K.gguf"), out, test::cpu(), eo);
    CHECK(r.n_shards == 1);
    CHECK(std::filesystem::is_regular_file(out + "/model.safetensors"));

    // A checkpoint whose config.json is a FIFO: refused at once (it used to be read with a blocking open).
    const std::string ck = dir + "/ck";
    std::filesystem::create_directories(ck);
    REQUIRE(::mkfifo((ck + "/config.json").c_str(), 0600) == 0);
    hf::ConvertOptions co;
    co.progress = false;
    const double s2 = seconds([&] { e = error_of([&] { hf::convert(ck, dir + "/c.gguf", test::cpu(), co); }); });
    CHECK(contains(e, "FIFO"));
    CHECK(s2 < 2.0);
    CHECK(!std::filesystem::exists(dir + "/c.gguf"));
}

TEST_CASE("hostile: safetensors, training data and GPTQ calibration refuse a FIFO or a directory at once") {
    const std::string dir = test::scratch_dir("hostile-fifo-inputs");
    const std::string fifo = dir + "/in";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::unique_ptr<Model> m = Model::from_file(in_memory(tiny_llama()), test::cpu());
    tiny_llama().write(dir + "/tiny.gguf");
    ThreadPool pool(1);
    gptq::ModelOptions go;
    go.progress = false;
    go.gptq.group_size = 8;
    const double s = seconds([&] {
        CHECK(contains(error_of([&] { safetensors::File::open(fifo); }), "FIFO"));
        CHECK(contains(error_of([&] { train::load_dataset(fifo, m->tokenizer(), chat::resolve(m->tokenizer(), "", "none"), {}); }), "FIFO"));
        go.calib_path = fifo;
        CHECK(contains(error_of([&] { gptq::quantize_model(dir + "/tiny.gguf", dir + "/g.gguf", go, pool); }), "FIFO"));
    });
    CHECK(s < 2.0);
    CHECK(contains(error_of([&] { safetensors::File::open(dir); }), "is a directory"));
    CHECK(contains(error_of([&] { train::load_dataset(dir, m->tokenizer(), chat::resolve(m->tokenizer(), "", "none"), {}); }), "is a directory"));
    go.calib_path = dir;
    CHECK(contains(error_of([&] { gptq::quantize_model(dir + "/tiny.gguf", dir + "/g.gguf", go, pool); }), "is a directory"));
    CHECK(!std::filesystem::exists(dir + "/g.gguf"));
    // The training data follows the one JSONL rule: a byte order mark and blank lines are skipped, line numbers
    // still count them.
    const std::string ex = R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})";
    write_text(dir + "/d.jsonl", "\xEF\xBB\xBF" + ex + "\r\n\n \t\n" + ex + "\n{\"messages\": 1}\n");
    CHECK(contains(error_of([&] { train::load_dataset(dir + "/d.jsonl", m->tokenizer(), chat::resolve(m->tokenizer(), "", "none"), {}); }), "d.jsonl:5"));
    write_text(dir + "/d.jsonl", "\xEF\xBB\xBF" + ex + "\r\n\n \t\n" + ex + "\n");
    const train::Dataset d = train::load_dataset(dir + "/d.jsonl", m->tokenizer(), chat::resolve(m->tokenizer(), "", "none"), {});
    REQUIRE(d.examples.size() == 2);
    CHECK(d.examples[0].line == 1);
    CHECK(d.examples[1].line == 4);
}

// ---- 2. counts from files ---------------------------------------------------------------------------------

TEST_CASE("hostile: a huge block_count fails at once on the missing tensors, sized from nothing") {
    gguf::Writer w = tiny_llama();
    w.set("llama.block_count", gguf::Value::make_u32(16777216));
    gguf::File f = in_memory(w);
    std::string e;
    const double s = seconds([&] { e = error_of([&] { Model::from_file(in_memory(w), test::cpu()); }); });
    CHECK(contains(e, "missing tensor blk.1.attn_norm.weight"));
    CHECK(s < 1.0);
    CHECK(contains(error_of([&] { quant::model_shape(f); }), "missing tensor blk.1."));
    w.set("llama.block_count", gguf::Value::make_u32(1u << 30));
    CHECK(contains(error_of([&] { Model::from_file(in_memory(w), test::cpu()); }), "llama.block_count = 1073741824 is out of range"));
    // The same configuration reader serves both: Model and quantize agree on what is wrong.
    w = tiny_llama();
    w.set("llama.attention.head_count_kv", gguf::Value::make_u32(3));
    CHECK(contains(error_of([&] { quant::model_shape(in_memory(w)); }), "head_count_kv"));
    CHECK(contains(error_of([&] { Model::from_file(in_memory(w), test::cpu()); }), "head_count_kv"));
}

TEST_CASE("hostile: quantizing a vocabulary-only file is an error, not an empty model") {
    const std::string dir = test::scratch_dir("hostile-vocab-only");
    gguf::Writer w;
    w.set("general.architecture", gguf::Value::make_string("llama"));
    w.set("llama.block_count", gguf::Value::make_u32(2));
    w.set("llama.embedding_length", gguf::Value::make_u32(8));
    w.set("llama.feed_forward_length", gguf::Value::make_u32(8));
    w.set("llama.attention.head_count", gguf::Value::make_u32(2));
    w.set("tokenizer.ggml.model", gguf::Value::make_string("gpt2"));
    w.write(dir + "/vocab.gguf");
    ThreadPool pool(1);
    quant::QuantizeOptions o;
    o.progress = false;
    CHECK(contains(error_of([&] { quant::quantize_file(dir + "/vocab.gguf", dir + "/o.gguf", *quant::mix_from_name("Q8_0"), pool, o); }),
                   "missing tensor token_embd.weight"));
    CHECK_FALSE(std::filesystem::exists(dir + "/o.gguf"));
}

TEST_CASE("hostile: tokenizer ids must be backed by entries (tiktoken rank, tokenizer.json id)") {
    // 15 bytes: one rank of 16,777,216 (the bound was checked before the last digit was added).
    CHECK(contains(error_of([] { Tokenizer::from_tiktoken("IQ== 16777216\n", "t.model"); }), "rank above 16777215"));
    // One rank of 16,777,215: in range, but not backed by 16 million entries.
    std::string e;
    const double s = seconds([&] { e = error_of([] { Tokenizer::from_tiktoken("IQ== 16777215\n", "t.model"); }); });
    CHECK(contains(e, "ids must be dense"));
    CHECK(s < 1.0);
    // 107 bytes of tokenizer.json with one id near 2^24.
    const std::string json =
        R"({"model": {"type": "BPE", "vocab": {"a": 16777000}, "merges": []}, "decoder": {"type": "ByteLevel"}})";
    CHECK(json.size() < 110);
    const double s2 = seconds([&] { e = error_of([&] { Tokenizer::from_tokenizer_json(json, "t.json"); }); });
    CHECK(contains(e, "ids must be dense"));
    CHECK(s2 < 1.0);
    // A few holes are still fine (as in real vocabularies padded to a multiple).
    CHECK_NOTHROW(Tokenizer::from_tiktoken("IQ== 0\nIg== 1\nIw== 9\n", "t.model"));
}

// ---- 3. --ctx ---------------------------------------------------------------------------------------------

TEST_CASE("hostile: --ctx is capped at the trained context unless asked to go past it") {
    ModelConfig c;
    c.n_ctx_train = 512;
    ContextOptions o;
    std::string warning;
    o.n_ctx = 16777216;
    CHECK(resolve_n_ctx(c, o, &warning) == 512);
    CHECK(contains(warning, "trained context 512"));
    o.ctx_beyond_train = true;
    CHECK(resolve_n_ctx(c, o, &warning) == 16777216);
    CHECK(contains(warning, "outside what the model was trained on"));
    o = ContextOptions{};
    CHECK(resolve_n_ctx(c, o, &warning) == 512);
    CHECK(warning.empty());
    o.n_ctx = 100;
    CHECK(resolve_n_ctx(c, o, &warning) == 100);
    c.n_ctx_train = 131072;
    o.n_ctx = 0;
    CHECK(resolve_n_ctx(c, o, &warning) == ContextOptions::kDefaultMaxCtx);
    o.n_ctx = -1;
    CHECK_THROWS_AS(resolve_n_ctx(c, o, &warning), Error);
    // Through a real Context: the cache is sized for the capped length.
    std::unique_ptr<Model> m = Model::from_file(in_memory(tiny_llama()), test::cpu());
    o = ContextOptions{};
    o.n_ctx = 16777216;
    Context ctx(*m, test::cpu(), o);
    CHECK(ctx.n_ctx() == 512);
}

// ---- 4. FIFOs and other non-regular inputs ----------------------------------------------------------------

TEST_CASE("hostile: a FIFO or a directory given as an input is refused at once, never waited on") {
    const std::string dir = test::scratch_dir("hostile-fifo");
    const std::string fifo = dir + "/in";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const double s = seconds([&] {
        CHECK(contains(error_of([&] { gguf::File::open(fifo); }), "FIFO"));
        CHECK(contains(error_of([&] { Tokenizer::load(fifo); }), "FIFO"));
        CHECK(contains(error_of([&] { intent::read_eval_file(fifo); }), "FIFO"));
        CHECK(contains(error_of([&] { read_input_file(fifo, "x"); }), "FIFO"));
    });
    CHECK(s < 2.0);
    CHECK(contains(error_of([&] { intent::read_eval_file(dir); }), "is a directory"));
    CHECK(contains(error_of([&] { Tokenizer::load(dir); }), "is a directory"));
    CHECK(contains(error_of([&] { open_input("/dev/null", "a GGUF file"); }), "character device"));
}

// ---- 5. strings from files on the terminal ----------------------------------------------------------------

TEST_CASE("hostile: escape_text is the one rule for printing strings from files") {
    CHECK(escape_text("plain caf\xc3\xa9 \xe2\x9c\x93") == "plain caf\xc3\xa9 \xe2\x9c\x93");
    CHECK(escape_text("\x1b]0;pwned\x07\x1b[2J") == "\\x1b]0;pwned\\x07\\x1b[2J");
    CHECK(escape_text("a\nb\tc\\\"") == "a\\nb\\tc\\\\\\\"");
    CHECK(escape_text("\xc2\x9b" "31m") == "\\u{009b}31m");           // C1 CSI
    CHECK(escape_text("\xe2\x80\xae" "abc") == "\\u{202e}abc");       // right-to-left override
    CHECK(escape_text("\xff\xfe") == "\\xff\\xfe");                   // not UTF-8
    CHECK(escape_text(std::string(300, 'x'), 10) == "xxxxxxxxxx... (300 bytes)");

    // general.name / general.architecture with escape sequences: --verbose and errors print them escaped.
    gguf::Writer w = tiny_llama();
    w.set("general.name", gguf::Value::make_string("\x1b[2Jevil"));
    std::unique_ptr<Model> m = Model::from_file(in_memory(w), test::cpu());
    CHECK(contains(m->config().describe(), "\\x1b[2Jevil"));
    CHECK(!contains(m->config().describe(), "\x1b"));
    w.set("general.architecture", gguf::Value::make_string("\x1b]0;title\x07"));
    std::string e = error_of([&] { Model::from_file(in_memory(w), test::cpu()); });
    CHECK(contains(e, "\\x1b]0;title\\x07"));
    CHECK(!contains(e, "\x1b"));
    e = error_of([&] { quant::model_shape(in_memory(w)); });
    CHECK(!contains(e, "\x1b"));
    // A tokenizer.json vocabulary entry in an error message.
    e = error_of([] {
        Tokenizer::from_tokenizer_json(R"({"model": {"type": "BPE", "vocab": {"\u001b[2J": -1}, "merges": []}})", "t.json");
    });
    CHECK(!contains(e, "\x1b"));
}

TEST_CASE("hostile: every error message is terminal-safe, even where a file's string was not quoted") {
    // escape_controls: what fail() applies to every message (quotes and backslashes pass, controls do not).
    CHECK(escape_controls("tensor \"a\\b\" caf\xc3\xa9") == "tensor \"a\\b\" caf\xc3\xa9");
    CHECK(escape_controls("x\x1b[2Jy\x07\xc2\x9b\xff\n") == "x\\x1b[2Jy\\x07\\u{009b}\\xff\\n");
    CHECK(contains(error_of([] { fail("bad name %s", "\x1b]0;title\x07"); }), "bad name \\x1b]0;title\\x07"));
    // A safetensors header whose tensor name and dtype hold escape sequences.
    const std::string dir = test::scratch_dir("hostile-escape");
    const std::string hdr = "{\"\\u001b[2Jw\": {\"dtype\": \"\\u001b]0;t\\u0007\", \"shape\": [1], \"data_offsets\": [0, 4]}}";
    std::string file(8, '\0');
    for (int i = 0; i < 8; i++) file[size_t(i)] = char((hdr.size() >> (8 * i)) & 0xff);
    write_text(dir + "/m.safetensors", file + hdr + "abcd");
    std::string e = error_of([&] { safetensors::File::open(dir + "/m.safetensors"); });
    CHECK(contains(e, "unknown dtype"));
    CHECK(contains(e, "\\x1b[2Jw"));
    CHECK(!contains(e, "\x1b"));
    CHECK(!contains(e, "\x07"));
    // A config.json whose hidden_act does.
    write_text(dir + "/config.json", R"({"architectures": ["LlamaForCausalLM"], "hidden_act": "\u001b[2J", "num_hidden_layers": 1,
        "hidden_size": 8, "intermediate_size": 8, "num_attention_heads": 2, "vocab_size": 4})");
    hf::ConvertOptions co;
    co.progress = false;
    e = error_of([&] { hf::convert(dir, dir + "/out.gguf", test::cpu(), co); });
    CHECK(contains(e, "hidden_act"));
    CHECK(!contains(e, "\x1b"));
}

// ---- 6. the smaller rules ---------------------------------------------------------------------------------

TEST_CASE("hostile: JSON numbers beyond double range are refused") {
    CHECK_THROWS_AS(json::parse("1e999"), Error);
    CHECK_THROWS_AS(json::parse("[-1e400]"), Error);
    CHECK(contains(error_of([] { json::parse("{\"a\": 1e309}"); }), "double range"));
    CHECK(json::parse("1e-999").as_number() == 0.0);  // underflow is harmless
    CHECK(json::parse("1.7976931348623157e308").as_number() > 1e308);
}

TEST_CASE("hostile: numeric options are validated (--temp, --top-k, --seed, non-finite numbers)") {
    auto run_err = [](std::vector<std::string> extra) {
        std::vector<std::string> a = {"run", "-m", "no-model.gguf", "-p", "hi"};
        a.insert(a.end(), extra.begin(), extra.end());
        return error_of([&] { run_cli(cli::cmd_run, a); });
    };
    CHECK(contains(run_err({"--temp", "-1"}), "--temp"));
    CHECK(contains(run_err({"--top-k", "-3"}), "--top-k"));
    CHECK(contains(run_err({"--top-p", "nan"}), "--top-p"));
    CHECK(contains(run_err({"--temp", "inf"}), "finite"));
    CHECK(contains(run_err({"--seed", "-5"}), "--seed"));
    CHECK(contains(run_err({"--repeat-last-n", "-2"}), "--repeat-last-n"));
    // Valid values get as far as loading the (missing) model.
    CHECK(contains(run_err({"--temp", "0", "--top-k", "0"}), "no-model.gguf"));
}

TEST_CASE("hostile: one JSONL rule for tokenize and eval (BOM, blank lines, line numbers)") {
    const std::string text = "\xEF\xBB\xBF{\"a\": 1}\r\n\n  \t\n{\"b\": 2}";
    std::vector<json::JsonlLine> lines = json::jsonl_lines(text);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].line_no == 1);
    CHECK(lines[0].text == "{\"a\": 1}");
    CHECK(lines[1].line_no == 4);
    const std::string item = R"({"text": "where is my order", "gold": {"action": "track_order", "product": null, "quantity": null}})";
    std::vector<intent::EvalItem> items = intent::parse_eval_text("\xEF\xBB\xBF" + item + "\n\n" + item + "\n", "d.jsonl");
    REQUIRE(items.size() == 2);
    CHECK(items[1].line == 3);

    SLM_REQUIRE_FIXTURE("tokenizer/gpt2/vocab.gguf");
    const std::string dir = test::scratch_dir("hostile-jsonl");
    write_text(dir + "/in.jsonl", "\xEF\xBB\xBF{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n");
    // tokenize writes one line per input line it reads: two here, as eval would read two examples.
    CHECK(run_cli(cli::cmd_tokenize, {"tokenize", "-m", test::fixture("tokenizer/gpt2/vocab.gguf"), "--jsonl",
                                      dir + "/in.jsonl"}) == 0);
    // A directory as --jsonl / --data is an error, not an empty success.
    CHECK(contains(error_of([&] {
                       run_cli(cli::cmd_tokenize, {"tokenize", "-m", test::fixture("tokenizer/gpt2/vocab.gguf"), "--jsonl", dir});
                   }),
                   "is a directory"));
    CHECK(contains(error_of([&] { run_cli(cli::cmd_eval, {"eval", "-m", "x.gguf", "--data", dir}); }), "is a directory"));
}

// ---- 7. tiktoken special-token names ----------------------------------------------------------------------

TEST_CASE("hostile: tiktoken special tokens are named by the chosen Llama 3 version") {
    SLM_REQUIRE_FIXTURE("tokenizer/llama3/tokenizer.model");
    SLM_REQUIRE_FIXTURE("tokenizer/llama3/tokenizer.json");
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const std::string model = test::read_text(test::fixture("tokenizer/llama3/tokenizer.model"));
    Tokenizer v30 = Tokenizer::from_tiktoken(model, "tokenizer.model", TiktokenSpecials::from_choice("llama3.0"));
    Tokenizer v31 = Tokenizer::from_tiktoken(model, "tokenizer.model", TiktokenSpecials::from_choice("llama3.1"));
    Tokenizer json = Tokenizer::load(test::fixture("tokenizer/llama3/tokenizer.json"));      // Llama 3.0's names
    Tokenizer gguf = Tokenizer::load(test::fixture("models/llama3-tiny-f16.gguf"));           // Llama 3.1's names
    REQUIRE(v30.n_vocab() == 128256);
    int diff30 = 0, diff31 = 0;
    for (int32_t id = 128000; id < 128256; id++) {
        diff30 += v30.token_text(id) != json.token_text(id);
        diff31 += v31.token_text(id) != gguf.token_text(id);
    }
    CHECK(diff30 == 0);
    CHECK(diff31 == 0);
    CHECK(v30.find_token("<|reserved_special_token_97|>") == 128102);
    CHECK(v31.find_token("<|reserved_special_token_97|>") == 128105);
    // The default is 3.1's names, and load() says so.
    Tokenizer dflt = Tokenizer::load(test::fixture("tokenizer/llama3/tokenizer.model"));
    CHECK(dflt.find_token("<|reserved_special_token_97|>") == 128105);
    CHECK(contains(dflt.load_note(), "Llama 3.1"));
    // A tokenizer_config.json's list.
    const std::string cfg = R"({"added_tokens_decoder": {"2": {"content": "<|begin_of_text|>", "special": true},
                                                        "3": {"content": "<|eot_id|>", "special": true}}})";
    Tokenizer t = Tokenizer::from_tiktoken("IQ== 0\nIg== 1\n", "t.model", TiktokenSpecials::from_tokenizer_config(cfg, "c.json"));
    CHECK(t.n_vocab() == 4);
    CHECK(t.bos_id() == 2);
    CHECK(t.eot_id() == 3);
    CHECK(contains(error_of([] { TiktokenSpecials::from_choice("llama4"); }), "llama3.0"));
}

TEST_CASE("hostile: generated special tokens are left out of the text unless asked for") {
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    std::unique_ptr<Model> m = Model::load(test::fixture("models/stories260K.gguf"), test::cpu());
    const Tokenizer& tok = m->tokenizer();
    auto gen = [&](bool render) {
        Context ctx(*m, test::cpu(), ContextOptions{});
        SamplerParams sp;
        sp.temp = 0;
        Sampler s(sp);
        GenerateOptions go;
        go.n_predict = 400;
        go.stop_at_eog = false;  // run through the end of a story and into the next BOS
        go.render_special = render;
        return generate(ctx, s, {tok.bos_id()}, go, nullptr);
    };
    GenerateResult plain = gen(false), special = gen(true);
    REQUIRE(plain.tokens == special.tokens);
    int n_control = 0;
    for (int32_t id : plain.tokens) n_control += tok.is_control(id);
    REQUIRE_MESSAGE(n_control > 0, "greedy stories260K produced no control token in 400 tokens");
    std::string with;
    for (int32_t id : special.tokens) with += tok.token_to_piece(id);
    CHECK(special.text == with);
    CHECK(plain.text.size() < special.text.size());
    CHECK(!contains(plain.text, tok.token_to_piece(tok.bos_id())));
}

TEST_CASE("hostile: gen-data creates every output before the first example") {
    const std::string dir = test::scratch_dir("hostile-gen-data");
    std::filesystem::create_directories(dir + "/test.jsonl");  // the last output cannot be written
    intent::GenOptions opt;
    const double s = seconds([&] {
        CHECK(contains(error_of([&] { intent::write_dataset(dir, 200000, 10, opt); }), "test.jsonl: is a directory"));
    });
    CHECK(s < 5.0);  // refused before generating 200,000 examples
    CHECK_FALSE(std::filesystem::exists(dir + "/train.jsonl"));
    CHECK_FALSE(std::filesystem::exists(dir + "/val.jsonl"));
    const intent::DatasetCounts c = intent::write_dataset(dir + "/ok", 20, 3, opt);
    CHECK(c.train == 18);
    CHECK(c.val == 2);
    CHECK(c.test == 3);
}

TEST_CASE("hostile: an output that is one of the command's inputs is refused, and the input kept") {
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    const std::string dir = test::scratch_dir("hostile-in-is-out");
    const std::string model = dir + "/m.gguf";
    std::filesystem::copy_file(test::fixture("models/stories260K.gguf"), model);
    const std::string sha = sha256_hex(test::read_text(model));
    std::filesystem::create_symlink("m.gguf", dir + "/link.gguf");
    auto refused = [&](const std::string& args, const std::string& name, const char* says) {
        const test::CmdResult r = test::run_slm(args, name);
        CHECK_MESSAGE(r.rc != 0, args);
        CHECK_MESSAGE(contains(r.err, says), args << ": " << r.err);
        CHECK_MESSAGE(sha256_hex(test::read_text(model)) == sha, args);  // the user's file is untouched
    };
    const std::string m = test::q(model);
    refused("quantize " + m + " " + m + " Q8_0", "q-same", "is also an input of this command");
    refused("quantize " + test::q(dir + "/link.gguf") + " " + m + " Q8_0", "q-link", "is also an input");
    refused("quantize " + test::q(dir + "/./m.gguf") + " " + m + " Q8_0", "q-dot", "is also an input");
    REQUIRE(test::run_slm("gen-data -o " + test::q(dir + "/d") + " --n 20 --n-test 4", "gd").rc == 0);
    const std::string train = test::q(dir + "/d/train.jsonl");
    refused("train -m " + m + " --data " + train + " --drop-system --max-steps 1 --eval-n 0 -o " + m, "t-out-base",
            "is also this command's output");
    refused("train -m " + m + " --data " + train + " --drop-system --max-steps 1 --eval-n 0 -o " +
                test::q(dir + "/a.gguf") + " --ckpt " + test::q(dir + "/a.gguf"),
            "t-out-ckpt", "is already an output of this command");
    refused("eval -m " + m + " --data " + train + " --limit 1 --quiet --json " + train, "e-json", "is also this command's output");
    CHECK(std::filesystem::file_size(dir + "/d/train.jsonl") > 0);
    // What is allowed: a checkpoint that --resume continues, written back to the same file.
    const std::string ck = test::q(dir + "/c.gguf"), a = test::q(dir + "/a.gguf");
    const std::string base = "train -m " + m + " --data " + train + " --drop-system --eval-n 0 -o " + a + " --ckpt " + ck;
    REQUIRE(test::run_slm(base + " --max-steps 1 --save-every 1", "t1").rc == 0);
    const test::CmdResult r = test::run_slm(base + " --max-steps 2 --save-every 1 --resume " + ck, "t2");
    CHECK_MESSAGE(r.rc == 0, r.err);
    CHECK(contains(r.err, "resumed from"));
}
