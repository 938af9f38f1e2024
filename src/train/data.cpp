#include "train/data.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "common.h"
#include "forward.h"
#include "input_file.h"
#include "intent/schema.h"
#include "model.h"
#include "tokenizer.h"

namespace slm::train {

ChatFormat detect_chat_format(const Tokenizer& tok) {
    if (tok.find_token("<|im_start|>") >= 0 && tok.find_token("<|im_end|>") >= 0) return ChatFormat::chatml;
    if (tok.find_token("<|start_header_id|>") >= 0 && tok.find_token("<|eot_id|>") >= 0) return ChatFormat::llama3;
    return ChatFormat::none;
}

const char* chat_format_name(ChatFormat f) {
    switch (f) {
        case ChatFormat::none: return "none";
        case ChatFormat::llama3: return "llama3";
        case ChatFormat::chatml: return "chatml";
    }
    return "?";
}

static void append(std::vector<int32_t>& ids, const std::vector<int32_t>& more) { ids.insert(ids.end(), more.begin(), more.end()); }

Sequence render(const Tokenizer& tok, ChatFormat f, const std::vector<chat::Message>& prompt, const std::string* answer) {
    Sequence s;
    int32_t end_id = -1;
    switch (f) {
        case ChatFormat::llama3: {
            s.ids = chat::render(tok, chat::resolve(tok, "", "llama3"), prompt, true).ids;
            end_id = tok.find_token("<|eot_id|>");
            break;
        }
        case ChatFormat::chatml: {
            // <|im_start|>ROLE\nCONTENT<|im_end|>\n ... <|im_start|>assistant\n, by the one renderer. The family is
            // named, not read from the model's template: no default system message is inserted (SmolLM2's
            // template would add one), so --drop-system trains on prompts without any system text.
            s.ids = chat::render(tok, chat::resolve(tok, "", "chatml"), prompt, true).ids;
            end_id = tok.find_token("<|im_end|>");
            break;
        }
        case ChatFormat::none: {
            // The turns' texts, each on its own paragraph, BOS first when the tokenizer has one.
            std::string text;
            for (const chat::Message& m : prompt) text += m.content + "\n\n";
            s.ids = tok.encode(text, tok.bos_id() >= 0, false);
            end_id = tok.eos_id();
            break;
        }
    }
    s.mask.assign(s.ids.size(), 0);
    if (answer) {
        const std::vector<int32_t> a = tok.encode(chat::trim(*answer), false, false);
        append(s.ids, a);
        if (end_id >= 0) s.ids.push_back(end_id);
        s.mask.resize(s.ids.size(), 1);
    }
    return s;
}

Dataset load_dataset(const std::string& path, const Tokenizer& tok, ChatFormat f, const DataOptions& opt) {
    // input_file.h: a FIFO, a device or a directory is refused at once; json::jsonl_lines: the one JSONL rule.
    const std::string text = read_input_file(path, "a JSONL file of examples (the messages format of slm gen-data)");
    Dataset d;
    d.path = path;
    for (const json::JsonlLine& jl : json::jsonl_lines(text)) {
        const int ln = int(jl.line_no);
        const std::string_view line = jl.text;
        const std::string where = strfmt("%s:%d", path.c_str(), ln);
        json::Value v;
        std::string err;
        if (!json::try_parse(line, &v, &err)) fail("%s: not JSON: %s", where.c_str(), err.c_str());
        const json::Value* msgs = v.is_object() ? v.find("messages") : nullptr;
        if (!msgs || !msgs->is_array()) fail("%s: expected an object with a \"messages\" array", where.c_str());
        Example ex;
        ex.line = ln;
        int last_assistant = -1;
        std::vector<chat::Message> all;
        for (const json::Value& m : msgs->as_array()) {
            const json::Value* role = m.is_object() ? m.find("role") : nullptr;
            const json::Value* content = m.is_object() ? m.find("content") : nullptr;
            if (!role || !role->is_string() || !content || !content->is_string())
                fail("%s: every message needs string \"role\" and \"content\"", where.c_str());
            if (role->as_string() == "assistant") last_assistant = int(all.size());
            all.push_back({role->as_string(), content->as_string()});
        }
        if (last_assistant < 0) fail("%s: no assistant message (nothing to learn)", where.c_str());
        for (int i = 0; i < last_assistant; i++)
            if (!(opt.drop_system && all[size_t(i)].role == "system")) ex.prompt.push_back(all[size_t(i)]);
        ex.answer = all[size_t(last_assistant)].content;
        if (const json::Value* lang = v.find("lang"); lang && lang->is_string()) ex.lang = lang->as_string();
        Sequence s = render(tok, f, ex.prompt, &ex.answer);
        if (int(s.ids.size()) > opt.max_seq) {
            d.n_skipped_long++;
            continue;
        }
        d.n_tokens += int64_t(s.ids.size());
        d.n_targets += s.n_targets();
        d.examples.push_back(std::move(ex));
        d.seqs.push_back(std::move(s));
    }
    if (d.examples.empty()) {
        if (d.n_skipped_long) fail("%s: all %d examples are longer than --seq %d tokens", path.c_str(), d.n_skipped_long, opt.max_seq);
        fail("%s: no examples", path.c_str());
    }
    return d;
}

std::string MatchResult::summary() const {
    std::string s = strfmt("exact %.3f (%d/%d)", accuracy(), exact, n);
    const char* sep = "; ";
    for (const auto& [lang, en] : by_lang) {
        s += strfmt("%s%s %.2f (%d/%d)", sep, lang.c_str(), en.second ? double(en.first) / en.second : 0.0, en.first, en.second);
        sep = ", ";
    }
    return s;
}

MatchResult exact_match(const Model& model, Backend& backend, ChatFormat f, const std::vector<Example>& examples,
                        int max_tokens, bool progress) {
    const Tokenizer& tok = model.tokenizer();
    MatchResult r;
    const auto t0 = std::chrono::steady_clock::now();
    int max_prompt = 0;
    std::vector<Sequence> prompts;
    for (const Example& ex : examples) {
        prompts.push_back(render(tok, f, ex.prompt, nullptr));
        max_prompt = std::max(max_prompt, int(prompts.back().ids.size()));
    }
    ContextOptions co;
    co.n_ctx = max_prompt + max_tokens + 1;
    co.kv_type = GgmlType::F32;
    Context ctx(model, backend, co);
    const int V = model.config().n_vocab;
    for (size_t i = 0; i < examples.size(); i++) {
        ctx.clear();
        const float* lg = ctx.eval(prompts[i].ids);
        std::vector<int32_t> out;
        for (int k = 0; k < max_tokens; k++) {
            const int32_t best = int32_t(std::max_element(lg, lg + V) - lg);
            if (tok.is_eog(best) || best == tok.find_token("<|im_end|>")) break;
            out.push_back(best);
            lg = ctx.eval(&best, 1);
        }
        const json::Value gold = json::parse(examples[i].answer);
        const bool ok = intent::grade(tok.decode(out), gold).exact;
        r.n++;
        r.exact += ok;
        auto& bl = r.by_lang[examples[i].lang];
        bl.first += ok;
        bl.second++;
        if (progress) {
            const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::fprintf(stderr, "\r  exact match %zu/%zu  %.3f  %.1f ex/s  ETA %.0fs   ", i + 1, examples.size(),
                         r.accuracy(), double(i + 1) / el, el / double(i + 1) * double(examples.size() - i - 1));
        }
    }
    if (progress) std::fprintf(stderr, "\n");
    return r;
}

}  // namespace slm::train
