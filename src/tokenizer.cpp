// Tokenizer: building the lookup tables, encoding (special tokens, pre-tokenizer, BPE / SentencePiece merges)
// and decoding. The loaders (GGUF, tokenizer.json, tiktoken) are in tokenizer_load.cpp, the pre-tokenizers in
// tokenizer_pretok.cpp.
#include "tokenizer.h"

#include <algorithm>
#include <cstring>

#include "common.h"
#include "tokenizer_impl.h"
#include "unicode.h"

namespace slm {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's space
constexpr size_t kCacheMaxEntries = 1 << 18;            // pre-token cache bound (cleared when full)

// "<0x41>" -> 0x41; -1 if text is not a byte token's name.
int parse_byte_token(std::string_view t) {
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t[size_t(i)];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out.append(to);
    }
    out.append(s, pos, std::string::npos);
    s = std::move(out);
}

// A candidate merge of two adjacent symbols. BPE: lowest rank first; SPM: highest score first. Ties go to the
// leftmost pair (as in llama.cpp, Hugging Face and tiktoken).
struct BpeCand {
    int32_t rank, left, right, left_id, right_id, merged_id;
    bool operator<(const BpeCand& o) const {  // std heaps pop the "largest": invert
        return rank != o.rank ? rank > o.rank : left > o.left;
    }
};
struct SpmCand {
    float score;
    int32_t left, right;
    uint32_t len;
    bool operator<(const SpmCand& o) const { return score != o.score ? score < o.score : left > o.left; }
};

// Scratch memory for one encode() call, reused across its words.
struct Scratch {
    std::vector<std::pair<size_t, size_t>> spans;
    struct Sym {
        int32_t id;      // BPE: current token id (-1: a byte with no token); SPM: unused
        int32_t prev, next;
        uint32_t start, len;  // bytes of the word this symbol covers (len 0: merged away)
    };
    std::vector<Sym> syms;
    std::vector<int32_t> ids;
    std::vector<BpeCand> bpe_heap;  // candidate merges, kept as a heap (storage reused across words)
    std::vector<SpmCand> spm_heap;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Tables

void Tokenizer::Impl::finalize() {
    const size_t n = text.size();
    if (n == 0) fail("%s: the vocabulary is empty", source.c_str());
    if (n > size_t(INT32_MAX)) fail("%s: the vocabulary has too many tokens (%zu)", source.c_str(), n);
    if (type.empty()) type.assign(n, TokenType::normal);
    if (type.size() != n) fail("%s: %zu token types for %zu tokens", source.c_str(), type.size(), n);
    if (!score.empty() && score.size() != n) fail("%s: %zu scores for %zu tokens", source.c_str(), score.size(), n);
    for (auto [name, id] : {std::pair{"bos", bos}, {"eos", eos}, {"eot", eot}, {"unk", unk}}) {
        if (id < -1 || id >= int32_t(n))
            fail("%s: %s token id %d is out of range (vocabulary of %zu tokens)", source.c_str(), name, id, n);
    }

    // What each token prints.
    piece.resize(n);
    for (size_t id = 0; id < n; id++) {
        const std::string& t = text[id];
        const TokenType ty = type[id];
        if (ty == TokenType::control || ty == TokenType::unknown || ty == TokenType::unused) {
            piece[id] = t;
        } else if (kind == TokenizerKind::spm) {
            int b = ty == TokenType::byte ? parse_byte_token(t) : -1;
            if (b >= 0) {
                piece[id] = std::string(1, char(b));
            } else {
                piece[id] = t;
                replace_all(piece[id], kSpmSpace, " ");
            }
        } else if (ty == TokenType::user_defined || !unicode::printable_to_bytes(t, &piece[id])) {
            piece[id] = t;  // not in GPT-2's printable form: printed as written
        }
    }

    text_to_id.init(&text, n);
    for (size_t id = 0; id < n; id++) text_to_id.insert(int32_t(id));

    byte_id.fill(-1);
    if (kind == TokenizerKind::bpe) {
        bytes_to_id.init(&piece, n);
        for (size_t id = 0; id < n; id++)
            if (type[id] == TokenType::normal || type[id] == TokenType::byte) bytes_to_id.insert(int32_t(id));
        for (int b = 0; b < 256; b++) byte_id[size_t(b)] = bytes_to_id.find(std::string(1, char(b)));
        if (merges_from_ranks) {
            // tiktoken: merging a and b is allowed whenever a+b is a token, and lower token ids merge first.
            // Enumerating every split of every token lists exactly those pairs.
            merges.init(bytes_to_id.size() * 4);
            bytes_to_id.for_each([&](int32_t id) {
                std::string_view bytes = piece[size_t(id)];
                for (size_t k = 1; k < bytes.size(); k++) {
                    int32_t l = bytes_to_id.find(bytes.substr(0, k));
                    if (l < 0) continue;
                    int32_t r = bytes_to_id.find(bytes.substr(k));
                    if (r >= 0) merges.insert(l, r, id, id);
                }
            });
        } else {
            merges.init(merge_rules.size());
            std::string joined;
            for (size_t r = 0; r < merge_rules.size(); r++) {
                const auto& [a, b] = merge_rules[r];
                joined = a;
                joined += b;
                int32_t ia = text_to_id.find(a), ib = text_to_id.find(b), ij = text_to_id.find(joined);
                if (ia < 0 || ib < 0 || ij < 0) {
                    if (!strict_merges) continue;  // llama.cpp tolerates these; they can never apply here
                    const std::string& what = ia < 0 ? a : ib < 0 ? b : joined;
                    fail("%s: merges[%zu] = \"%s %s\": token \"%s\" is not in the vocabulary", source.c_str(), r,
                         escape_text(a).c_str(), escape_text(b).c_str(), escape_text(what).c_str());
                }
                merges.insert(ia, ib, int32_t(r), ij);
            }
        }
        merge_rules.clear();
        merge_rules.shrink_to_fit();
    } else {
        for (size_t id = 0; id < n; id++) {
            if (type[id] != TokenType::byte) continue;
            int b = parse_byte_token(text[id]);
            if (b >= 0 && byte_id[size_t(b)] < 0) byte_id[size_t(b)] = int32_t(id);
        }
    }

    for (size_t id = 0; id < n; id++) {
        if (!is_special(int32_t(id)) || text[id].empty()) continue;
        const std::string& t = text[id];
        uint32_t key = t.size() >= 2 ? prefix_key(uint8_t(t[0]), uint8_t(t[1])) : prefix_key(uint8_t(t[0]));
        specials_by_prefix[key].push_back(int32_t(id));
        special_first_byte[uint8_t(t[0])] = true;
    }
    for (auto& [key, v] : specials_by_prefix)
        std::stable_sort(v.begin(), v.end(), [&](int32_t a, int32_t b) { return text[size_t(a)].size() > text[size_t(b)].size(); });
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

namespace {

// The best merge candidate, taken off the max-heap.
template <class Cand>
Cand heap_pop(std::vector<Cand>& heap) {
    std::pop_heap(heap.begin(), heap.end());
    const Cand c = heap.back();
    heap.pop_back();
    return c;
}

// Symbol `left` of the linked list absorbs its next one, which is left empty (len 0) and unlinked.
template <class Sym>
void absorb_next(std::vector<Sym>& syms, int32_t left) {
    auto& L = syms[size_t(left)];
    auto& R = syms[size_t(L.next)];
    L.len += R.len;
    L.next = R.next;
    if (R.next >= 0) syms[size_t(R.next)].prev = left;
    R.len = 0;
}

// Byte-level BPE of one pre-token: start from one symbol per byte, repeatedly merge the adjacent pair with
// the lowest rank. A heap of candidate pairs keeps this O(n log n) for long words; stale candidates (a side
// already merged into something else) are recognized by their ids and skipped.
void bpe_word(const Tokenizer::Impl& m, std::string_view word, Scratch& s, std::vector<int32_t>& out) {
    auto& syms = s.syms;
    syms.clear();
    const int32_t n = int32_t(word.size());
    for (int32_t i = 0; i < n; i++)
        syms.push_back({m.byte_id[uint8_t(word[size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1, uint32_t(i), 1});
    auto& heap = s.bpe_heap;
    heap.clear();
    auto try_pair = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        if (const MergeTable::Slot* slot = m.merges.find(syms[size_t(l)].id, syms[size_t(r)].id)) {
            heap.push_back({slot->rank, l, r, syms[size_t(l)].id, syms[size_t(r)].id, slot->merged});
            std::push_heap(heap.begin(), heap.end());
        }
    };
    for (int32_t i = 0; i + 1 < n; i++) try_pair(i, i + 1);
    while (!heap.empty()) {
        const BpeCand c = heap_pop(heap);
        auto& L = syms[size_t(c.left)];
        auto& R = syms[size_t(c.right)];
        if (L.len == 0 || R.len == 0 || L.next != c.right || L.id != c.left_id || R.id != c.right_id) continue;
        L.id = c.merged_id;
        absorb_next(syms, c.left);
        try_pair(L.prev, c.left);
        try_pair(c.left, L.next);
    }
    for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = syms[size_t(i)].next) {
        int32_t id = syms[size_t(i)].id;
        if (id >= 0) out.push_back(id);
        else if (m.unk >= 0) out.push_back(m.unk);  // a byte the vocabulary cannot represent
    }
}

void bpe_encode_word(const Tokenizer::Impl& m, std::string_view word, Scratch& s, std::vector<int32_t>& out) {
    if (m.ignore_merges) {
        int32_t id = m.bytes_to_id.find(word);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    if (word.size() == 1) {
        int32_t id = m.byte_id[uint8_t(word[0])];
        if (id >= 0) out.push_back(id);
        else if (m.unk >= 0) out.push_back(m.unk);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(m.cache.mu);
        auto it = m.cache.map.find(word);
        if (it != m.cache.map.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    s.ids.clear();
    bpe_word(m, word, s, s.ids);
    out.insert(out.end(), s.ids.begin(), s.ids.end());
    std::lock_guard<std::mutex> lock(m.cache.mu);
    if (m.cache.map.size() >= kCacheMaxEntries) m.cache.map.clear();
    m.cache.map.emplace(std::string(word), s.ids);
}

// SentencePiece-style merging as llama.cpp does it for "llama" vocabularies: one symbol per UTF-8 character,
// repeatedly merge the adjacent pair whose concatenation is a token with the highest score; symbols that are
// not tokens at the end are written as <0xNN> byte tokens.
void spm_encode(const Tokenizer::Impl& m, std::string_view t, Scratch& s, std::vector<int32_t>& out) {
    auto& syms = s.syms;
    syms.clear();
    for (size_t i = 0; i < t.size();) {
        int len;
        unicode::decode_utf8(t, i, &len);
        int32_t idx = int32_t(syms.size());
        syms.push_back({-1, idx - 1, -1, uint32_t(i), uint32_t(len)});
        if (idx > 0) syms[size_t(idx) - 1].next = idx;
        i += size_t(len);
    }
    auto& heap = s.spm_heap;
    heap.clear();
    auto try_pair = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        uint32_t len = syms[size_t(l)].len + syms[size_t(r)].len;
        int32_t id = m.text_to_id.find(t.substr(syms[size_t(l)].start, len));
        if (id < 0) return;
        heap.push_back({m.score.empty() ? 0.0f : m.score[size_t(id)], l, r, len});
        std::push_heap(heap.begin(), heap.end());
    };
    for (int32_t i = 0; i + 1 < int32_t(syms.size()); i++) try_pair(i, i + 1);
    while (!heap.empty()) {
        const SpmCand c = heap_pop(heap);
        auto& L = syms[size_t(c.left)];
        auto& R = syms[size_t(c.right)];
        if (L.len == 0 || R.len == 0 || L.next != c.right || L.len + R.len != c.len) continue;
        absorb_next(syms, c.left);
        try_pair(L.prev, c.left);
        try_pair(c.left, L.next);
    }
    for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[size_t(i)].next) {
        std::string_view sym = t.substr(syms[size_t(i)].start, syms[size_t(i)].len);
        int32_t id = m.text_to_id.find(sym);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (char ch : sym) {
            int32_t id = m.byte_id[uint8_t(ch)];
            if (id >= 0) out.push_back(id);
            else if (m.unk >= 0) out.push_back(m.unk);
        }
    }
}

// Text between special tokens. after_special: the fragment starts the text or follows a special token (where
// SentencePiece adds its space prefix).
void encode_fragment(const Tokenizer::Impl& m, std::string_view frag, bool after_special, Scratch& s,
                     std::vector<int32_t>& out) {
    if (m.kind == TokenizerKind::spm) {
        std::string t;
        t.reserve(frag.size() + 8);
        if (m.add_space_prefix && after_special) t += ' ';
        t += frag;
        replace_all(t, " ", kSpmSpace);
        spm_encode(m, t, s, out);
        return;
    }
    s.spans.clear();
    pre_tokenize(m.pre, frag, s.spans);
    for (auto [b, e] : s.spans) bpe_encode_word(m, frag.substr(b, e - b), s, out);
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    const Impl& m = *impl_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos) {
        if (m.bos < 0) fail("%s: cannot add BOS: the vocabulary has no BOS token", m.source.c_str());
        out.push_back(m.bos);
    }
    Scratch s;
    size_t frag = 0;
    bool after_special = true;
    const size_t n = text.size();
    for (size_t pos = 0; pos < n;) {
        if (!m.special_first_byte[uint8_t(text[pos])]) {
            pos++;
            continue;
        }
        int32_t hit = -1;
        auto try_list = [&](uint32_t key) {
            auto it = m.specials_by_prefix.find(key);
            if (it == m.specials_by_prefix.end()) return;
            for (int32_t id : it->second) {
                // Without parse_special only user-defined tokens are recognized (llama.cpp's rule).
                if (!parse_special && m.type[size_t(id)] != TokenType::user_defined) continue;
                const std::string& t = m.text[size_t(id)];
                if (n - pos >= t.size() && std::memcmp(text.data() + pos, t.data(), t.size()) == 0) {
                    hit = id;
                    return;
                }
            }
        };
        // Two-byte-prefix tokens are all longer than one-byte tokens: try them first (longest match wins).
        if (pos + 1 < n) try_list(Impl::prefix_key(uint8_t(text[pos]), uint8_t(text[pos + 1])));
        if (hit < 0) try_list(Impl::prefix_key(uint8_t(text[pos])));
        if (hit < 0) {
            pos++;
            continue;
        }
        if (pos > frag) encode_fragment(m, text.substr(frag, pos - frag), after_special, s, out);
        out.push_back(hit);
        pos += m.text[size_t(hit)].size();
        frag = pos;
        after_special = true;
    }
    if (frag < n) encode_fragment(m, text.substr(frag), after_special, s, out);
    return out;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding and accessors

namespace {
void check_id(const Tokenizer::Impl& m, int32_t id) {
    if (id < 0 || id >= m.n_vocab())
        fail("%s: token id %d is out of range (vocabulary of %d tokens)", m.source.c_str(), id, m.n_vocab());
}
}  // namespace

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const { return decode(ids, true); }

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_control) const {
    const Impl& m = *impl_;
    std::string out;
    // SentencePiece: encoding put one space in front of the text at the start and after each special token;
    // take it back off there.
    const bool spm_prefix = m.kind == TokenizerKind::spm && m.add_space_prefix;
    bool strip_next = spm_prefix;
    for (int32_t id : ids) {
        check_id(m, id);
        const std::string& p = m.piece[size_t(id)];
        if (m.is_special(id)) {
            if (render_control || m.type[size_t(id)] == TokenType::user_defined) out += p;
            strip_next = spm_prefix;
            continue;
        }
        if (strip_next && !p.empty() && p[0] == ' ') out.append(p, 1, std::string::npos);
        else out += p;
        strip_next = false;
    }
    return out;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
    check_id(*impl_, id);
    return impl_->piece[size_t(id)];
}
const std::string& Tokenizer::token_text(int32_t id) const {
    check_id(*impl_, id);
    return impl_->text[size_t(id)];
}
int32_t Tokenizer::n_vocab() const { return impl_->n_vocab(); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
int32_t Tokenizer::eot_id() const { return impl_->eot; }
int32_t Tokenizer::unk_id() const { return impl_->unk; }
int32_t Tokenizer::find_token(std::string_view text) const {
    return impl_->text_to_id.find(text);
}
bool Tokenizer::is_control(int32_t id) const {
    check_id(*impl_, id);
    TokenType t = impl_->type[size_t(id)];
    return t == TokenType::control || t == TokenType::unknown;
}
bool Tokenizer::is_eog(int32_t id) const { return id >= 0 && (id == impl_->eos || id == impl_->eot); }
TokenType Tokenizer::token_type(int32_t id) const {
    check_id(*impl_, id);
    return impl_->type[size_t(id)];
}
float Tokenizer::token_score(int32_t id) const {
    check_id(*impl_, id);
    return impl_->score.empty() ? 0.0f : impl_->score[size_t(id)];
}
bool Tokenizer::add_bos_default() const { return impl_->add_bos; }
std::string Tokenizer::model_name() const { return impl_->model_name; }
const std::string& Tokenizer::load_note() const { return impl_->load_note; }
std::string Tokenizer::pre_name() const { return impl_->pre_name; }
size_t Tokenizer::n_merges() const { return impl_->merges.size(); }
std::vector<std::pair<std::string, std::string>> Tokenizer::merge_rules() const {
    std::vector<const MergeTable::Slot*> used;
    for (const MergeTable::Slot& s : impl_->merges.slots())
        if (s.key != MergeTable::kEmpty) used.push_back(&s);
    std::sort(used.begin(), used.end(), [](const MergeTable::Slot* a, const MergeTable::Slot* b) {
        return a->rank != b->rank ? a->rank < b->rank : a->key < b->key;
    });
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(used.size());
    for (const MergeTable::Slot* s : used)
        out.push_back({impl_->text[size_t(s->key >> 32)], impl_->text[size_t(s->key & 0xffffffffu)]});
    return out;
}
bool Tokenizer::add_space_prefix() const { return impl_->kind == TokenizerKind::spm && impl_->add_space_prefix; }

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

}  // namespace slm
