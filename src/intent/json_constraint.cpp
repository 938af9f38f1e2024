#include "intent/json_constraint.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "common.h"
#include "intent/schema.h"
#include "tokenizer.h"

namespace slm {

// ---- ByteDfa ----------------------------------------------------------------------------------------------

int32_t ByteDfa::add_state() {
    states_.emplace_back();
    return int32_t(states_.size()) - 1;
}

void ByteDfa::add_edge(int32_t from, uint8_t byte, int32_t to) {
    int32_t old = step(from, byte);
    if (old == to) return;
    if (old != kDead) fail("ByteDfa: state %d already has an edge on byte 0x%02x", from, byte);
    states_[size_t(from)].edges.emplace_back(byte, to);
}

int32_t ByteDfa::add_literal(int32_t from, std::string_view lit) {
    int32_t s = from;
    for (char c : lit) {
        int32_t n = step(s, uint8_t(c));
        if (n == kDead) {
            n = add_state();
            add_edge(s, uint8_t(c), n);
        }
        s = n;
    }
    return s;
}

int32_t ByteDfa::step(int32_t s, uint8_t byte) const {
    if (s < 0 || s >= n_states()) return kDead;
    for (const auto& [b, to] : states_[size_t(s)].edges)
        if (b == byte) return to;
    return kDead;
}

int32_t ByteDfa::run(int32_t s, std::string_view bytes) const {
    for (char c : bytes) {
        s = step(s, uint8_t(c));
        if (s == kDead) return kDead;
    }
    return s;
}

ByteDfa intent_answer_dfa() {
    using intent::Need;
    ByteDfa d;
    int32_t start = d.add_state();
    int32_t accept = d.add_state();
    d.set_accept(accept);
    // the tail shared by every action: "null}" or 1..4 digits then "}"
    int32_t close = d.add_state();  // expects "}"
    d.add_edge(close, '}', accept);
    int32_t digit[4];
    for (int i = 0; i < 4; i++) {
        digit[i] = d.add_state();  // i+1 digits read
        d.add_edge(digit[i], '}', accept);
        if (i > 0)
            for (char c = '0'; c <= '9'; c++) d.add_edge(digit[i - 1], uint8_t(c), digit[i]);
    }
    static_assert(intent::kMaxQuantity == 9999, "the digit chain below allows 1..9999");

    int32_t action_root = d.add_literal(start, "{\"action\": \"");
    for (const auto& rule : intent::actions()) {
        int32_t name_end = d.add_literal(action_root, rule.name);
        int32_t after_action = d.add_state();  // unique per action: from here on the rules are this action's
        d.add_edge(name_end, '"', after_action);
        int32_t product_value = d.add_literal(after_action, ", \"product\": ");
        int32_t after_product = d.add_state();
        if (rule.product != Need::required) {
            int32_t nul = d.add_literal(product_value, "nul");
            d.add_edge(nul, 'l', after_product);
        }
        if (rule.product != Need::null) {
            int32_t ids = d.add_state();
            d.add_edge(product_value, '"', ids);
            for (const auto& p : intent::catalog().products) {
                // ids are plain ASCII words; a '"' or '\\' would need escaping in the answer
                if (p.id.find_first_of("\"\\") != std::string::npos) fail("catalog id \"%s\" needs escaping", p.id.c_str());
                d.add_edge(d.add_literal(ids, p.id), '"', after_product);
            }
        }
        int32_t quantity_value = d.add_literal(after_product, ", \"quantity\": ");
        d.add_edge(d.add_literal(quantity_value, "nul"), 'l', close);
        if (rule.quantity != Need::null)
            for (char c = '1'; c <= '9'; c++) d.add_edge(quantity_value, uint8_t(c), digit[0]);
    }
    return d;
}

// ---- TokenIndex -------------------------------------------------------------------------------------------

TokenIndex::TokenIndex(std::vector<std::string> pieces, const std::vector<bool>& excluded, std::vector<int32_t> eog_ids)
    : pieces_(std::move(pieces)), eog_(std::move(eog_ids)) {
    for (int32_t id : eog_)
        if (id < 0 || id >= n_vocab()) fail("TokenIndex: end-of-generation id %d outside the vocabulary (%d)", id, n_vocab());
    if (eog_.empty()) fail("TokenIndex: the vocabulary has no end-of-generation token");
    for (int32_t id = 0; id < n_vocab(); id++) {
        bool skip = (size_t(id) < excluded.size() && excluded[size_t(id)]) || pieces_[size_t(id)].empty() || is_eog(id);
        if (!skip) sorted_.push_back(id);
    }
    std::sort(sorted_.begin(), sorted_.end(), [&](int32_t a, int32_t b) {
        int c = pieces_[size_t(a)].compare(pieces_[size_t(b)]);  // byte order (char_traits<char> compares unsigned)
        return c != 0 ? c < 0 : a < b;
    });
}

TokenIndex TokenIndex::from_tokenizer(const Tokenizer& tok) {
    int32_t n = tok.n_vocab();
    std::vector<std::string> pieces(static_cast<size_t>(n));
    std::vector<bool> excluded(static_cast<size_t>(n));
    for (int32_t id = 0; id < n; id++) {
        excluded[size_t(id)] = tok.is_control(id);
        if (!excluded[size_t(id)]) pieces[size_t(id)] = tok.token_to_piece(id);
    }
    std::vector<int32_t> eog;
    for (int32_t id : {tok.eot_id(), tok.eos_id()})
        if (id >= 0 && std::find(eog.begin(), eog.end(), id) == eog.end()) eog.push_back(id);
    return TokenIndex(std::move(pieces), excluded, std::move(eog));
}

bool TokenIndex::is_eog(int32_t id) const { return std::find(eog_.begin(), eog_.end(), id) != eog_.end(); }

// ---- Constraint -------------------------------------------------------------------------------------------

Constraint::Constraint(ByteDfa dfa, const TokenIndex& index) : dfa_(std::move(dfa)), index_(index) {
    cache_.resize(size_t(dfa_.n_states()));
}

int Constraint::n_cached() const {
    int n = 0;
    for (const auto& c : cache_) n += c != nullptr;
    return n;
}

// sorted_[lo, hi) share the same first `depth` bytes, which took the DFA to `state`, and are all longer than
// depth. For each byte the DFA accepts next, narrow to the tokens having that byte at `depth` (a contiguous
// run, found by binary search), record those that end there, and go one byte deeper with the rest.
void Constraint::walk(int32_t lo, int32_t hi, size_t depth, int32_t state, std::vector<AllowedToken>& out) const {
    const auto& sorted = index_.sorted_;
    const auto& pieces = index_.pieces_;
    auto byte_at = [&](int32_t pos) { return uint8_t(pieces[size_t(sorted[size_t(pos)])][depth]); };
    for (const auto& [b, next] : dfa_.edges(state)) {
        // first position in [lo, hi) whose byte at depth is >= b, then the first whose byte is > b
        int32_t a = lo, z = hi;
        {
            int32_t l = lo, h = hi;
            while (l < h) {
                int32_t m = l + (h - l) / 2;
                if (byte_at(m) < b) l = m + 1; else h = m;
            }
            a = l;
            h = hi;
            while (l < h) {
                int32_t m = l + (h - l) / 2;
                if (byte_at(m) <= b) l = m + 1; else h = m;
            }
            z = l;
        }
        // tokens ending at this byte sort first within the run
        int32_t rest = a;
        while (rest < z && pieces[size_t(sorted[size_t(rest)])].size() == depth + 1) {
            out.push_back({sorted[size_t(rest)], next});
            rest++;
        }
        if (rest < z && !dfa_.edges(next).empty()) walk(rest, z, depth + 1, next, out);
    }
}

const std::vector<AllowedToken>& Constraint::allowed(int32_t state) {
    if (state < 0 || state >= dfa_.n_states()) fail("Constraint: state %d out of range", state);
    auto& slot = cache_[size_t(state)];
    if (!slot) {
        auto list = std::make_unique<std::vector<AllowedToken>>();
        if (dfa_.accepting(state)) {
            for (int32_t id : index_.eog_ids()) list->push_back({id, state});
        } else {
            walk(0, int32_t(index_.sorted_.size()), 0, state, *list);
            std::sort(list->begin(), list->end(), [](const AllowedToken& x, const AllowedToken& y) { return x.id < y.id; });
        }
        if (list->empty())
            fail("constrained decoding: no token of the vocabulary can continue the answer at state %d", state);
        slot = std::move(list);
    }
    return *slot;
}

// ---- ConstrainedDecoder -----------------------------------------------------------------------------------

int32_t ConstrainedDecoder::pick_greedy(const float* logits) const {
    const auto& list = c_.allowed(state_);
    int32_t best = list[0].id;
    float best_v = logits[best];
    for (const auto& t : list)  // ids ascending: strict > keeps the lowest id on ties
        if (logits[t.id] > best_v) {
            best_v = logits[t.id];
            best = t.id;
        }
    return best;
}

void ConstrainedDecoder::mask(float* logits, int32_t n_vocab) const {
    const auto& list = c_.allowed(state_);
    std::vector<float> keep(list.size());
    for (size_t i = 0; i < list.size(); i++) keep[i] = list[i].id < n_vocab ? logits[list[i].id] : 0.0f;
    std::fill(logits, logits + n_vocab, -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < list.size(); i++)
        if (list[i].id < n_vocab) logits[list[i].id] = keep[i];
}

void ConstrainedDecoder::accept(int32_t token) {
    const auto& list = c_.allowed(state_);
    auto it = std::lower_bound(list.begin(), list.end(), token, [](const AllowedToken& t, int32_t id) { return t.id < id; });
    if (it == list.end() || it->id != token) fail("constrained decoding: token %d is not allowed in state %d", token, state_);
    state_ = it->next;
}

}  // namespace slm
