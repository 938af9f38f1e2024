// Internals of slm::Tokenizer shared by src/tokenizer.cpp (encode/decode) and src/tokenizer_load.cpp (loaders).
// Not part of the public API.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer.h"

namespace slm {

// Hash and equality that let std::string-keyed maps be searched with a string_view (no allocation).
struct StrHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StrToId = std::unordered_map<std::string, int32_t, StrHash, std::equal_to<>>;

enum class TokenizerKind { bpe, spm };

struct Tokenizer::Impl {
    // ---- filled by a loader ----
    std::string source;                 // file name, for messages
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
    StrToId text_to_id;                 // exact stored-text lookup (first id wins)
    StrToId bytes_to_id;                // BPE: raw bytes of normal tokens -> id
    std::array<int32_t, 256> byte_id{}; // BPE: single-byte token; SPM: <0xNN> token (-1: none)
    // BPE merges: (left id << 32 | right id) -> (rank, merged id)
    std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;
    // Tokens recognized in text before splitting, per first byte, longest first.
    std::array<std::vector<int32_t>, 256> specials_by_byte;
    std::array<bool, 256> special_first_byte{};

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
