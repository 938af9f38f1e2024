// The intent schema: embedded catalog, validator, grader, lexicon grammar.
#include <set>

#include "common.h"
#include "intent/lexicon.h"
#include "intent/schema.h"
#include "json.h"
#include "test_util.h"

using namespace slm;
using namespace slm::intent;

TEST_CASE("intent: embedded catalog equals ../shared/intents/catalog.tsv") {
    std::string path = test::fixtures_dir() + "/../intents/catalog.tsv";
    if (!std::filesystem::exists(path)) {
        MESSAGE("skipped: " << path << " is not present");
        return;
    }
    CHECK(test::read_text(path) == std::string(embedded_catalog_tsv()));
}

TEST_CASE("intent: catalog parses with every product and language") {
    const Catalog& c = catalog();
    CHECK(c.languages == std::vector<std::string>{"en", "es", "de", "fr"});
    CHECK(c.products.size() == 48);
    CHECK(c.index("t-shirt") == 0);
    CHECK(c.index("coffee maker") >= 0);
    CHECK(c.index("nonexistent") == -1);
    const Product& ts = c.products[0];
    CHECK(ts.category == "apparel");
    CHECK(ts.words[0] == std::vector<std::string>{"t-shirt", "tee"});
    CHECK(ts.words[1] == std::vector<std::string>{"camiseta", "playera"});
}

TEST_CASE("intent: bad catalog text is a clear error") {
    auto err = [](const std::string& tsv) {
        try {
            parse_catalog(tsv, "x.tsv");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(err("").find("x.tsv") != std::string::npos);
    CHECK(err("name\tcat\ten\n").find("line 1") != std::string::npos);
    CHECK(err("id\tcategory\ten\na\tb\n").find("line 2") != std::string::npos);
    CHECK(err("id\tcategory\ten\na\tb\tc\na\tb\tc\n").find("duplicate") != std::string::npos);
    CHECK(err("id\tcategory\ten\na\tb\tc, \n").find("empty product word") != std::string::npos);
    CHECK(err("id\tcategory\ten\n").find("no products") != std::string::npos);
    CHECK(parse_catalog("id\tcategory\ten\r\na\tb\tc, d\r\n", "crlf.tsv").products[0].words[0].size() == 2);
}

static bool valid(const char* s) {
    std::string why;
    bool ok = validate(json::parse(s), &why);
    if (!ok) CHECK(!why.empty());  // a rejection always says why
    return ok;
}

TEST_CASE("intent: validator follows SPEC.md's rules") {
    CHECK(valid(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2})"));
    CHECK(valid(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": null})"));
    CHECK(valid(R"({"quantity": 1, "product": "jeans", "action": "remove_from_cart"})"));  // key order is free
    CHECK(valid(R"({"action": "view_cart", "product": null, "quantity": null})"));
    CHECK(valid(R"({"action": "search_product", "product": "coffee maker", "quantity": null})"));
    CHECK(valid(R"({"action": "return_product", "product": null, "quantity": null})"));
    CHECK(valid(R"({"action": "return_product", "product": "book", "quantity": 3})"));
    CHECK(valid(R"({"action": "other", "product": null, "quantity": null})"));

    CHECK_FALSE(valid(R"([1, 2])"));
    CHECK_FALSE(valid(R"({"action": "add_to_cart", "product": "t-shirt"})"));                       // missing key
    CHECK_FALSE(valid(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2, "x": 1})"));  // extra key
    CHECK_FALSE(valid(R"({"action": "buy", "product": "t-shirt", "quantity": 2})"));                // unknown action
    CHECK_FALSE(valid(R"({"action": "add_to_cart", "product": "T-Shirt", "quantity": 2})"));        // not an id
    CHECK_FALSE(valid(R"({"action": "add_to_cart", "product": null, "quantity": 2})"));             // product required
    CHECK_FALSE(valid(R"({"action": "view_cart", "product": "t-shirt", "quantity": null})"));       // product must be null
    CHECK_FALSE(valid(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": "2"})"));      // types matter
    CHECK_FALSE(valid(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2.0})"));
    CHECK_FALSE(valid(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 0})"));
    CHECK_FALSE(valid(R"({"action": "get_price", "product": "book", "quantity": 1})"));             // quantity must be null
    CHECK_FALSE(valid(R"({"action": 3, "product": null, "quantity": null})"));
}

TEST_CASE("intent: grading is exact match of the parsed object, types included") {
    json::Value gold = to_json({"add_to_cart", std::string("t-shirt"), 2});
    Grade g = grade(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2})", gold);
    CHECK((g.valid_json && g.valid_schema && g.exact && g.action && g.product && g.quantity));
    CHECK(grade("  {\"quantity\":2,\"product\":\"t-shirt\",\"action\":\"add_to_cart\"}\n", gold).exact);  // order/spacing

    g = grade(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": "2"})", gold);
    CHECK(g.valid_json);
    CHECK_FALSE(g.valid_schema);
    CHECK_FALSE(g.exact);
    CHECK(g.action);
    CHECK(g.product);
    CHECK_FALSE(g.quantity);

    CHECK_FALSE(grade(R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2.0})", gold).quantity);
    g = grade(R"({"action": "remove_from_cart", "product": "jeans", "quantity": 2})", gold);
    CHECK((g.valid_schema && !g.exact && !g.action && !g.product && g.quantity));
    CHECK(g.pred_action == "remove_from_cart");

    for (const char* bad : {"", "add_to_cart", "{\"action\": \"add_to_cart\"", "[]", "null",
                            R"({"action": "add_to_cart", "product": "t-shirt", "quantity": 2} trailing)"}) {
        Grade b = grade(bad, gold);
        CHECK_MESSAGE(!b.valid_json, bad);
        CHECK_FALSE(b.exact);
        CHECK_FALSE(b.action);
    }
    CHECK(canonical_text({"view_cart", std::nullopt, std::nullopt}) == R"({"action": "view_cart", "product": null, "quantity": null})");
}

TEST_CASE("intent: the system prompt names every action and catalog id") {
    const std::string& p = system_prompt();
    for (const auto& a : actions()) CHECK(p.find(a.name) != std::string::npos);
    for (const auto& pr : catalog().products) CHECK(p.find(pr.id) != std::string::npos);
}

TEST_CASE("intent: lexicon covers every catalog word and language") {
    const Catalog& c = catalog();
    for (size_t p = 0; p < c.products.size(); p++) {
        for (size_t l = 0; l < languages().size(); l++) REQUIRE(!product_nouns(int(p), int(l)).empty());
        for (size_t cl = 0; cl < c.languages.size(); cl++) {
            int l = language_index(c.languages[cl]);
            REQUIRE(l >= 0);
            std::set<std::string> forms;
            for (const Noun& n : product_nouns(int(p), l)) {
                forms.insert(n.sg);
                forms.insert(n.pl);
            }
            for (const auto& w : c.products[p].words[cl])
                CHECK_MESSAGE(forms.count(w), c.products[p].id << " / " << c.languages[cl] << ": " << w);
        }
    }
}

TEST_CASE("intent: noun phrase grammar") {
    auto noun = [](const char* id, const char* lang, size_t k = 0) {
        return product_nouns(catalog().index(id), language_index(lang))[k];
    };
    int en = language_index("en"), es = language_index("es"), de = language_index("de"), fr = language_index("fr"),
        it = language_index("it"), pt = language_index("pt");
    CHECK(np_indef(en, noun("apple", "en"), Case::acc) == "an apple");
    CHECK(np_indef(de, noun("sweater", "de"), Case::acc) == "einen Pullover");
    CHECK(np_indef(de, noun("sweater", "de"), Case::nom) == "ein Pullover");
    CHECK(np_def(de, noun("book", "de"), false, Case::nom) == "das Buch");
    CHECK(np_def(fr, noun("monitor", "fr"), false, Case::acc) == "l'écran");
    CHECK(np_indef(it, noun("backpack", "it"), Case::acc) == "uno zaino");
    CHECK(np_def(it, noun("backpack", "it"), true, Case::acc) == "gli zaini");
    CHECK(np_def(es, noun("t-shirt", "es"), true, Case::acc) == "las camisetas");
    CHECK(number_word(pt, 2, noun("t-shirt", "pt"), Case::acc) == "duas camisetas");
    CHECK(number_word(de, 1, noun("sweater", "de"), Case::acc) == "einen Pullover");
    CHECK(number_word(en, 3, noun("mouse", "en"), Case::acc) == "three mice");
    CHECK_THROWS_AS(np_indef(en, noun("jeans", "en"), Case::acc), Error);  // plural-only
    CHECK_THROWS_AS(number_word(en, 11, noun("book", "en"), Case::acc), Error);
}
