// A small JSON value, parser and writer (RFC 8259). Objects keep their key order, so what slm writes is
// deterministic and reads like its input. Parse errors name the line, the column and what was expected.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slm::json {

enum class Type { null, boolean, number, string, array, object };

class Value {
public:
    Value() = default;                       // null
    Value(std::nullptr_t) {}
    Value(bool b) : type_(Type::boolean), b_(b) {}
    Value(int v) : type_(Type::number), num_(v), is_int_(true), int_(v) {}
    Value(int64_t v) : type_(Type::number), num_(double(v)), is_int_(true), int_(v) {}
    Value(double v) : type_(Type::number), num_(v) {}
    Value(const char* s) : type_(Type::string), str_(s) {}
    Value(std::string s) : type_(Type::string), str_(std::move(s)) {}
    Value(std::string_view s) : type_(Type::string), str_(s) {}
    static Value array() { Value v; v.type_ = Type::array; return v; }
    static Value object() { Value v; v.type_ = Type::object; return v; }

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::null; }
    bool is_bool() const { return type_ == Type::boolean; }
    bool is_number() const { return type_ == Type::number; }
    // A number written without fraction or exponent that fits in int64 ("2", not "2.0" or "2e0").
    bool is_integer() const { return type_ == Type::number && is_int_; }
    bool is_string() const { return type_ == Type::string; }
    bool is_array() const { return type_ == Type::array; }
    bool is_object() const { return type_ == Type::object; }

    // Accessors throw slm::Error when the type is wrong.
    bool as_bool() const;
    double as_number() const;
    int64_t as_int() const;  // requires is_integer()
    const std::string& as_string() const;
    const std::vector<Value>& as_array() const;
    std::vector<Value>& as_array();
    const std::vector<std::pair<std::string, Value>>& as_object() const;
    std::vector<std::pair<std::string, Value>>& members() { return obj_; }  // an object's members, in order

    // Arrays
    size_t size() const;  // elements of an array or members of an object
    const Value& operator[](size_t i) const;
    void push_back(Value v);
    // Objects: find returns nullptr when absent; set replaces in place or appends.
    const Value* find(std::string_view key) const;
    Value* find(std::string_view key);
    void set(std::string key, Value v);
    // Appends a member without looking for an existing one with the same key (the caller knows it is new).
    void push_member(std::string key, Value v);
    const Value& at(std::string_view key) const;  // throws if absent

    bool operator==(const Value& o) const;  // deep; objects compare as unordered maps; numbers by value
    bool operator!=(const Value& o) const { return !(*this == o); }

    // Compact with ", " and ": " separators ({"a": 1, "b": [1, 2]}), or indented with indent > 0.
    std::string dump(int indent = 0) const;

private:
    void dump_to(std::string& out, int indent, int level) const;
    Type type_ = Type::null;
    bool b_ = false;
    double num_ = 0;
    bool is_int_ = false;
    int64_t int_ = 0;
    std::string str_;
    std::vector<Value> arr_;
    std::vector<std::pair<std::string, Value>> obj_;
};

// Parses exactly one JSON value (surrounding whitespace allowed). Throws slm::Error
// "JSON line L column C: expected X" on bad input. Nesting deeper than max_depth is refused.
Value parse(std::string_view text, int max_depth = 512);
// Like parse, but returns false (and sets *error if given) instead of throwing.
bool try_parse(std::string_view text, Value* out, std::string* error = nullptr, int max_depth = 512);

// One line of a JSONL file: its 1-based number in the file (for error messages) and its text.
struct JsonlLine {
    size_t line_no = 0;
    std::string_view text;
};
// THE rule for reading a line-based file (every command that takes a .jsonl: tokenize, detokenize, eval,
// train, GPTQ calibration; and tiktoken's tokenizer.model): a UTF-8
// byte order mark at the start of the file is skipped, a '\r' before the '\n' is dropped, lines holding only
// spaces and tabs are skipped, and the last line needs no '\n'. Line numbers still count the skipped lines.
std::vector<JsonlLine> jsonl_lines(std::string_view data);

// Appends s as a JSON string literal (quotes and escapes) to out. Invalid UTF-8 bytes become U+FFFD.
void write_string(std::string& out, std::string_view s);

// Where the first object or array in text closes: the index just past its closing bracket, or npos while it
// has not closed (strings and escapes are respected, so a '}' inside a string does not count). A structural scan,
// not a parse: it cuts a model's reply where its answer ends, valid JSON or not.
size_t value_end(std::string_view text);

}  // namespace slm::json
