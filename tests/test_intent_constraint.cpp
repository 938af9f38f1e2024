// Constrained decoding: the automaton accepts exactly the valid answers; the token walk finds exactly the
// tokens a naive scan would; random walks through allowed tokens always end in a valid answer.
#include <set>

#include "common.h"
#include "intent/data.h"
#include "intent/schema.h"
#include "json.h"
#include "intent/json_constraint.h"
#include "test_util.h"
#include "tokenizer.h"

using namespace slm;
using namespace slm::intent;

// Every canonical answer for one action (products x a few quantities), valid or not under SPEC.
static std::vector<std::string> candidate_answers(const ActionRule& a) {
    std::vector<std::optional<std::string>> prods = {std::nullopt};
    for (const auto& p : catalog().products) prods.push_back(p.id);
    std::vector<std::optional<int64_t>> qtys = {std::nullopt, 0, 1, 7, 10, 42, 999, 9999, 10000};
    std::vector<std::string> out;
    for (const auto& p : prods)
        for (const auto& q : qtys) out.push_back(canonical_text({a.name, p, q}));
    return out;
}

TEST_CASE("intent: the answer automaton accepts exactly the valid canonical answers") {
    ByteDfa d = intent_answer_dfa();
    int n_valid = 0;
    for (const auto& a : actions())
        for (const auto& s : candidate_answers(a)) {
            bool ok = validate(json::parse(s));
            CHECK_MESSAGE(d.accepts(s) == ok, s);
            n_valid += ok;
            // every prefix of a valid answer is alive and not yet accepting
            if (ok)
                for (size_t k = 0; k < s.size(); k++) {
                    int32_t st = d.run(d.start(), std::string_view(s).substr(0, k));
                    REQUIRE(st != ByteDfa::kDead);
                    CHECK_FALSE(d.accepting(st));
                }
        }
    CHECK(n_valid > 1000);
    for (const char* bad : {R"({"action":"view_cart","product":null,"quantity":null})",
                            R"({"action": "view_cart", "product": null, "quantity": null} )",
                            R"({"product": null, "action": "view_cart", "quantity": null})",
                            R"({"action": "view_cart", "product": null, "quantity": 01})",
                            R"({"action": "add_to_cart", "product": "t-shirt", "quantity": -1})", ""})
        CHECK_FALSE(d.accepts(bad));
    // every state can still reach the end (no dead ends for the decoder to fall into)
    std::vector<bool> live(size_t(d.n_states()));
    for (int32_t s = 0; s < d.n_states(); s++) live[size_t(s)] = d.accepting(s);
    for (bool changed = true; changed;) {
        changed = false;
        for (int32_t s = 0; s < d.n_states(); s++)
            if (!live[size_t(s)])
                for (const auto& e : d.edges(s))
                    if (live[size_t(e.second)]) {
                        live[size_t(s)] = true;
                        changed = true;
                        break;
                    }
    }
    for (int32_t s = 0; s < d.n_states(); s++) CHECK(live[size_t(s)]);
}

// A small fake vocabulary: all 256 bytes, chunks cut from real answers (so multi-byte tokens cross field
// boundaries), junk, one control token, one empty piece, and EOS last.
struct FakeVocab {
    std::vector<std::string> pieces;
    std::vector<bool> control;
    int32_t eos = -1;
};
static FakeVocab fake_vocab(uint64_t seed) {
    FakeVocab v;
    for (int b = 0; b < 256; b++) v.pieces.push_back(std::string(1, char(b)));
    Rng rng(seed);
    std::set<std::string> seen(v.pieces.begin(), v.pieces.end());
    for (const auto& a : actions()) {
        auto answers = candidate_answers(a);
        for (int k = 0; k < 40; k++) {
            const std::string& s = answers[size_t(rng.uniform(int(answers.size())))];
            size_t i = 0;
            while (i < s.size()) {
                size_t len = 1 + size_t(rng.uniform(7));
                std::string chunk = s.substr(i, len);
                if (seen.insert(chunk).second) v.pieces.push_back(chunk);
                i += len;
            }
        }
    }
    for (const char* junk : {"hello", " {", "}\n", "\"}", "{\"action\": \"add", "\": \"", "null}", "9999}", "00", "}}"})
        if (seen.insert(junk).second) v.pieces.push_back(junk);
    v.control.assign(v.pieces.size(), false);
    v.pieces.push_back("<|ctrl|>");
    v.control.push_back(true);
    v.pieces.push_back("");
    v.control.push_back(false);
    v.eos = int32_t(v.pieces.size());
    v.pieces.push_back("</s>");
    v.control.push_back(true);
    return v;
}

TEST_CASE("intent: the joint trie walk finds exactly the tokens a naive scan finds") {
    FakeVocab v = fake_vocab(1);
    TokenIndex index(v.pieces, v.control, {v.eos});
    Constraint c(intent_answer_dfa(), index);
    const ByteDfa& d = c.dfa();
    for (int32_t s = 0; s < d.n_states(); s += (s < 200 ? 1 : 7)) {
        std::set<std::pair<int32_t, int32_t>> naive, fast;
        if (d.accepting(s)) {
            naive.insert({v.eos, s});
        } else {
            for (int32_t id = 0; id < int32_t(v.pieces.size()); id++) {
                if (v.control[size_t(id)] || v.pieces[size_t(id)].empty()) continue;
                int32_t to = d.run(s, v.pieces[size_t(id)]);
                if (to != ByteDfa::kDead) naive.insert({id, to});
            }
        }
        for (const auto& t : c.allowed(s)) fast.insert({t.id, t.next});
        CHECK_MESSAGE(naive == fast, "state " << s);
    }
}

TEST_CASE("intent: random walks through allowed tokens always give a valid answer") {
    FakeVocab v = fake_vocab(2);
    TokenIndex index(v.pieces, v.control, {v.eos});
    Constraint c(intent_answer_dfa(), index);
    Rng rng(99);
    std::vector<float> logits(v.pieces.size());
    std::set<std::string> distinct;
    for (int walk = 0; walk < 2000; walk++) {
        ConstrainedDecoder dec(c);
        std::string text;
        for (int step = 0; step < 200; step++) {
            // random logits, as a random-weight model gives: the decoder must still produce a valid answer
            for (auto& x : logits) x = float(rng.uniform(1000000)) / 1000.0f;
            int32_t t = dec.pick_greedy(logits.data());
            if (t == v.eos) break;
            text += v.pieces[size_t(t)];
            dec.accept(t);
        }
        REQUIRE(dec.complete());
        json::Value val;
        std::string why;
        REQUIRE_MESSAGE(parse_reply(text, &val, &why), text);
        CHECK_MESSAGE(validate(val, &why), text << ": " << why);
        CHECK(canonical_text({val.at("action").as_string(),
                              val.at("product").is_null() ? std::nullopt : std::optional<std::string>(val.at("product").as_string()),
                              val.at("quantity").is_null() ? std::nullopt : std::optional<int64_t>(val.at("quantity").as_int())}) == text);
        distinct.insert(text);
    }
    CHECK(distinct.size() > 500);  // the walks explore many answers, not one path
}

TEST_CASE("intent: every valid answer can be produced, byte by byte and in long tokens") {
    FakeVocab v = fake_vocab(3);
    TokenIndex index(v.pieces, v.control, {v.eos});
    Constraint c(intent_answer_dfa(), index);
    for (const auto& a : actions())
        for (const auto& s : candidate_answers(a)) {
            if (!validate(json::parse(s))) continue;
            // byte by byte: the single-byte token for each byte is allowed
            ConstrainedDecoder dec(c);
            for (char ch : s) dec.accept(int32_t(uint8_t(ch)));
            CHECK(dec.complete());
            CHECK(c.allowed(dec.state()).size() == 1);
            CHECK(c.allowed(dec.state())[0].id == v.eos);
            // greedy longest match through the allowed lists
            ConstrainedDecoder dec2(c);
            size_t i = 0;
            while (i < s.size()) {
                int32_t best = -1;
                for (const auto& t : c.allowed(dec2.state())) {
                    const std::string& p = v.pieces[size_t(t.id)];
                    if (s.compare(i, p.size(), p) == 0 && (best < 0 || p.size() > v.pieces[size_t(best)].size())) best = t.id;
                }
                REQUIRE(best >= 0);
                dec2.accept(best);
                i += v.pieces[size_t(best)].size();
            }
            CHECK(dec2.complete());
        }
}

TEST_CASE("intent: constrained decoder mask and errors") {
    FakeVocab v = fake_vocab(4);
    TokenIndex index(v.pieces, v.control, {v.eos});
    Constraint c(intent_answer_dfa(), index);
    ConstrainedDecoder dec(c);
    std::vector<float> logits(v.pieces.size(), 1.0f);
    dec.mask(logits.data(), int32_t(logits.size()));
    int finite = 0;
    for (size_t id = 0; id < logits.size(); id++) {
        if (logits[id] > -1e30f) {
            finite++;
            CHECK(c.dfa().run(c.dfa().start(), v.pieces[id]) != ByteDfa::kDead);  // can start an answer
        }
    }
    CHECK(finite == int(c.allowed(dec.state()).size()));
    CHECK_THROWS_AS(dec.accept(int32_t('x')), Error);
    CHECK_THROWS_AS(dec.accept(v.eos), Error);
    CHECK_THROWS_AS(TokenIndex(v.pieces, v.control, {}), Error);
    CHECK_THROWS_AS(TokenIndex(v.pieces, v.control, {int32_t(v.pieces.size())}), Error);
    // a vocabulary without the byte '{' cannot start an answer: a clear error, not a hang
    std::vector<std::string> no_brace = {"a", "b", "</s>"};
    TokenIndex idx2(no_brace, {false, false, true}, {2});
    Constraint c2(intent_answer_dfa(), idx2);
    CHECK_THROWS_AS(c2.allowed(0), Error);
}

TEST_CASE("intent: constraint on the real Llama 3 vocabulary") {
    SLM_REQUIRE_FIXTURE("models/llama3-tiny-f16.gguf");
    Tokenizer tok = Tokenizer::load(test::fixture("models/llama3-tiny-f16.gguf"));
    TokenIndex index = TokenIndex::from_tokenizer(tok);
    Constraint c(intent_answer_dfa(), index);
    // the tokenizer's own encoding of each answer passes through the decoder, then only EOT/EOS are allowed
    for (const char* s : {R"({"action": "add_to_cart", "product": "coffee maker", "quantity": 12})",
                          R"({"action": "other", "product": null, "quantity": null})",
                          R"({"action": "return_product", "product": "t-shirt", "quantity": null})"}) {
        ConstrainedDecoder dec(c);
        for (int32_t id : tok.encode(s, false, false)) dec.accept(id);
        CHECK(dec.complete());
        for (const auto& t : c.allowed(dec.state())) CHECK(tok.is_eog(t.id));
    }
    // the walk agrees with a naive scan of all 128256 tokens at a few states
    const ByteDfa& d = c.dfa();
    for (const char* prefix : {"", "{\"action\": \"", "{\"action\": \"add_to_cart\", \"product\": \"co",
                               "{\"action\": \"get_price\", \"product\": \"book\", \"quantity\": "}) {
        int32_t s = d.run(d.start(), prefix);
        REQUIRE(s != ByteDfa::kDead);
        std::set<int32_t> naive, fast;
        for (int32_t id = 0; id < tok.n_vocab(); id++) {
            if (tok.is_control(id)) continue;
            std::string p = tok.token_to_piece(id);
            if (!p.empty() && d.run(s, p) != ByteDfa::kDead) naive.insert(id);
        }
        for (const auto& t : c.allowed(s)) fast.insert(t.id);
        CHECK_MESSAGE(naive == fast, prefix);
        CHECK(!fast.empty());
    }
}
