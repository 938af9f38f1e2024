// Tokenizers: text <-> token ids for the models slm runs.
//
//   byte-level BPE (tokenizer.ggml.model = "gpt2"): Llama 3, GPT-2, SmolLM. Text is split by a hand-written
//     pre-tokenizer (the regex of "llama-bpe", "gpt-2" or "smollm", over Unicode categories), each pre-token's
//     bytes are merged by rank (the merges list, or tiktoken's "lowest-rank concatenation" rule).
//   SentencePiece-style (tokenizer.ggml.model = "llama"): Llama 2, stories260K. Spaces become U+2581, one space
//     is prefixed, adjacent pieces are merged by highest vocabulary score, unknown characters fall back to
//     <0xNN> byte tokens.
//
// Loaded from a GGUF file's tokenizer.ggml.* metadata, a Hugging Face tokenizer.json, or a tiktoken
// tokenizer.model (Llama 3). Special tokens (control / user-defined) written in the text are recognized before
// splitting, longest first. A Tokenizer is immutable after loading and may be shared between threads.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slm {

namespace gguf {
class File;
}

// Token types as GGUF stores them in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
    undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

// The pre-tokenizers of byte-level BPE models (tokenizer.ggml.pre):
//   llama3 ("llama-bpe"): (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//                         ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   gpt2 ("gpt-2"):       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   smollm ("smollm"):    every \p{N} on its own first, then the gpt2 pattern on the pieces between
enum class PreTokenizer { llama3, gpt2, smollm };
// The pre-token boundaries of text as [begin, end) byte offsets (appended to out; they tile the text).
void pre_tokenize(PreTokenizer pre, std::string_view text, std::vector<std::pair<size_t, size_t>>& out);
// Convenience for tests: the pre-tokens as strings.
std::vector<std::string> pre_tokenize(PreTokenizer pre, std::string_view text);

// A tiktoken tokenizer.model lists only the ranked tokens; the special tokens after them (256 for Llama 3) are
// named by the model's version, which the file does not say: Llama 3.0 and 3.1/3.2 share the ranks but not the
// special names (3.0: 128004 <|reserved_special_token_2|>; 3.1: 128004 <|finetune_right_pad_id|>).
struct TiktokenSpecials {
    enum class Source {
        automatic,  // tokenizer_config.json beside the file if there is one (load() only), else llama3_1
        llama3_0,   // Meta Llama 3.0's names
        llama3_1,   // Llama 3.1 / 3.2's names (those of the fixture llama3-tiny GGUF): the default
        list,       // exactly `tokens` (from a tokenizer_config.json's added_tokens_decoder)
    };
    Source source = Source::automatic;
    std::vector<std::pair<int64_t, std::string>> tokens;  // Source::list: (id, text) of each special token
    // "llama3.0" / "llama3.1" (also "llama3.2") / a path to a tokenizer_config.json. Throws on anything else.
    static TiktokenSpecials from_choice(const std::string& choice);
    // The added_tokens_decoder of a Hugging Face tokenizer_config.json. Throws slm::Error naming `name`.
    static TiktokenSpecials from_tokenizer_config(std::string_view json_text, const std::string& name);
};

class Tokenizer {
public:
    static Tokenizer from_gguf(const gguf::File& f);          // tokenizer.ggml.* metadata
    // .gguf, tokenizer.json or tiktoken tokenizer.model (by content); `specials` applies to tiktoken files.
    static Tokenizer load(const std::string& path, const TiktokenSpecials& specials = {});
    // The individual loaders (load() picks one from the file's content). `name` is used in error messages.
    static Tokenizer from_tokenizer_json(std::string_view json_text, const std::string& name = "tokenizer.json");
    // Source::automatic here means llama3_1 (no folder to look in).
    static Tokenizer from_tiktoken(std::string_view model_text, const std::string& name = "tokenizer.model",
                                   const TiktokenSpecials& specials = {});
    // What the loader chose that the file did not say (the tiktoken special-token names), or "".
    const std::string& load_note() const;

    std::vector<int32_t> encode(std::string_view text, bool add_bos = false, bool parse_special = true) const;
    std::string decode(const std::vector<int32_t>& ids) const;   // concatenated pieces (SPM: leading space rule)
    // render_control = false leaves control / unknown tokens (BOS, EOS, <|eot_id|> ...) out of the text.
    std::string decode(const std::vector<int32_t>& ids, bool render_control) const;
    std::string token_to_piece(int32_t id) const;  // the raw bytes this token produces in output text
    const std::string& token_text(int32_t id) const;  // the vocabulary string as stored
    int32_t n_vocab() const;
    int32_t bos_id() const; int32_t eos_id() const; int32_t eot_id() const;  // -1 where absent
    int32_t unk_id() const;  // -1 where absent
    int32_t find_token(std::string_view text) const;  // exact vocabulary lookup, -1 if absent
    bool is_control(int32_t id) const;   // special/control tokens (not printed as text)
    bool is_eog(int32_t id) const;       // end of generation: eos or eot
    TokenType token_type(int32_t id) const;
    float token_score(int32_t id) const;
    bool add_bos_default() const;        // tokenizer.ggml.add_bos_token (or the model type's default)
    std::string model_name() const;      // "gpt2" / "llama"
    std::string pre_name() const;        // "llama-bpe", "gpt-2", "smollm", ... ("default" for SPM)
    size_t n_merges() const;             // BPE merge rules known (tiktoken: derived from the ranks)
    // The BPE merge rules that can apply (left, right text in the stored form), in rank order, rebuilt from the
    // merge table (tiktoken: the merges its ranks imply); empty for SentencePiece vocabularies.
    std::vector<std::pair<std::string, std::string>> merge_rules() const;
    bool add_space_prefix() const;       // SPM: one space is put before text at the start / after a special token

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    struct Impl;  // defined in tokenizer_impl.h (shared by the tokenizer_*.cpp files)

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    static Tokenizer load_any(const std::string& path, const TiktokenSpecials& specials);
    std::unique_ptr<Impl> impl_;
};

}  // namespace slm
