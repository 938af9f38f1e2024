#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common.h"
#include "input_file.h"
#include "json.h"
#include "output_file.h"

namespace slm::safetensors {

namespace {
constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit
constexpr size_t kMaxDims = 8;
}  // namespace

size_t dtype_size(std::string_view d) {
    if (d == "F64" || d == "I64" || d == "U64") return 8;
    if (d == "F32" || d == "I32" || d == "U32") return 4;
    if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
    if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
    return 0;
}

int64_t TensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

struct File::Impl {
    std::string path;
    const uint8_t* base = nullptr;
    uint64_t size = 0;
    void* map = nullptr;
    std::vector<uint8_t> owned;
    uint64_t data_start = 0;
    std::vector<TensorInfo> tensors;
    std::vector<std::pair<std::string, std::string>> metadata;

    ~Impl() {
        if (map) munmap(map, size_t(size));
    }

    void parse() {
        const char* p = path.c_str();
        if (size < 8) fail("%s: %llu bytes: too short for a safetensors file (8-byte header length)", p, (unsigned long long)size);
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | base[i];
        if (n > size - 8) fail("%s: header length %llu runs past the end of the file (%llu bytes)", p, (unsigned long long)n, (unsigned long long)size);
        if (n > kMaxHeader) fail("%s: header length %llu exceeds the 100 MiB limit", p, (unsigned long long)n);
        if (n < 2) fail("%s: header length %llu: too short for a JSON object", p, (unsigned long long)n);
        data_start = 8 + n;
        const uint64_t data_size = size - data_start;
        json::Value root;
        std::string err;
        if (!json::try_parse(std::string_view(reinterpret_cast<const char*>(base + 8), size_t(n)), &root, &err, 16))
            fail("%s: header: %s", p, err.c_str());
        if (!root.is_object()) fail("%s: header: expected a JSON object", p);
        for (const auto& [name, v] : root.as_object()) {
            const char* nm = name.c_str();
            if (name == "__metadata__") {
                if (!v.is_object()) fail("%s: __metadata__: expected an object of strings", p);
                for (const auto& [k, mv] : v.as_object()) {
                    if (!mv.is_string()) fail("%s: __metadata__[\"%s\"]: expected a string", p, k.c_str());
                    metadata.push_back({k, mv.as_string()});
                }
                continue;
            }
            if (!v.is_object()) fail("%s: tensor %s: expected an object with dtype, shape, data_offsets", p, nm);
            TensorInfo t;
            t.name = name;
            const json::Value* dt = v.find("dtype");
            if (!dt || !dt->is_string()) fail("%s: tensor %s: dtype: missing or not a string", p, nm);
            t.dtype = dt->as_string();
            const size_t es = dtype_size(t.dtype);
            if (es == 0) fail("%s: tensor %s: unknown dtype \"%s\"", p, nm, t.dtype.substr(0, 32).c_str());
            const json::Value* sh = v.find("shape");
            if (!sh || !sh->is_array()) fail("%s: tensor %s: shape: missing or not an array", p, nm);
            if (sh->size() > kMaxDims) fail("%s: tensor %s: shape has %zu dimensions (at most %zu)", p, nm, sh->size(), kMaxDims);
            // Element count and bytes, refusing overflow (every dimension is at most the data size).
            unsigned __int128 count = 1;
            for (size_t i = 0; i < sh->size(); i++) {
                const json::Value& d = (*sh)[i];
                if (!d.is_integer() || d.as_int() < 0) fail("%s: tensor %s: shape[%zu]: expected a non-negative integer", p, nm, i);
                t.shape.push_back(d.as_int());
                count *= uint64_t(d.as_int());
                if (count > data_size) count = uint64_t(data_size) + 1;  // saturate: too big either way
            }
            const json::Value* off = v.find("data_offsets");
            if (!off || !off->is_array() || off->size() != 2 || !(*off)[0].is_integer() || !(*off)[1].is_integer() ||
                (*off)[0].as_int() < 0 || (*off)[1].as_int() < 0)
                fail("%s: tensor %s: data_offsets: expected [begin, end], two non-negative integers", p, nm);
            t.begin = uint64_t((*off)[0].as_int());
            t.end = uint64_t((*off)[1].as_int());
            if (t.begin > t.end) fail("%s: tensor %s: data_offsets [%llu, %llu]: begin after end", p, nm, (unsigned long long)t.begin, (unsigned long long)t.end);
            if (t.end > data_size)
                fail("%s: tensor %s: data_offsets [%llu, %llu] run past the data (%llu bytes)", p, nm,
                     (unsigned long long)t.begin, (unsigned long long)t.end, (unsigned long long)data_size);
            const unsigned __int128 want = count * es;
            if (want != t.end - t.begin)
                fail("%s: tensor %s: shape and dtype %s need %llu bytes, data_offsets give %llu", p, nm, t.dtype.c_str(),
                     (unsigned long long)std::min<unsigned __int128>(want, std::numeric_limits<uint64_t>::max()),
                     (unsigned long long)(t.end - t.begin));
            tensors.push_back(std::move(t));
        }
        std::vector<const TensorInfo*> by_off;
        for (const TensorInfo& t : tensors) by_off.push_back(&t);
        std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->begin < b->begin || (a->begin == b->begin && a->end < b->end); });
        for (size_t i = 1; i < by_off.size(); i++)
            if (by_off[i]->begin < by_off[i - 1]->end)
                fail("%s: tensors %s and %s overlap", p, by_off[i - 1]->name.c_str(), by_off[i]->name.c_str());
    }
};

File::File() : impl_(std::make_unique<Impl>()) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::string& path) {
    File f;
    Impl& im = *f.impl_;
    im.path = path;
    // input_file.h: the type is checked before anything can block (a FIFO would wait forever).
    int fd = open_input(path, "a safetensors file");
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        fail("%s: cannot stat: %s", path.c_str(), std::strerror(e));
    }
    im.size = uint64_t(st.st_size);
    if (im.size > 0) {
        void* m = mmap(nullptr, size_t(im.size), PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            fail("%s: mmap failed: %s", path.c_str(), std::strerror(e));
        }
        im.map = m;
        im.base = static_cast<const uint8_t*>(m);
    }
    ::close(fd);
    im.parse();
    return f;
}

File File::from_memory(const void* data, size_t size, const std::string& name) {
    File f;
    Impl& im = *f.impl_;
    im.path = name;
    im.owned.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size);
    im.base = im.owned.data();
    im.size = size;
    im.parse();
    return f;
}

const std::string& File::path() const { return impl_->path; }
uint64_t File::file_size() const { return impl_->size; }
const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }
const std::vector<std::pair<std::string, std::string>>& File::metadata() const { return impl_->metadata; }
const TensorInfo* File::find(std::string_view name) const {
    for (const TensorInfo& t : impl_->tensors)
        if (t.name == name) return &t;
    return nullptr;
}
const uint8_t* File::data(const TensorInfo& t) const { return impl_->base + impl_->data_start + t.begin; }

// ---------------------------------------------------------------------------------------------------------

void Writer::set_metadata(const std::string& key, const std::string& value) {
    for (auto& [k, v] : meta_)
        if (k == key) {
            v = value;
            return;
        }
    meta_.push_back({key, value});
}

void Writer::add(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
                 std::vector<uint8_t> data) {
    if (dtype_size(dtype) == 0) fail("safetensors writer: tensor %s: unknown dtype %s", name.c_str(), dtype.c_str());
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (uint64_t(n) * dtype_size(dtype) != data.size())
        fail("safetensors writer: tensor %s: %zu bytes for %lld elements of %s", name.c_str(), data.size(), (long long)n, dtype.c_str());
    tensors_.push_back({name, dtype, shape, std::move(data)});
}

uint64_t Writer::data_bytes() const {
    uint64_t n = 0;
    for (const T& t : tensors_) n += t.data.size();
    return n;
}

std::string Writer::header() const {
    json::Value root = json::Value::object();
    if (!meta_.empty()) {
        json::Value m = json::Value::object();
        for (const auto& [k, v] : meta_) m.set(k, v);
        root.push_member("__metadata__", m);
    }
    uint64_t off = 0;
    for (const T& t : tensors_) {
        json::Value e = json::Value::object(), sh = json::Value::array(), offs = json::Value::array();
        for (int64_t d : t.shape) sh.push_back(json::Value(d));
        offs.push_back(json::Value(int64_t(off)));
        off += t.data.size();
        offs.push_back(json::Value(int64_t(off)));
        e.push_member("dtype", t.dtype);
        e.push_member("shape", sh);
        e.push_member("data_offsets", offs);
        root.set(t.name, e);
    }
    std::string h = root.dump();
    // dump() writes ", " and ": " separators; the reference writer is compact, either parses.
    return h;
}

template <class Sink>
void Writer::emit(Sink& out) const {
    std::string h = header();
    while ((8 + h.size()) % 8 != 0) h += ' ';
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
    out.write(len, 8);
    out.write(h);
    for (const T& t : tensors_)
        if (!t.data.empty()) out.write(t.data.data(), t.data.size());
}

// The three forms share emit(): memory, a file by name, a file opened before the work.
std::vector<uint8_t> Writer::to_bytes() const { return emitted_bytes([&](MemorySink& s) { emit(s); }); }
void Writer::write(const std::string& path) const { write_output_file(path, [&](OutputFile& f) { emit(f); }); }
void Writer::write(OutputFile& out) const { emit(out); }

}  // namespace slm::safetensors
