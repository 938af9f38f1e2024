// Schema-constrained decoding for the intent task: the model may only produce the canonical answer text
//     {"action": "add_to_cart", "product": "t-shirt", "quantity": 2}
// with the action from the ten, a product id (or null) and a quantity (integer 1..9999, or null) as SPEC.md
// allows for that action, and then must stop.
//
// How (and why it is cheap at a 128256-token vocabulary):
//   ByteDfa      the answers as a deterministic automaton over bytes. The key order and spacing are fixed, so
//                the language is a few literal strings, a trie of action names, per action a trie of product
//                ids, and a short digit loop: ~4k states, every one of which can still reach the end.
//   TokenIndex   every token's bytes (Tokenizer::token_to_piece), sorted: the sorted array *is* a byte trie
//                (tokens sharing a prefix are contiguous), so we walk it without building nodes.
//   Constraint   for a DFA state, the allowed tokens are found by walking the DFA and the sorted tokens
//                together: follow only the DFA's outgoing bytes (1..10 per state), binary-search the token
//                range having that byte at this depth, recurse; whole subtrees of the vocabulary are pruned at
//                once. The answer (token, next state) list is cached per state, so each state is walked once.
//                A decode step is then an argmax over a short list, instead of a scan of 128256 tokens.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

class Tokenizer;

class ByteDfa {
public:
    static constexpr int32_t kDead = -1;
    int32_t add_state();
    void add_edge(int32_t from, uint8_t byte, int32_t to);  // error if from already goes elsewhere on byte
    // Follows lit from `from`, reusing existing edges and adding states where none exist; returns the end.
    int32_t add_literal(int32_t from, std::string_view lit);
    int32_t step(int32_t s, uint8_t byte) const;  // kDead when there is no edge
    int32_t run(int32_t s, std::string_view bytes) const;  // kDead once any byte has no edge
    const std::vector<std::pair<uint8_t, int32_t>>& edges(int32_t s) const { return states_[size_t(s)].edges; }
    void set_accept(int32_t s) { states_[size_t(s)].accept = true; }
    bool accepting(int32_t s) const { return s >= 0 && states_[size_t(s)].accept; }
    int32_t start() const { return 0; }
    int32_t n_states() const { return int32_t(states_.size()); }
    bool accepts(std::string_view text) const { return accepting(run(start(), text)); }

private:
    struct State {
        std::vector<std::pair<uint8_t, int32_t>> edges;
        bool accept = false;
    };
    std::vector<State> states_;
};

// The automaton of every valid intent answer in canonical form (intent_schema.h's rules).
ByteDfa intent_answer_dfa();

// Token byte strings sorted for the joint walk. Control tokens and tokens with no bytes are left out (they can
// never be part of an answer); the end-of-generation ids are kept apart.
class TokenIndex {
public:
    // pieces[id] = the bytes token id produces; excluded[id] = true for control tokens (may be empty).
    TokenIndex(std::vector<std::string> pieces, const std::vector<bool>& excluded, std::vector<int32_t> eog_ids);
    static TokenIndex from_tokenizer(const Tokenizer& tok);
    int32_t n_vocab() const { return int32_t(pieces_.size()); }
    const std::string& piece(int32_t id) const { return pieces_[size_t(id)]; }
    const std::vector<int32_t>& eog_ids() const { return eog_; }
    bool is_eog(int32_t id) const;

private:
    friend class Constraint;
    std::vector<std::string> pieces_;
    std::vector<int32_t> sorted_;  // ids with a non-empty, non-control piece, in byte order of their pieces
    std::vector<int32_t> eog_;
};

struct AllowedToken {
    int32_t id;
    int32_t next;  // the DFA state after its bytes
};

// The allowed-token lists of one DFA over one vocabulary, computed on demand and cached per state. Shared by
// every sequence decoded with it (not thread-safe: one decoding thread).
class Constraint {
public:
    Constraint(ByteDfa dfa, const TokenIndex& index);
    // The tokens allowed in `state`: in an accepting state, only the end-of-generation tokens (next = state).
    // Never empty for the intent DFA with a byte-complete vocabulary; an empty list is an error in allowed().
    const std::vector<AllowedToken>& allowed(int32_t state);
    const ByteDfa& dfa() const { return dfa_; }
    const TokenIndex& index() const { return index_; }
    int n_cached() const;

private:
    void walk(int32_t lo, int32_t hi, size_t depth, int32_t state, std::vector<AllowedToken>& out) const;
    ByteDfa dfa_;
    const TokenIndex& index_;
    std::vector<std::unique_ptr<std::vector<AllowedToken>>> cache_;
};

// One constrained sequence: the current DFA state; choose tokens greedily or mask logits for a sampler.
class ConstrainedDecoder {
public:
    explicit ConstrainedDecoder(Constraint& c) : c_(c), state_(c.dfa().start()) {}
    void reset() { state_ = c_.dfa().start(); }
    // The allowed token with the largest logit (lowest id on ties).
    int32_t pick_greedy(const float* logits) const;
    // Sets every disallowed token's logit to -infinity (for sampling; a full pass over the vocabulary).
    void mask(float* logits, int32_t n_vocab) const;
    // Advances by a token; throws slm::Error if the token is not allowed here.
    void accept(int32_t token);
    bool complete() const { return c_.dfa().accepting(state_); }  // the answer is finished: only EOG left
    int32_t state() const { return state_; }

private:
    Constraint& c_;
    int32_t state_;
};

}  // namespace slm
