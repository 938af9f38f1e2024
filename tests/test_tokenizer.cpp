// Tokenizers: the fixture encode cases through every loader, round trips, the pre-tokenizer split, the BPE
// merge loop against a brute-force reference, bad files, and the tokenize / detokenize commands.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include "common.h"
#include "gguf.h"
#include "json.h"
#include "test_util.h"
#include "tokenizer.h"
#include "unicode.h"

using slm::Tokenizer;
using slm::test::fixture;

namespace {

struct Case {
    std::string text;
    std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& rel) {
    std::vector<Case> cases;
    std::ifstream f(fixture(rel));
    REQUIRE_MESSAGE(f.good(), "cannot open " << fixture(rel));
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty()) continue;
        slm::json::Value v = slm::json::parse(line);
        Case c;
        c.text = v.at("text").as_string();
        for (const auto& id : v.at("ids").as_array()) c.ids.push_back(int32_t(id.as_int()));
        cases.push_back(std::move(c));
    }
    return cases;
}

std::string show(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); i++) s += (i ? " " : "") + std::to_string(ids[i]);
    return s + "]";
}

// Loading Llama 3 three ways takes a moment (more under ASan): load each once for all test cases.
const Tokenizer& cached(const std::string& rel) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
    auto it = loaded.find(rel);
    if (it == loaded.end()) it = loaded.emplace(rel, std::make_unique<Tokenizer>(Tokenizer::load(fixture(rel)))).first;
    return *it->second;
}

// Every case must encode to exactly the reference ids and decode back to its text.
void check_cases(const Tokenizer& tok, const std::vector<Case>& cases) {
    REQUIRE(!cases.empty());
    size_t failed = 0, bad_roundtrip = 0;
    for (const Case& c : cases) {
        std::vector<int32_t> got = tok.encode(c.text, false, true);
        if (got != c.ids) {
            if (++failed <= 5) FAIL_CHECK("encode(" << slm::json::Value(c.text).dump() << ") = " << show(got) << ", expected " << show(c.ids));
        }
        if (tok.decode(got) != c.text) {
            if (++bad_roundtrip <= 5) FAIL_CHECK("decode(encode(" << slm::json::Value(c.text).dump() << ")) = " << slm::json::Value(tok.decode(got)).dump());
        }
    }
    MESSAGE(cases.size() << " cases: " << cases.size() - failed << " encode exactly, " << cases.size() - bad_roundtrip << " round-trip");
    CHECK(failed == 0);
    CHECK(bad_roundtrip == 0);
}

// A small byte-level vocabulary written as tokenizer.json text: all 256 bytes, then the given merges (which
// must build their results from earlier tokens), with the gpt2 pre-tokenizer.
std::string tiny_json(const std::vector<std::pair<std::string, std::string>>& merges, const std::string& merges_override = "") {
    slm::json::Value vocab = slm::json::Value::object();
    int64_t id = 0;
    for (int b = 0; b < 256; b++) vocab.set(slm::unicode::bytes_to_printable(std::string(1, char(b))), id++);
    slm::json::Value mj = slm::json::Value::array();
    for (const auto& [a, b] : merges) {
        vocab.set(a + b, id++);
        mj.push_back(a + " " + b);
    }
    std::string merges_text = merges_override.empty() ? mj.dump() : merges_override;
    return "{\"model\": {\"type\": \"BPE\", \"vocab\": " + vocab.dump() + ", \"merges\": " + merges_text +
           "}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}, "
           "\"added_tokens\": [{\"id\": " + std::to_string(id) + ", \"content\": \"<|end|>\", \"special\": true}]}";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------

TEST_CASE("tokenizer: llama3 encode cases via GGUF metadata") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const Tokenizer& tok = cached("models/llama3-tiny-f16.gguf");
    CHECK(tok.model_name() == "gpt2");
    CHECK(tok.pre_name() == "llama-bpe");
    CHECK(tok.n_vocab() == 128256);
    check_cases(tok, read_cases("tokenizer/llama3/encode_cases.jsonl"));
}

TEST_CASE("tokenizer: llama3 encode cases via tokenizer.json") {
    SLM_REQUIRE_FIXTURE("tokenizer/llama3/tokenizer.json");
    const Tokenizer& tok = cached("tokenizer/llama3/tokenizer.json");
    CHECK(tok.pre_name() == "llama-bpe");
    CHECK(tok.n_vocab() == 128256);
    CHECK(tok.n_merges() == 280147);
    check_cases(tok, read_cases("tokenizer/llama3/encode_cases.jsonl"));
}

TEST_CASE("tokenizer: llama3 encode cases via tiktoken tokenizer.model") {
    SLM_REQUIRE_FIXTURE("tokenizer/llama3/tokenizer.model");
    const Tokenizer& tok = cached("tokenizer/llama3/tokenizer.model");
    CHECK(tok.pre_name() == "llama-bpe");
    CHECK(tok.n_vocab() == 128256);
    check_cases(tok, read_cases("tokenizer/llama3/encode_cases.jsonl"));
}

TEST_CASE("tokenizer: the three llama3 loaders give the same vocabulary and special ids") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    SLM_REQUIRE_FIXTURE("tokenizer/llama3/tokenizer.json");
    SLM_REQUIRE_FIXTURE("tokenizer/llama3/tokenizer.model");
    const Tokenizer& g = cached("models/llama3-tiny-f16.gguf");
    const Tokenizer& j = cached("tokenizer/llama3/tokenizer.json");
    const Tokenizer& t = cached("tokenizer/llama3/tokenizer.model");
    REQUIRE(g.n_vocab() == j.n_vocab());
    REQUIRE(g.n_vocab() == t.n_vocab());
    int diff_gt = 0, diff_gj = 0, diff_piece = 0;
    std::vector<int32_t> json_renamed;
    for (int32_t id = 0; id < g.n_vocab(); id++) {
        diff_gt += g.token_text(id) != t.token_text(id);
        diff_piece += g.token_to_piece(id) != t.token_to_piece(id) || g.token_to_piece(id) != j.token_to_piece(id);
        CHECK(g.is_control(id) == (id >= 128000));
        CHECK(t.is_control(id) == (id >= 128000));
        CHECK(j.is_control(id) == (id >= 128000));
        if (g.token_text(id) != j.token_text(id)) {
            diff_gj++;
            json_renamed.push_back(id);
        }
    }
    CHECK(diff_gt == 0);  // GGUF and tiktoken (+ slm's Llama 3.1/3.2 special names) agree on every id
    // The fixture tokenizer.json carries Llama 3.0's special names (<|reserved_special_token_2|> at 128004,
    // ..._4|> at 128008, ..._5|> at 128010 and the reserved numbering shifted after them) where the GGUF has
    // Llama 3.1/3.2's (<|finetune_right_pad_id|>, <|eom_id|>, <|python_tag|>). Every other id agrees.
    for (int32_t id : json_renamed) {
        CAPTURE(id);
        CHECK(id >= 128004);
        CHECK(j.token_text(id).rfind("<|reserved_special_token_", 0) == 0);
    }
    CHECK(diff_piece == int(json_renamed.size()));
    for (const Tokenizer* tok : {&g, &j, &t}) {
        CHECK(tok->bos_id() == 128000);
        CHECK(tok->eos_id() == 128001);
        CHECK(tok->eot_id() == 128009);
        CHECK(tok->add_bos_default());
        CHECK(tok->find_token("<|begin_of_text|>") == 128000);
        CHECK(tok->find_token("<|end_of_text|>") == 128001);
        CHECK(tok->find_token("<|start_header_id|>") == 128006);
        CHECK(tok->find_token("<|end_header_id|>") == 128007);
        CHECK(tok->find_token("<|eot_id|>") == 128009);
        CHECK(tok->is_eog(128009));
        CHECK_FALSE(tok->is_eog(128006));
    }
    for (const Tokenizer* tok : {&g, &t}) {
        CHECK(tok->find_token("<|finetune_right_pad_id|>") == 128004);
        CHECK(tok->find_token("<|eom_id|>") == 128008);
        CHECK(tok->find_token("<|python_tag|>") == 128010);
        CHECK(tok->find_token("<|reserved_special_token_0|>") == 128002);
        CHECK(tok->find_token("<|reserved_special_token_247|>") == 128255);
    }
}

TEST_CASE("tokenizer: llama3 special tokens, parse_special and BOS") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const Tokenizer& tok = cached("models/llama3-tiny-f16.gguf");
    std::string chat = "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>";
    std::vector<int32_t> ids = tok.encode(chat, true, true);
    REQUIRE(ids.size() >= 6);
    CHECK(ids[0] == 128000);
    CHECK(ids[1] == 128006);
    CHECK(ids.back() == 128009);
    CHECK(tok.decode(ids) == "<|begin_of_text|>" + chat);
    CHECK(tok.decode(ids, false) == "user\n\nhi");
    // Without parse_special the same text is plain text: no control ids, and it still round-trips.
    std::vector<int32_t> plain = tok.encode(chat, false, false);
    for (int32_t id : plain) CHECK_FALSE(tok.is_control(id));
    CHECK(tok.decode(plain) == chat);
    CHECK(tok.token_to_piece(tok.find_token("Ġhello")) == " hello");
    CHECK(tok.token_text(tok.find_token("Ġhello")) == "Ġhello");
    CHECK_THROWS_AS(tok.token_to_piece(-1), slm::Error);
    CHECK_THROWS_AS(tok.token_text(128256), slm::Error);
    CHECK_THROWS_AS(tok.decode({1, 2, 999999}), slm::Error);
    CHECK(tok.find_token("no such token here") == -1);
}

TEST_CASE("tokenizer: invalid UTF-8 and odd input encode without crashing and round-trip") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    SLM_REQUIRE_FIXTURE("tokenizer/llama-spm/vocab.gguf");
    const Tokenizer& bpe = cached("models/llama3-tiny-f16.gguf");
    const Tokenizer& spm = cached("tokenizer/llama-spm/vocab.gguf");
    std::mt19937 rng(3);
    std::vector<std::string> inputs = {"\xFF", "abc\x80" "def", "\xE4\xB8", "x\xC0\x80y", "\xED\xA0\x80 z", std::string(3, '\0'),
                                       "<|eot_id", "<|eot_id|", "'", "''''", std::string(5000, 'a'), std::string(3000, ' ') + "x"};
    const char alphabet[] = {'a', 'Z', '1', ' ', '\n', '\t', '\'', '<', '|', '>', '\x80', '\xE4', '\xB8', '\xAD', '.', '\r'};
    for (int t = 0; t < 300; t++) {
        std::string s(size_t(rng() % 40), ' ');
        for (char& c : s) c = alphabet[rng() % sizeof(alphabet)];
        inputs.push_back(s);
    }
    for (const std::string& s : inputs) {
        CAPTURE(slm::json::Value(s).dump());
        CHECK(bpe.decode(bpe.encode(s, false, true)) == s);
        CHECK(spm.decode(spm.encode(s, false, true)) == s);
    }
}

TEST_CASE("tokenizer: llama-spm encode cases (SentencePiece, space prefix)") {
    SLM_REQUIRE_FIXTURE("tokenizer/llama-spm/vocab.gguf");
    const Tokenizer& tok = cached("tokenizer/llama-spm/vocab.gguf");
    CHECK(tok.model_name() == "llama");
    CHECK(tok.n_vocab() == 32000);
    CHECK(tok.bos_id() == 1);
    CHECK(tok.eos_id() == 2);
    CHECK(tok.eot_id() == -1);
    CHECK(tok.add_bos_default());
    check_cases(tok, read_cases("tokenizer/llama-spm/encode_cases.jsonl"));
    // Byte fallback and the space rule in pieces.
    CHECK(tok.token_to_piece(tok.find_token("<0x0A>")) == "\n");
    CHECK(tok.token_to_piece(tok.find_token("▁Hello")) == " Hello");
    std::vector<int32_t> ids = tok.encode("Hello", true);
    CHECK(ids.front() == 1);
    CHECK(tok.decode(ids, false) == "Hello");
}

TEST_CASE("tokenizer: gpt2 encode cases") {
    SLM_REQUIRE_FIXTURE("tokenizer/gpt2/vocab.gguf");
    const Tokenizer& tok = cached("tokenizer/gpt2/vocab.gguf");
    CHECK(tok.pre_name() == "gpt-2");
    CHECK(tok.n_vocab() == 50257);
    CHECK_FALSE(tok.add_bos_default());
    check_cases(tok, read_cases("tokenizer/gpt2/encode_cases.jsonl"));
}

TEST_CASE("tokenizer: stories260K text round-trips") {
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    SLM_REQUIRE_FIXTURE("models/stories260K.greedy.txt");
    const Tokenizer& tok = cached("models/stories260K.gguf");
    CHECK(tok.n_vocab() == 512);
    std::string text = slm::test::read_text(fixture("models/stories260K.greedy.txt"));
    std::vector<int32_t> ids = tok.encode(text, false);
    CHECK(ids.size() < text.size());  // merges happened
    CHECK(tok.decode(ids) == text);
    std::vector<int32_t> with_bos = tok.encode(text, true);
    CHECK(with_bos.front() == tok.bos_id());
    CHECK(std::vector<int32_t>(with_bos.begin() + 1, with_bos.end()) == ids);
    CHECK(tok.decode(with_bos, false) == text);
}

TEST_CASE("tokenizer: pre-tokenizer splits follow the regex semantics") {
    using slm::PreTokenizer;
    using V = std::vector<std::string>;
    // Llama 3: whitespace before a word gives its last character to the word (\s+(?!\S)); newlines end runs.
    CHECK(pre_tokenize(PreTokenizer::llama3, "  hello  world  ") == V{" ", " hello", " ", " world", "  "});
    CHECK(pre_tokenize(PreTokenizer::llama3, "a \n\n b") == V{"a", " \n\n", " b"});
    CHECK(pre_tokenize(PreTokenizer::llama3, "\thello") == V{"\thello"});
    CHECK(pre_tokenize(PreTokenizer::llama3, "1234567") == V{"123", "456", "7"});
    CHECK(pre_tokenize(PreTokenizer::llama3, "I'LL they're") == V{"I", "'LL", " they", "'re"});
    CHECK(pre_tokenize(PreTokenizer::llama3, "x  !!\n\ny") == V{"x", " ", " !!\n\n", "y"});
    CHECK(pre_tokenize(PreTokenizer::llama3, "'hello") == V{"'hello"});
    CHECK(pre_tokenize(PreTokenizer::llama3, "") == V{});
    // GPT-2: contractions are case-sensitive, digits are not grouped by three, space is the only prefix.
    CHECK(pre_tokenize(PreTokenizer::gpt2, "I'LL they're") == V{"I", "'", "LL", " they", "'re"});
    CHECK(pre_tokenize(PreTokenizer::gpt2, " 1234567 ab") == V{" 1234567", " ab"});
    CHECK(pre_tokenize(PreTokenizer::gpt2, "\thello") == V{"\t", "hello"});
    CHECK(pre_tokenize(PreTokenizer::gpt2, "a   b ") == V{"a", "  ", " b", " "});
    // SmolLM: every digit alone first.
    CHECK(pre_tokenize(PreTokenizer::smollm, "ab 123x") == V{"ab", " ", "1", "2", "3", "x"});
    // The split always tiles the input, also for invalid UTF-8.
    std::string odd = "a\xFF\xFE b\x80 \xE4\xB8\xAD\xE4";
    for (auto pre : {PreTokenizer::llama3, PreTokenizer::gpt2, PreTokenizer::smollm}) {
        std::string joined;
        for (const auto& p : pre_tokenize(pre, odd)) joined += p;
        CHECK(joined == odd);
    }
}

// The production BPE (heap of candidate pairs) against the textbook loop: scan all adjacent pairs, merge the
// lowest-ranked one (leftmost on ties), repeat.
TEST_CASE("tokenizer: BPE merge loop matches a brute-force reference") {
    // Merges over a 4-letter alphabet with overlapping, competing rules.
    std::vector<std::pair<std::string, std::string>> merges = {
        {"a", "b"}, {"b", "a"}, {"a", "a"}, {"ab", "a"}, {"c", "d"}, {"d", "c"}, {"ab", "ab"}, {"ba", "b"},
        {"cd", "cd"}, {"aa", "b"}, {"a", "c"}, {"dc", "a"}, {"abab", "a"}, {"b", "b"}, {"bb", "a"}};
    std::string json = tiny_json(merges);
    Tokenizer tok = Tokenizer::from_tokenizer_json(json, "tiny.json");
    CHECK(tok.n_merges() == merges.size());
    std::map<std::pair<std::string, std::string>, size_t> rank;
    for (size_t r = 0; r < merges.size(); r++) rank.emplace(merges[r], r);
    std::mt19937 rng(5);
    for (int t = 0; t < 300; t++) {
        std::string w(size_t(1 + rng() % 30), 'a');
        for (char& c : w) c = "abcd"[rng() % 4];
        std::vector<std::string> parts;
        for (char c : w) parts.emplace_back(1, c);
        for (;;) {
            size_t best = SIZE_MAX, at = 0;
            for (size_t i = 0; i + 1 < parts.size(); i++) {
                auto it = rank.find({parts[i], parts[i + 1]});
                if (it != rank.end() && it->second < best) best = it->second, at = i;
            }
            if (best == SIZE_MAX) break;
            parts[at] += parts[at + 1];
            parts.erase(parts.begin() + long(at) + 1);
        }
        std::vector<int32_t> want;
        for (const auto& p : parts) want.push_back(tok.find_token(p));
        CAPTURE(w);
        CHECK(tok.encode(w) == want);
        CHECK(tok.decode(tok.encode(w)) == w);
    }
    // The special token added in tiny_json is recognized in text.
    std::vector<int32_t> ids = tok.encode("ab<|end|>ab");
    REQUIRE(ids.size() == 3);
    CHECK(tok.is_control(ids[1]));
}

TEST_CASE("tokenizer: bad files and bad tokenizer.json give clear errors") {
    std::string dir = slm::test::scratch_dir("tokenizer_bad");
    auto write = [&](const std::string& name, const std::string& content) {
        std::string p = dir + "/" + name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    };
    auto error_of = [](auto&& fn) -> std::string {
        try {
            fn();
        } catch (const slm::Error& e) {
            return e.what();
        }
        return "(no error)";
    };
    std::string e = error_of([&] { Tokenizer::load(dir + "/missing.json"); });
    CHECK(e.find("no such file") != std::string::npos);
    e = error_of([&] { Tokenizer::load(write("junk.txt", "hello, this is not a tokenizer\n")); });
    CHECK(e.find("not a tokenizer") != std::string::npos);
    e = error_of([&] { Tokenizer::load(write("empty.txt", "")); });
    CHECK(e.find("not a tokenizer") != std::string::npos);
    e = error_of([&] { Tokenizer::load(write("bad.json", "{\"model\": ")); });
    CHECK(e.find("bad.json") != std::string::npos);
    e = error_of([&] { Tokenizer::load(write("wordpiece.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}")); });
    CHECK(e.find("model.type") != std::string::npos);
    // A broken merges entry: a number, a string without the separating space, a one-element pair.
    for (const std::string& bad : {std::string("[\"a b\", 7]"), std::string("[\"ab\"]"), std::string("[[\"a\"]]")}) {
        e = error_of([&] { Tokenizer::from_tokenizer_json(tiny_json({{"a", "b"}}, bad), "broken.json"); });
        CAPTURE(bad);
        CHECK(e.find("broken.json: model.merges[") != std::string::npos);
    }
    // A merge naming a token that is not in the vocabulary.
    e = error_of([&] { Tokenizer::from_tokenizer_json(tiny_json({{"a", "b"}}, "[\"a b\", \"ab zz\"]"), "unknown.json"); });
    CHECK(e.find("merges[1]") != std::string::npos);
    CHECK(e.find("not in the vocabulary") != std::string::npos);
    // Merges given as [a, b] pairs are accepted.
    CHECK_NOTHROW(Tokenizer::from_tokenizer_json(tiny_json({{"a", "b"}}, "[[\"a\", \"b\"]]"), "pairs.json"));
    // tiktoken: bad base64, bad rank.
    e = error_of([&] { Tokenizer::from_tiktoken("IQ== 0\nI!== 1\n", "bad.model"); });
    CHECK(e.find("line 2") != std::string::npos);
    e = error_of([&] { Tokenizer::from_tiktoken("IQ== 0\nIg== x\n", "bad.model"); });
    CHECK(e.find("invalid rank") != std::string::npos);
    // A GGUF file without a tokenizer.
    slm::gguf::Writer w;
    w.set("general.architecture", slm::gguf::Value::make_string("llama"));
    w.write(dir + "/notok.gguf");
    e = error_of([&] { Tokenizer::load(dir + "/notok.gguf"); });
    CHECK(e.find("tokenizer.ggml.model") != std::string::npos);
    // GGUF tokenizer metadata with problems.
    auto gguf_with = [&](const std::string& model, std::vector<std::string> tokens, std::vector<std::string> merges) {
        slm::gguf::Writer g;
        g.set("tokenizer.ggml.model", slm::gguf::Value::make_string(model));
        g.set("tokenizer.ggml.tokens", slm::gguf::Value::make_string_array(tokens));
        if (!merges.empty()) g.set("tokenizer.ggml.merges", slm::gguf::Value::make_string_array(merges));
        g.write(dir + "/t.gguf");
        return error_of([&] { Tokenizer::load(dir + "/t.gguf"); });
    };
    CHECK(gguf_with("bert", {"a"}, {}).find("'bert' is not supported") != std::string::npos);
    CHECK(gguf_with("gpt2", {"a", "b", "ab"}, {}).find("tokenizer.ggml.merges: missing") != std::string::npos);
    CHECK(gguf_with("gpt2", {"a", "b", "ab"}, {"ab"}).find("tokenizer.ggml.merges[0]") != std::string::npos);
    CHECK(gguf_with("gpt2", {"a", "b", "ab"}, {"a b"}) == "(no error)");
}

TEST_CASE("tokenizer: slm tokenize and detokenize commands") {
    // The small stories260K vocabulary keeps each process start cheap; the library itself is checked above.
    SLM_REQUIRE_FIXTURE("models/stories260K.gguf");
    const char* bin = std::getenv("SLM_BIN");
    if (!bin || !std::filesystem::exists(bin)) {
        MESSAGE("skipped: $SLM_BIN is not set");
        return;
    }
    std::string dir = slm::test::scratch_dir("tokenizer_cli");
    std::string model = fixture("models/stories260K.gguf");
    const Tokenizer& tok = cached("models/stories260K.gguf");
    auto run = [&](const std::string& cmd) {
        std::string full = cmd + " > " + dir + "/out.txt 2> " + dir + "/err.txt";
        int rc = std::system(full.c_str());
        return std::make_pair(rc, slm::test::read_text(dir + "/out.txt"));
    };
    auto line_of = [](const std::vector<int32_t>& ids) {
        std::string s;
        for (size_t i = 0; i < ids.size(); i++) s += (i ? " " : "") + std::to_string(ids[i]);
        return s;
    };
    const std::string text = "Once upon a time, Lily saw a big dog.";
    auto [rc1, out1] = run(std::string(bin) + " tokenize -m " + model + " -p '" + text + "'");
    CHECK(rc1 == 0);
    CHECK(out1 == line_of(tok.encode(text)) + "\n");
    auto [rc2, out2] = run(std::string(bin) + " tokenize -m " + model + " --bos -p '" + text + "'");
    CHECK(rc2 == 0);
    CHECK(out2 == line_of(tok.encode(text, true)) + "\n");
    CHECK(out2.rfind("1 ", 0) == 0);  // BOS is id 1
    auto [rc3, out3] = run(std::string(bin) + " detokenize -m " + model + " --ids '" + line_of(tok.encode(text)) + "'");
    CHECK(rc3 == 0);
    CHECK(out3 == text);
    {
        std::ofstream f(dir + "/in.jsonl");
        f << "{\"text\": \"" << text << "\"}\n{\"text\": \"<s>hi\\n\"}\n";
    }
    auto [rc4, out4] = run(std::string(bin) + " tokenize -m " + model + " --jsonl " + dir + "/in.jsonl");
    CHECK(rc4 == 0);
    std::vector<int32_t> second = tok.encode("<s>hi\n");
    CHECK(second.front() == 1);  // "<s>" in the text is the control token
    auto json_line = [](const std::vector<int32_t>& ids) {
        std::string s = "{\"ids\": [";
        for (size_t i = 0; i < ids.size(); i++) s += (i ? ", " : "") + std::to_string(ids[i]);
        return s + "]}\n";
    };
    CHECK(out4 == json_line(tok.encode(text)) + json_line(second));
    {
        std::ofstream f(dir + "/ids.jsonl");
        f << json_line(tok.encode(text));
    }
    auto [rc9, out9] = run(std::string(bin) + " detokenize -m " + model + " --jsonl " + dir + "/ids.jsonl");
    CHECK(rc9 == 0);
    CHECK(out9 == "{\"text\": \"" + text + "\"}\n");
    auto [rc5, out5] = run("printf '" + text + "' | " + std::string(bin) + " tokenize -m " + model);
    CHECK(rc5 == 0);
    CHECK(out5 == out1);
    auto [rc6, out6] = run(std::string(bin) + " tokenize -m " + dir + "/nope.json -p x");
    CHECK(rc6 != 0);
    CHECK(slm::test::read_text(dir + "/err.txt").find("no such file") != std::string::npos);
    auto [rc7, out7] = run(std::string(bin) + " tokenize --help");
    CHECK(rc7 == 0);
    CHECK(out7.find("--jsonl") != std::string::npos);
    auto [rc8, out8] = run(std::string(bin) + " detokenize -m " + model + " --ids '1 x'");
    CHECK(rc8 != 0);
    CHECK(slm::test::read_text(dir + "/err.txt").find("'x' is not a token id") != std::string::npos);
    auto [rc10, out10] = run(std::string(bin) + " detokenize -m " + model + " --ids '1 512'");
    CHECK(rc10 != 0);
    CHECK(slm::test::read_text(dir + "/err.txt").find("out of range") != std::string::npos);
    auto [rc11, out11] = run(std::string(bin) + " tokenize -m " + model + " --bench --bench-mb 0.05");
    CHECK(rc11 == 0);
    CHECK(out11.find("MB/s") != std::string::npos);
}
