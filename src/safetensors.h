// safetensors: the weight format of Hugging Face checkpoints. Reader (mmapped, every field checked, as the GGUF
// reader does) and writer.
//
// File layout:
//   u64 N (little-endian) | N bytes of JSON header (UTF-8, may be padded with spaces) | data
//   header: {"__metadata__": {"key": "string", ...},            (optional)
//            "NAME": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end]}, ...}
//   offsets are relative to the start of the data (8 + N); tensors are row-major (the last dimension is
//   contiguous), little-endian.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slm {
class OutputFile;  // output_file.h
}

namespace slm::safetensors {

// Element size in bytes of a safetensors dtype name ("F32", "BF16", "I64", ...), 0 if the name is unknown.
size_t dtype_size(std::string_view dtype);

struct TensorInfo {
    std::string name;
    std::string dtype;               // as written ("F32", "F16", "BF16", ...)
    std::vector<int64_t> shape;      // row-major: shape.back() is contiguous
    uint64_t begin = 0, end = 0;     // byte range in the data section
    int64_t n_elements() const;
    uint64_t nbytes() const { return end - begin; }
};

class File {
public:
    // Opens, validates and maps the file. Checked: at least 8 bytes; header length within the file and at most
    // 100 MiB; the header is a JSON object of objects; __metadata__ (if any) maps strings to strings; each
    // tensor has a known dtype, a shape of at most 8 non-negative integers, data_offsets [begin, end] with
    // begin <= end <= data size; the byte count equals elements x dtype size (no overflow); no two tensors
    // overlap. Throws slm::Error "FILE: tensor NAME: what is wrong".
    static File open(const std::string& path);
    static File from_memory(const void* data, size_t size, const std::string& name = "<memory>");  // copies

    File(File&&) noexcept;
    File& operator=(File&&) noexcept;
    ~File();

    const std::string& path() const;
    uint64_t file_size() const;
    const std::vector<TensorInfo>& tensors() const;   // in header order
    const TensorInfo* find(std::string_view name) const;
    const std::vector<std::pair<std::string, std::string>>& metadata() const;
    const uint8_t* data(const TensorInfo& t) const;   // valid while the File lives

private:
    File();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes one safetensors file: the header (tensors in the order added, __metadata__ first, padded with spaces
// so the data starts 8-byte aligned), then each tensor's bytes back to back.
class Writer {
public:
    void set_metadata(const std::string& key, const std::string& value);
    // The bytes are copied into the writer (exported models are written one shard at a time).
    void add(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
             std::vector<uint8_t> data);
    size_t n_tensors() const { return tensors_.size(); }
    uint64_t data_bytes() const;
    std::string header() const;                 // the JSON header (unpadded)
    void write(const std::string& path) const;  // through an OutputFile (output_file.h)
    void write(OutputFile& out) const;          // into one the caller opened before its work; the caller commits
    std::vector<uint8_t> to_bytes() const;      // tests

private:
    struct T {
        std::string name, dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> data;
    };
    std::vector<std::pair<std::string, std::string>> meta_;
    std::vector<T> tensors_;
    // The file's bytes, in order, into an OutputFile (write) or a MemorySink (to_bytes).
    template <class Sink>
    void emit(Sink& out) const;
};

}  // namespace slm::safetensors
