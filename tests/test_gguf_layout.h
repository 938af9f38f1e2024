// Test helpers for the GGUF tests: a byte builder for hand-made files, and an independent walk over a
// well-formed GGUF file that records where each field lives, so tests can corrupt one specific field
// (a count, a length, a type id, an offset) instead of random bytes only.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace slm::test {

// Appends little-endian fields; used to write GGUF headers by hand (v1/v2 files, corrupt files).
struct Bytes {
    std::vector<uint8_t> b;
    template <class T>
    Bytes& put(T v) {
        uint8_t tmp[sizeof(T)];
        std::memcpy(tmp, &v, sizeof(T));
        b.insert(b.end(), tmp, tmp + sizeof(T));
        return *this;
    }
    Bytes& u32(uint32_t v) { return put(v); }
    Bytes& u64(uint64_t v) { return put(v); }
    Bytes& i64(int64_t v) { return put(v); }
    Bytes& str(std::string_view s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& raw(const void* p, size_t n) {
        const uint8_t* q = static_cast<const uint8_t*>(p);
        b.insert(b.end(), q, q + n);
        return *this;
    }
    Bytes& pad_to(size_t alignment) {
        while (b.size() % alignment) b.push_back(0);
        return *this;
    }
};

template <class T>
inline void poke(std::vector<uint8_t>& b, size_t at, T v) {
    std::memcpy(b.data() + at, &v, sizeof(T));
}
template <class T>
inline T peek(const std::vector<uint8_t>& b, size_t at) {
    T v;
    std::memcpy(&v, b.data() + at, sizeof(T));
    return v;
}

// Where each field of a GGUF file sits.
enum class Field {
    version, n_tensors, n_kv,
    key_len, value_type, string_len, array_elem_type, array_count, scalar,
    tensor_name_len, n_dims, ne, tensor_type, tensor_offset,
};
struct FieldPos {
    Field field;
    size_t offset;  // byte offset of the field in the file
    size_t size;    // 4 or 8 (scalars: their size)
};
struct Layout {
    std::vector<FieldPos> fields;
    std::vector<size_t> boundaries;  // offsets where a section / entry begins (for truncation)
    size_t header_end = 0;           // end of the tensor infos
    size_t n_tensors = 0;
    bool ok = false;
};

// Walks a well-formed file (the fixtures, or a Writer's output). Independent of the reader under test.
inline Layout walk_gguf(const std::vector<uint8_t>& b) {
    Layout L;
    size_t pos = 0;
    auto have = [&](size_t n) { return n <= b.size() && pos <= b.size() - n; };
    auto rd32 = [&] { uint32_t v = peek<uint32_t>(b, pos); pos += 4; return v; };
    auto rd64 = [&] { uint64_t v = peek<uint64_t>(b, pos); pos += 8; return v; };
    auto add = [&](Field f, size_t size) { L.fields.push_back({f, pos, size}); };
    if (!have(24)) return L;
    pos = 4;
    add(Field::version, 4);
    rd32();
    add(Field::n_tensors, 8);
    uint64_t n_tensors = rd64();
    add(Field::n_kv, 8);
    uint64_t n_kv = rd64();
    auto scalar_size = [](uint32_t t) -> size_t {
        static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        return t < 13 ? sz[t] : 0;
    };
    // Returns false on anything malformed.
    auto skip_value = [&](auto&& self, uint32_t t, int depth) -> bool {
        if (t == 8) {
            if (!have(8)) return false;
            add(Field::string_len, 8);
            uint64_t n = rd64();
            if (!have(n)) return false;
            pos += n;
            return true;
        }
        if (t == 9) {
            if (depth > 8 || !have(12)) return false;
            add(Field::array_elem_type, 4);
            uint32_t et = rd32();
            add(Field::array_count, 8);
            uint64_t n = rd64();
            // Record only the first few elements' fields: enough targets, and quick on 280147-string arrays.
            size_t keep_from = L.fields.size();
            for (uint64_t k = 0; k < n; k++) {
                if (!self(self, et, depth + 1)) return false;
                if (k >= 3 && L.fields.size() > keep_from + 16) L.fields.resize(keep_from + 16);
            }
            return true;
        }
        size_t s = scalar_size(t);
        if (!s || !have(s)) return false;
        add(Field::scalar, s);
        pos += s;
        return true;
    };
    L.boundaries.push_back(pos);
    for (uint64_t k = 0; k < n_kv; k++) {
        L.boundaries.push_back(pos);
        if (!have(8)) return L;
        add(Field::key_len, 8);
        uint64_t n = rd64();
        if (!have(n + 4)) return L;
        pos += n;
        add(Field::value_type, 4);
        uint32_t t = rd32();
        if (!skip_value(skip_value, t, 0)) return L;
    }
    for (uint64_t k = 0; k < n_tensors; k++) {
        L.boundaries.push_back(pos);
        if (!have(8)) return L;
        add(Field::tensor_name_len, 8);
        uint64_t n = rd64();
        if (!have(n + 4)) return L;
        pos += n;
        add(Field::n_dims, 4);
        uint32_t nd = rd32();
        if (nd > 4 || !have(8 * nd + 12)) return L;
        for (uint32_t d = 0; d < nd; d++) {
            add(Field::ne, 8);
            rd64();
        }
        add(Field::tensor_type, 4);
        rd32();
        add(Field::tensor_offset, 8);
        rd64();
    }
    L.header_end = pos;
    L.boundaries.push_back(pos);
    L.n_tensors = size_t(n_tensors);
    L.ok = true;
    return L;
}

}  // namespace slm::test
