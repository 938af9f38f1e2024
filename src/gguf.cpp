// GGUF reader and writer. See gguf.h for the file layout.
//
// The reader parses the whole header from one contiguous byte range (the mmapped file, or a buffer) through a
// bounds-checked cursor: every count, length and offset is compared with the bytes that remain before it is
// used, so a corrupt or hostile file ends in an slm::Error naming the file and the field, never in a huge
// allocation or an out-of-bounds read.
#include "gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "common.h"
#include "tensor.h"
#include "input_file.h"
#include "output_file.h"
#include "unicode.h"

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace slm::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 16;  // nested arrays deeper than this are refused (stack safety)

bool valid_value_type(uint32_t t) { return t <= uint32_t(ValueType::FLOAT64); }

// Bytes of a fixed-size value; 0 for STRING and ARRAY.
uint64_t scalar_size(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        default: return 0;
    }
}

// The fewest bytes one element of type t can occupy on disk: used to refuse a count that cannot fit in what
// remains of the file before anything is allocated for it.
uint64_t min_encoded_size(ValueType t) {
    if (t == ValueType::STRING) return 8;   // u64 length
    if (t == ValueType::ARRAY) return 12;   // u32 elem_type + u64 count
    return scalar_size(t);
}

bool is_unsigned_type(ValueType t) {
    return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 || t == ValueType::UINT64;
}
bool is_signed_type(ValueType t) {
    return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}

// Strings from the file, for display and error messages: the one escaping rule (unicode.h).
std::string quote(std::string_view s) { return "\"" + escape_text(s, SIZE_MAX) + "\""; }

// A name from the file for an error message: escaped, and cut short if a corrupt length made it huge.
std::string printable(std::string_view s, size_t max_len = 120) { return escape_text(s, max_len); }

// 64-byte aligned heap buffer (LoadMode::read and from_memory): tensor data then starts as aligned as it would
// in a mapping, so SIMD kernels see the same alignment whichever way the file was loaded.
struct AlignedFree {
    void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using AlignedBuffer = std::unique_ptr<uint8_t[], AlignedFree>;
AlignedBuffer alloc_aligned(size_t n) {
    return AlignedBuffer(static_cast<uint8_t*>(::operator new[](n ? n : 1, std::align_val_t(64))));
}

// ---- bounds-checked cursor over the header ----
class Cursor {
public:
    Cursor(const uint8_t* data, uint64_t size, const std::string& name) : p_(data), size_(size), name_(name) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }
    const std::string& name() const { return name_; }

    // The field being read, for error messages ("metadata key 'x'", "tensor 'y'").
    std::string ctx;

    [[noreturn]] void error(const std::string& msg) const {
        if (ctx.empty()) fail("%s: %s", name_.c_str(), msg.c_str());
        fail("%s: %s: %s", name_.c_str(), ctx.c_str(), msg.c_str());
    }

    void need(uint64_t n, const char* what) const {
        if (n > remaining())
            error(strfmt("file truncated: %s at offset %llu needs %llu bytes, only %llu remain (file size %llu)",
                         what, (unsigned long long)pos_, (unsigned long long)n, (unsigned long long)remaining(),
                         (unsigned long long)size_));
    }

    template <class T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, p_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string_view read_string(const char* what) {
        uint64_t len = read<uint64_t>(what);
        if (len > remaining())
            error(strfmt("%s: string length %llu at offset %llu exceeds the %llu bytes left in the file (truncated or "
                         "corrupt)", what,
                         (unsigned long long)len, (unsigned long long)(pos_ - 8), (unsigned long long)remaining()));
        std::string_view s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
        pos_ += len;
        return s;
    }

    // A count of elements each needing at least min_size bytes: refused unless they could all fit.
    void check_count(uint64_t count, uint64_t min_size, const char* what) const {
        if (min_size > 0 && count > remaining() / min_size)
            error(strfmt("%s %llu is impossible: %llu elements need at least %llu bytes each, only %llu bytes "
                         "remain in the file", what, (unsigned long long)count, (unsigned long long)count,
                         (unsigned long long)min_size, (unsigned long long)remaining()));
    }

private:
    const uint8_t* p_;
    uint64_t size_;
    uint64_t pos_ = 0;
    const std::string& name_;
};

void read_value(Cursor& c, ValueType t, Value& v, int depth);

void read_scalar(Cursor& c, ValueType t, Value& v) {
    v.type = t;
    switch (t) {
        case ValueType::UINT8: v.u = c.read<uint8_t>("u8 value"); break;
        case ValueType::INT8: v.i = c.read<int8_t>("i8 value"); break;
        case ValueType::UINT16: v.u = c.read<uint16_t>("u16 value"); break;
        case ValueType::INT16: v.i = c.read<int16_t>("i16 value"); break;
        case ValueType::UINT32: v.u = c.read<uint32_t>("u32 value"); break;
        case ValueType::INT32: v.i = c.read<int32_t>("i32 value"); break;
        case ValueType::UINT64: v.u = c.read<uint64_t>("u64 value"); break;
        case ValueType::INT64: v.i = c.read<int64_t>("i64 value"); break;
        case ValueType::FLOAT32: v.f = c.read<float>("f32 value"); break;
        case ValueType::FLOAT64: v.f = c.read<double>("f64 value"); break;
        case ValueType::BOOL: {
            uint8_t b = c.read<uint8_t>("bool value");
            // Only 0 and 1 are kept, so that writing the value back reproduces the same byte.
            if (b > 1) c.error(strfmt("bool value %u at offset %llu (expected 0 or 1)", b,
                                      (unsigned long long)(c.pos() - 1)));
            v.u = b;
            break;
        }
        default: c.error("internal error: not a scalar type");
    }
}

void read_array(Cursor& c, Value& v, int depth) {
    if (depth >= kMaxArrayDepth) c.error(strfmt("arrays nested deeper than %d levels", kMaxArrayDepth));
    uint32_t et = c.read<uint32_t>("array element type");
    if (!valid_value_type(et))
        c.error(strfmt("unknown array element type %u at offset %llu (expected 0..12)", et,
                       (unsigned long long)(c.pos() - 4)));
    ValueType elem = ValueType(et);
    uint64_t n = c.read<uint64_t>("array length");
    c.check_count(n, min_encoded_size(elem), "array length");
    v.type = ValueType::ARRAY;
    v.elem_type = elem;
    v.arr.resize(size_t(n));
    if (elem == ValueType::STRING) {
        for (Value& e : v.arr) {
            e.type = ValueType::STRING;
            std::string_view s = c.read_string("array string");
            e.str.assign(s.data(), s.size());
        }
    } else if (elem == ValueType::ARRAY) {
        for (Value& e : v.arr) read_array(c, e, depth + 1);
    } else {
        for (Value& e : v.arr) read_scalar(c, elem, e);
    }
}

void read_value(Cursor& c, ValueType t, Value& v, int depth) {
    if (t == ValueType::STRING) {
        v.type = t;
        std::string_view s = c.read_string("string value");
        v.str.assign(s.data(), s.size());
    } else if (t == ValueType::ARRAY) {
        read_array(c, v, depth);
    } else {
        read_scalar(c, t, v);
    }
}

// a * b, or nullopt on overflow (non-negative operands).
std::optional<int64_t> mul_checked(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

// Bytes of a tensor of this type and shape; throws (through err) when they are not a whole number of blocks or
// the arithmetic overflows. Shared by the reader and the writer so both accept exactly the same tensors.
template <class Err>
uint64_t tensor_nbytes(const TypeInfo& ti, const std::array<int64_t, 4>& ne, Err&& err) {
    for (int d = 0; d < 4; d++)
        if (ne[d] < 0) err(strfmt("dimension ne[%d] = %lld is negative", d, (long long)ne[d]));
    if (ne[0] % ti.block_size != 0)
        err(strfmt("ne[0] = %lld is not a multiple of the %s block size %lld", (long long)ne[0], ti.name,
                   (long long)ti.block_size));
    std::optional<int64_t> n = ne[0];
    for (int d = 1; d < 4 && n; d++) n = mul_checked(*n, ne[d]);
    if (!n) err("element count overflows 64 bits");
    std::optional<int64_t> row = mul_checked(ne[0] / ti.block_size, ti.type_size);
    std::optional<int64_t> rows = mul_checked(ne[1], ne[2]);
    if (rows) rows = mul_checked(*rows, ne[3]);
    std::optional<int64_t> bytes = (row && rows) ? mul_checked(*row, *rows) : std::nullopt;
    if (!bytes) err("byte size overflows 64 bits");
    return uint64_t(*bytes);
}


}  // namespace

// ================================================================ Value

const char* value_type_name(ValueType t) {
    switch (t) {
        case ValueType::UINT8: return "u8";
        case ValueType::INT8: return "i8";
        case ValueType::UINT16: return "u16";
        case ValueType::INT16: return "i16";
        case ValueType::UINT32: return "u32";
        case ValueType::INT32: return "i32";
        case ValueType::FLOAT32: return "f32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::UINT64: return "u64";
        case ValueType::INT64: return "i64";
        case ValueType::FLOAT64: return "f64";
    }
    return "unknown";
}

Value Value::make_u32(uint32_t v) { Value r; r.type = ValueType::UINT32; r.u = v; return r; }
Value Value::make_i32(int32_t v) { Value r; r.type = ValueType::INT32; r.i = v; return r; }
Value Value::make_u64(uint64_t v) { Value r; r.type = ValueType::UINT64; r.u = v; return r; }
Value Value::make_f32(float v) { Value r; r.type = ValueType::FLOAT32; r.f = v; return r; }
Value Value::make_bool(bool v) { Value r; r.type = ValueType::BOOL; r.u = v ? 1 : 0; return r; }
Value Value::make_string(std::string v) { Value r; r.type = ValueType::STRING; r.str = std::move(v); return r; }
Value Value::make_array(ValueType elem_type, std::vector<Value> elems) {
    Value r;
    r.type = ValueType::ARRAY;
    r.elem_type = elem_type;
    r.arr = std::move(elems);
    return r;
}
Value Value::make_string_array(const std::vector<std::string>& v) {
    std::vector<Value> elems;
    elems.reserve(v.size());
    for (const std::string& s : v) elems.push_back(make_string(s));
    return make_array(ValueType::STRING, std::move(elems));
}

bool Value::is_integer() const { return is_unsigned_type(type) || is_signed_type(type); }
bool Value::is_number() const { return is_integer() || type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }

int64_t Value::as_int() const {
    if (is_signed_type(type)) return i;
    if (is_unsigned_type(type)) {
        if (u > uint64_t(std::numeric_limits<int64_t>::max()))
            fail("value %llu does not fit in a signed 64-bit integer", (unsigned long long)u);
        return int64_t(u);
    }
    fail("expected an integer, found %s", value_type_name(type));
}

uint64_t Value::as_uint() const {
    if (is_unsigned_type(type)) return u;
    if (is_signed_type(type)) {
        if (i < 0) fail("expected a non-negative integer, found %lld", (long long)i);
        return uint64_t(i);
    }
    fail("expected an integer, found %s", value_type_name(type));
}

double Value::as_float() const {
    if (type == ValueType::FLOAT32 || type == ValueType::FLOAT64) return f;
    if (is_unsigned_type(type)) return double(u);
    if (is_signed_type(type)) return double(i);
    fail("expected a number, found %s", value_type_name(type));
}

std::string Value::to_display(size_t max_items) const {
    switch (type) {
        case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
            return strfmt("%llu", (unsigned long long)u);
        case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
            return strfmt("%lld", (long long)i);
        case ValueType::FLOAT32: return strfmt("%.9g", f);   // enough digits to read back the same float
        case ValueType::FLOAT64: return strfmt("%.17g", f);
        case ValueType::BOOL: return u ? "true" : "false";
        case ValueType::STRING: return quote(str);
        case ValueType::ARRAY: {
            std::string s;
            size_t shown = std::min(max_items, arr.size());
            bool summarized = shown < arr.size();
            // Long arrays say their length and type up front, then the first few elements.
            s = summarized ? strfmt("[%zu x %s] ", arr.size(), value_type_name(elem_type)) : "[";
            for (size_t k = 0; k < shown; k++) {
                if (k) s += ", ";
                s += arr[k].to_display(max_items);
            }
            s += summarized ? ", ..." : "]";
            return s;
        }
    }
    return "?";
}

// ================================================================ File

struct File::Impl {
    std::string path;
    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    uint64_t data_offset = 0;
    uint64_t file_size = 0;
    LoadMode mode = LoadMode::read;

    std::vector<KV> kv;
    std::unordered_map<std::string_view, size_t> kv_index;  // views into kv[i].key (stable: kv never changes)
    std::vector<TensorInfo> tensors;
    std::unordered_map<std::string_view, size_t> tensor_index;

    const uint8_t* base = nullptr;  // the whole file in memory
    void* map = nullptr;
    size_t map_size = 0;
    bool locked = false;
    AlignedBuffer buffer;

    ~Impl() {
        if (locked) munlock(map, map_size);
        if (map) munmap(map, map_size);
    }

    void parse();
    void parse_with(Cursor& c);
    [[noreturn]] void key_error(std::string_view key, const std::string& msg) const {
        fail("%s: metadata key %.*s: %s", path.c_str(), int(key.size()), key.data(), msg.c_str());
    }
    const Value& require(std::string_view key) const {
        auto it = kv_index.find(key);
        if (it == kv_index.end()) key_error(key, "missing");
        return kv[it->second].value;
    }
};

void File::Impl::parse() {
    Cursor c(base, file_size, path);
    try {
        parse_with(c);
    } catch (const std::bad_alloc&) {
        // Counts are checked against the bytes left before anything is sized, so this takes a file whose real
        // contents are larger than memory; still an error naming the file and the field, not a crash.
        c.error("out of memory while reading this field");
    }
}

void File::Impl::parse_with(Cursor& c) {
    c.ctx = "header";
    if (file_size < 4) c.error(strfmt("not a GGUF file: only %llu bytes", (unsigned long long)file_size));
    uint32_t magic = c.read<uint32_t>("magic");
    if (magic != kMagic) {
        c.error(strfmt("not a GGUF file: magic bytes are %s, expected \"GGUF\"",
                       quote(std::string_view(reinterpret_cast<const char*>(base), 4)).c_str()));
    }
    version = c.read<uint32_t>("version");
    if (version == 1)
        c.error("GGUF version 1 is not supported (it used 32-bit counts); convert the file to version 3");
    if (version != 2 && version != 3) {
        if (version != 0 && (version & 0xffff) == 0)
            c.error(strfmt("version field reads %u: this looks like a big-endian GGUF file, which is not supported",
                           version));
        c.error(strfmt("unsupported GGUF version %u (expected 2 or 3)", version));
    }
    uint64_t n_tensors = c.read<uint64_t>("tensor count");
    uint64_t n_kv = c.read<uint64_t>("metadata count");
    // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 24.
    c.check_count(n_kv, 13, "metadata count");
    kv.resize(size_t(n_kv));

    for (uint64_t k = 0; k < n_kv; k++) {
        c.ctx = strfmt("metadata entry #%llu", (unsigned long long)k);
        std::string_view key = c.read_string("key");
        c.ctx = "metadata key " + printable(key);
        kv[k].key.assign(key.data(), key.size());
        if (!kv_index.emplace(std::string_view(kv[k].key), size_t(k)).second) c.error("duplicate key");
        uint32_t t = c.read<uint32_t>("value type");
        if (!valid_value_type(t))
            c.error(strfmt("unknown value type %u at offset %llu (expected 0..12)", t,
                           (unsigned long long)(c.pos() - 4)));
        read_value(c, ValueType(t), kv[k].value, 0);
    }
    // kv_index was built while kv was being filled, but kv was sized up front so the keys never moved.

    if (auto it = kv_index.find("general.alignment"); it != kv_index.end()) {
        const Value& v = kv[it->second].value;
        c.ctx = "metadata key general.alignment";
        if (!v.is_integer()) c.error(strfmt("expected an integer, found %s", value_type_name(v.type)));
        if (is_signed_type(v.type) && v.i <= 0) c.error(strfmt("alignment %lld must be positive", (long long)v.i));
        uint64_t a = is_signed_type(v.type) ? uint64_t(v.i) : v.u;
        if (a == 0 || (a & (a - 1)) != 0)
            c.error(strfmt("alignment %llu is not a nonzero power of two", (unsigned long long)a));
        alignment = a;
    }

    c.ctx = "header";
    c.check_count(n_tensors, 24, "tensor count");
    tensors.resize(size_t(n_tensors));
    for (uint64_t k = 0; k < n_tensors; k++) {
        TensorInfo& ti = tensors[k];
        c.ctx = strfmt("tensor #%llu", (unsigned long long)k);
        std::string_view name = c.read_string("name");
        ti.name.assign(name.data(), name.size());
        c.ctx = "tensor '" + printable(ti.name) + "'";
        if (!tensor_index.emplace(std::string_view(ti.name), size_t(k)).second) c.error("duplicate tensor name");
        ti.n_dims = c.read<uint32_t>("n_dims");
        if (ti.n_dims > uint32_t(kMaxDims))
            c.error(strfmt("n_dims %u exceeds the maximum of %d", ti.n_dims, kMaxDims));
        for (uint32_t d = 0; d < ti.n_dims; d++) ti.ne[d] = c.read<int64_t>("dimension");
        uint32_t type_id = c.read<uint32_t>("type");
        std::optional<TypeInfo> info = type_info(type_id);
        if (!info) c.error(strfmt("unknown ggml type id %u", type_id));
        ti.type = info->type;
        ti.offset = c.read<uint64_t>("data offset");
        ti.nbytes = tensor_nbytes(*info, ti.ne, [&](const std::string& m) {
            c.error(strfmt("%s (type %s, shape %s)", m.c_str(), info->name, shape_str(ti.ne.data(), int(ti.n_dims)).c_str()));
        });
        if (ti.offset % alignment != 0)
            c.error(strfmt("data offset %llu is not a multiple of the alignment %llu",
                           (unsigned long long)ti.offset, (unsigned long long)alignment));
    }

    // The data section starts at the next multiple of the alignment after the header.
    uint64_t header_end = c.pos();
    uint64_t rem = header_end % alignment;
    if (rem == 0) data_offset = header_end;
    else if (__builtin_add_overflow(header_end, alignment - rem, &data_offset))
        fail("%s: data section offset overflows (alignment %llu)", path.c_str(), (unsigned long long)alignment);
    // Files without tensors (vocabularies) may end right after the header, without padding.
    if (n_tensors == 0) data_offset = std::min(data_offset, file_size);
    if (n_tensors > 0 && data_offset > file_size)
        fail("%s: data section would start at offset %llu, past the end of the file (size %llu)", path.c_str(),
             (unsigned long long)data_offset, (unsigned long long)file_size);

    uint64_t data_size = n_tensors > 0 ? file_size - data_offset : 0;
    for (const TensorInfo& ti : tensors) {
        if (ti.offset > data_size || ti.nbytes > data_size - ti.offset)
            fail("%s: tensor '%s': data [offset %llu, %llu bytes] extends past end of file (size %llu, data "
                 "section starts at %llu)", path.c_str(), ti.name.c_str(), (unsigned long long)ti.offset,
                 (unsigned long long)ti.nbytes, (unsigned long long)file_size, (unsigned long long)data_offset);
    }
    // No two tensors may share bytes: sort by offset and compare neighbours.
    std::vector<const TensorInfo*> order;
    order.reserve(tensors.size());
    for (const TensorInfo& ti : tensors)
        if (ti.nbytes > 0) order.push_back(&ti);
    std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
    for (size_t k = 1; k < order.size(); k++) {
        const TensorInfo* a = order[k - 1];
        const TensorInfo* b = order[k];
        if (a->offset + a->nbytes > b->offset)
            fail("%s: tensor '%s' [offset %llu, %llu bytes] overlaps tensor '%s' [offset %llu, %llu bytes]",
                 path.c_str(), b->name.c_str(), (unsigned long long)b->offset, (unsigned long long)b->nbytes,
                 a->name.c_str(), (unsigned long long)a->offset, (unsigned long long)a->nbytes);
    }
}

File::File() : impl_(std::make_unique<Impl>()) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::string& path, LoadMode mode) {
    File f;
    Impl& im = *f.impl_;
    im.path = path;
    im.mode = mode;
    int fd = open_input(path, "a GGUF file");
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st;
    if (fstat(fd, &st) != 0) fail("%s: cannot stat: %s", path.c_str(), std::strerror(errno));
    im.file_size = uint64_t(st.st_size);
    if (im.file_size == 0) fail("%s: file is empty (0 bytes), expected a GGUF file", path.c_str());

    if (mode == LoadMode::read) {
        im.buffer = alloc_aligned(size_t(im.file_size));
        uint64_t done = 0;
        while (done < im.file_size) {
            ssize_t r = ::read(fd, im.buffer.get() + done, size_t(std::min<uint64_t>(im.file_size - done, 1u << 30)));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) fail("%s: read failed: %s", path.c_str(), std::strerror(errno));
            if (r == 0) fail("%s: file shrank while being read (%llu of %llu bytes)", path.c_str(),
                             (unsigned long long)done, (unsigned long long)im.file_size);
            done += uint64_t(r);
        }
        im.base = im.buffer.get();
    } else {
        void* m = mmap(nullptr, size_t(im.file_size), PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) fail("%s: mmap failed: %s", path.c_str(), std::strerror(errno));
        im.map = m;
        im.map_size = size_t(im.file_size);
        im.base = static_cast<const uint8_t*>(m);
        if (mode == LoadMode::mlock) {
            if (mlock(m, im.map_size) != 0)
                fail("%s: mlock of %zu bytes failed: %s (check `ulimit -l`, or load without mlock)", path.c_str(),
                     im.map_size, std::strerror(errno));
            im.locked = true;
        }
    }
    im.parse();
    return f;
}

File File::from_memory(const void* data, size_t size, const std::string& name) {
    File f;
    Impl& im = *f.impl_;
    im.path = name;
    im.mode = LoadMode::read;
    im.file_size = size;
    im.buffer = alloc_aligned(size);
    if (size) std::memcpy(im.buffer.get(), data, size);
    im.base = im.buffer.get();
    im.parse();
    return f;
}

const std::string& File::path() const { return impl_->path; }
uint32_t File::version() const { return impl_->version; }
uint64_t File::alignment() const { return impl_->alignment; }
uint64_t File::data_offset() const { return impl_->data_offset; }
uint64_t File::file_size() const { return impl_->file_size; }
LoadMode File::mode() const { return impl_->mode; }
const std::vector<KV>& File::metadata() const { return impl_->kv; }

const Value* File::find(std::string_view key) const {
    auto it = impl_->kv_index.find(key);
    return it == impl_->kv_index.end() ? nullptr : &impl_->kv[it->second].value;
}

std::string File::get_string(std::string_view key) const {
    const Value& v = impl_->require(key);
    if (v.type != ValueType::STRING) impl_->key_error(key, strfmt("expected string, found %s", value_type_name(v.type)));
    return v.str;
}
int64_t File::get_int(std::string_view key) const {
    const Value& v = impl_->require(key);
    try {
        return v.as_int();
    } catch (const Error& e) {
        impl_->key_error(key, e.what());
    }
}
uint64_t File::get_uint(std::string_view key) const {
    const Value& v = impl_->require(key);
    try {
        return v.as_uint();
    } catch (const Error& e) {
        impl_->key_error(key, e.what());
    }
}
double File::get_float(std::string_view key) const {
    const Value& v = impl_->require(key);
    try {
        return v.as_float();
    } catch (const Error& e) {
        impl_->key_error(key, e.what());
    }
}
bool File::get_bool(std::string_view key) const {
    const Value& v = impl_->require(key);
    if (v.type != ValueType::BOOL) impl_->key_error(key, strfmt("expected bool, found %s", value_type_name(v.type)));
    return v.u != 0;
}
const Value& File::get_array(std::string_view key) const {
    const Value& v = impl_->require(key);
    if (v.type != ValueType::ARRAY) impl_->key_error(key, strfmt("expected array, found %s", value_type_name(v.type)));
    return v;
}
std::string File::get_string(std::string_view key, const std::string& def) const {
    return has(key) ? get_string(key) : def;
}
int64_t File::get_int(std::string_view key, int64_t def) const { return has(key) ? get_int(key) : def; }
double File::get_float(std::string_view key, double def) const { return has(key) ? get_float(key) : def; }
bool File::get_bool(std::string_view key, bool def) const { return has(key) ? get_bool(key) : def; }

const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }
const TensorInfo* File::find_tensor(std::string_view name) const {
    auto it = impl_->tensor_index.find(name);
    return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const uint8_t* File::tensor_data(const TensorInfo& t) const {
    // Guards against a TensorInfo that came from another file (every tensor of this file was checked at open).
    uint64_t data_size = impl_->file_size >= impl_->data_offset ? impl_->file_size - impl_->data_offset : 0;
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
        fail("%s: tensor '%s' [offset %llu, %llu bytes] is not inside this file's data section", impl_->path.c_str(),
             t.name.c_str(), (unsigned long long)t.offset, (unsigned long long)t.nbytes);
    return impl_->base + impl_->data_offset + t.offset;
}

// ================================================================ Writer

namespace {

void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}
template <class T>
void put(std::vector<uint8_t>& out, T v) {
    put_bytes(out, &v, sizeof(T));
}
void put_string(std::vector<uint8_t>& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    put_bytes(out, s.data(), s.size());
}

void put_value(std::vector<uint8_t>& out, const Value& v, const std::string& key, int depth) {
    auto range = [&](uint64_t max) {
        if (v.u > max)
            fail("GGUF writer: metadata key %s: value %llu does not fit in %s", key.c_str(), (unsigned long long)v.u,
                 value_type_name(v.type));
    };
    auto srange = [&](int64_t lo, int64_t hi) {
        if (v.i < lo || v.i > hi)
            fail("GGUF writer: metadata key %s: value %lld does not fit in %s", key.c_str(), (long long)v.i,
                 value_type_name(v.type));
    };
    switch (v.type) {
        case ValueType::UINT8: range(0xff); put<uint8_t>(out, uint8_t(v.u)); break;
        case ValueType::INT8: srange(-128, 127); put<int8_t>(out, int8_t(v.i)); break;
        case ValueType::UINT16: range(0xffff); put<uint16_t>(out, uint16_t(v.u)); break;
        case ValueType::INT16: srange(-32768, 32767); put<int16_t>(out, int16_t(v.i)); break;
        case ValueType::UINT32: range(0xffffffffu); put<uint32_t>(out, uint32_t(v.u)); break;
        case ValueType::INT32: srange(INT32_MIN, INT32_MAX); put<int32_t>(out, int32_t(v.i)); break;
        case ValueType::UINT64: put<uint64_t>(out, v.u); break;
        case ValueType::INT64: put<int64_t>(out, v.i); break;
        case ValueType::FLOAT32: put<float>(out, float(v.f)); break;
        case ValueType::FLOAT64: put<double>(out, v.f); break;
        case ValueType::BOOL: put<uint8_t>(out, v.u ? 1 : 0); break;
        case ValueType::STRING: put_string(out, v.str); break;
        case ValueType::ARRAY:
            if (depth >= kMaxArrayDepth)
                fail("GGUF writer: metadata key %s: arrays nested deeper than %d levels", key.c_str(), kMaxArrayDepth);
            if (!valid_value_type(uint32_t(v.elem_type)))
                fail("GGUF writer: metadata key %s: unknown array element type %u", key.c_str(), unsigned(v.elem_type));
            put<uint32_t>(out, uint32_t(v.elem_type));
            put<uint64_t>(out, v.arr.size());
            for (size_t k = 0; k < v.arr.size(); k++) {
                if (v.arr[k].type != v.elem_type)
                    fail("GGUF writer: metadata key %s: array element %zu has type %s, the array holds %s",
                         key.c_str(), k, value_type_name(v.arr[k].type), value_type_name(v.elem_type));
                put_value(out, v.arr[k], key, depth + 1);
            }
            break;
        default:
            fail("GGUF writer: metadata key %s: unknown value type %u", key.c_str(), unsigned(v.type));
    }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

Writer::Writer() = default;

Writer Writer::from_file(const File& f) {
    Writer w;
    w.kv_ = f.metadata();
    for (const TensorInfo& t : f.tensors()) {
        std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
        w.add_tensor_view(t.name, t.type, ne, f.tensor_data(t), t.nbytes);
    }
    return w;
}

void Writer::set(const std::string& key, Value v) {
    for (KV& kv : kv_)
        if (kv.key == key) {
            kv.value = std::move(v);
            return;
        }
    kv_.push_back(KV{key, std::move(v)});
}

void Writer::remove(const std::string& key) {
    kv_.erase(std::remove_if(kv_.begin(), kv_.end(), [&](const KV& kv) { return kv.key == key; }), kv_.end());
}

const Value* Writer::find(std::string_view key) const {
    for (const KV& kv : kv_)
        if (kv.key == key) return &kv.value;
    return nullptr;
}

namespace {
// Checks a tensor the writer is given and returns its byte size.
uint64_t check_new_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne) {
    // Zero dimensions (a scalar) is allowed because the reader accepts it and a file must write back as read.
    if (ne.size() > size_t(kMaxDims))
        fail("GGUF writer: tensor '%s': %zu dimensions (expected at most %d)", name.c_str(), ne.size(), kMaxDims);
    std::array<int64_t, 4> shape{1, 1, 1, 1};
    std::copy(ne.begin(), ne.end(), shape.begin());
    return tensor_nbytes(type_info(type), shape, [&](const std::string& m) {
        fail("GGUF writer: tensor '%s': %s", name.c_str(), m.c_str());
    });
}
}  // namespace

void Writer::add_tensor_view(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                             const void* data, uint64_t nbytes) {
    for (const Tensor& t : tensors_)
        if (t.name == name) fail("GGUF writer: duplicate tensor name '%s'", name.c_str());
    uint64_t expect = check_new_tensor(name, type, ne);
    if (nbytes != expect)
        fail("GGUF writer: tensor '%s': %llu bytes given, type %s with this shape needs %llu", name.c_str(),
             (unsigned long long)nbytes, type_name(type), (unsigned long long)expect);
    if (!data && nbytes) fail("GGUF writer: tensor '%s': null data", name.c_str());
    Tensor t;
    t.name = name;
    t.type = type;
    t.ne = ne;
    t.view = data;
    t.nbytes = nbytes;
    tensors_.push_back(std::move(t));
}

void Writer::add_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                        std::vector<uint8_t> data) {
    add_tensor_view(name, type, ne, data.data(), data.size());
    Tensor& t = tensors_.back();
    t.owned = std::move(data);
    t.view = nullptr;  // the bytes are in t.owned (a moved vector keeps its buffer, but say so explicitly)
}

void Writer::add_tensor_lazy(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                             std::function<std::vector<uint8_t>()> produce) {
    for (const Tensor& t : tensors_)
        if (t.name == name) fail("GGUF writer: duplicate tensor name '%s'", name.c_str());
    Tensor t;
    t.name = name;
    t.type = type;
    t.ne = ne;
    t.nbytes = check_new_tensor(name, type, ne);
    t.produce = std::move(produce);
    tensors_.push_back(std::move(t));
}

size_t Writer::n_tensors() const { return tensors_.size(); }

namespace {
// The bytes of one tensor for writing: its view, its owned bytes, or what its producer makes (into `made`).
const uint8_t* tensor_bytes(const std::string& name, const std::vector<uint8_t>& owned, const void* view,
                            const std::function<std::vector<uint8_t>()>& produce, uint64_t nbytes,
                            std::vector<uint8_t>& made) {
    if (!produce) return view ? static_cast<const uint8_t*>(view) : owned.data();
    made = produce();
    if (made.size() != nbytes)
        fail("GGUF writer: tensor '%s': produced %zu bytes, %llu expected", name.c_str(), made.size(), (unsigned long long)nbytes);
    return made.data();
}
}  // namespace

namespace {
// Everything before the data section. Shared by write() and to_bytes().
struct Layout {
    std::vector<uint8_t> header;  // already padded to the alignment when there are tensors
    uint64_t alignment = kDefaultAlignment;
};
// What the header says about one tensor.
struct TensorDesc {
    std::string_view name;
    const std::vector<int64_t>* ne;
    GgmlType type;
    uint64_t nbytes;
};
Layout make_layout(const std::vector<KV>& kv, const std::vector<TensorDesc>& tensors);
}  // namespace

template <class Sink>
void Writer::emit(Sink& out) const {
    std::vector<TensorDesc> descs;
    for (const Tensor& t : tensors_) descs.push_back({t.name, &t.ne, t.type, t.nbytes});
    Layout L = make_layout(kv_, descs);
    out.write(L.header.data(), L.header.size());
    uint64_t pos = L.header.size();
    static const uint8_t zeros[256] = {};
    for (const Tensor& t : tensors_) {
        std::vector<uint8_t> made;
        const uint8_t* p = tensor_bytes(t.name, t.owned, t.view, t.produce, t.nbytes, made);
        out.write(p, size_t(t.nbytes));
        pos += t.nbytes;
        uint64_t pad = align_up(pos, L.alignment) - pos;
        while (pad > 0) {
            size_t n = size_t(std::min<uint64_t>(pad, sizeof zeros));
            out.write(zeros, n);
            pad -= n;
            pos += n;
        }
    }
}

// The three forms share emit(): memory, a file by name, a file opened before the work.
std::vector<uint8_t> Writer::to_bytes() const { return emitted_bytes([&](MemorySink& s) { emit(s); }); }
void Writer::write(const std::string& path) const { write_output_file(path, [&](OutputFile& f) { emit(f); }); }
void Writer::write(OutputFile& out) const { emit(out); }


namespace {
Layout make_layout(const std::vector<KV>& kv, const std::vector<TensorDesc>& tensors) {
    Layout L;
    for (const KV& e : kv)
        if (e.key == "general.alignment") {
            if (!e.value.is_integer())
                fail("GGUF writer: general.alignment must be an integer, found %s", value_type_name(e.value.type));
            uint64_t a = e.value.as_uint();
            if (a == 0 || (a & (a - 1)) != 0)
                fail("GGUF writer: general.alignment %llu is not a nonzero power of two", (unsigned long long)a);
            L.alignment = a;
        }
    std::unordered_set<std::string_view> keys;
    for (const KV& e : kv)
        if (!keys.insert(e.key).second) fail("GGUF writer: duplicate metadata key %s", e.key.c_str());

    std::vector<uint8_t>& out = L.header;
    put<uint32_t>(out, kMagic);
    put<uint32_t>(out, 3);
    put<uint64_t>(out, tensors.size());
    put<uint64_t>(out, kv.size());
    for (const KV& e : kv) {
        put_string(out, e.key);
        put<uint32_t>(out, uint32_t(e.value.type));
        put_value(out, e.value, e.key, 0);
    }
    uint64_t offset = 0;
    for (const TensorDesc& t : tensors) {
        put_string(out, t.name);
        put<uint32_t>(out, uint32_t(t.ne->size()));
        for (int64_t d : *t.ne) put<int64_t>(out, d);
        put<uint32_t>(out, uint32_t(t.type));
        put<uint64_t>(out, offset);
        offset = align_up(offset + t.nbytes, L.alignment);
    }
    // A file without tensors ends right after the header (as llama.cpp's vocabulary files do).
    if (!tensors.empty()) out.resize(size_t(align_up(out.size(), L.alignment)), 0);
    return L;
}
}  // namespace

}  // namespace slm::gguf
