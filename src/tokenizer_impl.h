// Internals of slm::Tokenizer shared by src/tokenizer.cpp (encode/decode) and src/tokenizer_load.cpp (loaders).
// Not part of the public API.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer.h"

namespace slm {


// A fast 64-bit string hash (8 bytes per multiply); the vocabulary lookups are the tokenizer's hot path.
inline uint64_t hash_bytes(std::string_view s) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xFF51AFD7ED558CCDull);
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    if (i < s.size()) {
        uint64_t w = 0;
        std::memcpy(&w, s.data() + i, s.size() - i);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 32);
}

// Hash and equality that let std::string-keyed maps be searched with a string_view (no allocation).
struct StrHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return size_t(hash_bytes(s)); }
};

// string -> token id, for keys that live in a vector indexed by id (the vocabulary itself): an open-addressing
// table of (hash tag, id) in one flat array, so a lookup touches one slot and one string.
class IdIndex {
public:
    void init(const std::vector<std::string>* keys, size_t expected) {
        keys_ = keys;
        size_t cap = 16;
        while (cap < expected * 2) cap <<= 1;
        slots_.assign(cap, 0);
        mask_ = cap - 1;
        size_ = 0;
    }
    int32_t find(std::string_view k) const {
        if (slots_.empty()) return -1;
        uint64_t h = hash_bytes(k);
        uint32_t tag = uint32_t(h >> 32);
        for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
            uint64_t s = slots_[i];
            if (s == 0) return -1;
            int32_t id = int32_t(uint32_t(s) - 1);
            if (uint32_t(s >> 32) == tag && (*keys_)[size_t(id)] == k) return id;
        }
    }
    // Adds id under key (*keys)[id] unless that key is present (the first id wins).
    void insert(int32_t id) {
        const std::string& k = (*keys_)[size_t(id)];
        uint64_t h = hash_bytes(k);
        uint32_t tag = uint32_t(h >> 32);
        for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
            uint64_t s = slots_[i];
            if (s == 0) {
                slots_[i] = (uint64_t(tag) << 32) | (uint32_t(id) + 1);
                size_++;
                return;
            }
            int32_t other = int32_t(uint32_t(s) - 1);
            if (uint32_t(s >> 32) == tag && (*keys_)[size_t(other)] == k) return;
        }
    }
    size_t size() const { return size_; }
    template <class F> void for_each(F&& f) const {  // f(id) for every id in the table
        for (uint64_t s : slots_)
            if (s) f(int32_t(uint32_t(s) - 1));
    }

private:
    const std::vector<std::string>* keys_ = nullptr;
    std::vector<uint64_t> slots_;  // 0: empty; else tag << 32 | (id + 1)
    size_t mask_ = 0, size_ = 0;
};

// BPE merge table: (left id, right id) -> (rank, merged id), open addressing over one flat array.
class MergeTable {
public:
    struct Slot {
        uint64_t key;  // left << 32 | right; kEmpty where unused
        int32_t rank, merged;
    };
    static constexpr uint64_t kEmpty = ~uint64_t(0);
    void init(size_t expected) {
        size_t cap = 16;
        while (cap < expected * 2) cap <<= 1;
        slots_.assign(cap, Slot{kEmpty, 0, 0});
        mask_ = cap - 1;
        size_ = 0;
    }
    static uint64_t key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }
    const std::vector<Slot>& slots() const { return slots_; }  // unused slots have key kEmpty
    const Slot* find(int32_t left, int32_t right) const {
        if (slots_.empty() || left < 0 || right < 0) return nullptr;
        uint64_t k = key(left, right);
        for (size_t i = slot_of(k);; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.key == k) return &s;
            if (s.key == kEmpty) return nullptr;
        }
    }
    // Keeps the first (lowest-rank) rule for a pair.
    void insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
        uint64_t k = key(left, right);
        for (size_t i = slot_of(k);; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.key == k) {
                if (rank < s.rank) s.rank = rank, s.merged = merged;
                return;
            }
            if (s.key == kEmpty) {
                s = Slot{k, rank, merged};
                size_++;
                return;
            }
        }
    }
    size_t size() const { return size_; }

private:
    size_t slot_of(uint64_t k) const { return size_t((k * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
    std::vector<Slot> slots_;
    size_t mask_ = 0, size_ = 0;
};

enum class TokenizerKind { bpe, spm };

struct Tokenizer::Impl {
    // ---- filled by a loader ----
    std::string source;                 // file name, for messages
    std::string load_note;              // Tokenizer::load_note()
    TokenizerKind kind = TokenizerKind::bpe;
    std::string model_name;             // "gpt2" / "llama"
    std::string pre_name;               // "llama-bpe", "gpt-2", "smollm", "default"
    PreTokenizer pre = PreTokenizer::gpt2;
    std::vector<std::string> text;      // vocabulary strings as stored (byte-level: GPT-2 printable form)
    std::vector<TokenType> type;
    std::vector<float> score;           // SPM merge priority (empty: all zero)
    // Merge rules in rank order (left text, right text); unused when merges_from_ranks.
    std::vector<std::pair<std::string, std::string>> merge_rules;
    bool merges_from_ranks = false;     // tiktoken: any adjacent pair whose concatenation is a token merges,
                                        // lowest token id (= rank) first
    bool strict_merges = false;         // a merge naming an unknown token is an error (tokenizer.json)
    bool ignore_merges = false;         // a pre-token that is itself a token is emitted whole (Llama 3)
    bool add_space_prefix = true;       // SPM: prefix one space to text at the start / after a special token
    bool add_bos = false;
    int32_t bos = -1, eos = -1, eot = -1, unk = -1;

    // ---- derived by finalize() ----
    std::vector<std::string> piece;     // bytes each token contributes to output text
    IdIndex text_to_id;                 // exact stored-text lookup (first id wins)
    IdIndex bytes_to_id;                // BPE: raw bytes (piece) of normal tokens -> id
    std::array<int32_t, 256> byte_id{}; // BPE: single-byte token; SPM: <0xNN> token (-1: none)
    MergeTable merges;                  // BPE: (left, right) -> (rank, merged id)
    // Tokens recognized in text before splitting, longest first, keyed by their first two bytes (so text full
    // of '<' does not try all 256 Llama 3 specials at each one) or, for one-byte tokens, their only byte.
    std::unordered_map<uint32_t, std::vector<int32_t>> specials_by_prefix;
    std::array<bool, 256> special_first_byte{};
    static uint32_t prefix_key(uint8_t b0) { return b0; }
    static uint32_t prefix_key(uint8_t b0, uint8_t b1) { return 0x10000u | (uint32_t(b1) << 8) | b0; }

    // Pre-token -> ids cache for BPE words that needed merging (guarded: encode() is const and may be called
    // from several threads).
    struct Cache {
        std::mutex mu;
        std::unordered_map<std::string, std::vector<int32_t>, StrHash, std::equal_to<>> map;
    };
    mutable Cache cache;

    // Checks what the loader filled in and builds the derived tables. Throws slm::Error naming `source`.
    void finalize();

    int32_t n_vocab() const { return int32_t(text.size()); }
    bool is_special(int32_t id) const {  // matched in text as a whole token (llama.cpp's "special" set)
        TokenType t = type[size_t(id)];
        return t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown;
    }
};

// Parses a pre-tokenizer name (tokenizer.ggml.pre); throws slm::Error for names slm does not implement.
PreTokenizer pre_tokenizer_from_name(const std::string& name, const std::string& source);

}  // namespace slm
