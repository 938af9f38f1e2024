// Unicode helpers: category flags (generated tables), UTF-8 decoding of valid and invalid input, GPT-2's
// byte <-> printable-character map.
#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>

#include "unicode.h"

using namespace slm::unicode;

TEST_CASE("tokenizer: unicode categories of known code points") {
    // Letters: ASCII, Latin-1, Cyrillic, CJK (in a First/Last range of UnicodeData.txt), Hangul, an astral one.
    for (uint32_t cp : {0x61u, 0x5Au, 0xE9u, 0x436u, 0x4E2Du, 0xAC00u, 0x20000u, 0x10400u}) {
        CAPTURE(cp);
        CHECK(is_letter(cp));
        CHECK_FALSE(is_number(cp));
        CHECK_FALSE(is_whitespace(cp));
    }
    // Numbers: digits, fractions (No), Roman numeral (Nl), Arabic-Indic digit, superscript two.
    for (uint32_t cp : {0x30u, 0x39u, 0xBDu, 0x2153u, 0x2160u, 0x661u, 0xB2u}) {
        CAPTURE(cp);
        CHECK(is_number(cp));
        CHECK_FALSE(is_letter(cp));
    }
    // White_Space: what \s means for tiktoken / Hugging Face. U+200B (zero width space) is not whitespace.
    for (uint32_t cp : {0x9u, 0xAu, 0xBu, 0xCu, 0xDu, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u, 0x2029u,
                        0x202Fu, 0x205Fu, 0x3000u}) {
        CAPTURE(cp);
        CHECK(is_whitespace(cp));
    }
    for (uint32_t cp : {0x200Bu, 0x1Cu, 0x180Eu, 0x41u, 0xFEFFu}) {
        CAPTURE(cp);
        CHECK_FALSE(is_whitespace(cp));
    }
    CHECK((cp_flags(0x301) & kMark));     // combining acute accent
    CHECK((cp_flags(0x17B6) & kMark));    // Khmer vowel sign: not a letter, so it splits \p{L}+ runs
    CHECK_FALSE(is_letter(0x17B6));
    CHECK((cp_flags('!') & kPunct));
    CHECK((cp_flags('$') & kSymbol));
    CHECK((cp_flags(0x1F999) & kSymbol)); // llama emoji
    CHECK(cp_flags(0x0378) == 0);         // unassigned
    CHECK(cp_flags(0x110000) == 0);       // beyond Unicode
    CHECK(cp_flags(0xFFFFFFFF) == 0);
    CHECK((cp_flags(0) & kControl));
}

TEST_CASE("tokenizer: utf8 decode of valid text and encode round trip") {
    std::mt19937 rng(7);
    std::string s;
    std::vector<uint32_t> cps;
    for (int i = 0; i < 2000; i++) {
        uint32_t cp;
        do cp = rng() % 0x110000; while (cp >= 0xD800 && cp <= 0xDFFF);
        if (i % 3 == 0) cp %= 0x80;
        if (i % 3 == 1) cp %= 0x800;
        cps.push_back(cp);
        append_utf8(s, cp);
    }
    CHECK(is_valid_utf8(s));
    size_t pos = 0;
    for (uint32_t want : cps) {
        int len;
        REQUIRE(pos < s.size());
        uint32_t got = decode_utf8(s, pos, &len);
        REQUIRE(got == want);
        CHECK(len == (want < 0x80 ? 1 : want < 0x800 ? 2 : want < 0x10000 ? 3 : 4));
        pos += size_t(len);
    }
    CHECK(pos == s.size());
}

TEST_CASE("tokenizer: utf8 decode of invalid bytes gives U+FFFD one byte at a time") {
    const std::string bad[] = {
        "\x80",              // stray continuation byte
        "\xC0\x80",          // overlong NUL
        "\xE0\x80\xAF",      // overlong '/'
        "\xED\xA0\x80",      // surrogate U+D800
        "\xF4\x90\x80\x80",  // U+110000
        "\xF8\x88\x80\x80\x80",
        "\xFF",
        "\xE4\xB8",          // truncated 3-byte sequence at the end
        "\xE4" "a",          // lead byte followed by ASCII
    };
    for (const std::string& s : bad) {
        CAPTURE(s.size());
        CHECK_FALSE(is_valid_utf8(s));
        int len = 0;
        CHECK(decode_utf8(s, 0, &len) == kReplacement);
        CHECK(len == 1);
    }
    // A genuine U+FFFD is valid and 3 bytes long.
    int len = 0;
    CHECK(decode_utf8("\xEF\xBF\xBD", 0, &len) == kReplacement);
    CHECK(len == 3);
    CHECK(is_valid_utf8("\xEF\xBF\xBD"));
    // Random bytes: decoding always advances, never reads past the end (ASan checks the latter).
    std::mt19937 rng(11);
    for (int t = 0; t < 200; t++) {
        std::string r(size_t(rng() % 16), '\0');
        for (char& c : r) c = char(rng());
        for (size_t i = 0; i < r.size();) {
            int n;
            decode_utf8(r, i, &n);
            REQUIRE(n >= 1);
            REQUIRE(i + size_t(n) <= r.size());
            i += size_t(n);
        }
    }
}

TEST_CASE("tokenizer: GPT-2 byte to printable character map") {
    std::set<uint32_t> seen;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = byte_to_cp(uint8_t(b));
        CHECK(seen.insert(cp).second);  // a bijection
        CHECK(cp_to_byte(cp) == b);
        CHECK((cp_flags(cp) & (kWhitespace | kControl)) == 0);  // printable, as intended
    }
    CHECK(byte_to_cp(' ') == 0x120);   // 'Ġ'
    CHECK(byte_to_cp('\n') == 0x10A);  // 'Ċ'
    CHECK(byte_to_cp('A') == 'A');
    CHECK(byte_to_cp(0xAD) == 0x143);  // soft hyphen is remapped, the last one
    CHECK(cp_to_byte(0x144) == -1);
    CHECK(cp_to_byte(0x4E2D) == -1);
    std::string all;
    for (int b = 0; b < 256; b++) all += char(b);
    std::string printable = bytes_to_printable(all), back;
    CHECK(is_valid_utf8(printable));
    CHECK(printable_to_bytes(printable, &back));
    CHECK(back == all);
    CHECK_FALSE(printable_to_bytes("\xE4\xB8\xAD", &back));  // '中' is not one of the 256
    CHECK_FALSE(printable_to_bytes("\xFF", &back));
}
