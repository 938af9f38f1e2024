// Small shared helpers: the one error type every component throws, and string formatting.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace slm {

// unicode.h's escape_controls: C0/C1 controls, DEL, bidirectional overrides and bytes that are not UTF-8
// become visible escapes (\x1b, \u{009b}, ...); everything else passes.
std::string escape_controls(std::string_view s);

// Every user-facing failure (bad file, bad argument, unsupported type) is an slm::Error with a message that
// names the file / field / argument and what was expected. Commands catch it in main() and exit non-zero.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// vprintf-style formatting into a std::string.
inline std::string vstrfmt(const char* fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = std::vsnprintf(nullptr, 0, fmt, ap);
    std::string s(n > 0 ? size_t(n) : 0, '\0');
    if (n > 0) std::vsnprintf(s.data(), size_t(n) + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

// printf-style formatting into a std::string.
[[gnu::format(printf, 1, 2)]] inline std::string strfmt(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vstrfmt(fmt, ap);
    va_end(ap);
    return s;
}

// Throw slm::Error with a printf-style message. The message goes through escape_controls: names, keys and
// values from files are meant to be quoted with escape_text where they are formatted, and this is the rule
// that holds for every message even where one was not (an error is printed on a terminal or logged).
[[noreturn, gnu::format(printf, 1, 2)]] inline void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vstrfmt(fmt, ap);
    va_end(ap);
    throw Error(escape_controls(s));
}

}  // namespace slm
