#include "intent/eval.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "chat_template.h"
#include "common.h"
#include "progress.h"
#include "input_file.h"
#include "forward.h"
#include "generate.h"
#include "intent/data.h"
#include "intent/lexicon.h"
#include "intent/json_constraint.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

namespace slm::intent {

// ---- reading ----------------------------------------------------------------------------------------------

static EvalItem parse_item(const json::Value& v, const std::string& where) {
    if (!v.is_object()) fail("%s: expected a JSON object", where.c_str());
    EvalItem it;
    if (const json::Value* msgs = v.find("messages")) {
        if (!msgs->is_array()) fail("%s: \"messages\" is not an array", where.c_str());
        const json::Value *user = nullptr, *assistant = nullptr;
        for (const auto& m : msgs->as_array()) {
            const json::Value* role = m.is_object() ? m.find("role") : nullptr;
            const json::Value* content = m.is_object() ? m.find("content") : nullptr;
            if (!role || !role->is_string() || !content || !content->is_string())
                fail("%s: every message needs string \"role\" and \"content\"", where.c_str());
            if (role->as_string() == "user") user = content;
            if (role->as_string() == "assistant") assistant = content;
        }
        if (!user) fail("%s: no user message", where.c_str());
        if (!assistant) fail("%s: no assistant message (the gold answer)", where.c_str());
        it.text = user->as_string();
        std::string err;
        if (!json::try_parse(assistant->as_string(), &it.gold, &err))
            fail("%s: the assistant message is not JSON: %s", where.c_str(), err.c_str());
    } else if (const json::Value* text = v.find("text")) {
        if (!text->is_string()) fail("%s: \"text\" is not a string", where.c_str());
        const json::Value* gold = v.find("gold");
        if (!gold) fail("%s: \"gold\" is missing", where.c_str());
        it.text = text->as_string();
        it.gold = *gold;
    } else {
        fail("%s: expected \"messages\" or \"text\" + \"gold\"", where.c_str());
    }
    std::string why;
    if (!validate(it.gold, &why)) fail("%s: the gold answer is not valid under SPEC.md: %s", where.c_str(), why.c_str());
    if (const json::Value* lang = v.find("lang")) {
        if (!lang->is_string()) fail("%s: \"lang\" is not a string", where.c_str());
        it.lang = lang->as_string();
    }
    if (const json::Value* noise = v.find("noise")) {
        if (!noise->is_array()) fail("%s: \"noise\" is not an array", where.c_str());
        for (const auto& n : noise->as_array()) {
            if (!n.is_string()) fail("%s: \"noise\" holds a non-string", where.c_str());
            it.noise.push_back(n.as_string());
        }
    }
    return it;
}

std::vector<EvalItem> parse_eval_text(const std::string& text, const std::string& name) {
    std::vector<EvalItem> items;
    for (const json::JsonlLine& jl : json::jsonl_lines(text)) {
        const std::string_view line = jl.text;
        const int line_no = int(jl.line_no);
        std::string where = strfmt("%s line %d", name.c_str(), line_no);
        json::Value v;
        std::string err;
        if (!json::try_parse(line, &v, &err)) fail("%s: not JSON (%s)", where.c_str(), err.c_str());
        EvalItem it = parse_item(v, where);
        it.line = line_no;
        items.push_back(std::move(it));
    }
    if (items.empty()) fail("%s: no examples", name.c_str());
    return items;
}

std::vector<EvalItem> read_eval_file(const std::string& path) {
    return parse_eval_text(read_input_file(path, "a JSONL data file"), path);
}

// ---- decoding ---------------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }


}  // namespace

namespace {
// The shared prefix of every prompt: system prompt and few-shot turns.
std::vector<chat::Message> prefix_messages(const EvalOptions& opt) {
    if (opt.few_shot < 0 || opt.few_shot > 200) fail("few-shot count must be in [0, 200], got %d", opt.few_shot);
    std::vector<chat::Message> msgs;
    if (opt.system) msgs.push_back({"system", system_prompt()});
    for (const Example& e : few_shot_examples(opt.few_shot)) {
        msgs.push_back({"user", e.text});
        msgs.push_back({"assistant", canonical_text(e.gold)});
    }
    return msgs;
}
}  // namespace

// The model's chat template (or --chat-template's).
static chat::Template eval_template(const Model& model, const EvalOptions& opt) {
    return chat::resolve(model.tokenizer(), model.file().get_string("tokenizer.chat_template", ""), opt.chat_template);
}

int eval_context_size(const Model& model, const EvalOptions& opt) {
    const size_t n_prefix = chat::render(model.tokenizer(), eval_template(model, opt), prefix_messages(opt), false).ids.size();
    const int model_ctx = model.config().n_ctx_train > 0 ? model.config().n_ctx_train : ContextOptions::kDefaultMaxCtx;
    const int n_ctx = int(std::min<size_t>(size_t(model_ctx), n_prefix + 1024));
    if (int(n_prefix) + 64 > n_ctx)
        fail("the prompt prefix (%zu tokens with %d few-shot examples) does not fit the model's context (%d)", n_prefix,
             opt.few_shot, model_ctx);
    return n_ctx;
}

EvalResult evaluate(Session& ctx, const std::vector<EvalItem>& all_items, const EvalOptions& opt) {
    const Tokenizer& tok = ctx.model().tokenizer();
    EvalResult r;
    r.opt = opt;
    r.items = all_items;
    if (opt.limit >= 0 && size_t(opt.limit) < r.items.size()) r.items.resize(size_t(opt.limit));
    if (opt.max_tokens < 1) fail("the token budget must be at least 1, got %d", opt.max_tokens);

    std::unique_ptr<TokenIndex> index;
    std::unique_ptr<Constraint> constraint;
    if (opt.constrained) {
        auto t0 = Clock::now();
        index = std::make_unique<TokenIndex>(TokenIndex::from_tokenizer(tok));
        constraint = std::make_unique<Constraint>(intent_answer_dfa(), *index);
        r.setup_s = seconds_since(t0);
    }

    // The shared prefix: evaluated once; each example keeps it through Session::reuse_prefix.
    const std::vector<chat::Message> prefix_msgs = prefix_messages(opt);
    const chat::Template tpl = eval_template(ctx.model(), opt);
    if (!tpl.note.empty() && opt.progress) std::fprintf(stderr, "%s\n", tpl.note.c_str());
    r.chat_template = chat::family_name(tpl.family);
    const std::vector<int32_t> prefix = chat::render(tok, tpl, prefix_msgs, false).ids;
    r.n_prefix = int(prefix.size());
    if (int(prefix.size()) + 64 > ctx.n_ctx())
        fail("the prompt prefix (%zu tokens with %d few-shot examples) does not fit the context (%d)", prefix.size(),
             opt.few_shot, ctx.n_ctx());
    {
        auto t0 = Clock::now();
        ctx.reuse_prefix(prefix);
        if (ctx.n_past() < int(prefix.size())) ctx.eval(prefix.data() + ctx.n_past(), int(prefix.size()) - ctx.n_past());
        r.prefix_s = seconds_since(t0);
    }

    Sampler greedy(SamplerParams{.temp = 0});
    // Lookup decoding: answers repeat their keys and most values, so earlier replies (and the few-shot turns
    // in the prefix) predict much of the next one; generate() checks every guess, so replies are unchanged.
    LookupDraft draft;
    if (opt.lookup) draft.add(prefix);
    Progress bar("eval", "examples", "ex/s", 1.0, opt.progress);
    int n_exact = 0;
    for (size_t i = 0; i < r.items.size(); i++) {
        const EvalItem& item = r.items[i];
        ItemResult res;
        auto t_item = Clock::now();
        std::vector<chat::Message> msgs = prefix_msgs;
        msgs.push_back({"user", item.text});
        const std::vector<int32_t> ids = chat::render(tok, tpl, msgs, true).ids;
        const int budget = opt.constrained ? 128 : opt.max_tokens;
        if (int(ids.size()) + budget > ctx.n_ctx())
            fail("line %d: the prompt (%zu tokens) and answer budget do not fit the context (%d)", item.line, ids.size(), ctx.n_ctx());
        const int keep = ctx.reuse_prefix(ids);
        res.n_prompt = int(ids.size()) - keep;

        std::unique_ptr<ConstrainedDecoder> dec;
        if (constraint) dec = std::make_unique<ConstrainedDecoder>(*constraint);
        GenerateOptions go;
        go.n_predict = budget;
        go.stop_at_control = true;  // the turn ends at EOT/EOS or any other control token
        go.stop_tokens = tpl.end_of_turn;  // and at the template's end of turn
        if (dec) {
            go.pick = [&](const float* logits) {
                auto t_sel = Clock::now();
                const int32_t t = dec->pick_greedy(logits);
                r.select_s += seconds_since(t_sel);
                return t;
            };
            go.done = [&](int32_t t, const std::string&) {
                auto t_acc = Clock::now();
                dec->accept(t);
                r.select_s += seconds_since(t_acc);
                return dec->complete();  // only EOT/EOS is allowed now: the turn ends without another forward pass
            };
        } else {
            go.done = [](int32_t, const std::string& text) { return json::value_end(text) != std::string::npos; };
        }
        if (opt.lookup) go.draft = &draft;
        const std::vector<int32_t> prompt(ids.begin() + keep, ids.end());
        GenerateResult g = generate(ctx, greedy, prompt, go, nullptr);
        if (opt.lookup) {  // the reply with the few prompt tokens before it (the assistant header) as its key
            std::vector<int32_t> seen(ids.end() - std::min<long>(4, long(ids.size())), ids.end());
            seen.insert(seen.end(), g.tokens.begin(), g.tokens.end());
            draft.add(seen);
        }
        r.drafted += g.n_drafted;
        r.draft_kept += g.n_draft_kept;
        std::string reply = g.text;
        if (!dec)
            if (size_t end = json::value_end(reply); end != std::string::npos) reply.resize(end);  // the harness stops reading where the object closes
        r.prompt_s += g.prompt_seconds;
        r.decode_s += g.gen_seconds;
        r.decode_evals += g.n_gen_evals;
        res.n_gen = int(g.tokens.size()) - (g.stop_reason == "eog" || g.stop_reason == "stop-token" ? 1 : 0);  // the end-of-turn token not counted
        res.reply = reply;
        res.grade = grade(reply, item.gold);
        res.latency_s = seconds_since(t_item);
        r.prompt_tokens += res.n_prompt;
        r.gen_tokens += res.n_gen;
        n_exact += res.grade.exact;
        r.results.push_back(std::move(res));

        bar.update(double(i + 1), double(r.items.size()), strfmt("exact %.1f%%", 100.0 * n_exact / double(i + 1)));
    }
    bar.finish();
    r.peak_rss_kib = peak_rss_kib();
    return r;
}

// ---- reporting --------------------------------------------------------------------------------------------

namespace {

struct Tally {
    int n = 0, exact = 0, action = 0, product = 0, quantity = 0, valid_json = 0, valid_schema = 0;
    void add(const Grade& g) {
        n++;
        exact += g.exact;
        action += g.action;
        product += g.product;
        quantity += g.quantity;
        valid_json += g.valid_json;
        valid_schema += g.valid_schema;
    }
    double rate(int k) const { return n ? double(k) / n : 0.0; }
    json::Value to_json() const {
        json::Value v = json::Value::object();
        v.set("n", n);
        v.set("exact", rate(exact));
        v.set("action", rate(action));
        v.set("product", rate(product));
        v.set("quantity", rate(quantity));
        v.set("valid_json", rate(valid_json));
        return v;
    }
};

std::string lang_bucket(const std::string& lang) { return lang.find('+') != std::string::npos ? "mix" : lang; }

struct Breakdowns {
    Tally all;
    std::vector<std::pair<std::string, Tally>> by_lang, by_action, by_noise;
    std::vector<std::string> conf_labels;          // the ten actions + "invalid"
    std::vector<std::vector<int>> confusion;        // [gold][predicted]
};

Tally& slot(std::vector<std::pair<std::string, Tally>>& v, const std::string& key) {
    for (auto& kv : v)
        if (kv.first == key) return kv.second;
    v.emplace_back(key, Tally{});
    return v.back().second;
}

Breakdowns breakdowns(const EvalResult& r) {
    Breakdowns b;
    // fixed orders first (so tables read the same across runs), then anything else the file had
    for (const auto& l : languages()) slot(b.by_lang, l);
    slot(b.by_lang, "mix");
    for (const auto& a : actions()) slot(b.by_action, a.name);
    slot(b.by_noise, "clean");
    for (const auto& a : actions()) b.conf_labels.push_back(a.name);
    b.conf_labels.push_back("invalid");
    b.confusion.assign(actions().size(), std::vector<int>(b.conf_labels.size(), 0));
    for (size_t i = 0; i < r.results.size(); i++) {
        const EvalItem& it = r.items[i];
        const Grade& g = r.results[i].grade;
        b.all.add(g);
        slot(b.by_lang, lang_bucket(it.lang)).add(g);
        const std::string& gold_action = it.gold.at("action").as_string();
        slot(b.by_action, gold_action).add(g);
        if (it.noise.empty()) slot(b.by_noise, "clean").add(g);
        for (const auto& k : it.noise) slot(b.by_noise, k).add(g);
        int gi = action_index(gold_action), pi = action_index(g.pred_action);
        b.confusion[size_t(gi)][pi < 0 ? actions().size() : size_t(pi)]++;
    }
    auto drop_empty = [](std::vector<std::pair<std::string, Tally>>& v) {
        v.erase(std::remove_if(v.begin(), v.end(), [](const auto& kv) { return kv.second.n == 0; }), v.end());
    };
    drop_empty(b.by_lang);
    drop_empty(b.by_action);
    drop_empty(b.by_noise);
    return b;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t k = size_t(std::max(0.0, std::min(double(v.size() - 1), p * double(v.size()) - 1 + 0.999999)));  // nearest rank
    return v[k];
}

struct Speed {
    double prompt_tps, decode_tps, p50_ms, p95_ms, mean_ms;
};
Speed speed(const EvalResult& r) {
    std::vector<double> lat;
    double sum = 0;
    for (const auto& x : r.results) {
        lat.push_back(x.latency_s * 1000);
        sum += x.latency_s * 1000;
    }
    return {r.prompt_s > 0 ? double(r.prompt_tokens) / r.prompt_s : 0, r.decode_s > 0 ? double(r.gen_tokens) / r.decode_s : 0,
            percentile(lat, 0.50), percentile(lat, 0.95), lat.empty() ? 0 : sum / double(lat.size())};
}

std::string pct(double x) { return strfmt("%.1f%%", 100 * x); }

std::string tally_table(const char* title, const char* column, const std::vector<std::pair<std::string, Tally>>& rows) {
    std::string s = strfmt("\n## %s\n\n| %s | n | exact | action | product | quantity | valid JSON |\n|---|---:|---:|---:|---:|---:|---:|\n",
                           title, column);
    for (const auto& [k, t] : rows)
        s += strfmt("| %s | %d | %s | %s | %s | %s | %s |\n", k.c_str(), t.n, pct(t.rate(t.exact)).c_str(), pct(t.rate(t.action)).c_str(),
                    pct(t.rate(t.product)).c_str(), pct(t.rate(t.quantity)).c_str(), pct(t.rate(t.valid_json)).c_str());
    return s;
}

}  // namespace

double EvalResult::exact() const {
    int n = 0;
    for (const auto& x : results) n += x.grade.exact;
    return results.empty() ? 0 : double(n) / double(results.size());
}

json::Value EvalResult::to_json() const {
    Breakdowns b = breakdowns(*this);
    Speed sp = speed(*this);
    json::Value v = json::Value::object();
    v.set("model", model);
    v.set("data", data);
    v.set("lora", lora.empty() ? json::Value() : json::Value(lora));
    v.set("n", int(results.size()));
    v.set("constrained", opt.constrained);
    v.set("few_shot", opt.few_shot);
    v.set("system_prompt", opt.system);
    v.set("chat_template", chat_template);
    v.set("threads", threads);
    v.set("exact", b.all.rate(b.all.exact));
    v.set("valid_json", b.all.rate(b.all.valid_json));
    v.set("valid_schema", b.all.rate(b.all.valid_schema));
    json::Value fields = json::Value::object();
    fields.set("action", b.all.rate(b.all.action));
    fields.set("product", b.all.rate(b.all.product));
    fields.set("quantity", b.all.rate(b.all.quantity));
    v.set("fields", fields);
    auto table = [](const std::vector<std::pair<std::string, Tally>>& rows) {
        json::Value o = json::Value::object();
        for (const auto& [k, t] : rows) o.set(k, t.to_json());
        return o;
    };
    v.set("by_lang", table(b.by_lang));
    v.set("by_action", table(b.by_action));
    v.set("by_noise", table(b.by_noise));
    json::Value conf = json::Value::object(), labels = json::Value::array(), rows = json::Value::array();
    for (const auto& l : b.conf_labels) labels.push_back(l);
    for (const auto& row : b.confusion) {
        json::Value jr = json::Value::array();
        for (int c : row) jr.push_back(c);
        rows.push_back(jr);
    }
    conf.set("gold_rows_predicted_columns", labels);
    conf.set("matrix", rows);
    v.set("confusion", conf);
    json::Value s = json::Value::object();
    s.set("prefix_tokens", n_prefix);
    s.set("prefix_seconds", prefix_s);
    s.set("constraint_setup_seconds", setup_s);
    s.set("prompt_tokens", prompt_tokens);
    s.set("prompt_seconds", prompt_s);
    s.set("prompt_tokens_per_second", sp.prompt_tps);
    s.set("generated_tokens", gen_tokens);
    s.set("decode_evals", decode_evals);
    s.set("lookup", opt.lookup);
    s.set("drafted_tokens", drafted);
    s.set("draft_tokens_kept", draft_kept);
    s.set("decode_seconds", decode_s);
    s.set("decode_tokens_per_second", sp.decode_tps);
    s.set("token_selection_seconds", select_s);
    s.set("latency_ms_p50", sp.p50_ms);
    s.set("latency_ms_p95", sp.p95_ms);
    s.set("latency_ms_mean", sp.mean_ms);
    s.set("peak_rss_mib", peak_rss_kib >= 0 ? json::Value(double(peak_rss_kib) / 1024.0) : json::Value());
    v.set("speed", s);
    json::Value ex = json::Value::array();
    for (size_t i = 0; i < results.size(); i++) {
        json::Value e = json::Value::object();
        e.set("line", items[i].line);
        e.set("text", items[i].text);
        e.set("gold", items[i].gold);
        e.set("reply", results[i].reply);
        e.set("exact", results[i].grade.exact);
        e.set("valid_json", results[i].grade.valid_json);
        ex.push_back(e);
    }
    v.set("examples", ex);
    return v;
}

std::string EvalResult::to_markdown() const {
    Breakdowns b = breakdowns(*this);
    Speed sp = speed(*this);
    std::string s = "# Intent evaluation\n\n";
    s += strfmt("| | |\n|---|---|\n| model | %s |\n| LoRA | %s |\n| data | %s |\n| examples | %zu |\n| decoding | greedy, %s |\n"
                "| few-shot | %d |\n| threads | %d |\n",
                model.c_str(), lora.empty() ? "none" : lora.c_str(), data.c_str(), results.size(),
                opt.constrained ? "schema-constrained" : strfmt("unconstrained (budget %d tokens)", opt.max_tokens).c_str(),
                opt.few_shot, threads);
    s += "\n## Accuracy\n\n| metric | value |\n|---|---:|\n";
    s += strfmt("| exact match | %s |\n| valid JSON object | %s |\n| valid under SPEC.md | %s |\n| action | %s |\n"
                "| product | %s |\n| quantity | %s |\n",
                pct(b.all.rate(b.all.exact)).c_str(), pct(b.all.rate(b.all.valid_json)).c_str(),
                pct(b.all.rate(b.all.valid_schema)).c_str(), pct(b.all.rate(b.all.action)).c_str(),
                pct(b.all.rate(b.all.product)).c_str(), pct(b.all.rate(b.all.quantity)).c_str());
    s += tally_table("By language", "language", b.by_lang);
    s += tally_table("By action", "gold action", b.by_action);
    s += tally_table("By noise kind", "noise", b.by_noise);
    s += "\n## Action confusion (rows: gold, columns: predicted)\n\n| gold \\ predicted |";
    for (const auto& l : b.conf_labels) s += " " + l + " |";
    s += "\n|---|";
    for (size_t i = 0; i < b.conf_labels.size(); i++) s += "---:|";
    s += "\n";
    for (size_t g = 0; g < b.confusion.size(); g++) {
        s += "| " + b.conf_labels[g] + " |";
        for (int c : b.confusion[g]) s += strfmt(" %d |", c);
        s += "\n";
    }
    s += "\n## Speed and memory\n\n| measure | value |\n|---|---:|\n";
    s += strfmt("| system prompt | %s |\n", opt.system ? "the task's (SPEC.md)" : "none (as fine-tuned)");
    s += strfmt("| shared prefix (system + few-shot) | %d tokens, evaluated once in %.3f s |\n", n_prefix, prefix_s);
    if (opt.constrained) s += strfmt("| constraint setup (token index) | %.3f s |\n", setup_s);
    s += strfmt("| prompt tokens per example (mean) | %.1f |\n| prompt processing | %.1f tokens/s |\n",
                results.empty() ? 0.0 : double(prompt_tokens) / double(results.size()), sp.prompt_tps);
    s += strfmt("| generated tokens per example (mean) | %.1f |\n| decode | %.1f tokens/s |\n",
                results.empty() ? 0.0 : double(gen_tokens) / double(results.size()), sp.decode_tps);
    if (opt.lookup)
        s += strfmt("| lookup decoding (same replies, fewer passes) | %lld forward passes for %lld tokens; %lld of %lld draft tokens kept |\n",
                    (long long)decode_evals, (long long)gen_tokens, (long long)draft_kept, (long long)drafted);
    s += strfmt("| token selection (%s), share of decode time | %.3f s, %.2f%% |\n",
                opt.constrained ? "constrained pick + state update" : "argmax over the vocabulary", select_s,
                decode_s > 0 ? 100 * select_s / decode_s : 0.0);
    s += strfmt("| latency per query p50 / p95 / mean | %.1f / %.1f / %.1f ms |\n", sp.p50_ms, sp.p95_ms, sp.mean_ms);
    s += strfmt("| peak memory (VmHWM) | %s |\n", peak_rss_kib >= 0 ? strfmt("%.1f MiB", double(peak_rss_kib) / 1024).c_str() : "n/a");
    return s;
}

std::string EvalResult::summary() const {
    Breakdowns b = breakdowns(*this);
    Speed sp = speed(*this);
    return strfmt("examples %zu (%s, %d-shot, chat template %s)\nexact %s | valid JSON %s | valid schema %s | action %s | product %s | quantity %s\n"
                  "prompt %.1f tok/s | decode %.1f tok/s | latency p50 %.1f ms, p95 %.1f ms | peak RSS %.1f MiB\n",
                  results.size(), opt.constrained ? "constrained" : "unconstrained", opt.few_shot, chat_template.c_str(),
                  pct(b.all.rate(b.all.exact)).c_str(), pct(b.all.rate(b.all.valid_json)).c_str(),
                  pct(b.all.rate(b.all.valid_schema)).c_str(), pct(b.all.rate(b.all.action)).c_str(),
                  pct(b.all.rate(b.all.product)).c_str(), pct(b.all.rate(b.all.quantity)).c_str(), sp.prompt_tps,
                  sp.decode_tps, sp.p50_ms, sp.p95_ms, double(peak_rss_kib) / 1024);
}

}  // namespace slm::intent
