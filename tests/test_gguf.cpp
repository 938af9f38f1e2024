// GGUF reader / writer unit tests: the fixtures' exact metadata and tensors, every value type written and read
// back, v2/v1/bad headers written by hand, alignment, writer rules, specific corruptions with their messages,
// and `slm inspect`.
#include "gguf.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "common.h"
#include "json.h"
#include "sha256.h"
#include "test_gguf_layout.h"
#include "test_util.h"

using namespace slm;
using test::contains;
using test::error_of;
using namespace slm::gguf;
using slm::test::Bytes;

namespace {

const char* kStories = "models/stories260K.gguf";
const char* kTiny = "models/llama3-tiny-f16.gguf";
const char* kSpm = "tokenizer/llama-spm/vocab.gguf";
const char* kGpt2 = "tokenizer/gpt2/vocab.gguf";

// The message of the slm::Error that fn throws ("" if it throws none).

// A minimal valid v3 file by hand: n_kv entries given as raw bytes, one F32 tensor "t" of 8 floats.
std::vector<uint8_t> one_tensor_file(uint32_t version = 3) {
    Bytes b;
    b.u32(0x46554747).u32(version).u64(1).u64(1);
    b.str("general.architecture").u32(8).str("llama");
    b.str("t").u32(1).i64(8).u32(0).u64(0);
    b.pad_to(32);
    for (int k = 0; k < 8; k++) b.put<float>(float(k) * 0.5f);
    return b.b;
}

// Runs a shell command, returns (exit status, combined stdout+stderr).
std::pair<int, std::string> run_cmd(const std::string& cmd) {
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// Compares two files in 1 MiB blocks (the 76 MB model is too slow to slurp byte-wise under ASan).
bool same_file_bytes(const std::string& a, const std::string& b) {
    std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
    REQUIRE(fa.good());
    REQUIRE(fb.good());
    std::vector<char> ba(1 << 20), bb(1 << 20);
    while (true) {
        fa.read(ba.data(), std::streamsize(ba.size()));
        fb.read(bb.data(), std::streamsize(bb.size()));
        if (fa.gcount() != fb.gcount()) return false;
        if (std::memcmp(ba.data(), bb.data(), size_t(fa.gcount())) != 0) return false;
        if (fa.gcount() == 0 || !fa || !fb) return !fa && !fb && fa.gcount() == fb.gcount();
    }
}

std::string slm_bin() {
    const char* b = std::getenv("SLM_BIN");
    return b ? b : "build/slm";
}

}  // namespace

TEST_CASE("gguf: stories260K metadata and tensors are exactly as written") {
    SLM_REQUIRE_FIXTURE(kStories);
    File f = File::open(test::fixture(kStories));
    CHECK(f.version() == 3);
    CHECK(f.alignment() == 32);
    CHECK(f.file_size() == std::filesystem::file_size(test::fixture(kStories)));
    CHECK(f.data_offset() % 32 == 0);
    CHECK(f.get_string("general.architecture") == "llama");
    CHECK(f.get_int("llama.block_count") == 5);
    CHECK(f.get_uint("llama.embedding_length") == 64);
    CHECK(f.get_int("llama.feed_forward_length") == 172);
    CHECK(f.get_int("llama.attention.head_count") == 8);
    CHECK(f.get_int("llama.attention.head_count_kv") == 4);
    CHECK(f.get_int("llama.context_length") == 512);
    CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5));
    CHECK(f.get_string("tokenizer.ggml.model") == "llama");
    const Value& tokens = f.get_array("tokenizer.ggml.tokens");
    CHECK(tokens.elem_type == ValueType::STRING);
    REQUIRE(tokens.arr.size() == 512);
    CHECK(tokens.arr[0].str == "<unk>");
    CHECK(tokens.arr[1].str == "<s>");
    CHECK(tokens.arr[3].str == "<0x00>");
    CHECK(f.get_array("tokenizer.ggml.scores").elem_type == ValueType::FLOAT32);
    CHECK(f.get_array("tokenizer.ggml.token_type").elem_type == ValueType::INT32);
    CHECK(f.get_int("tokenizer.ggml.bos_token_id") == 1);

    // 5 layers x 9 tensors + token_embd + output_norm + output
    CHECK(f.tensors().size() == 48);
    const TensorInfo* emb = f.find_tensor("token_embd.weight");
    REQUIRE(emb != nullptr);
    CHECK(emb->type == GgmlType::F32);
    CHECK(emb->n_dims == 2);
    CHECK(emb->ne[0] == 64);
    CHECK(emb->ne[1] == 512);
    CHECK(emb->nbytes == 64 * 512 * 4);
    CHECK(f.find_tensor("output.weight") != nullptr);
    CHECK(f.find_tensor("blk.4.ffn_down.weight") != nullptr);
    CHECK(f.find_tensor("blk.5.ffn_down.weight") == nullptr);
    const TensorInfo* wq = f.find_tensor("blk.0.attn_q.weight");
    REQUIRE(wq != nullptr);
    // The view points into the mapped file at data_offset + offset: compare with the bytes read directly.
    auto bytes = test::read_bytes(test::fixture(kStories));
    CHECK(std::memcmp(f.tensor_data(*wq), bytes.data() + f.data_offset() + wq->offset, wq->nbytes) == 0);
    int64_t params = 0;
    for (const TensorInfo& t : f.tensors()) params += t.n_elements();
    CHECK(params > 200000);
    CHECK(params < 300000);  // "260K"
}

TEST_CASE("gguf: llama3-tiny metadata, and tensors match the llama.cpp manifest (names, types, shapes, sha256)") {
    SLM_REQUIRE_FIXTURE(kTiny);
    File f = File::open(test::fixture(kTiny));
    CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
    CHECK(f.get_string("tokenizer.ggml.pre") == "llama-bpe");
    CHECK(f.get_array("tokenizer.ggml.tokens").arr.size() == 128256);
    CHECK(f.get_array("tokenizer.ggml.merges").arr.size() == 280147);
    CHECK(f.get_array("tokenizer.ggml.tokens").arr[128000].str == "<|begin_of_text|>");
    CHECK(f.get_float("llama.rope.freq_base") == 500000.0);
    CHECK(f.get_int("llama.block_count") == 2);
    CHECK(f.get_bool("tokenizer.ggml.add_bos_token") == true);
    CHECK(f.find_tensor("output.weight") == nullptr);  // tied embeddings

    const std::string manifest = "quantize/llama3-tiny-f16.manifest.tsv";
    if (!test::have_fixture(manifest)) return;
    std::istringstream in(test::read_text(test::fixture(manifest)));
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::istringstream ls(line);
        std::string name, type, shape, digest;
        std::getline(ls, name, '\t');
        std::getline(ls, type, '\t');
        std::getline(ls, shape, '\t');
        std::getline(ls, digest, '\t');
        CAPTURE(name);
        const TensorInfo* t = f.find_tensor(name);
        REQUIRE(t != nullptr);
        CHECK(type_from_name(type) == t->type);
        std::string s;
        for (uint32_t d = 0; d < t->n_dims; d++) s += (d ? "x" : "") + std::to_string(t->ne[d]);
        CHECK(s == shape);
        // Under the sanitizers hashing the 65 MB embedding takes long: there, the smaller tensors suffice.
        if (!std::getenv("SLM_ASAN") || t->nbytes < (4u << 20))
            CHECK(sha256_hex(f.tensor_data(*t), t->nbytes) == digest);
        n++;
    }
    CHECK(n == f.tensors().size());
}

TEST_CASE("gguf: vocabulary-only files (no tensors) load") {
    SLM_REQUIRE_FIXTURE(kSpm);
    SLM_REQUIRE_FIXTURE(kGpt2);
    File spm = File::open(test::fixture(kSpm));
    CHECK(spm.tensors().empty());
    CHECK(spm.get_string("tokenizer.ggml.model") == "llama");
    CHECK(spm.get_array("tokenizer.ggml.tokens").arr.size() == 32000);
    CHECK(spm.get_array("tokenizer.ggml.scores").arr.size() == 32000);
    File gpt2 = File::open(test::fixture(kGpt2));
    CHECK(gpt2.tensors().empty());
    CHECK(gpt2.get_string("tokenizer.ggml.model") == "gpt2");
    CHECK(gpt2.get_string("tokenizer.ggml.pre") == "gpt-2");
    CHECK(gpt2.get_array("tokenizer.ggml.merges").arr.size() > 0);
    CHECK(gpt2.data_offset() <= gpt2.file_size());
}

TEST_CASE("gguf: the three load modes see the same bytes") {
    SLM_REQUIRE_FIXTURE(kStories);
    const std::string path = test::fixture(kStories);
    File a = File::open(path, LoadMode::mmap);
    File b = File::open(path, LoadMode::read);
    CHECK(a.mode() == LoadMode::mmap);
    CHECK(b.mode() == LoadMode::read);
    REQUIRE(a.tensors().size() == b.tensors().size());
    for (size_t k = 0; k < a.tensors().size(); k++) {
        const TensorInfo& ta = a.tensors()[k];
        const TensorInfo& tb = b.tensors()[k];
        CHECK(ta.name == tb.name);
        CHECK(std::memcmp(a.tensor_data(ta), b.tensor_data(tb), ta.nbytes) == 0);
    }
    // mlock may be refused by the RLIMIT_MEMLOCK of the machine; then the error must say so.
    std::string err = error_of([&] {
        File c = File::open(path, LoadMode::mlock);
        CHECK(c.mode() == LoadMode::mlock);
        CHECK(std::memcmp(c.tensor_data(c.tensors()[0]), a.tensor_data(a.tensors()[0]), a.tensors()[0].nbytes) == 0);
    });
    if (!err.empty()) {
        CHECK(contains(err, "mlock"));
        CHECK(contains(err, path));
    }
    // A moved File keeps its views valid.
    const uint8_t* p = a.tensor_data(a.tensors()[1]);
    File moved = std::move(a);
    CHECK(moved.tensor_data(moved.tensors()[1]) == p);
}

TEST_CASE("gguf: writer round-trips the fixtures byte for byte") {
    for (const char* rel : {kStories, kSpm, kGpt2}) {
        CAPTURE(rel);
        if (!test::have_fixture(rel)) continue;
        auto orig = test::read_bytes(test::fixture(rel));
        File f = File::open(test::fixture(rel));
        CHECK(Writer::from_file(f).to_bytes() == orig);
    }
    SLM_REQUIRE_FIXTURE(kTiny);
    // The big one goes through write() (temp file + rename) and is compared on disk.
    std::string dir = test::scratch_dir("gguf_roundtrip");
    std::string out = dir + "/tiny.gguf";
    {
        File f = File::open(test::fixture(kTiny));
        Writer w = Writer::from_file(f);
        CHECK(w.n_tensors() == f.tensors().size());
        w.write(out);
    }
    CHECK(same_file_bytes(out, test::fixture(kTiny)));
    size_t n_files = 0;
    for (auto& e : std::filesystem::directory_iterator(dir)) n_files += e.is_regular_file();
    CHECK(n_files == 1);  // no temporary left behind
}

TEST_CASE("gguf: every value type is written and read back exactly") {
    Writer w;
    w.set("u8", [] { Value v; v.type = ValueType::UINT8; v.u = 255; return v; }());
    w.set("i8", [] { Value v; v.type = ValueType::INT8; v.i = -128; return v; }());
    w.set("u16", [] { Value v; v.type = ValueType::UINT16; v.u = 65535; return v; }());
    w.set("i16", [] { Value v; v.type = ValueType::INT16; v.i = -32768; return v; }());
    w.set("u32", Value::make_u32(0xffffffffu));
    w.set("i32", Value::make_i32(std::numeric_limits<int32_t>::min()));
    w.set("f32", Value::make_f32(-1.17549435e-38f / 3));  // a subnormal survives
    w.set("bool_t", Value::make_bool(true));
    w.set("bool_f", Value::make_bool(false));
    w.set("str", Value::make_string(std::string("a\0b\xc3\xa9", 5)));  // embedded NUL and UTF-8
    w.set("empty_str", Value::make_string(""));
    w.set("u64", Value::make_u64(std::numeric_limits<uint64_t>::max()));
    w.set("i64", [] { Value v; v.type = ValueType::INT64; v.i = std::numeric_limits<int64_t>::min(); return v; }());
    w.set("f64", [] { Value v; v.type = ValueType::FLOAT64; v.f = 0.1; return v; }());
    w.set("strs", Value::make_string_array({"x", "", "yz"}));
    w.set("empty_arr", Value::make_array(ValueType::INT32, {}));
    w.set("nested", Value::make_array(ValueType::ARRAY, {Value::make_array(ValueType::UINT32, {Value::make_u32(1), Value::make_u32(2)}),
                                                          Value::make_array(ValueType::STRING, {Value::make_string("q")}),
                                                          Value::make_array(ValueType::ARRAY, {Value::make_array(ValueType::BOOL, {Value::make_bool(true)})})}));
    auto bytes = w.to_bytes();
    File f = File::from_memory(bytes.data(), bytes.size(), "values.gguf");
    CHECK(f.version() == 3);
    CHECK(f.path() == "values.gguf");
    REQUIRE(f.metadata().size() == 17);
    // Keys keep their insertion order.
    CHECK(f.metadata()[0].key == "u8");
    CHECK(f.metadata()[16].key == "nested");
    auto is = [&](const char* k, ValueType t) { REQUIRE(f.find(k)); CHECK(f.find(k)->type == t); };
    is("u8", ValueType::UINT8);
    is("i8", ValueType::INT8);
    is("u16", ValueType::UINT16);
    is("i16", ValueType::INT16);
    is("u32", ValueType::UINT32);
    is("i32", ValueType::INT32);
    is("f32", ValueType::FLOAT32);
    is("bool_t", ValueType::BOOL);
    is("str", ValueType::STRING);
    is("u64", ValueType::UINT64);
    is("i64", ValueType::INT64);
    is("f64", ValueType::FLOAT64);
    is("nested", ValueType::ARRAY);
    CHECK(f.get_uint("u8") == 255);
    CHECK(f.get_int("i8") == -128);
    CHECK(f.get_uint("u16") == 65535);
    CHECK(f.get_int("i16") == -32768);
    CHECK(f.get_uint("u32") == 0xffffffffu);
    CHECK(f.get_int("i32") == std::numeric_limits<int32_t>::min());
    CHECK(float(f.get_float("f32")) == -1.17549435e-38f / 3);
    CHECK(f.get_bool("bool_t") == true);
    CHECK(f.get_bool("bool_f") == false);
    CHECK(f.get_string("str") == std::string("a\0b\xc3\xa9", 5));
    CHECK(f.get_string("empty_str").empty());
    CHECK(f.get_uint("u64") == std::numeric_limits<uint64_t>::max());
    CHECK(f.get_int("i64") == std::numeric_limits<int64_t>::min());
    CHECK(f.get_float("f64") == 0.1);
    const Value& strs = f.get_array("strs");
    REQUIRE(strs.arr.size() == 3);
    CHECK(strs.arr[2].str == "yz");
    CHECK(f.get_array("empty_arr").arr.empty());
    CHECK(f.get_array("empty_arr").elem_type == ValueType::INT32);
    const Value& nested = f.get_array("nested");
    REQUIRE(nested.arr.size() == 3);
    CHECK(nested.arr[0].elem_type == ValueType::UINT32);
    CHECK(nested.arr[0].arr[1].u == 2);
    CHECK(nested.arr[1].arr[0].str == "q");
    CHECK(nested.arr[2].arr[0].arr[0].u == 1);
    // And once more through the writer: identical bytes.
    CHECK(Writer::from_file(f).to_bytes() == bytes);
    CHECK(f.data_offset() == bytes.size());  // no tensors: the file ends after the header
}

TEST_CASE("gguf: typed getters, defaults and their errors") {
    Writer w;
    w.set("n", Value::make_u32(7));
    w.set("neg", Value::make_i32(-3));
    w.set("s", Value::make_string("hi"));
    w.set("big", Value::make_u64(std::numeric_limits<uint64_t>::max()));
    auto bytes = w.to_bytes();
    File f = File::from_memory(bytes.data(), bytes.size(), "getters.gguf");
    CHECK(f.get_int("n") == 7);
    CHECK(f.get_float("n") == 7.0);
    CHECK(f.get_int("missing", 42) == 42);
    CHECK(f.get_string("missing", "d") == "d");
    CHECK(f.get_float("missing", 1.5) == 1.5);
    CHECK(f.get_bool("missing", true) == true);
    CHECK(f.get_string("s", "d") == "hi");
    CHECK(!f.has("missing"));
    std::string e = error_of([&] { f.get_int("missing"); });
    CHECK(contains(e, "getters.gguf"));
    CHECK(contains(e, "missing"));
    e = error_of([&] { f.get_string("n"); });
    CHECK(contains(e, "getters.gguf"));
    CHECK(contains(e, "metadata key n"));
    CHECK(contains(e, "expected string, found u32"));
    e = error_of([&] { f.get_int("s", 3); });  // a default does not hide a value of the wrong type
    CHECK(contains(e, "found string"));
    CHECK(contains(error_of([&] { f.get_uint("neg"); }), "non-negative"));
    CHECK(contains(error_of([&] { f.get_int("big"); }), "does not fit"));
    CHECK(contains(error_of([&] { f.get_bool("n"); }), "expected bool"));
    CHECK(contains(error_of([&] { f.get_array("n"); }), "expected array"));
}

TEST_CASE("gguf: Value display summarizes long arrays") {
    std::vector<std::string> many;
    for (int k = 0; k < 100; k++) many.push_back(std::string(1, char('!' + k % 90)));
    Value v = Value::make_string_array(many);
    CHECK(v.to_display(3) == "[100 x string] \"!\", \"\\\"\", \"#\", ...");
    Value small = Value::make_array(ValueType::UINT32, {Value::make_u32(1), Value::make_u32(2)});
    CHECK(small.to_display() == "[1, 2]");
    CHECK(Value::make_string("a\nb").to_display() == "\"a\\nb\"");
    CHECK(Value::make_bool(false).to_display() == "false");
    CHECK(Value::make_f32(0.5f).to_display() == "0.5");
    CHECK(Value::make_string_array(many).to_display(1000).size() > 400);  // --all shows everything
}

TEST_CASE("gguf: writer set/remove keep order; tensors laid out at the alignment") {
    Writer w;
    w.set("a", Value::make_u32(1));
    w.set("b", Value::make_u32(2));
    w.set("c", Value::make_u32(3));
    w.set("b", Value::make_string("two"));  // replaced in place
    w.remove("a");
    CHECK(w.find("a") == nullptr);
    REQUIRE(w.find("b") != nullptr);
    CHECK(w.find("b")->str == "two");
    std::vector<float> x(48);
    for (size_t k = 0; k < x.size(); k++) x[k] = float(k);
    w.add_tensor_view("x", GgmlType::F32, {12, 4}, x.data(), x.size() * 4);
    std::vector<uint8_t> q(34 * 2, 7);  // two Q8_0 blocks
    w.add_tensor("q", GgmlType::Q8_0, {64}, q);
    w.add_tensor("tail", GgmlType::F16, {3}, std::vector<uint8_t>(6, 1));
    CHECK(w.n_tensors() == 3);

    for (uint32_t align : {32u, 64u, 8u, 256u}) {
        CAPTURE(align);
        w.set("general.alignment", Value::make_u32(align));
        auto bytes = w.to_bytes();
        File f = File::from_memory(bytes.data(), bytes.size());
        CHECK(f.alignment() == align);
        CHECK(f.metadata()[0].key == "b");
        CHECK(f.metadata()[1].key == "c");
        CHECK(f.data_offset() % align == 0);
        CHECK(f.file_size() % align == 0);
        REQUIRE(f.tensors().size() == 3);
        for (const TensorInfo& t : f.tensors()) CHECK(t.offset % align == 0);
        CHECK(f.tensors()[0].offset == 0);
        CHECK(std::memcmp(f.tensor_data(f.tensors()[0]), x.data(), 192) == 0);
        CHECK(std::memcmp(f.tensor_data(f.tensors()[1]), q.data(), q.size()) == 0);
        CHECK(f.tensors()[2].nbytes == 6);
        CHECK(f.tensors()[1].ne[0] == 64);
        CHECK(f.tensors()[0].ne[1] == 4);
        CHECK(f.tensors()[0].n_dims == 2);
        CHECK(Writer::from_file(f).to_bytes() == bytes);
    }
}

TEST_CASE("gguf: writer refuses what the reader would refuse") {
    Writer w;
    std::vector<uint8_t> d(64);
    CHECK(contains(error_of([&] { w.add_tensor("t", GgmlType::F32, {16}, std::vector<uint8_t>(60)); }), "60 bytes given"));
    CHECK(contains(error_of([&] { w.add_tensor("t", GgmlType::Q4_K, {128}, std::vector<uint8_t>(72)); }), "block size"));
    CHECK(contains(error_of([&] { w.add_tensor("t", GgmlType::F32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4)); }), "dimensions"));
    CHECK(contains(error_of([&] { w.add_tensor("t", GgmlType::F32, {-4}, {}); }), "negative"));
    w.add_tensor("t", GgmlType::F32, {16}, d);
    CHECK(contains(error_of([&] { w.add_tensor("t", GgmlType::F32, {16}, d); }), "duplicate tensor name 't'"));
    w.set("general.alignment", Value::make_u32(48));
    CHECK(contains(error_of([&] { w.to_bytes(); }), "power of two"));
    w.set("general.alignment", Value::make_u32(32));
    w.set("arr", Value::make_array(ValueType::UINT32, {Value::make_u32(1), Value::make_string("x")}));
    CHECK(contains(error_of([&] { w.to_bytes(); }), "element 1 has type string"));
    w.remove("arr");
    Value u8;
    u8.type = ValueType::UINT8;
    u8.u = 300;
    w.set("u8", u8);
    CHECK(contains(error_of([&] { w.to_bytes(); }), "does not fit in u8"));
    w.remove("u8");
    CHECK(contains(error_of([&] { w.write("/nonexistent-dir/x.gguf"); }), "/nonexistent-dir/x.gguf"));
}

TEST_CASE("gguf: a v2 file written by hand loads; v1, bad magic, big-endian and v4 are refused") {
    auto v3 = one_tensor_file(3);
    File f3 = File::from_memory(v3.data(), v3.size(), "v3.gguf");
    CHECK(f3.version() == 3);
    auto v2 = one_tensor_file(2);
    File f2 = File::from_memory(v2.data(), v2.size(), "v2.gguf");
    CHECK(f2.version() == 2);
    CHECK(f2.get_string("general.architecture") == "llama");
    REQUIRE(f2.tensors().size() == 1);
    const float* t = reinterpret_cast<const float*>(f2.tensor_data(f2.tensors()[0]));
    CHECK(t[7] == 3.5f);
    CHECK(f2.data_offset() == 128);  // 102 header bytes, padded to 32

    // Version 1 used u32 counts; its header is refused by version alone.
    Bytes v1;
    v1.u32(0x46554747).u32(1).u32(0).u32(0);
    std::string e = error_of([&] { File::from_memory(v1.b.data(), v1.b.size(), "old.gguf"); });
    CHECK(contains(e, "old.gguf"));
    CHECK(contains(e, "version 1"));
    auto bad = v3;
    bad[0] = 'X';
    e = error_of([&] { File::from_memory(bad.data(), bad.size(), "bad.gguf"); });
    CHECK(contains(e, "bad.gguf"));
    CHECK(contains(e, "not a GGUF file"));
    bad = v3;
    test::poke<uint32_t>(bad, 4, 0x03000000u);
    CHECK(contains(error_of([&] { File::from_memory(bad.data(), bad.size()); }), "big-endian"));
    bad = v3;
    test::poke<uint32_t>(bad, 4, 4);
    CHECK(contains(error_of([&] { File::from_memory(bad.data(), bad.size()); }), "unsupported GGUF version 4"));
    CHECK(contains(error_of([&] { File::from_memory(v3.data(), 2); }), "not a GGUF file"));
    CHECK(contains(error_of([&] { File::from_memory(v3.data(), 10); }), "truncated"));
}

TEST_CASE("gguf: specific corruptions are refused with messages naming the field") {
    // Build a small file with two tensors, then corrupt one field at a time (positions from the layout walk).
    Writer w;
    w.set("general.architecture", Value::make_string("llama"));
    w.set("tokens", Value::make_string_array({"a", "b", "c"}));
    w.add_tensor("first", GgmlType::F32, {8, 2}, std::vector<uint8_t>(64, 1));
    w.add_tensor("second", GgmlType::Q8_0, {32}, std::vector<uint8_t>(34, 2));
    const auto good = w.to_bytes();
    test::Layout L = test::walk_gguf(good);
    REQUIRE(L.ok);
    auto find = [&](test::Field fld, int nth) -> size_t {
        int k = 0;
        for (const auto& p : L.fields)
            if (p.field == fld && k++ == nth) return p.offset;
        FAIL("field not found");
        return 0;
    };
    auto err = [&](const std::vector<uint8_t>& b) {
        return error_of([&] { File::from_memory(b.data(), b.size(), "c.gguf"); });
    };
    CHECK(err(good).empty());

    auto b = good;
    test::poke<uint64_t>(b, find(test::Field::tensor_offset, 1), 1u << 20);
    std::string e = err(b);
    CHECK(contains(e, "c.gguf: tensor 'second': data [offset 1048576, 34 bytes] extends past end of file"));

    b = good;
    test::poke<uint64_t>(b, find(test::Field::tensor_offset, 1), 32);  // first is 64 bytes at 0
    CHECK(contains(err(b), "overlaps tensor 'first'"));

    b = good;
    test::poke<uint64_t>(b, find(test::Field::tensor_offset, 1), 65);
    CHECK(contains(err(b), "not a multiple of the alignment 32"));

    b = good;
    test::poke<uint32_t>(b, find(test::Field::tensor_type, 0), 77);
    CHECK(contains(err(b), "tensor 'first': unknown ggml type id 77"));

    b = good;
    test::poke<uint32_t>(b, find(test::Field::tensor_type, 0), uint32_t(GgmlType::Q4_0));  // ne[0]=8 is not 32k
    CHECK(contains(err(b), "not a multiple of the q4_0 block size 32"));

    b = good;
    test::poke<uint32_t>(b, find(test::Field::n_dims, 0), 5);
    CHECK(contains(err(b), "n_dims 5 exceeds the maximum of 4"));

    b = good;
    test::poke<int64_t>(b, find(test::Field::ne, 1), -2);
    CHECK(contains(err(b), "ne[1] = -2 is negative"));

    b = good;
    test::poke<int64_t>(b, find(test::Field::ne, 0), int64_t(1) << 40);
    test::poke<int64_t>(b, find(test::Field::ne, 1), int64_t(1) << 40);
    CHECK(contains(err(b), "overflows"));

    b = good;
    test::poke<uint64_t>(b, find(test::Field::array_count, 0), uint64_t(1) << 60);
    e = err(b);  // must refuse before allocating 2^60 strings
    CHECK(contains(e, "metadata key tokens"));
    CHECK(contains(e, "array length 1152921504606846976 is impossible"));

    b = good;
    test::poke<uint64_t>(b, find(test::Field::string_len, 1), uint64_t(-1));
    CHECK(contains(err(b), "string length 18446744073709551615"));

    b = good;
    test::poke<uint32_t>(b, find(test::Field::value_type, 0), 13);
    CHECK(contains(err(b), "unknown value type 13"));

    b = good;
    test::poke<uint32_t>(b, find(test::Field::array_elem_type, 0), 99);
    CHECK(contains(err(b), "unknown array element type 99"));

    b = good;
    test::poke<uint64_t>(b, find(test::Field::n_kv, 0), uint64_t(1) << 62);
    CHECK(contains(err(b), "metadata count"));

    b = good;
    test::poke<uint64_t>(b, find(test::Field::n_tensors, 0), 1000);
    CHECK(contains(err(b), "tensor count"));

    // Duplicate key: rename "tokens" (6 letters) to "genera"... simpler: make both keys equal by hand.
    Bytes dup;
    dup.u32(0x46554747).u32(3).u64(0).u64(2);
    dup.str("k").u32(4).u32(1);
    dup.str("k").u32(4).u32(2);
    CHECK(contains(err(dup.b), "metadata key k: duplicate key"));

    Bytes dupt;
    dupt.u32(0x46554747).u32(3).u64(2).u64(0);
    dupt.str("t").u32(1).i64(4).u32(0).u64(0);
    dupt.str("t").u32(1).i64(4).u32(0).u64(32);
    dupt.pad_to(32);
    dupt.b.resize(dupt.b.size() + 64);
    CHECK(contains(err(dupt.b), "tensor 't': duplicate tensor name"));

    for (uint32_t a : {0u, 3u, 48u}) {
        Bytes al;
        al.u32(0x46554747).u32(3).u64(0).u64(1);
        al.str("general.alignment").u32(4).u32(a);
        CHECK(contains(err(al.b), "power of two"));
    }
    Bytes als;
    als.u32(0x46554747).u32(3).u64(0).u64(1);
    als.str("general.alignment").u32(8).str("32");
    CHECK(contains(err(als.b), "general.alignment: expected an integer, found string"));

    Bytes bo;
    bo.u32(0x46554747).u32(3).u64(0).u64(1);
    bo.str("flag").u32(7).put<uint8_t>(2);
    CHECK(contains(err(bo.b), "bool value 2"));

    // Arrays nested beyond the limit are refused instead of recursing without end.
    Bytes deep;
    deep.u32(0x46554747).u32(3).u64(0).u64(1);
    deep.str("deep").u32(9);
    for (int k = 0; k < 100; k++) deep.u32(9).u64(1);
    deep.u32(4).u64(0);
    CHECK(contains(err(deep.b), "nested deeper"));

    // The data section must exist when there are tensors.
    b = good;
    b.resize(L.header_end + 1);
    CHECK(contains(err(b), "past the end of the file"));
}

TEST_CASE("gguf: opening a missing, empty or directory path fails with its name") {
    CHECK(contains(error_of([] { File::open("/nonexistent/model.gguf"); }), "/nonexistent/model.gguf: cannot open"));
    std::string dir = test::scratch_dir("gguf_open");
    CHECK(contains(error_of([&] { File::open(dir); }), "is a directory"));
    std::string empty = dir + "/empty.gguf";
    std::ofstream(empty).close();
    CHECK(contains(error_of([&] { File::open(empty); }), "empty"));
    for (LoadMode m : {LoadMode::mmap, LoadMode::read}) {
        auto good = one_tensor_file();
        std::string p = dir + "/cut.gguf";
        std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(good.data()), 50);
        std::string e = error_of([&] { File::open(p, m); });
        CHECK(contains(e, p));
        CHECK(contains(e, "truncated"));
    }
}

TEST_CASE("gguf: slm inspect prints header, metadata, tensors and totals") {
    SLM_REQUIRE_FIXTURE(kStories);
    std::string bin = slm_bin();
    if (!std::filesystem::exists(bin)) {
        MESSAGE("skipped: " << bin << " not built");
        return;
    }
    auto [rc, out] = run_cmd(bin + " inspect " + test::fixture(kStories));
    CHECK(rc == 0);
    CHECK(contains(out, "version"));
    CHECK(contains(out, "llama.block_count"));
    CHECK(contains(out, "[512 x string] \"<unk>\", \"<s>\""));
    CHECK(contains(out, "blk.0.attn_q.weight"));
    CHECK(contains(out, "bits per weight"));

    // The last token shows only when --all prints the vocabulary whole.
    File f = File::open(test::fixture(kStories));
    const std::string last = f.get_array("tokenizer.ggml.tokens").arr.back().to_display();
    CHECK(!contains(out, last));
    auto [rca, outall] = run_cmd(bin + " inspect --all " + test::fixture(kStories));
    CHECK(rca == 0);
    CHECK(contains(outall, last));
    CHECK(contains(outall, "tokenizer.ggml.tokens"));

    auto [rcj, js] = run_cmd(bin + " inspect --json " + test::fixture(kStories));
    CHECK(rcj == 0);
    json::Value v = json::parse(js);
    CHECK(v.at("version").as_int() == 3);
    CHECK(v.at("tensors").size() == 48);
    CHECK(v.at("metadata").at("llama.block_count").as_int() == 5);
    CHECK(v.at("n_params").as_int() > 200000);

    auto [rch, help] = run_cmd(bin + " inspect --help");
    CHECK(rch == 0);
    CHECK(contains(help, "usage"));

    std::string dir = test::scratch_dir("gguf_inspect");
    std::string bad = dir + "/corrupt.gguf";
    auto good = one_tensor_file();
    test::poke<uint32_t>(good, 4, 1);
    std::ofstream(bad, std::ios::binary).write(reinterpret_cast<const char*>(good.data()), std::streamsize(good.size()));
    auto [rcb, eb] = run_cmd(bin + " inspect " + bad);
    CHECK(rcb != 0);
    CHECK(contains(eb, "corrupt.gguf"));
    auto [rcm, em] = run_cmd(bin + " inspect " + dir + "/missing.gguf");
    CHECK(rcm != 0);
    CHECK(contains(em, "missing.gguf"));
}
