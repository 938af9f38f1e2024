#include "train/data.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "common.h"
#include "forward.h"
#include "input_file.h"
#include "intent/eval.h"
#include "intent/schema.h"
#include "model.h"
#include "tokenizer.h"

namespace slm::train {

static void append(std::vector<int32_t>& ids, const std::vector<int32_t>& more) { ids.insert(ids.end(), more.begin(), more.end()); }

Sequence render(const Tokenizer& tok, const chat::Template& tpl, const std::vector<chat::Message>& prompt,
                const std::string* answer) {
    Sequence s;
    s.ids = chat::render(tok, tpl, prompt, true).ids;
    s.mask.assign(s.ids.size(), 0);
    if (answer) {
        append(s.ids, tok.encode(chat::trim(*answer), false, false));
        // The turn ends where generation stops: the family's first end-of-turn id (<|eot_id|>, <|im_end|>, EOS).
        const int32_t end_id = !tpl.end_of_turn.empty() ? tpl.end_of_turn[0] : tok.eos_id();
        if (end_id >= 0) s.ids.push_back(end_id);
        s.mask.resize(s.ids.size(), 1);
    }
    return s;
}

Dataset load_dataset(const std::string& path, const Tokenizer& tok, const chat::Template& tpl, const DataOptions& opt) {
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
        Sequence s = render(tok, tpl, ex.prompt, &ex.answer);
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

MatchResult exact_match(const Model& model, Backend& backend, const std::string& path, bool drop_system, int limit,
                        const std::string& chat_template, bool progress) {
    intent::EvalOptions opt;
    opt.system = !drop_system;
    opt.limit = limit;
    opt.progress = progress;
    opt.chat_template = chat_template;
    ContextOptions co;
    try {
        co.n_ctx = intent::eval_context_size(model, opt);
    } catch (const Error& e) {  // e.g. the task's system prompt is longer than a tiny model's context
        if (progress) std::fprintf(stderr, "exact match skipped: %s\n", e.what());
        return MatchResult{};
    }
    Context ctx(model, backend, co);
    const intent::EvalResult er = intent::evaluate(ctx, intent::read_eval_file(path), opt);
    MatchResult r;
    for (size_t i = 0; i < er.results.size(); i++) {
        const bool ok = er.results[i].grade.exact;
        r.n++;
        r.exact += ok;
        auto& bl = r.by_lang[er.items[i].lang];
        bl.first += ok;
        bl.second++;
    }
    return r;
}

}  // namespace slm::train
