// `slm inspect FILE.gguf [--all] [--json]`: what is in a GGUF file. Header, every metadata key with its value,
// the tensor table, totals per type, the parameter count and the average bits per weight.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "tensor.h"
#include "gguf.h"
#include "json.h"

namespace slm::cli {

namespace {

const char* kUsage =
    "usage: slm inspect FILE.gguf [--all] [--json] [--no-mmap | --mlock]\n"
    "\n"
    "Shows a GGUF file: header (version, alignment, counts, data offset, file size), every metadata key\n"
    "with its type and value, the tensor table (name, type, shape, bytes, offset), totals by type, the\n"
    "parameter count and the average bits per weight (8 * tensor bytes / parameters).\n"
    "\n"
    "options:\n"
    "  --all      print arrays whole (default: arrays longer than 8 elements show their length, type and\n"
    "             first 8 elements, like [128256 x string] \"!\", \"\\\"\", ...)\n"
    "  --json     print one JSON object instead of text (long arrays summarized as\n"
    "             {\"array_of\": TYPE, \"count\": N, \"first\": [...]} unless --all)\n"
    "  --no-mmap  read the file into memory instead of mapping it\n"
    "  --mlock    map the file and lock it in RAM (fails with the reason if mlock(2) is refused)\n";

constexpr size_t kSummaryItems = 8;

std::string human_bytes(uint64_t n) {
    if (n < 1024) return strfmt("%llu B", (unsigned long long)n);
    if (n < (1ull << 20)) return strfmt("%.2f KiB", double(n) / 1024);
    if (n < (1ull << 30)) return strfmt("%.2f MiB", double(n) / (1 << 20));
    return strfmt("%.2f GiB", double(n) / (1ull << 30));
}

std::string human_count(int64_t n) {
    if (n < 1000) return strfmt("%lld", (long long)n);
    if (n < 1000000) return strfmt("%.2fK", double(n) / 1e3);
    if (n < 1000000000) return strfmt("%.2fM", double(n) / 1e6);
    return strfmt("%.2fB", double(n) / 1e9);
}

std::string type_label(const gguf::Value& v) {
    if (v.type == gguf::ValueType::ARRAY) return strfmt("array[%s]", gguf::value_type_name(v.elem_type));
    return gguf::value_type_name(v.type);
}

std::string shape_of(const gguf::TensorInfo& t) { return shape_str(t.ne.data(), int(t.n_dims)); }

json::Value to_json(const gguf::Value& v, bool all) {
    using gguf::ValueType;
    switch (v.type) {
        case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
            // JSON integers here are int64; a u64 above that range is written as a number with a fraction lost.
            if (v.u > uint64_t(INT64_MAX)) return json::Value(double(v.u));
            return json::Value(int64_t(v.u));
        case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
            return json::Value(int64_t(v.i));
        case ValueType::FLOAT32: case ValueType::FLOAT64:
            // JSON has no NaN or infinity: spell them as strings.
            if (std::isnan(v.f)) return json::Value("nan");
            if (std::isinf(v.f)) return json::Value(v.f > 0 ? "inf" : "-inf");
            return json::Value(v.f);
        case ValueType::BOOL: return json::Value(v.u != 0);
        case ValueType::STRING: return json::Value(v.str);
        case ValueType::ARRAY: {
            size_t shown = all ? v.arr.size() : std::min(v.arr.size(), kSummaryItems);
            json::Value items = json::Value::array();
            for (size_t k = 0; k < shown; k++) items.push_back(to_json(v.arr[k], all));
            if (shown == v.arr.size()) return items;
            json::Value o = json::Value::object();
            o.set("array_of", json::Value(gguf::value_type_name(v.elem_type)));
            o.set("count", json::Value(int64_t(v.arr.size())));
            o.set("first", std::move(items));
            return o;
        }
    }
    return json::Value();
}

struct TypeTotal {
    int64_t count = 0;
    int64_t params = 0;
    uint64_t bytes = 0;
};

}  // namespace

int cmd_inspect(int argc, char** argv) {
    Args args(argc, argv, {}, {"--all", "--json", "--no-mmap", "--mlock"});
    if (args.help()) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (args.positionals().size() != 1) fail("inspect: expected one GGUF file (see slm inspect --help)");
    if (args.has("--no-mmap") && args.has("--mlock")) fail("inspect: --no-mmap and --mlock exclude each other");
    const bool all = args.has("--all");
    gguf::LoadMode mode = args.has("--no-mmap") ? gguf::LoadMode::read
                          : args.has("--mlock") ? gguf::LoadMode::mlock
                                                : gguf::LoadMode::mmap;
    gguf::File f = gguf::File::open(args.positionals()[0], mode);

    // Totals by type, in type-id order.
    std::map<uint32_t, TypeTotal> by_type;
    int64_t n_params = 0;
    uint64_t tensor_bytes = 0;
    for (const gguf::TensorInfo& t : f.tensors()) {
        TypeTotal& tt = by_type[uint32_t(t.type)];
        tt.count++;
        tt.params += t.n_elements();
        tt.bytes += t.nbytes;
        n_params += t.n_elements();
        tensor_bytes += t.nbytes;
    }
    const double bpw = n_params > 0 ? 8.0 * double(tensor_bytes) / double(n_params) : 0.0;

    if (args.has("--json")) {
        json::Value o = json::Value::object();
        o.set("file", json::Value(f.path()));
        o.set("version", json::Value(int64_t(f.version())));
        o.set("alignment", json::Value(int64_t(f.alignment())));
        o.set("n_kv", json::Value(int64_t(f.metadata().size())));
        o.set("n_tensors", json::Value(int64_t(f.tensors().size())));
        o.set("data_offset", json::Value(int64_t(f.data_offset())));
        o.set("file_size", json::Value(int64_t(f.file_size())));
        json::Value md = json::Value::object();
        for (const gguf::KV& kv : f.metadata()) md.set(kv.key, to_json(kv.value, all));
        o.set("metadata", std::move(md));
        json::Value ts = json::Value::array();
        for (const gguf::TensorInfo& t : f.tensors()) {
            json::Value j = json::Value::object();
            j.set("name", json::Value(t.name));
            j.set("type", json::Value(type_name(t.type)));
            json::Value shape = json::Value::array();
            for (uint32_t d = 0; d < t.n_dims; d++) shape.push_back(json::Value(int64_t(t.ne[d])));
            j.set("shape", std::move(shape));
            j.set("bytes", json::Value(int64_t(t.nbytes)));
            j.set("offset", json::Value(int64_t(t.offset)));
            ts.push_back(std::move(j));
        }
        o.set("tensors", std::move(ts));
        json::Value types = json::Value::array();
        for (const auto& [id, tt] : by_type) {
            json::Value j = json::Value::object();
            j.set("type", json::Value(type_name(GgmlType(id))));
            j.set("count", json::Value(tt.count));
            j.set("params", json::Value(tt.params));
            j.set("bytes", json::Value(int64_t(tt.bytes)));
            types.push_back(std::move(j));
        }
        o.set("types", std::move(types));
        o.set("n_params", json::Value(n_params));
        o.set("tensor_bytes", json::Value(int64_t(tensor_bytes)));
        o.set("bits_per_weight", json::Value(bpw));
        std::string s = o.dump(2);
        s += '\n';
        std::fwrite(s.data(), 1, s.size(), stdout);
        return 0;
    }

    std::string out;
    out += strfmt("file:         %s\n", f.path().c_str());
    out += strfmt("version:      %u\n", f.version());
    out += strfmt("alignment:    %llu\n", (unsigned long long)f.alignment());
    out += strfmt("metadata:     %zu keys\n", f.metadata().size());
    out += strfmt("tensors:      %zu\n", f.tensors().size());
    out += strfmt("data offset:  %llu\n", (unsigned long long)f.data_offset());
    out += strfmt("file size:    %llu bytes (%s)\n", (unsigned long long)f.file_size(),
                  human_bytes(f.file_size()).c_str());

    size_t key_w = 0;
    for (const gguf::KV& kv : f.metadata()) key_w = std::max(key_w, kv.key.size());
    out += strfmt("\nmetadata (%zu):\n", f.metadata().size());
    for (const gguf::KV& kv : f.metadata()) {
        out += strfmt("  %-*s  %-14s %s\n", int(key_w), kv.key.c_str(), type_label(kv.value).c_str(),
                      kv.value.to_display(all ? SIZE_MAX : kSummaryItems).c_str());
        if (out.size() > (1u << 20)) {  // --all on a large vocabulary: flush as we go
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }

    if (!f.tensors().empty()) {
        size_t name_w = 4;
        for (const gguf::TensorInfo& t : f.tensors()) name_w = std::max(name_w, t.name.size());
        out += strfmt("\ntensors (%zu):\n", f.tensors().size());
        out += strfmt("  %4s  %-*s  %-7s %-22s %12s %12s\n", "#", int(name_w), "name", "type", "shape", "bytes",
                      "offset");
        for (size_t k = 0; k < f.tensors().size(); k++) {
            const gguf::TensorInfo& t = f.tensors()[k];
            out += strfmt("  %4zu  %-*s  %-7s %-22s %12llu %12llu\n", k, int(name_w), t.name.c_str(),
                          type_name(t.type), shape_of(t).c_str(), (unsigned long long)t.nbytes,
                          (unsigned long long)t.offset);
        }
        out += "\ntotals by type:\n";
        out += strfmt("  %-7s %6s %14s %14s %8s\n", "type", "count", "params", "bytes", "bits/w");
        for (const auto& [id, tt] : by_type) {
            out += strfmt("  %-7s %6lld %14lld %14llu %8.3f\n", type_name(GgmlType(id)), (long long)tt.count,
                          (long long)tt.params, (unsigned long long)tt.bytes,
                          tt.params ? 8.0 * double(tt.bytes) / double(tt.params) : 0.0);
        }
    }
    out += strfmt("\nparameters:   %lld (%s)\n", (long long)n_params, human_count(n_params).c_str());
    out += strfmt("tensor bytes: %llu (%s)\n", (unsigned long long)tensor_bytes, human_bytes(tensor_bytes).c_str());
    if (n_params > 0) out += strfmt("bits per weight: %.4f\n", bpw);
    else out += "bits per weight: - (no tensors)\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace slm::cli
