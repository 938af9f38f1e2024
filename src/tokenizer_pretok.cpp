// The pre-tokenizers of byte-level BPE models, written by hand instead of with a regex engine: each function
// below is one alternation pattern, tried alternative by alternative at the current position exactly as a
// backtracking regex engine (PCRE, Oniguruma, fancy-regex) would, first alternative that matches wins.
#include <cstring>

#include "common.h"
#include "tokenizer_impl.h"
#include "unicode.h"

namespace slm {

namespace {

using namespace unicode;

// The text decoded once: code points, their category flags and their byte offsets (offs[n] = text size).
struct Decoded {
    std::vector<uint32_t> cp;
    std::vector<uint8_t> fl;
    std::vector<size_t> offs;

    void decode(std::string_view text) {
        cp.reserve(text.size());
        fl.reserve(text.size());
        offs.reserve(text.size() + 1);
        for (size_t i = 0; i < text.size();) {
            int len;
            uint32_t c = decode_utf8(text, i, &len);
            cp.push_back(c);
            fl.push_back(cp_flags(c));
            offs.push_back(i);
            i += size_t(len);
        }
        offs.push_back(text.size());
    }
};

constexpr uint8_t kLN = kLetter | kNumber;
constexpr uint8_t kLNS = kLetter | kNumber | kWhitespace;

inline bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }
inline uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length (in code points) of a contraction 's 't 're 've 'm 'll 'd at i, or 0. Case-insensitive for Llama 3.
size_t match_contraction(const Decoded& d, size_t i, size_t end, bool ignore_case) {
    if (d.cp[i] != '\'' || i + 1 >= end) return 0;
    auto at = [&](size_t k) { return ignore_case ? ascii_lower(d.cp[k]) : d.cp[k]; };
    uint32_t c1 = at(i + 1);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (i + 2 < end) {
        uint32_t c2 = at(i + 2);
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    }
    return 0;
}

// Whitespace tail shared by both patterns: \s+(?!\S)|\s+ at i (a whitespace code point). A run of whitespace
// that is followed by a non-space gives back its last character, which then prefixes the next word.
size_t match_space_run(const Decoded& d, size_t i, size_t end) {
    size_t e = i;
    while (e < end && (d.fl[e] & kWhitespace)) e++;
    if (e == end || e - i == 1) return e - i;  // whole run (at the end), or the lone \s+ fallback
    return e - i - 1;
}

// Llama 3 (tiktoken cl100k-style). Returns the length in code points of the pre-token at i.
size_t match_llama3(const Decoded& d, size_t i, size_t end) {
    const uint32_t c = d.cp[i];
    const uint8_t f = d.fl[i];
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (size_t n = match_contraction(d, i, end, true)) return n;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    {
        size_t k = i;
        if (!(f & kLetter) && !(f & kNumber) && !is_crlf(c) && i + 1 < end && (d.fl[i + 1] & kLetter)) k = i + 1;
        if (d.fl[k] & kLetter) {
            size_t e = k + 1;
            while (e < end && (d.fl[e] & kLetter)) e++;
            return e - i;
        }
    }
    // \p{N}{1,3}
    if (f & kNumber) {
        size_t e = i + 1;
        while (e < end && e < i + 3 && (d.fl[e] & kNumber)) e++;
        return e - i;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    {
        size_t k = i;
        if (c == ' ' && i + 1 < end && !(d.fl[i + 1] & kLNS)) k = i + 1;
        if (!(d.fl[k] & kLNS)) {
            size_t e = k + 1;
            while (e < end && !(d.fl[e] & kLNS)) e++;
            while (e < end && is_crlf(d.cp[e])) e++;
            return e - i;
        }
    }
    if (f & kWhitespace) {
        // \s*[\r\n]+ : the greedy \s* backs off to the last \r or \n of the whitespace run.
        size_t e = i, last_nl = SIZE_MAX;
        while (e < end && (d.fl[e] & kWhitespace)) {
            if (is_crlf(d.cp[e])) last_nl = e;
            e++;
        }
        if (last_nl != SIZE_MAX) return last_nl + 1 - i;
        // \s+(?!\S)|\s+
        return match_space_run(d, i, end);
    }
    return 1;  // not reachable: every code point is a letter, number, whitespace or "other"
}

// GPT-2. Returns the length in code points of the pre-token at i.
size_t match_gpt2(const Decoded& d, size_t i, size_t end) {
    const uint32_t c = d.cp[i];
    const uint8_t f = d.fl[i];
    if (size_t n = match_contraction(d, i, end, false)) return n;
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': the optional space belongs to whichever class follows.
    size_t k = (c == ' ' && i + 1 < end) ? i + 1 : i;
    for (int alt = 0; alt < 3; alt++) {
        auto in_class = [alt](uint8_t fl) {
            if (alt == 0) return (fl & kLetter) != 0;
            if (alt == 1) return (fl & kNumber) != 0;
            return (fl & kLNS) == 0;
        };
        size_t s = in_class(d.fl[k]) ? k : (in_class(f) ? i : SIZE_MAX);
        if (s == SIZE_MAX) continue;
        size_t e = s + 1;
        while (e < end && in_class(d.fl[e])) e++;
        return e - i;
    }
    if (f & kWhitespace) return match_space_run(d, i, end);
    return 1;
}

void split_range(const Decoded& d, size_t lo, size_t hi, size_t (*match)(const Decoded&, size_t, size_t),
                 std::vector<std::pair<size_t, size_t>>& out) {
    for (size_t i = lo; i < hi;) {
        size_t n = match(d, i, hi);
        if (n == 0) n = 1;
        out.emplace_back(d.offs[i], d.offs[i + n]);
        i += n;
    }
}

}  // namespace

void pre_tokenize(PreTokenizer pre, std::string_view text, std::vector<std::pair<size_t, size_t>>& out) {
    Decoded d;
    d.decode(text);
    const size_t n = d.cp.size();
    switch (pre) {
        case PreTokenizer::llama3: split_range(d, 0, n, match_llama3, out); break;
        case PreTokenizer::gpt2: split_range(d, 0, n, match_gpt2, out); break;
        case PreTokenizer::smollm: {
            // First pass: each \p{N} is its own piece; the gpt2 pattern then runs on the stretches between.
            size_t lo = 0;
            for (size_t i = 0; i < n; i++) {
                if (!(d.fl[i] & kNumber)) continue;
                split_range(d, lo, i, match_gpt2, out);
                out.emplace_back(d.offs[i], d.offs[i + 1]);
                lo = i + 1;
            }
            split_range(d, lo, n, match_gpt2, out);
            break;
        }
    }
}

std::vector<std::string> pre_tokenize(PreTokenizer pre, std::string_view text) {
    std::vector<std::pair<size_t, size_t>> spans;
    pre_tokenize(pre, text, spans);
    std::vector<std::string> out;
    out.reserve(spans.size());
    for (auto [b, e] : spans) out.emplace_back(text.substr(b, e - b));
    return out;
}

PreTokenizer pre_tokenizer_from_name(const std::string& name, const std::string& source) {
    if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::llama3;
    // A byte-level model without tokenizer.ggml.pre is taken to be GPT-2's (llama.cpp would warn and use its
    // "default" split, which slm does not implement).
    if (name == "gpt-2" || name == "gpt2" || name.empty()) return PreTokenizer::gpt2;
    if (name == "smollm") return PreTokenizer::smollm;
    fail("%s: tokenizer.ggml.pre = '%s' is not supported (slm implements llama-bpe, gpt-2, smollm)",
         source.c_str(), escape_text(name).c_str());
}

}  // namespace slm
