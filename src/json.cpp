#include "json.h"

#include <cmath>
#include <cstring>
#include <unordered_map>

#include "common.h"
#include "unicode.h"

namespace slm::json {

namespace {
const char* type_word(Type t) {
    switch (t) {
        case Type::null: return "null";
        case Type::boolean: return "boolean";
        case Type::number: return "number";
        case Type::string: return "string";
        case Type::array: return "array";
        case Type::object: return "object";
    }
    return "?";
}
[[noreturn]] void wrong_type(Type want, Type got) {
    fail("JSON: expected %s, found %s", type_word(want), type_word(got));
}

using unicode::append_utf8;

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid (slm's one UTF-8 decoder lives in unicode.h).
size_t utf8_len(std::string_view s, size_t i) {
    int n = 0;
    const uint32_t cp = unicode::decode_utf8(s, i, &n);
    return (cp == unicode::kReplacement && n == 1) ? 0 : size_t(n);
}

class Parser {
public:
    Parser(std::string_view s, int max_depth) : s_(s), max_depth_(max_depth) {}

    Value parse_document() {
        skip_ws();
        Value v = parse_value(0);
        skip_ws();
        if (pos_ != s_.size()) error("end of input after the value");
        return v;
    }

private:
    [[noreturn]] void error(const char* expected) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < pos_ && i < s_.size(); i++) {
            if (s_[i] == '\n') { line++; col = 1; } else col++;
        }
        if (pos_ >= s_.size()) fail("JSON line %zu column %zu: expected %s, found end of input", line, col, expected);
        fail("JSON line %zu column %zu: expected %s", line, col, expected);
    }
    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) pos_++;
    }
    bool consume(std::string_view word) {
        if (s_.substr(pos_, word.size()) == word) { pos_ += word.size(); return true; }
        return false;
    }
    Value parse_value(int depth) {
        if (depth > max_depth_) error("less nesting (too deep)");
        if (pos_ >= s_.size()) error("a value");
        char c = s_[pos_];
        if (c == '{') return parse_object(depth);
        if (c == '[') return parse_array(depth);
        if (c == '"') return Value(parse_string());
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        if (consume("true")) return Value(true);
        if (consume("false")) return Value(false);
        if (consume("null")) return Value();
        error("a value");
    }
    Value parse_object(int depth) {
        pos_++;  // {
        Value obj = Value::object();
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') { pos_++; return obj; }
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') error("a string key");
            std::string key = parse_string();
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') error("':'");
            pos_++;
            skip_ws();
            Value v = parse_value(depth + 1);
            obj.push_member(std::move(key), std::move(v));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') { pos_++; continue; }
            if (pos_ < s_.size() && s_[pos_] == '}') { pos_++; break; }
            error("',' or '}'");
        }
        resolve_duplicates(obj);
        return obj;
    }
    // Duplicate keys: the last one wins (as in most parsers), at the place of the first. Checked once the
    // object is complete (its keys no longer move), through a hash map, so objects with 100k+ members (a
    // tokenizer.json vocabulary) parse in linear time.
    static void resolve_duplicates(Value& obj) {
        auto& m = obj.members();
        if (m.size() < 2) return;
        std::unordered_map<std::string_view, size_t> first;
        first.reserve(m.size());
        std::vector<bool> drop;
        for (size_t i = 0; i < m.size(); i++) {
            auto [it, fresh] = first.emplace(m[i].first, i);
            if (!fresh) {
                if (drop.empty()) drop.assign(m.size(), false);
                drop[i] = true;
                m[it->second].second = std::move(m[i].second);
            }
        }
        if (drop.empty()) return;
        first.clear();  // its views point into the keys about to move
        std::vector<std::pair<std::string, Value>> kept;
        for (size_t i = 0; i < m.size(); i++)
            if (!drop[i]) kept.push_back(std::move(m[i]));
        m = std::move(kept);
    }
    Value parse_array(int depth) {
        pos_++;  // [
        Value arr = Value::array();
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') { pos_++; return arr; }
        for (;;) {
            skip_ws();
            arr.push_back(parse_value(depth + 1));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') { pos_++; continue; }
            if (pos_ < s_.size() && s_[pos_] == ']') { pos_++; return arr; }
            error("',' or ']'");
        }
    }
    uint32_t parse_hex4() {
        if (pos_ + 4 > s_.size()) error("4 hex digits");
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
            else { pos_--; error("a hex digit"); }
        }
        return v;
    }
    std::string parse_string() {
        pos_++;  // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) error("closing '\"'");
            unsigned char c = s_[pos_];
            if (c == '"') { pos_++; return out; }
            if (c < 0x20) error("no control characters in a string (escape them)");
            if (c == '\\') {
                pos_++;
                if (pos_ >= s_.size()) error("an escape character");
                char e = s_[pos_++];
                switch (e) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        uint32_t cp = parse_hex4();
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                            if (pos_ + 2 <= s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
                                pos_ += 2;
                                uint32_t lo = parse_hex4();
                                if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                else { append_utf8(out, 0xFFFD); cp = lo; }
                            } else {
                                cp = 0xFFFD;
                            }
                        }
                        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate
                        append_utf8(out, cp);
                        break;
                    }
                    default: pos_--; error("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
                }
                continue;
            }
            if (c < 0x80) {  // a run of plain ASCII, appended at once
                size_t e = pos_ + 1;
                while (e < s_.size()) {
                    const unsigned char d = static_cast<unsigned char>(s_[e]);
                    if (d < 0x20 || d >= 0x80 || d == '"' || d == '\\') break;
                    e++;
                }
                out.append(s_.substr(pos_, e - pos_));
                pos_ = e;
                continue;
            }
            size_t n = utf8_len(s_, pos_);
            if (n == 0) error("valid UTF-8");
            out.append(s_.substr(pos_, n));
            pos_ += n;
        }
    }
    Value parse_number() {
        size_t start = pos_;
        bool integral = true;
        if (s_[pos_] == '-') pos_++;
        if (pos_ >= s_.size()) error("a digit");
        if (s_[pos_] == '0') pos_++;
        else if (s_[pos_] >= '1' && s_[pos_] <= '9') { while (pos_ < s_.size() && isdigit((unsigned char)s_[pos_])) pos_++; }
        else error("a digit");
        if (pos_ < s_.size() && s_[pos_] == '.') {
            integral = false;
            pos_++;
            if (pos_ >= s_.size() || !isdigit((unsigned char)s_[pos_])) error("a digit after '.'");
            while (pos_ < s_.size() && isdigit((unsigned char)s_[pos_])) pos_++;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            integral = false;
            pos_++;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) pos_++;
            if (pos_ >= s_.size() || !isdigit((unsigned char)s_[pos_])) error("a digit in the exponent");
            while (pos_ < s_.size() && isdigit((unsigned char)s_[pos_])) pos_++;
        }
        std::string text(s_.substr(start, pos_ - start));
        if (integral) {
            errno = 0;
            char* end = nullptr;
            long long v = std::strtoll(text.c_str(), &end, 10);
            if (errno == 0 && end && *end == 0) return Value(int64_t(v));
        }
        const double d = std::strtod(text.c_str(), nullptr);
        // Beyond double range (1e999): strtod gives infinity, which JSON cannot write back. Refused rather than
        // turned into null on output. (Underflow to 0 or a denormal is harmless and accepted.)
        if (!std::isfinite(d)) {
            pos_ = start;
            error("a number within double range (about 1.8e308)");
        }
        return Value(d);
    }

    std::string_view s_;
    size_t pos_ = 0;
    int max_depth_;
};

void indent_to(std::string& out, int indent, int level) {
    out += '\n';
    out.append(size_t(indent) * size_t(level), ' ');
}
}  // namespace

bool Value::as_bool() const { if (type_ != Type::boolean) wrong_type(Type::boolean, type_); return b_; }
double Value::as_number() const { if (type_ != Type::number) wrong_type(Type::number, type_); return num_; }
int64_t Value::as_int() const {
    if (type_ != Type::number) wrong_type(Type::number, type_);
    if (!is_int_) fail("JSON: expected an integer, found %g", num_);
    return int_;
}
const std::string& Value::as_string() const { if (type_ != Type::string) wrong_type(Type::string, type_); return str_; }
const std::vector<Value>& Value::as_array() const { if (type_ != Type::array) wrong_type(Type::array, type_); return arr_; }
std::vector<Value>& Value::as_array() { if (type_ != Type::array) wrong_type(Type::array, type_); return arr_; }
const std::vector<std::pair<std::string, Value>>& Value::as_object() const {
    if (type_ != Type::object) wrong_type(Type::object, type_);
    return obj_;
}
size_t Value::size() const {
    if (type_ == Type::array) return arr_.size();
    if (type_ == Type::object) return obj_.size();
    fail("JSON: expected array or object, found %s", type_word(type_));
}
const Value& Value::operator[](size_t i) const {
    const auto& a = as_array();
    if (i >= a.size()) fail("JSON: index %zu out of range (array of %zu)", i, a.size());
    return a[i];
}
void Value::push_back(Value v) { as_array().push_back(std::move(v)); }
const Value* Value::find(std::string_view key) const {
    if (type_ != Type::object) return nullptr;
    for (const auto& kv : obj_) if (kv.first == key) return &kv.second;
    return nullptr;
}
Value* Value::find(std::string_view key) {
    if (type_ != Type::object) return nullptr;
    for (auto& kv : obj_) if (kv.first == key) return &kv.second;
    return nullptr;
}
void Value::set(std::string key, Value v) {
    if (type_ != Type::object) wrong_type(Type::object, type_);
    if (Value* old = find(key)) { *old = std::move(v); return; }
    obj_.emplace_back(std::move(key), std::move(v));
}
void Value::push_member(std::string key, Value v) {
    if (type_ != Type::object) wrong_type(Type::object, type_);
    obj_.emplace_back(std::move(key), std::move(v));
}
const Value& Value::at(std::string_view key) const {
    const Value* v = find(key);
    if (!v) fail("JSON: missing key \"%.*s\"", int(key.size()), key.data());
    return *v;
}

bool Value::operator==(const Value& o) const {
    if (type_ != o.type_) return false;
    switch (type_) {
        case Type::null: return true;
        case Type::boolean: return b_ == o.b_;
        case Type::number:
            if (is_int_ && o.is_int_) return int_ == o.int_;
            return num_ == o.num_;
        case Type::string: return str_ == o.str_;
        case Type::array: return arr_ == o.arr_;
        case Type::object: {
            if (obj_.size() != o.obj_.size()) return false;
            for (const auto& kv : obj_) {
                const Value* other = o.find(kv.first);
                if (!other || !(kv.second == *other)) return false;
            }
            return true;
        }
    }
    return false;
}

void write_string(std::string& out, std::string_view s) {
    out += '"';
    for (size_t i = 0; i < s.size();) {
        unsigned char c = s[i];
        switch (c) {
            case '"': out += "\\\""; i++; continue;
            case '\\': out += "\\\\"; i++; continue;
            case '\n': out += "\\n"; i++; continue;
            case '\r': out += "\\r"; i++; continue;
            case '\t': out += "\\t"; i++; continue;
            case '\b': out += "\\b"; i++; continue;
            case '\f': out += "\\f"; i++; continue;
            default: break;
        }
        if (c < 0x20) {
            out += strfmt("\\u%04x", c);
            i++;
            continue;
        }
        size_t n = utf8_len(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            i++;
            continue;
        }
        out.append(s.substr(i, n));
        i += n;
    }
    out += '"';
}

void Value::dump_to(std::string& out, int indent, int level) const {
    switch (type_) {
        case Type::null: out += "null"; return;
        case Type::boolean: out += b_ ? "true" : "false"; return;
        case Type::number:
            if (is_int_) out += std::to_string(int_);
            else if (!std::isfinite(num_)) out += "null";  // JSON has no inf/nan
            else if (num_ == std::floor(num_) && std::fabs(num_) < 1e15) out += strfmt("%.1f", num_);
            else out += strfmt("%.17g", num_);
            return;
        case Type::string: write_string(out, str_); return;
        case Type::array:
            out += '[';
            for (size_t i = 0; i < arr_.size(); i++) {
                if (i) out += indent ? "," : ", ";
                if (indent) indent_to(out, indent, level + 1);
                arr_[i].dump_to(out, indent, level + 1);
            }
            if (indent && !arr_.empty()) indent_to(out, indent, level);
            out += ']';
            return;
        case Type::object:
            out += '{';
            for (size_t i = 0; i < obj_.size(); i++) {
                if (i) out += indent ? "," : ", ";
                if (indent) indent_to(out, indent, level + 1);
                write_string(out, obj_[i].first);
                out += ": ";
                obj_[i].second.dump_to(out, indent, level + 1);
            }
            if (indent && !obj_.empty()) indent_to(out, indent, level);
            out += '}';
            return;
    }
}

std::string Value::dump(int indent) const {
    std::string out;
    dump_to(out, indent, 0);
    return out;
}

Value parse(std::string_view text, int max_depth) { return Parser(text, max_depth).parse_document(); }

bool try_parse(std::string_view text, Value* out, std::string* error, int max_depth) {
    try {
        *out = parse(text, max_depth);
        return true;
    } catch (const Error& e) {
        if (error) *error = e.what();
        return false;
    }
}

size_t value_end(std::string_view text) {
    int depth = 0;
    bool in_string = false, escape = false, started = false;
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (in_string) {
            if (escape) escape = false;
            else if (c == '\\') escape = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') { depth++; started = true; }
        else if (c == '}' || c == ']') {
            depth--;
            if (started && depth == 0) return i + 1;
            if (depth < 0) return i + 1;  // stray closer: nothing valid can follow
        }
    }
    return std::string::npos;
}

std::vector<JsonlLine> jsonl_lines(std::string_view data) {
    if (data.substr(0, 3) == "\xEF\xBB\xBF") data.remove_prefix(3);
    std::vector<JsonlLine> out;
    size_t line_no = 0;
    for (size_t pos = 0; pos < data.size();) {
        size_t eol = data.find('\n', pos);
        if (eol == std::string_view::npos) eol = data.size();
        std::string_view line = data.substr(pos, eol - pos);
        pos = eol + 1;
        line_no++;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
        out.push_back({line_no, line});
    }
    return out;
}

}  // namespace slm::json
