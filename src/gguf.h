// GGUF: the file format of ggml / llama.cpp models. Reader (v2 and v3, mmapped, every field bounds-checked)
// and writer (v3).
//
// File layout (little-endian):
//   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv            (v1 used u32 counts: refused)
//   n_kv x  { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to general.alignment (default 32)
//   data section: each tensor at data_start + offset (offsets are multiples of the alignment)
//   string = u64 length + bytes (no terminator); array = u32 elem_type + u64 count + elements
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "types.h"

namespace slm {
class OutputFile;  // output_file.h
}

namespace slm::gguf {

enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* value_type_name(ValueType t);

// One metadata value. Scalars keep their exact on-disk type so that writing back is byte-identical.
struct Value {
    ValueType type = ValueType::UINT32;
    uint64_t u = 0;     // UINT8..UINT64 and BOOL (0/1)
    int64_t i = 0;      // INT8..INT64
    double f = 0;       // FLOAT32 (exactly representable) and FLOAT64
    std::string str;    // STRING
    ValueType elem_type = ValueType::UINT8;  // ARRAY: type of the elements
    std::vector<Value> arr;                  // ARRAY: the elements (nested arrays allowed)

    static Value make_u32(uint32_t v);
    static Value make_i32(int32_t v);
    static Value make_u64(uint64_t v);
    static Value make_f32(float v);
    static Value make_bool(bool v);
    static Value make_string(std::string v);
    static Value make_array(ValueType elem_type, std::vector<Value> elems);
    static Value make_string_array(const std::vector<std::string>& v);

    bool is_integer() const;  // any of the 8 integer types
    bool is_number() const;   // integer or float
    // Converting accessors; throw slm::Error if the value is not of a compatible type or out of range.
    int64_t as_int() const;
    uint64_t as_uint() const;
    double as_float() const;
    // A short human-readable rendering (strings quoted, long arrays summarized: "[128256 x string]").
    std::string to_display(size_t max_items = 8) const;
};

struct KV {
    std::string key;
    Value value;
};

struct TensorInfo {
    std::string name;
    uint32_t n_dims = 0;
    std::array<int64_t, 4> ne{1, 1, 1, 1};  // ggml order: ne[0] is the contiguous (row) dimension
    GgmlType type = GgmlType::F32;
    uint64_t offset = 0;   // relative to the start of the data section
    uint64_t nbytes = 0;   // computed from type and shape, checked to fit in the file
    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

enum class LoadMode { mmap, read, mlock };  // mlock = mmap + mlock(2) the whole mapping

class File {
public:
    // Opens, validates everything (see DESIGN: counts, lengths, offsets, type/shape/size) and maps the data.
    // Throws slm::Error naming the file, the field and what was expected.
    // What is checked: magic; version 2 or 3; every count against the bytes left (each element needs at least
    // its minimum encoded size) before anything is allocated; every string length; value and element type ids;
    // arrays nested at most 16 deep; bool bytes 0/1; duplicate keys and tensor names; general.alignment an
    // integer, nonzero power of two; n_dims <= 4 (0 allowed: a scalar); ne >= 0; known ggml type ids; ne[0] a
    // multiple of the block size; no overflow in element count or bytes; offsets aligned; every tensor inside
    // the file; no two tensors overlapping. A file without tensors may end right after its header.
    static File open(const std::string& path, LoadMode mode = LoadMode::mmap);
    // Parse from a buffer in memory (for tests and fuzzing); the buffer is copied.
    static File from_memory(const void* data, size_t size, const std::string& name = "<memory>");

    File(File&&) noexcept;
    File& operator=(File&&) noexcept;
    ~File();

    const std::string& path() const;
    uint32_t version() const;
    uint64_t alignment() const;
    uint64_t data_offset() const;  // where the data section starts in the file
    uint64_t file_size() const;
    LoadMode mode() const;

    const std::vector<KV>& metadata() const;  // in file order
    const Value* find(std::string_view key) const;
    bool has(std::string_view key) const { return find(key) != nullptr; }
    // Typed getters: throw slm::Error "FILE: metadata key KEY: missing" / "expected TYPE, found TYPE".
    std::string get_string(std::string_view key) const;
    int64_t get_int(std::string_view key) const;
    uint64_t get_uint(std::string_view key) const;
    double get_float(std::string_view key) const;
    bool get_bool(std::string_view key) const;
    const Value& get_array(std::string_view key) const;  // must be an ARRAY
    // With defaults when missing (still throw on a present value of the wrong type).
    std::string get_string(std::string_view key, const std::string& def) const;
    int64_t get_int(std::string_view key, int64_t def) const;
    double get_float(std::string_view key, double def) const;
    bool get_bool(std::string_view key, bool def) const;

    const std::vector<TensorInfo>& tensors() const;
    const TensorInfo* find_tensor(std::string_view name) const;
    // Pointer to the tensor's bytes (valid for the lifetime of the File; never copied in mmap mode).
    const uint8_t* tensor_data(const TensorInfo& t) const;

private:
    File();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes GGUF v3. Metadata keeps insertion order; tensors are laid out in the order added, each at the next
// multiple of general.alignment (default 32) with zero padding, exactly as ggml's writer does, so reading a
// file made by llama.cpp and writing it back gives identical bytes.
class Writer {
public:
    Writer();
    // Copy all metadata and tensor views of a file (the tensors' bytes are not copied until write()).
    static Writer from_file(const File& f);

    void set(const std::string& key, Value v);  // replaces an existing key in place, else appends
    void remove(const std::string& key);
    const Value* find(std::string_view key) const;

    // Tensor whose bytes live elsewhere and outlive write().
    void add_tensor_view(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                         const void* data, uint64_t nbytes);
    // Tensor whose bytes the writer owns.
    void add_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                    std::vector<uint8_t> data);
    // Tensor whose bytes are made when write() reaches it (and freed after): converters stream a model this
    // way, one tensor in memory at a time. produce() must return exactly the bytes type and shape need.
    void add_tensor_lazy(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                         std::function<std::vector<uint8_t>()> produce);
    size_t n_tensors() const;

    // Writes to path through an OutputFile (output_file.h: refuses a non-regular target, exclusive temporary in
    // the same folder, fsync, rename). Throws slm::Error on I/O failure.
    void write(const std::string& path) const;
    // Writes into an OutputFile the caller opened before its work began; the caller commits it.
    void write(OutputFile& out) const;
    // Serialize to memory (tests).
    std::vector<uint8_t> to_bytes() const;

private:
    struct Tensor {
        std::string name;
        GgmlType type;
        std::vector<int64_t> ne;
        const void* view = nullptr;
        uint64_t nbytes = 0;
        std::vector<uint8_t> owned;
        std::function<std::vector<uint8_t>()> produce;
    };
    std::vector<KV> kv_;
    std::vector<Tensor> tensors_;
    // The file's bytes, in order, into an OutputFile (write) or a MemorySink (to_bytes).
    template <class Sink>
    void emit(Sink& out) const;
};

}  // namespace slm::gguf
