// slm eval: data reading, object-end detection, end-to-end runs on llama3-tiny (a random-weight model: its
// answers are nonsense, but constrained answers must all be valid), reports and bad input.
#include <cstdlib>

#include "common.h"
#include "intent/data.h"
#include "intent/eval.h"
#include "json.h"
#include "intent/json_constraint.h"
#include "model.h"
#include "forward.h"
#include "test_util.h"
#include "threadpool.h"
#include "tokenizer.h"

using namespace slm;
using namespace slm::intent;

static const char* kGood = R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2})";

TEST_CASE("intent: eval reads both data formats") {
    std::string msgs = R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "add 2 tees"}, )"
                       R"({"role": "assistant", "content": "{\"action\": \"add_to_cart\", \"product\": \"t-shirt\", \"quantity\": 2}"}], )"
                       R"("lang": "en", "noise": ["emoji"]})";
    std::string plain = std::string(R"({"text": "zwei T-Shirts bitte", "gold": )") + kGood + "}";
    auto items = parse_eval_text(msgs + "\n\n" + plain + "\n", "d.jsonl");
    REQUIRE(items.size() == 2);
    CHECK(items[0].text == "add 2 tees");
    CHECK(items[0].gold == json::parse(kGood));
    CHECK(items[0].lang == "en");
    CHECK(items[0].noise == std::vector<std::string>{"emoji"});
    CHECK(items[0].line == 1);
    CHECK(items[1].line == 3);
    CHECK(items[1].lang == "?");
    CHECK(items[1].gold == json::parse(kGood));
}

TEST_CASE("intent: eval data errors name the file and line") {
    auto err = [](const std::string& text) {
        try {
            parse_eval_text(text, "bad.jsonl");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    std::string ok = std::string(R"({"text": "x", "gold": )") + kGood + "}\n";
    CHECK(err(ok + "{not json\n").find("bad.jsonl line 2: not JSON") != std::string::npos);
    CHECK(err(ok + ok + R"({"text": "x"})").find("line 3") != std::string::npos);
    CHECK(err(R"({"text": "x", "gold": {"action": "add_to_cart", "product": "t-shirt", "quantity": "2"}})").find("not valid under SPEC") != std::string::npos);
    CHECK(err(R"({"messages": [{"role": "user", "content": "x"}]})").find("no assistant") != std::string::npos);
    CHECK(err(R"({"messages": [{"role": "assistant", "content": "{}"}]})").find("no user") != std::string::npos);
    CHECK(err(R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "oops"}]})").find("not JSON") != std::string::npos);
    CHECK(err(R"({"messages": 3})").find("not an array") != std::string::npos);
    CHECK(err(std::string(R"({"text": "x", "lang": 3, "gold": )") + kGood + "}").find("\"lang\"") != std::string::npos);
    CHECK(err(std::string(R"({"text": "x", "noise": [1], "gold": )") + kGood + "}").find("\"noise\"") != std::string::npos);
    CHECK(err("[1]").find("expected a JSON object") != std::string::npos);
    CHECK(err(R"({"input": "x"})").find("expected \"messages\"") != std::string::npos);
    CHECK(err("\n\n").find("no examples") != std::string::npos);
    CHECK_THROWS_WITH_AS(read_eval_file("/nonexistent/x.jsonl"), doctest::Contains("cannot open"), Error);
}

TEST_CASE("intent: constrained picks on the Llama 3 vocabulary with random logits are always valid") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    Tokenizer tok = Tokenizer::load(test::fixture("models/llama3-tiny-f16.gguf"));
    TokenIndex index = TokenIndex::from_tokenizer(tok);
    Constraint c(intent_answer_dfa(), index);
    std::vector<float> logits(size_t(tok.n_vocab()), 0.0f);
    Rng rng(5);
    for (int walk = 0; walk < 300; walk++) {
        ConstrainedDecoder dec(c);
        std::vector<int32_t> ids;
        for (int step = 0; step < 200; step++) {
            // pick_greedy reads only the allowed tokens' logits: randomizing those is a random full vector
            for (const auto& t : c.allowed(dec.state())) logits[size_t(t.id)] = float(rng.uniform(1 << 20));
            int32_t t = dec.pick_greedy(logits.data());
            if (tok.is_eog(t)) break;
            ids.push_back(t);
            dec.accept(t);
        }
        REQUIRE(dec.complete());
        std::string text = tok.decode(ids, false);
        json::Value v;
        REQUIRE_MESSAGE(parse_reply(text, &v), text);
        CHECK_MESSAGE(validate(v), text);
    }
}

TEST_CASE("intent: eval end to end on llama3-tiny") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    std::string dir = test::scratch_dir("intent_eval");
    GenOptions g;
    g.seed = 9;
    write_dataset(dir, 20, 12, g);
    auto items = read_eval_file(dir + "/test.jsonl");
    auto model = Model::load(test::fixture("models/llama3-tiny-f16.gguf"), test::cpu());
    ThreadPool pool(2);
    auto be_pool = make_cpu_backend(pool);

    EvalOptions opt;
    opt.constrained = true;
    opt.few_shot = 2;
    opt.limit = 5;
    opt.progress = false;
    opt.chat_template = "llama3";  // llama3-tiny has the vocabulary but no template text of its own
    ContextOptions co;
    co.n_ctx = eval_context_size(*model, opt);
    Context ctx(*model, *be_pool, co);
    EvalResult r = evaluate(ctx, items, opt);
    REQUIRE(r.results.size() == 5);
    CHECK(r.chat_template == "llama3");
    for (const auto& x : r.results) {
        CHECK_MESSAGE(x.grade.valid_json, x.reply);
        CHECK_MESSAGE(x.grade.valid_schema, x.reply);
        CHECK(x.n_prompt > 0);
        CHECK(x.n_prompt < r.n_prefix);  // the shared prefix was not evaluated again
        CHECK(x.latency_s > 0);
    }
    json::Value j = json::parse(r.to_json().dump());
    CHECK(j.at("valid_json").as_number() == 1.0);
    CHECK(j.at("valid_schema").as_number() == 1.0);
    CHECK(j.at("exact").as_number() >= 0.0);
    CHECK(j.at("exact").as_number() <= 1.0);
    CHECK(j.at("speed").at("decode_tokens_per_second").as_number() > 0);
    CHECK(j.at("examples").size() == 5);
    int conf_total = 0;
    for (const auto& row : j.at("confusion").at("matrix").as_array())
        for (const auto& c : row.as_array()) conf_total += int(c.as_int());
    CHECK(conf_total == 5);
    std::string md = r.to_markdown();
    for (const char* sec : {"## Accuracy", "## By language", "## By action", "## By noise kind", "## Action confusion", "## Speed and memory"})
        CHECK_MESSAGE(md.find(sec) != std::string::npos, sec);

    // unconstrained: a random model rarely writes JSON, but the run completes within the budget
    opt.constrained = false;
    opt.few_shot = 0;
    opt.limit = 2;
    opt.max_tokens = 6;
    opt.chat_template = "";  // none: the model has no template
    EvalResult u = evaluate(ctx, items, opt);  // the same session: the new prefix replaces the old one
    CHECK(u.chat_template == "none");
    REQUIRE(u.results.size() == 2);
    for (const auto& x : u.results) CHECK(x.n_gen <= 6);
    CHECK(u.exact() >= 0.0);
}

TEST_CASE("intent: slm eval command line writes its reports") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    const char* bin = std::getenv("SLM_BIN");
    if (!bin) {
        MESSAGE("skipped: SLM_BIN not set");
        return;
    }
    std::string dir = test::scratch_dir("intent_eval_cli"), b = bin, model = test::fixture("models/llama3-tiny-f16.gguf");
    GenOptions g;
    write_dataset(dir, 20, 10, g);
    std::string cmd = b + " eval -m " + model + " --data " + dir + "/test.jsonl --chat-template llama3 --limit 2 --constrained --threads 2 --quiet --report " +
                      dir + "/r.md --json " + dir + "/r.json > " + dir + "/out.txt";
    REQUIRE(std::system(cmd.c_str()) == 0);
    CHECK(test::read_text(dir + "/out.txt").find("valid JSON 100.0%") != std::string::npos);
    CHECK(test::read_text(dir + "/r.md").find("# Intent evaluation") != std::string::npos);
    json::Value j = json::parse(test::read_text(dir + "/r.json"));
    CHECK(j.at("n").as_int() == 2);
    CHECK(j.at("valid_json").as_number() == 1.0);

    CHECK(std::system((b + " eval --help > /dev/null").c_str()) == 0);
    std::string bad_data = dir + "/bad.jsonl";
    { std::ofstream(bad_data) << "{\"text\": 1}\n"; }
    for (std::string args : {std::string(" eval --data x.jsonl"), " eval -m " + model, " eval -m " + model + " --data /nonexistent.jsonl",
                             " eval -m " + model + " --data " + bad_data, " eval -m /nonexistent.gguf --data " + dir + "/test.jsonl",
                             " eval -m " + model + " --data " + dir + "/test.jsonl --few-shot -1",
                             " eval -m " + model + " --data " + dir + "/test.jsonl --limit 0",
                             " eval -m " + model + " --data " + dir + "/test.jsonl --chat-template vicuna",
                             " eval -m " + model + " --data " + dir + "/test.jsonl --chat-template chatml"}) {
        std::string c = b + args + " > /dev/null 2> " + dir + "/err.txt";
        CHECK_MESSAGE(std::system(c.c_str()) != 0, args);
        CHECK_MESSAGE(test::read_text(dir + "/err.txt").find("error") != std::string::npos, args);
    }
    CHECK(test::read_text(dir + "/err.txt").find("<|im_start|>") != std::string::npos);
}
