// Robustness of the GGUF reader: thousands of deterministic mutations of well-formed files (the fixtures and a
// small synthetic file with every value type), each parsed with File::from_memory. Every parse must end in a
// clean slm::Error or a valid File whose tensors all lie inside the buffer; never a crash, a hang, another
// exception type (bad_alloc, length_error) or a sanitizer report.
//
// Mutations are structure-aware: the test walks each file once (test_gguf_layout.h) to learn where the counts,
// lengths, type ids, dimensions and offsets are, then writes hostile values into exactly those fields, besides
// truncating at every section boundary and flipping random bytes.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common.h"
#include "gguf.h"
#include "test_gguf_layout.h"
#include "test_util.h"

using namespace slm;
using namespace slm::gguf;
using test::Field;

namespace {

// splitmix64: tiny, and the same sequence on every platform and standard library.
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }
    bool chance(int percent) { return below(100) < uint64_t(percent); }
};

bool under_asan() { return std::getenv("SLM_ASAN") != nullptr; }

struct Stats {
    int parsed = 0;
    int valid = 0;
    int refused = 0;
    int bad = 0;  // anything but a clean slm::Error
    std::string first_bad;
};

// Parses one candidate; a valid result is exercised (every tensor's bytes touched, every value displayed,
// written back and read again) so that an accepted-but-inconsistent file would show up too.
void parse_one(const std::vector<uint8_t>& b, Stats& st, const std::string& what, bool roundtrip) {
    st.parsed++;
    try {
        File f = File::from_memory(b.data(), b.size(), "fuzz.gguf");
        st.valid++;
        uint64_t sum = 0;
        for (const TensorInfo& t : f.tensors()) {
            const uint8_t* p = f.tensor_data(t);
            if (t.nbytes) sum += p[0] + p[t.nbytes - 1];
        }
        for (const KV& kv : f.metadata()) sum += kv.value.to_display(4).size();
        if (roundtrip) {
            std::vector<uint8_t> again = Writer::from_file(f).to_bytes();
            File g = File::from_memory(again.data(), again.size(), "fuzz-again.gguf");
            if (g.metadata().size() != f.metadata().size() || g.tensors().size() != f.tensors().size())
                throw std::runtime_error("a valid file written back does not read back the same");
        }
        (void)sum;
    } catch (const Error& e) {
        st.refused++;
        // A clean error names the buffer it was parsing.
        if (std::string(e.what()).find("fuzz") == std::string::npos && st.bad++ == 0)
            st.first_bad = what + ": error message does not name the file: " + e.what();
    } catch (const std::exception& e) {
        if (st.bad++ == 0) st.first_bad = what + ": " + typeid(e).name() + ": " + e.what();
    }
}

uint64_t hostile_u64(Rng& r, uint64_t old, uint64_t file_size) {
    switch (r.below(12)) {
        case 0: return 0;
        case 1: return old + 1;
        case 2: return old - 1;
        case 3: return uint64_t(1) << 60;
        case 4: return ~uint64_t(0);
        case 5: return ~uint64_t(0) - 31;
        case 6: return uint64_t(1) << 63;
        case 7: return file_size;
        case 8: return file_size / 2;
        case 9: return old * 2 + 1;
        case 10: return r.below(64);
        default: return r.next();
    }
}

uint32_t hostile_u32(Rng& r, uint32_t old) {
    switch (r.below(9)) {
        case 0: return 0;
        case 1: return old + 1;
        case 2: return old - 1;
        case 3: return 0xffffffffu;
        case 4: return 13;               // one past the last value type
        case 5: return 4 + uint32_t(r.below(2));  // removed ggml types Q4_2 / Q4_3
        case 6: return 40 + uint32_t(r.below(1000));
        case 7: return uint32_t(r.below(40));
        default: return uint32_t(r.next());
    }
}

int64_t hostile_dim(Rng& r, int64_t old) {
    switch (r.below(9)) {
        case 0: return -1;
        case 1: return INT64_MIN;
        case 2: return INT64_MAX;
        case 3: return int64_t(1) << 40;
        case 4: return 0;
        case 5: return old + 1;
        case 6: return old * 256;
        case 7: return -old;
        default: return int64_t(r.next());
    }
}

// Writes a hostile value into one recorded field.
void mutate_field(Rng& r, std::vector<uint8_t>& b, const test::Layout& L) {
    const test::FieldPos& fp = L.fields[r.below(L.fields.size())];
    if (fp.offset + fp.size > b.size()) return;  // already truncated away
    switch (fp.field) {
        case Field::ne: test::poke<int64_t>(b, fp.offset, hostile_dim(r, test::peek<int64_t>(b, fp.offset))); break;
        case Field::tensor_offset: {
            uint64_t old = test::peek<uint64_t>(b, fp.offset);
            uint64_t v;
            switch (r.below(5)) {
                case 0: v = old + 1 + r.below(31); break;    // misaligned
                case 1: v = old + 32 * (1 + r.below(4)); break;  // aligned, likely overlapping or past the end
                case 2: v = old >= 32 ? old - 32 : 0; break;
                case 3: {  // another tensor's offset: overlap
                    std::vector<size_t> offs;
                    for (const auto& f2 : L.fields)
                        if (f2.field == Field::tensor_offset) offs.push_back(f2.offset);
                    v = test::peek<uint64_t>(b, offs[r.below(offs.size())]);
                    break;
                }
                default: v = hostile_u64(r, old, b.size());
            }
            test::poke<uint64_t>(b, fp.offset, v);
            break;
        }
        default:
            if (fp.size == 8) test::poke<uint64_t>(b, fp.offset, hostile_u64(r, test::peek<uint64_t>(b, fp.offset), b.size()));
            else if (fp.size == 4) test::poke<uint32_t>(b, fp.offset, hostile_u32(r, test::peek<uint32_t>(b, fp.offset)));
            else if (fp.size == 2) test::poke<uint16_t>(b, fp.offset, uint16_t(r.next()));
            else b[fp.offset] = uint8_t(r.next());
    }
}

void flip_bytes(Rng& r, std::vector<uint8_t>& b, size_t header_end) {
    int n = 1 + int(r.below(8));
    for (int k = 0; k < n && !b.empty(); k++) {
        // Mostly inside the header, where the structure is; sometimes anywhere.
        size_t limit = r.chance(85) ? std::min(b.size(), header_end + 1) : b.size();
        size_t at = r.below(limit);
        b[at] ^= uint8_t(1u << r.below(8)) | (r.chance(20) ? uint8_t(r.next()) : 0);
    }
}

// Runs the whole battery on one seed file.
Stats fuzz_file(const std::vector<uint8_t>& seed, int iterations, uint64_t rng_seed, bool roundtrip) {
    Stats st;
    test::Layout L = test::walk_gguf(seed);
    REQUIRE(L.ok);
    REQUIRE(!L.fields.empty());
    // The seed itself must be valid.
    File orig = File::from_memory(seed.data(), seed.size(), "seed.gguf");

    // 1. Truncation at every section boundary; then, as extras: one byte either side of each, the middle of
    //    fields (a length cut in half), each tensor's data edges and random lengths. On big files the extras are
    //    a deterministic sample, so the test stays quick (each parse copies the whole file).
    std::vector<size_t> cuts(L.boundaries.begin(), L.boundaries.end());
    std::vector<size_t> extra;
    for (size_t at : L.boundaries) extra.insert(extra.end(), {at + 1, at - 1});
    for (const auto& fp : L.fields) extra.push_back(fp.offset + fp.size / 2);
    extra.push_back(size_t(orig.data_offset()));
    for (const TensorInfo& t : orig.tensors()) {
        extra.push_back(size_t(orig.data_offset() + t.offset + t.nbytes) - 1);
        extra.push_back(size_t(orig.data_offset() + t.offset + 1));
    }
    Rng r{rng_seed};
    for (int k = 0; k < 24; k++) extra.push_back(size_t(r.below(seed.size())));
    const size_t max_extra = seed.size() < 65536 ? extra.size() : (under_asan() ? 60 : 240);
    for (size_t k = 0; k < extra.size(); k++)
        if (r.below(extra.size() - k) < max_extra - std::min(max_extra, cuts.size() - L.boundaries.size()))
            cuts.push_back(extra[k]);  // selection sampling: exactly min(max_extra, extra.size()) of them
    for (size_t at : cuts) {
        if (at >= seed.size()) continue;
        std::vector<uint8_t> b(seed.begin(), seed.begin() + ptrdiff_t(at));
        parse_one(b, st, strfmt("truncated to %zu bytes", at), roundtrip);
    }

    // 2. Field mutations, byte flips, and combinations.
    std::vector<uint8_t> b;
    for (int it = 0; it < iterations; it++) {
        b = seed;
        int kind = int(r.below(10));
        int n_mut = kind < 6 ? 1 : 1 + int(r.below(3));
        for (int m = 0; m < n_mut; m++) {
            if (kind < 7) mutate_field(r, b, L);
            else flip_bytes(r, b, L.header_end);
        }
        if (r.chance(10)) b.resize(size_t(r.below(b.size() + 1)));
        parse_one(b, st, strfmt("iteration %d (seed %llu)", it, (unsigned long long)rng_seed), roundtrip);
    }
    return st;
}

// A small file with every value type, nested arrays and tensors of several types (fast to parse: most of the
// iterations use it).
std::vector<uint8_t> synthetic_file() {
    Writer w;
    w.set("general.architecture", Value::make_string("llama"));
    w.set("general.alignment", Value::make_u32(32));
    Value v;
    v.type = ValueType::UINT8; v.u = 7; w.set("u8", v);
    v = Value(); v.type = ValueType::INT8; v.i = -7; w.set("i8", v);
    v = Value(); v.type = ValueType::UINT16; v.u = 700; w.set("u16", v);
    v = Value(); v.type = ValueType::INT16; v.i = -700; w.set("i16", v);
    w.set("i32", Value::make_i32(-70000));
    w.set("u64", Value::make_u64(1ull << 40));
    v = Value(); v.type = ValueType::INT64; v.i = -(1ll << 40); w.set("i64", v);
    v = Value(); v.type = ValueType::FLOAT64; v.f = 3.25; w.set("f64", v);
    w.set("f32", Value::make_f32(0.5f));
    w.set("flag", Value::make_bool(true));
    w.set("tokens", Value::make_string_array({"<s>", "</s>", "a", "bc", "def"}));
    w.set("scores", Value::make_array(ValueType::FLOAT32, {Value::make_f32(1), Value::make_f32(2), Value::make_f32(3)}));
    w.set("nested", Value::make_array(ValueType::ARRAY, {Value::make_string_array({"x", "y"}),
                                                          Value::make_array(ValueType::UINT32, {Value::make_u32(9)})}));
    w.add_tensor("a.weight", GgmlType::F32, {8, 3}, std::vector<uint8_t>(8 * 3 * 4, 0x11));
    w.add_tensor("b.weight", GgmlType::F16, {16}, std::vector<uint8_t>(32, 0x22));
    w.add_tensor("c.weight", GgmlType::Q8_0, {32, 2}, std::vector<uint8_t>(68, 0x33));
    w.add_tensor("d.weight", GgmlType::Q4_K, {256}, std::vector<uint8_t>(144, 0x44));
    w.add_tensor("e.weight", GgmlType::Q6_K, {256, 1, 1, 2}, std::vector<uint8_t>(420, 0x55));
    return w.to_bytes();
}

void report(const std::string& name, const Stats& st) {
    MESSAGE(name << ": " << st.parsed << " parses, " << st.valid << " valid, " << st.refused << " refused");
    CHECK_MESSAGE(st.bad == 0, name << ": " << st.bad << " parses did not end cleanly; first: " << st.first_bad);
    CHECK(st.parsed == st.valid + st.refused + st.bad);
    CHECK(st.refused > 0);  // the mutations do hit the checks
}

}  // namespace

TEST_CASE("gguf: fuzz a synthetic file with every value type") {
    const int n = under_asan() ? 1500 : 6000;
    Stats st = fuzz_file(synthetic_file(), n, 1, /*roundtrip=*/true);
    report("synthetic", st);
    CHECK(st.valid > 0);  // some mutations (e.g. of values) leave a valid file, which is then exercised
}

TEST_CASE("gguf: fuzz stories260K and the vocabulary-only files") {
    struct Seed {
        const char* rel;
        int iterations;
    };
    const int scale = under_asan() ? 4 : 1;
    for (Seed s : {Seed{"models/stories260K.gguf", 600}, Seed{"tokenizer/llama-spm/vocab.gguf", 80},
                   Seed{"tokenizer/gpt2/vocab.gguf", 40}}) {
        const std::string rel_name = s.rel;
        CAPTURE(rel_name);
        if (!test::have_fixture(s.rel)) {
            MESSAGE("skipped: fixture " << test::fixture(s.rel) << " is not present");
            continue;
        }
        Stats st = fuzz_file(test::read_bytes(test::fixture(s.rel)), s.iterations / scale, 2, /*roundtrip=*/false);
        report(s.rel, st);
    }
}

TEST_CASE("gguf: llama3-tiny header: huge counts and lengths refused before allocation") {
    // The big vocabulary file: only its header (7.8 MB) is parsed, mutated in its counts and first lengths.
    const char* rel = "models/llama3-tiny-f16.gguf";
    SLM_REQUIRE_FIXTURE(rel);
    // Only the first 16 MiB are read: the header (with the whole vocabulary) is 7.8 MB of the 76 MB.
    std::vector<uint8_t> prefix(size_t(16) << 20);
    {
        std::ifstream in(test::fixture(rel), std::ios::binary);
        in.read(reinterpret_cast<char*>(prefix.data()), std::streamsize(prefix.size()));
        prefix.resize(size_t(in.gcount()));
    }
    const uint64_t file_size = std::filesystem::file_size(test::fixture(rel));
    test::Layout L = test::walk_gguf(prefix);
    REQUIRE(L.ok);
    std::vector<uint8_t> head(prefix.begin(), prefix.begin() + ptrdiff_t(L.header_end));
    Stats st;
    Rng r{3};
    for (const auto& fp : L.fields) {
        if (fp.field != Field::n_kv && fp.field != Field::n_tensors && fp.field != Field::array_count &&
            fp.field != Field::string_len && fp.field != Field::key_len)
            continue;
        if (r.below(3) != 0 && fp.field == Field::string_len) continue;  // a sample of the string lengths
        for (uint64_t v : {uint64_t(1) << 60, ~uint64_t(0), file_size}) {
            std::vector<uint8_t> b = head;
            test::poke<uint64_t>(b, fp.offset, v);
            parse_one(b, st, strfmt("field at %zu = %llu", fp.offset, (unsigned long long)v), false);
        }
        if (st.parsed >= (under_asan() ? 12 : 40)) break;
    }
    report(rel, st);
    CHECK(st.valid == 0);  // without its data section no variant is valid
}
