#include "unicode.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace slm::unicode {

namespace {

struct CpRange {
    uint32_t first, last;
    uint8_t flags;
};
#include "unicode_tables.inc"

// ASCII and Latin-1 are the bulk of most text: a direct table for them, binary search for the rest.
struct Latin1Table {
    std::array<uint8_t, 256> flags{};
    constexpr Latin1Table() {
        for (const CpRange& r : kCpRanges) {
            if (r.first > 255) break;
            for (uint32_t c = r.first; c <= r.last && c <= 255; c++) flags[c] = r.flags;
        }
    }
};
constexpr Latin1Table kLatin1{};

// GPT-2's byte -> code point table and its inverse over U+0000..U+01FF (every mapped cp is below 0x144).
struct ByteMap {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 512> to_byte{};
    constexpr ByteMap() {
        for (auto& b : to_byte) b = -1;
        uint32_t next = 256;
        for (int b = 0; b < 256; b++) {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            to_cp[b] = printable ? uint32_t(b) : next++;
            to_byte[to_cp[b]] = int16_t(b);
        }
    }
};
constexpr ByteMap kByteMap{};

}  // namespace

uint8_t cp_flags(uint32_t cp) {
    if (cp < 256) return kLatin1.flags[cp];
    const CpRange* begin = std::begin(kCpRanges);
    const CpRange* end = std::end(kCpRanges);
    // First range whose last >= cp.
    const CpRange* it = std::lower_bound(begin, end, cp, [](const CpRange& r, uint32_t c) { return r.last < c; });
    if (it != end && it->first <= cp) return it->flags;
    return 0;
}

uint32_t decode_utf8(std::string_view s, size_t pos, int* len) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + pos;
    size_t avail = s.size() - pos;
    uint8_t b0 = p[0];
    *len = 1;
    if (b0 < 0x80) return b0;
    int n;
    uint32_t cp, min;
    if ((b0 & 0xE0) == 0xC0) { n = 2; cp = b0 & 0x1F; min = 0x80; }
    else if ((b0 & 0xF0) == 0xE0) { n = 3; cp = b0 & 0x0F; min = 0x800; }
    else if ((b0 & 0xF8) == 0xF0) { n = 4; cp = b0 & 0x07; min = 0x10000; }
    else return kReplacement;  // continuation byte or 0xF8..0xFF where a lead byte belongs
    if (avail < size_t(n)) return kReplacement;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return kReplacement;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kReplacement;
    *len = n;
    return cp;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        int n;
        uint32_t cp = decode_utf8(s, i, &n);
        // A genuine U+FFFD is 3 bytes long; the invalid-byte marker always consumes 1.
        if (cp == kReplacement && n == 1) return false;
        i += size_t(n);
    }
    return true;
}

uint32_t byte_to_cp(uint8_t b) { return kByteMap.to_cp[b]; }

int cp_to_byte(uint32_t cp) { return cp < kByteMap.to_byte.size() ? kByteMap.to_byte[cp] : -1; }

std::string bytes_to_printable(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) append_utf8(out, byte_to_cp(uint8_t(c)));
    return out;
}

bool printable_to_bytes(std::string_view text, std::string* out) {
    out->clear();
    for (size_t i = 0; i < text.size();) {
        int n;
        uint32_t cp = decode_utf8(text, i, &n);
        int b = cp_to_byte(cp);
        if (b < 0 || (cp == kReplacement && n == 1)) return false;
        *out += char(b);
        i += size_t(n);
    }
    return true;
}

}  // namespace slm::unicode

namespace slm {

namespace {

// escape_text's rule; `quote` also escapes backslash and '"' (a string shown as a quoted value), without it
// only what could drive a terminal is escaped (a whole message).
std::string escape(std::string_view s, size_t max_len, bool quote) {
    const std::string_view in = s.substr(0, std::min(s.size(), max_len));
    std::string out;
    out.reserve(in.size() + 8);
    char buf[16];
    for (size_t i = 0; i < in.size();) {
        const unsigned char c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            switch (c) {
                case '\\': out += quote ? "\\\\" : "\\"; break;
                case '"': out += quote ? "\\\"" : "\""; break;
                case '\n': out += "\\n"; break;
                case '\t': out += "\\t"; break;
                case '\r': out += "\\r"; break;
                default:
                    if (c < 0x20 || c == 0x7f) {
                        std::snprintf(buf, sizeof buf, "\\x%02x", c);
                        out += buf;
                    } else {
                        out += char(c);
                    }
            }
            i++;
            continue;
        }
        int n;
        const uint32_t cp = unicode::decode_utf8(in, i, &n);
        if (cp == unicode::kReplacement && n == 1) {  // not valid UTF-8 (or cut by max_len)
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else if ((cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
                   cp == 0x2028 || cp == 0x2029) {
            std::snprintf(buf, sizeof buf, "\\u{%04x}", unsigned(cp));
            out += buf;
        } else {
            out.append(in.substr(i, size_t(n)));
        }
        i += size_t(n);
    }
    if (s.size() > max_len) out += "... (" + std::to_string(s.size()) + " bytes)";
    return out;
}

}  // namespace

std::string escape_text(std::string_view s, size_t max_len) { return escape(s, max_len, true); }

std::string escape_controls(std::string_view s) { return escape(s, s.size(), false); }

}  // namespace slm
