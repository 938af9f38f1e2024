// The intent dataset generator: determinism, label validity, coverage, train/test disjointness, files.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "common.h"
#include "intent/data.h"
#include "intent/eval.h"
#include "intent/schema.h"
#include "intent/lexicon.h"
#include "json.h"
#include "test_util.h"

using namespace slm;
using namespace slm::intent;

TEST_CASE("intent: generator is deterministic per seed") {
    GenOptions a;
    a.seed = 42;
    Generator g1(a, Bank::train), g2(a, Bank::train);
    GenOptions b = a;
    b.seed = 43;
    Generator g3(b, Bank::train);
    int differ = 0;
    for (int i = 0; i < 300; i++) {
        Example x = g1.next(), y = g2.next(), z = g3.next();
        CHECK(to_jsonl(x) == to_jsonl(y));
        differ += to_jsonl(x) != to_jsonl(z);
    }
    CHECK(differ > 250);
}

TEST_CASE("intent: every generated label is valid and everything is covered") {
    for (Bank bank : {Bank::train, Bank::test}) {
        GenOptions opt;
        opt.seed = 7;
        Generator g(opt, bank);
        std::set<std::string> acts, langs, noise, products;
        int mixed = 0, noisy = 0, q_null = 0, q_one = 0, q_more = 0;
        const int n = 3000;
        for (int i = 0; i < n; i++) {
            Example e = g.next();
            std::string why;
            REQUIRE_MESSAGE(validate(to_json(e.gold), &why), e.text << ": " << why);
            CHECK(!e.text.empty());
            acts.insert(e.gold.action);
            langs.insert(e.lang.substr(0, 2));
            if (e.lang.size() > 2) mixed++;
            if (!e.noise.empty()) noisy++;
            for (const auto& k : e.noise) noise.insert(k);
            if (e.gold.product) products.insert(*e.gold.product);
            if (e.gold.action == "add_to_cart") (!e.gold.quantity ? q_null : *e.gold.quantity == 1 ? q_one : q_more)++;
        }
        CHECK(int(acts.size()) == num_actions());
        CHECK(langs.size() == languages().size());
        CHECK(products.size() == catalog().products.size());
        CHECK(noise.size() == noise_kinds(bank).size());
        // the configured rates, loosely (binomial noise on 3000 draws)
        CHECK(noisy > n * 35 / 100);
        CHECK(noisy < n * 45 / 100);
        CHECK(mixed > n * 8 / 100);
        CHECK(mixed < n * 16 / 100);
        CHECK(q_null > 0);
        CHECK(q_one > 0);
        CHECK(q_more > q_one);
    }
}

TEST_CASE("intent: every product word of every language appears, singular and plural") {
    GenOptions opt;
    opt.seed = 3;
    opt.noise_per_mille = 0;
    opt.mix_per_mille = 0;
    Generator g(opt, Bank::train);
    std::string all;
    for (int i = 0; i < 40000; i++) all += g.next().text + "\n";
    int missing = 0;
    for (size_t p = 0; p < catalog().products.size(); p++)
        for (size_t l = 0; l < languages().size(); l++)
            for (const Noun& n : product_nouns(int(p), int(l)))
                for (const std::string& w : {n.sg, n.pl})
                    if (!w.empty() && all.find(w) == std::string::npos) {
                        MESSAGE("never generated: " << w);
                        missing++;
                    }
    CHECK(missing == 0);
}

TEST_CASE("intent: test phrasings are disjoint from train phrasings") {
    auto train = template_strings(Bank::train), test = template_strings(Bank::test);
    std::set<std::string> tr(train.begin(), train.end());
    CHECK(tr.size() == train.size());  // no template listed twice
    for (const auto& t : test) CHECK_MESSAGE(!tr.count(t), t);
    // the same on generated text: clean test messages never occur among clean train messages
    GenOptions opt;
    opt.seed = 11;
    opt.noise_per_mille = 0;
    opt.mix_per_mille = 0;
    Generator gtr(opt, Bank::train), gte(opt, Bank::test);
    std::set<std::string> seen;
    for (int i = 0; i < 5000; i++) seen.insert(gtr.next().text);
    int overlap = 0;
    for (int i = 0; i < 1000; i++) overlap += seen.count(gte.next().text) > 0;
    CHECK(overlap == 0);
    // and the test-only noise kinds never reach the train bank
    for (const auto& k : noise_kinds(Bank::test))
        if (k == "elongate" || k == "no_space") {
            const auto& tk = noise_kinds(Bank::train);
            CHECK(std::find(tk.begin(), tk.end(), k) == tk.end());
        }
}

TEST_CASE("intent: write_dataset writes the chat-format files, byte-identical per seed") {
    std::string d1 = test::scratch_dir("intent_ds1"), d2 = test::scratch_dir("intent_ds2");
    GenOptions opt;
    opt.seed = 5;
    DatasetCounts c = write_dataset(d1, 200, 50, opt);
    write_dataset(d2, 200, 50, opt);
    CHECK(c.train == 180);
    CHECK(c.val == 20);
    CHECK(c.test == 50);
    for (const char* f : {"/train.jsonl", "/val.jsonl", "/test.jsonl"}) CHECK(test::read_text(d1 + f) == test::read_text(d2 + f));
    std::string text = test::read_text(d1 + "/test.jsonl");
    size_t lines = 0, pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        REQUIRE(nl != std::string::npos);
        json::Value v = json::parse(text.substr(pos, nl - pos));
        const json::Value& m = v.at("messages");
        REQUIRE(m.size() == 3);
        CHECK(m[0].at("role").as_string() == "system");
        CHECK(m[0].at("content").as_string() == system_prompt());
        CHECK(m[1].at("role").as_string() == "user");
        CHECK(m[2].at("role").as_string() == "assistant");
        CHECK(validate(json::parse(m[2].at("content").as_string())));
        CHECK(v.at("lang").is_string());
        CHECK(v.at("noise").is_array());
        pos = nl + 1;
        lines++;
    }
    CHECK(lines == 50);
}

TEST_CASE("intent: generator options are checked") {
    GenOptions opt;
    opt.langs = {"en", "xx"};
    CHECK_THROWS_AS(Generator(opt, Bank::train), Error);
    opt.langs = {"de"};
    Generator g(opt, Bank::train);
    for (int i = 0; i < 50; i++) CHECK(g.next().lang == "de");  // one language: nothing to mix
    opt.noise_per_mille = 1001;
    CHECK_THROWS_AS(Generator(opt, Bank::train), Error);
    CHECK_THROWS_AS(write_dataset(test::scratch_dir("intent_bad"), 5, 10, GenOptions{}), Error);
}

TEST_CASE("intent: few-shot examples cover the actions in turn") {
    auto shots = few_shot_examples(12);
    REQUIRE(shots.size() == 12);
    for (size_t i = 0; i < shots.size(); i++) CHECK(shots[i].gold.action == actions()[i % actions().size()].name);
    CHECK(to_jsonl(few_shot_examples(3)[2]) == to_jsonl(shots[2]));
}

TEST_CASE("intent: slm gen-data command line") {
    const char* bin = std::getenv("SLM_BIN");
    if (!bin) {
        MESSAGE("skipped: SLM_BIN not set");
        return;
    }
    std::string dir = test::scratch_dir("intent_cli");
    std::string b = bin;
    CHECK(std::system((b + " gen-data --help > " + dir + "/help.txt").c_str()) == 0);
    CHECK(test::read_text(dir + "/help.txt").find("usage: slm gen-data") != std::string::npos);
    CHECK(std::system((b + " gen-data -o " + dir + "/d --n 30 --n-test 10 --seed 2 --langs en,fr > /dev/null").c_str()) == 0);
    CHECK(test::read_text(dir + "/d/test.jsonl").find("\"lang\": \"") != std::string::npos);
    std::string x = " gen-data -o " + dir + "/bad";
    for (std::string bad : {std::string(" gen-data"), x + " --n abc", x + " --noise 2", x + " --langs en,,fr",
                            x + " --langs klingon", x + " --bogus 1"}) {
        std::string cmd = b + bad + " > /dev/null 2> " + dir + "/err.txt";
        CHECK_MESSAGE(std::system(cmd.c_str()) != 0, bad);
        CHECK_MESSAGE(test::read_text(dir + "/err.txt").find("error") != std::string::npos, bad);
    }
    CHECK_FALSE(std::filesystem::exists(dir + "/bad"));  // bad options fail before anything is written
}

TEST_CASE("intent: the hand-written messages parse, grade by SPEC.md, cover every language and action, and no generator makes them") {
    const std::vector<EvalItem> items = parse_eval_text(handwritten_jsonl(), "handwritten.jsonl");  // throws on a bad gold
    CHECK(items.size() == 78);
    std::set<std::string> langs, acts, texts;
    for (const EvalItem& it : items) {
        langs.insert(it.lang);
        acts.insert(it.gold.at("action").as_string());
        texts.insert(it.text);
        CHECK(grade(it.gold.dump(), it.gold).exact);
    }
    CHECK(texts.size() == items.size());  // no message twice
    for (const char* l : {"en", "es", "de", "fr", "it", "pt"}) CHECK_MESSAGE(langs.count(l), l);
    CHECK(acts.size() == actions().size());
    GenOptions opt;
    opt.seed = 5;
    for (Bank b : {Bank::train, Bank::test}) {
        Generator g(opt, b);
        int overlap = 0;
        for (int i = 0; i < 20000; i++) overlap += texts.count(g.next().text) > 0;
        CHECK(overlap == 0);
    }
}
