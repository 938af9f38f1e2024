// Tokenizer loaders: GGUF metadata (tokenizer.ggml.*), Hugging Face tokenizer.json, tiktoken tokenizer.model.
// Each fills a Tokenizer::Impl the same way (vocabulary strings in the stored form, types, scores, merge rules,
// special ids) and finalize() derives everything else, so the three agree by construction where the files do.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common.h"
#include "gguf.h"
#include "input_file.h"
#include "json.h"
#include "tokenizer_impl.h"
#include "unicode.h"

namespace slm {

namespace {

// The Llama 3 pre-tokenizer regex as Hugging Face's tokenizer.json writes it (after JSON unescaping).
constexpr std::string_view kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

int32_t find_first(const Tokenizer::Impl& m, std::initializer_list<const char*> names) {
    for (const char* nm : names)
        for (size_t id = 0; id < m.text.size(); id++)
            if (m.text[id] == nm) return int32_t(id);
    return -1;
}

// Ids (or ranks) read from a file size the vocabulary only once the file has shown entries for them: the id
// range may have holes (placeholders fill them, as llama.cpp's converter does) but no more holes than entries,
// plus a little slack, so one entry with id 2^24 cannot make 16 million placeholders.
void check_dense(int64_t max_id, size_t n_entries, const char* src, const char* field) {
    if (max_id + 1 > 2 * int64_t(n_entries) + 1024)
        fail("%s: %s: the largest id is %lld but only %zu entries are given (ids must be dense: at most %lld)", src,
             field, (long long)max_id, n_entries, (long long)(2 * int64_t(n_entries) + 1023));
}

// Splits a GGUF / tokenizer.json merge rule "a b" at its separating space. Byte-level tokens never contain a
// raw space (it is 'Ġ'), but searching from position 1 also accepts a rule whose left token is " ".
bool split_merge(const std::string& rule, std::pair<std::string, std::string>* out) {
    size_t sp = rule.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= rule.size()) return false;
    if (rule.find(' ', sp + 1) != std::string::npos) return false;
    out->first = rule.substr(0, sp);
    out->second = rule.substr(sp + 1);
    return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// GGUF

Tokenizer Tokenizer::from_gguf(const gguf::File& f) {
    auto m = std::make_unique<Impl>();
    m->source = f.path();
    const char* src = m->source.c_str();
    m->model_name = f.get_string("tokenizer.ggml.model");
    if (m->model_name == "gpt2") m->kind = TokenizerKind::bpe;
    else if (m->model_name == "llama") m->kind = TokenizerKind::spm;
    else fail("%s: tokenizer.ggml.model = '%s' is not supported (slm implements 'gpt2' and 'llama')", src, escape_text(m->model_name).c_str());

    const gguf::Value& toks = f.get_array("tokenizer.ggml.tokens");
    if (toks.elem_type != gguf::ValueType::STRING)
        fail("%s: tokenizer.ggml.tokens: expected an array of strings, found an array of %s", src, gguf::value_type_name(toks.elem_type));
    const size_t n = toks.arr.size();
    m->text.reserve(n);
    for (const auto& v : toks.arr) m->text.push_back(v.str);

    if (f.has("tokenizer.ggml.token_type")) {
        const gguf::Value& types = f.get_array("tokenizer.ggml.token_type");
        if (types.arr.size() != n) fail("%s: tokenizer.ggml.token_type has %zu entries for %zu tokens", src, types.arr.size(), n);
        m->type.reserve(n);
        for (size_t i = 0; i < n; i++) {
            int64_t t = types.arr[i].as_int();
            if (t < 0 || t > 6) fail("%s: tokenizer.ggml.token_type[%zu] = %lld: expected 0..6", src, i, (long long)t);
            m->type.push_back(TokenType(t));
        }
    }
    if (f.has("tokenizer.ggml.scores")) {
        const gguf::Value& scores = f.get_array("tokenizer.ggml.scores");
        if (scores.arr.size() != n) fail("%s: tokenizer.ggml.scores has %zu entries for %zu tokens", src, scores.arr.size(), n);
        m->score.reserve(n);
        for (const auto& v : scores.arr) m->score.push_back(float(v.as_float()));
    }

    auto id_key = [&](const char* key, int64_t def) -> int32_t {
        int64_t id = f.get_int(key, def);
        if (id < -1 || id >= int64_t(n)) fail("%s: %s = %lld is out of range (%zu tokens)", src, key, (long long)id, n);
        return int32_t(id);
    };
    if (m->kind == TokenizerKind::bpe) {
        if (!f.has("tokenizer.ggml.merges")) fail("%s: tokenizer.ggml.merges: missing (required for a 'gpt2' tokenizer)", src);
        const gguf::Value& merges = f.get_array("tokenizer.ggml.merges");
        if (merges.elem_type != gguf::ValueType::STRING)
            fail("%s: tokenizer.ggml.merges: expected an array of strings, found an array of %s", src, gguf::value_type_name(merges.elem_type));
        m->merge_rules.resize(merges.arr.size());
        for (size_t i = 0; i < merges.arr.size(); i++)
            if (!split_merge(merges.arr[i].str, &m->merge_rules[i]))
                fail("%s: tokenizer.ggml.merges[%zu] = \"%s\": expected two tokens separated by one space", src, i, escape_text(merges.arr[i].str).c_str());
        m->pre_name = f.get_string("tokenizer.ggml.pre", "");
        m->pre = pre_tokenizer_from_name(m->pre_name, m->source);
        if (m->pre_name.empty()) m->pre_name = "gpt-2";
        m->ignore_merges = m->pre == PreTokenizer::llama3;  // what llama.cpp does for llama-bpe
        m->bos = id_key("tokenizer.ggml.bos_token_id", -1);
        m->eos = id_key("tokenizer.ggml.eos_token_id", -1);
        m->unk = id_key("tokenizer.ggml.unknown_token_id", -1);
        m->add_bos = f.get_bool("tokenizer.ggml.add_bos_token", m->pre == PreTokenizer::llama3);
    } else {
        m->pre_name = f.get_string("tokenizer.ggml.pre", "default");
        // llama.cpp's defaults for SentencePiece vocabularies (Llama 2's ids), where they exist.
        m->bos = id_key("tokenizer.ggml.bos_token_id", n > 1 ? 1 : -1);
        m->eos = id_key("tokenizer.ggml.eos_token_id", n > 2 ? 2 : -1);
        m->unk = id_key("tokenizer.ggml.unknown_token_id", 0);
        m->add_bos = f.get_bool("tokenizer.ggml.add_bos_token", true);
        m->add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", true);
    }
    if (f.has("tokenizer.ggml.eot_token_id")) m->eot = id_key("tokenizer.ggml.eot_token_id", -1);
    else m->eot = find_first(*m, {"<|eot_id|>", "<|end_of_text|>", "<|im_end|>"});
    m->finalize();
    return Tokenizer(std::move(m));
}

// ---------------------------------------------------------------------------------------------------------
// tokenizer.json

Tokenizer Tokenizer::from_tokenizer_json(std::string_view json_text, const std::string& name) {
    const char* src = name.c_str();
    json::Value root;
    std::string err;
    if (!json::try_parse(json_text, &root, &err)) fail("%s: %s", src, err.c_str());
    if (!root.is_object()) fail("%s: expected a JSON object at the top level", src);
    const json::Value* model = root.find("model");
    if (!model || !model->is_object()) fail("%s: \"model\": missing or not an object", src);
    const json::Value* mtype = model->find("type");
    if (!mtype || !mtype->is_string() || mtype->as_string() != "BPE")
        fail("%s: model.type: expected \"BPE\" (slm reads byte-level BPE tokenizer.json files)", src);
    const json::Value* vocab = model->find("vocab");
    if (!vocab || !vocab->is_object()) fail("%s: model.vocab: missing or not an object", src);

    auto m = std::make_unique<Impl>();
    m->source = name;
    m->kind = TokenizerKind::bpe;
    m->model_name = "gpt2";
    m->strict_merges = true;

    // Collect (id, text, type) from model.vocab and added_tokens, then lay them out by id.
    struct Entry { int64_t id; const std::string* text; TokenType type; };
    std::vector<Entry> entries;
    entries.reserve(vocab->size() + 512);
    constexpr int64_t kMaxId = int64_t(1) << 24;
    for (const auto& [tok, idv] : vocab->as_object()) {
        if (!idv.is_integer()) fail("%s: model.vocab[\"%s\"]: expected an integer token id", src, escape_text(tok).c_str());
        const int64_t id = idv.as_int();
        if (id < 0 || id >= kMaxId) fail("%s: model.vocab[\"%s\"]: expected a token id 0..%lld", src, escape_text(tok).c_str(), (long long)kMaxId - 1);
        entries.push_back({id, &tok, TokenType::normal});
    }
    if (const json::Value* added = root.find("added_tokens")) {
        if (!added->is_array()) fail("%s: added_tokens: expected an array", src);
        for (size_t i = 0; i < added->size(); i++) {
            const json::Value& a = (*added)[i];
            const json::Value* id = a.is_object() ? a.find("id") : nullptr;
            const json::Value* content = a.is_object() ? a.find("content") : nullptr;
            if (!id || !id->is_integer() || id->as_int() < 0 || id->as_int() >= kMaxId || !content || !content->is_string())
                fail("%s: added_tokens[%zu]: expected {\"id\": 0..%lld, \"content\": string, ...}", src, i, (long long)kMaxId - 1);
            const json::Value* special = a.find("special");
            bool is_special = special && special->is_bool() && special->as_bool();
            entries.push_back({id->as_int(), &content->as_string(), is_special ? TokenType::control : TokenType::user_defined});
        }
    }
    int64_t max_id = -1;
    for (const auto& e : entries) max_id = std::max(max_id, e.id);
    if (max_id < 0) fail("%s: the vocabulary is empty", src);
    check_dense(max_id, entries.size(), src, "model.vocab and added_tokens");
    m->text.assign(size_t(max_id + 1), std::string());
    m->type.assign(size_t(max_id + 1), TokenType::undefined);
    for (const auto& e : entries) {
        auto& slot = m->type[size_t(e.id)];
        // An added token may restate a vocabulary entry (same id, same text): it then only marks it special.
        if (slot != TokenType::undefined && m->text[size_t(e.id)] != *e.text)
            fail("%s: token id %lld is given twice (\"%s\" and \"%s\")", src, (long long)e.id, escape_text(m->text[size_t(e.id)]).c_str(), escape_text(*e.text).c_str());
        m->text[size_t(e.id)] = *e.text;
        slot = e.type;
    }
    for (size_t id = 0; id < m->type.size(); id++) {
        if (m->type[id] != TokenType::undefined) continue;
        m->type[id] = TokenType::unused;  // a hole in the id range: a placeholder, as llama.cpp's converter does
        m->text[id] = strfmt("[PAD%zu]", id);
    }

    const json::Value* merges = model->find("merges");
    if (!merges || !merges->is_array()) fail("%s: model.merges: missing or not an array", src);
    m->merge_rules.resize(merges->size());
    for (size_t i = 0; i < merges->size(); i++) {
        const json::Value& r = (*merges)[i];
        bool ok = false;
        if (r.is_string()) {
            ok = split_merge(r.as_string(), &m->merge_rules[i]);
        } else if (r.is_array() && r.size() == 2 && r[0].is_string() && r[1].is_string()) {
            m->merge_rules[i] = {r[0].as_string(), r[1].as_string()};
            ok = !r[0].as_string().empty() && !r[1].as_string().empty();
        }
        if (!ok) fail("%s: model.merges[%zu] = %s: expected \"a b\" or [\"a\", \"b\"]", src, i, r.dump().substr(0, 200).c_str());
    }
    if (const json::Value* im = model->find("ignore_merges"); im && im->is_bool()) m->ignore_merges = im->as_bool();
    if (const json::Value* bf = model->find("byte_fallback"); bf && bf->is_bool() && bf->as_bool())
        fail("%s: model.byte_fallback = true: SentencePiece-style tokenizer.json files are not supported (use the GGUF)", src);

    // Which pre-tokenizer: look at the Split regexes / Digits / ByteLevel steps of pre_tokenizer.
    bool has_byte_level = false, byte_level_regex = false, digits_individual = false, llama3 = false, gpt2 = false;
    std::string other;
    auto visit = [&](const json::Value& p) {
        const json::Value* t = p.is_object() ? p.find("type") : nullptr;
        std::string ty = t && t->is_string() ? t->as_string() : "";
        if (ty == "ByteLevel") {
            has_byte_level = true;
            const json::Value* ur = p.find("use_regex");
            if (!ur || (ur->is_bool() && ur->as_bool())) byte_level_regex = true;
        } else if (ty == "Digits") {
            const json::Value* ind = p.find("individual_digits");
            digits_individual = ind && ind->is_bool() && ind->as_bool();
        } else if (ty == "Split") {
            const json::Value* pat = p.find("pattern");
            const json::Value* re = pat && pat->is_object() ? pat->find("Regex") : nullptr;
            std::string rs = re && re->is_string() ? re->as_string() : "";
            if (rs == kLlama3Regex) llama3 = true;
            else if (rs == kGpt2Regex) gpt2 = true;
            else other = "Split " + rs.substr(0, 120);
        } else {
            other = ty;
        }
    };
    if (const json::Value* pt = root.find("pre_tokenizer"); pt && pt->is_object()) {
        const json::Value* seq = pt->find("pretokenizers");
        if (seq && seq->is_array()) for (size_t i = 0; i < seq->size(); i++) visit((*seq)[i]);
        else visit(*pt);
    }
    if (const json::Value* dec = root.find("decoder"); dec && dec->is_object()) {
        const json::Value* t = dec->find("type");
        if (t && t->is_string() && t->as_string() == "ByteLevel") has_byte_level = true;
    }
    if (!has_byte_level) fail("%s: no ByteLevel pre-tokenizer or decoder: slm reads byte-level BPE tokenizer.json files", src);
    if (!other.empty()) fail("%s: pre_tokenizer step '%s' is not supported", src, escape_text(other).c_str());
    if (llama3 && !byte_level_regex && !digits_individual) {
        m->pre = PreTokenizer::llama3;
        m->pre_name = "llama-bpe";
    } else if (digits_individual && byte_level_regex && !llama3 && !gpt2) {
        m->pre = PreTokenizer::smollm;
        m->pre_name = "smollm";
    } else if ((gpt2 && !byte_level_regex) || (!gpt2 && !llama3 && byte_level_regex && !digits_individual)) {
        m->pre = PreTokenizer::gpt2;
        m->pre_name = "gpt-2";
    } else {
        fail("%s: this combination of pre_tokenizer steps is not one slm implements (llama-bpe, gpt-2, smollm)", src);
    }

    // BOS: the special token the post-processor puts first, if any.
    if (const json::Value* pp = root.find("post_processor"); pp && pp->is_object()) {
        std::vector<const json::Value*> procs;
        const json::Value* seq = pp->find("processors");
        if (seq && seq->is_array()) for (size_t i = 0; i < seq->size(); i++) procs.push_back(&(*seq)[i]);
        else procs.push_back(pp);
        for (const json::Value* p : procs) {
            const json::Value* single = p->is_object() ? p->find("single") : nullptr;
            if (!single || !single->is_array() || single->size() == 0 || !(*single)[0].is_object()) continue;
            const json::Value* st = (*single)[0].find("SpecialToken");
            const json::Value* id = st && st->is_object() ? st->find("id") : nullptr;
            if (!id || !id->is_string()) continue;
            for (size_t t = 0; t < m->text.size(); t++)
                if (m->text[t] == id->as_string()) { m->bos = int32_t(t); m->add_bos = true; break; }
        }
    }
    if (m->bos < 0) m->bos = find_first(*m, {"<|begin_of_text|>", "<s>", "<|endoftext|>"});
    m->eos = find_first(*m, {"<|end_of_text|>", "</s>", "<|endoftext|>"});
    m->eot = find_first(*m, {"<|eot_id|>", "<|end_of_text|>", "<|im_end|>"});
    m->finalize();
    return Tokenizer(std::move(m));
}

// ---------------------------------------------------------------------------------------------------------
// tiktoken

namespace {

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool base64_decode(std::string_view in, std::string* out) {
    out->clear();
    if (in.empty() || in.size() % 4 != 0) return false;
    size_t pad = 0;
    while (pad < 2 && in[in.size() - 1 - pad] == '=') pad++;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in.size() - pad; i++) {
        int v = base64_value(in[i]);
        if (v < 0) return false;
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *out += char((acc >> bits) & 0xFF);
        }
    }
    return !out->empty();
}

// Llama 3's special tokens, which tiktoken's file does not list: 256 ids after the last ranked token. Named
// ones at fixed offsets, the rest "<|reserved_special_token_K|>" numbered in order. Llama 3.0 named five of
// them; 3.1 renamed offsets 4, 8 and 10 and so renumbered the reserved ones after them.
std::string llama3_special_name(int offset, bool v31, int* next_reserved) {
    switch (offset) {
        case 0: return "<|begin_of_text|>";
        case 1: return "<|end_of_text|>";
        case 6: return "<|start_header_id|>";
        case 7: return "<|end_header_id|>";
        case 9: return "<|eot_id|>";
        default: break;
    }
    if (v31) {
        if (offset == 4) return "<|finetune_right_pad_id|>";
        if (offset == 8) return "<|eom_id|>";
        if (offset == 10) return "<|python_tag|>";
    }
    return strfmt("<|reserved_special_token_%d|>", (*next_reserved)++);
}

}  // namespace

TiktokenSpecials TiktokenSpecials::from_choice(const std::string& choice) {
    TiktokenSpecials sp;
    if (choice == "llama3.0") sp.source = Source::llama3_0;
    else if (choice == "llama3.1" || choice == "llama3.2") sp.source = Source::llama3_1;
    else if (choice.size() > 5 && choice.compare(choice.size() - 5, 5, ".json") == 0)
        return from_tokenizer_config(read_input_file(choice, "a tokenizer_config.json"), choice);
    else fail("special tokens \"%s\": expected llama3.0, llama3.1 (= llama3.2) or a tokenizer_config.json",
              escape_text(choice).c_str());
    return sp;
}

TiktokenSpecials TiktokenSpecials::from_tokenizer_config(std::string_view json_text, const std::string& name) {
    const char* src = name.c_str();
    json::Value root;
    std::string err;
    if (!json::try_parse(json_text, &root, &err)) fail("%s: %s", src, err.c_str());
    const json::Value* dec = root.is_object() ? root.find("added_tokens_decoder") : nullptr;
    if (!dec || !dec->is_object()) fail("%s: added_tokens_decoder: missing or not an object", src);
    TiktokenSpecials sp;
    sp.source = Source::list;
    for (const auto& [key, v] : dec->as_object()) {
        int64_t id = 0;
        bool ok = !key.empty() && key.size() <= 8;
        for (char c : key) {
            ok = ok && c >= '0' && c <= '9';
            id = id * 10 + (c - '0');
        }
        const json::Value* content = v.is_object() ? v.find("content") : nullptr;
        if (!ok || !content || !content->is_string() || content->as_string().empty())
            fail("%s: added_tokens_decoder[\"%s\"]: expected \"ID\": {\"content\": \"TEXT\", ...}", src,
                 escape_text(key).c_str());
        sp.tokens.emplace_back(id, content->as_string());
    }
    if (sp.tokens.empty()) fail("%s: added_tokens_decoder is empty", src);
    return sp;
}

Tokenizer Tokenizer::from_tiktoken(std::string_view model_text, const std::string& name, const TiktokenSpecials& specials) {
    const char* src = name.c_str();
    auto m = std::make_unique<Impl>();
    m->source = name;
    m->kind = TokenizerKind::bpe;
    m->model_name = "gpt2";
    std::vector<std::pair<int64_t, std::string>> ranked;
    std::string bytes;
    for (const json::JsonlLine& l : json::jsonl_lines(model_text)) {  // the one line rule (BOM, CRLF, blank lines)
        const std::string_view line = l.text;
        const size_t line_no = l.line_no;
        size_t sp = line.find(' ');
        if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size())
            fail("%s: line %zu: expected \"<base64 token> <rank>\"", src, line_no);
        if (!base64_decode(line.substr(0, sp), &bytes)) fail("%s: line %zu: invalid base64 token", src, line_no);
        int64_t rank = 0;
        for (char c : line.substr(sp + 1)) {
            if (c < '0' || c > '9') fail("%s: line %zu: invalid rank", src, line_no);
            rank = rank * 10 + (c - '0');
            if (rank >= (int64_t(1) << 24)) fail("%s: line %zu: rank above 16777215", src, line_no);
        }
        ranked.emplace_back(rank, bytes);
    }
    if (ranked.empty()) fail("%s: no tokens", src);
    int64_t max_rank = -1;
    for (const auto& r : ranked) max_rank = std::max(max_rank, r.first);
    check_dense(max_rank, ranked.size(), src, "ranks");
    const size_t n_ranked = size_t(max_rank + 1);
    m->text.assign(n_ranked, std::string());
    m->type.assign(n_ranked, TokenType::undefined);
    for (const auto& [rank, b] : ranked) {
        if (m->type[size_t(rank)] != TokenType::undefined) fail("%s: rank %lld appears twice", src, (long long)rank);
        m->text[size_t(rank)] = unicode::bytes_to_printable(b);
        m->type[size_t(rank)] = TokenType::normal;
    }
    for (size_t id = 0; id < n_ranked; id++) {
        if (m->type[id] != TokenType::undefined) continue;
        m->type[id] = TokenType::unused;
        m->text[id] = strfmt("[PAD%zu]", id);
    }
    m->merges_from_ranks = true;
    m->ignore_merges = true;  // tiktoken emits a piece that is itself a token directly
    m->pre = PreTokenizer::llama3;
    m->pre_name = "llama-bpe";
    using Src = TiktokenSpecials::Source;
    if (specials.source == Src::list) {
        // Exactly the given special tokens, after the ranks (holes filled as above, ids dense).
        int64_t max_id = int64_t(n_ranked) - 1;
        for (const auto& [id, text] : specials.tokens) {
            if (id < int64_t(n_ranked))
                fail("%s: special token %lld (\"%s\") collides with a ranked token (%zu ranks)", src, (long long)id,
                     escape_text(text).c_str(), n_ranked);
            max_id = std::max(max_id, id);
        }
        check_dense(max_id, ranked.size() + specials.tokens.size(), src, "special token ids");
        m->text.resize(size_t(max_id + 1));
        m->type.resize(size_t(max_id + 1), TokenType::undefined);
        for (const auto& [id, text] : specials.tokens) {
            if (m->type[size_t(id)] != TokenType::undefined) fail("%s: special token id %lld given twice", src, (long long)id);
            m->text[size_t(id)] = text;
            m->type[size_t(id)] = TokenType::control;
        }
        for (size_t id = n_ranked; id < m->text.size(); id++)
            if (m->type[id] == TokenType::undefined) {
                m->type[id] = TokenType::unused;
                m->text[id] = strfmt("[PAD%zu]", id);
            }
        m->bos = find_first(*m, {"<|begin_of_text|>"});
        m->eos = find_first(*m, {"<|end_of_text|>"});
        m->eot = find_first(*m, {"<|eot_id|>", "<|end_of_text|>"});
        m->add_bos = m->bos >= 0;
    } else if (n_ranked == 128000) {
        // Meta's Llama 3 tokenizer.model has exactly 128000 ranks; its special tokens follow.
        const bool v31 = specials.source != Src::llama3_0;
        int next_reserved = 0;
        for (int k = 0; k < 256; k++) {
            m->text.push_back(llama3_special_name(k, v31, &next_reserved));
            m->type.push_back(TokenType::control);
        }
        m->bos = 128000;
        m->eos = 128001;
        m->eot = 128009;
        m->add_bos = true;
        if (specials.source == Src::automatic)
            m->load_note = name + ": special tokens named as in Llama 3.1/3.2 (the file does not say which version "
                                  "it is; for Llama 3.0's names use --special-names llama3.0 or put its "
                                  "tokenizer_config.json beside the file)";
    }
    m->finalize();
    return Tokenizer(std::move(m));
}

// ---------------------------------------------------------------------------------------------------------
// Any of the three, by content

Tokenizer Tokenizer::load(const std::string& path, const TiktokenSpecials& specials) {
    try {
        return load_any(path, specials);
    } catch (const std::bad_alloc&) {
        fail("%s: out of memory while loading the tokenizer", path.c_str());
    }
}

Tokenizer Tokenizer::load_any(const std::string& path, const TiktokenSpecials& specials) {
    char head[4] = {0, 0, 0, 0};
    {
        const int fd = open_input(path, "a tokenizer file (.gguf, tokenizer.json or tokenizer.model)");
        ssize_t got = ::read(fd, head, sizeof head);
        ::close(fd);
        if (got < 0) fail("%s: read failed", path.c_str());
    }
    if (std::memcmp(head, "GGUF", 4) == 0) {
        gguf::File f = gguf::File::open(path);
        if (!f.has("tokenizer.ggml.model")) fail("%s: this GGUF file has no tokenizer (tokenizer.ggml.model is missing)", path.c_str());
        return from_gguf(f);
    }
    std::string data = read_input_file(path, "a tokenizer file (.gguf, tokenizer.json or tokenizer.model)");
    size_t i = 0;
    while (i < data.size() && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) i++;
    if (i < data.size() && data[i] == '{') return from_tokenizer_json(data, path);
    // tiktoken: the first line is "<base64> <digits>".
    size_t eol = data.find('\n');
    std::string_view first = std::string_view(data).substr(0, eol == std::string::npos ? data.size() : eol);
    size_t sp = first.find(' ');
    bool looks_tiktoken = sp != std::string_view::npos && sp > 0 && sp + 1 < first.size();
    for (size_t k = 0; looks_tiktoken && k < first.size(); k++) {
        char c = first[k];
        if (k < sp) looks_tiktoken = base64_value(c) >= 0 || c == '=';
        else if (k > sp) looks_tiktoken = (c >= '0' && c <= '9') || (c == '\r' && k + 1 == first.size());
    }
    if (looks_tiktoken) {
        if (specials.source != TiktokenSpecials::Source::automatic) return from_tiktoken(data, path, specials);
        // A tokenizer_config.json beside the file says which special tokens the model has.
        const size_t slash = path.find_last_of('/');
        const std::string config = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
                                   "tokenizer_config.json";
        struct stat st;
        if (::stat(config.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            Tokenizer t = from_tiktoken(data, path,
                                        TiktokenSpecials::from_tokenizer_config(
                                            read_input_file(config, "a tokenizer_config.json"), config));
            t.impl_->load_note = path + ": special tokens from " + config;
            return t;
        }
        return from_tiktoken(data, path, specials);
    }
    if (!data.empty() && data[0] == 0x0A)
        fail("%s: looks like a SentencePiece protobuf model, which slm does not read: use a GGUF file with the tokenizer", path.c_str());
    fail("%s: not a tokenizer: expected a GGUF file, a Hugging Face tokenizer.json or a tiktoken tokenizer.model", path.c_str());
}

}  // namespace slm
