#include "quantize.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "backend.h"
#include "common.h"
#include "progress.h"
#include "tensor.h"
#include "gguf.h"
#include "model.h"
#include "output_file.h"
#include "unicode.h"
#include "threadpool.h"

namespace slm::quant {

namespace {

using FT = FileType;
using T = GgmlType;

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "blk.N." -> N, else -1 (output, token_embd, ...).
int layer_of(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    size_t i = 4;
    int64_t v = 0;
    size_t start = i;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9' && v < 1000000) v = v * 10 + (name[i++] - '0');
    if (i == start || i >= name.size() || name[i] != '.') return -1;
    return int(v);
}

// ggml_n_dims: dimensions up to the last one larger than 1 (at least 1).
int effective_dims(const TensorDesc& t) {
    for (int i = 3; i >= 1; --i)
        if (t.ne[i] > 1) return i + 1;
    return 1;
}

bool is_block_quantized(T t) { return t != T::F32 && t != T::F16 && t != T::BF16 && t != T::F64 &&
                                      t != T::I8 && t != T::I16 && t != T::I32 && t != T::I64; }

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third layer in between.
bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// The counters llama.cpp keeps while it walks the tensors (in layer-then-name order).
struct PlanState {
    bool has_output = false;  // a separate output.weight exists (else token_embd is the output too)
    int n_attention_wv = 0;
    int i_attention_wv = 0;
    int i_ffn_down = 0;
    int n_fallback = 0;
};

// The mix's type for one quantizable tensor (llama_tensor_get_type for the llama architecture, no imatrix,
// no user overrides).
T choose_type(const Mix& mix, const ModelShape& shape, const TensorDesc& t, PlanState& st, bool* fallback) {
    const FT f = mix.ftype;
    const std::string& name = t.name;
    T type = mix.default_type;
    const int n_layer = shape.n_layer;

    if (name == "output.weight" || (!st.has_output && name == "token_embd.weight")) {
        // The output projection decides every next-token probability: keep it at 6 bits or better.
        if (t.ne[0] % type_info(type).block_size != 0) type = T::Q8_0;
        else if (type != T::Q8_0) type = T::Q6_K;
    } else if (name == "token_embd.weight") {
        // llama.cpp only changes the embedding for the IQ and TQ mixes, which slm does not make.
    } else if (contains(name, "attn_v.weight")) {
        // V is n_gqa times smaller than Q (grouped-query attention) and sensitive: a few more bits are cheap.
        const int i = st.i_attention_wv;
        if (f == FT::MOSTLY_Q2_K) type = shape.n_gqa() >= 4 ? T::Q4_K : T::Q3_K;
        else if (f == FT::MOSTLY_Q3_K_M) type = i < 2 ? T::Q5_K : T::Q4_K;
        else if (f == FT::MOSTLY_Q3_K_L) type = T::Q5_K;
        else if ((f == FT::MOSTLY_Q4_K_M || f == FT::MOSTLY_Q5_K_M) && use_more_bits(i, st.n_attention_wv))
            type = T::Q6_K;
        else if (f == FT::MOSTLY_IQ4_NL && shape.n_gqa() >= 4) type = T::Q5_K;
        else if (f == FT::MOSTLY_Q4_K_S && i < 4) type = T::Q5_K;
        if (shape.is_70b() && (type == T::Q3_K || type == T::Q4_K)) type = T::Q5_K;
        if (shape.n_expert == 8) type = T::Q8_0;
        ++st.i_attention_wv;
    } else if (contains(name, "attn_k.weight")) {
        if (shape.n_expert == 8) type = T::Q8_0;
    } else if (contains(name, "attn_q.weight")) {
        // only the IQ3 mixes change attn_q
    } else if (contains(name, "ffn_down")) {
        // Expert tensors are not always in layer order: llama.cpp reads the layer from the name then.
        int i = st.i_ffn_down;
        if (shape.n_expert > 1) {
            i = layer_of(name);
            if (i < 0 || i >= n_layer) fail("quantize: cannot tell the layer of tensor %s (expected blk.N.)", name.c_str());
        }
        if (f == FT::MOSTLY_Q2_K) type = T::Q3_K;
        else if (f == FT::MOSTLY_Q3_K_M) type = i < n_layer / 16 ? T::Q5_K : T::Q4_K;
        else if (f == FT::MOSTLY_Q3_K_L) type = T::Q5_K;
        else if (f == FT::MOSTLY_Q4_K_M && use_more_bits(i, n_layer)) type = T::Q6_K;
        else if (f == FT::MOSTLY_Q5_K_M && use_more_bits(i, n_layer)) type = T::Q6_K;
        else if (f == FT::MOSTLY_IQ4_NL && i < n_layer / 8) type = T::Q5_K;  // (llama.cpp: without an imatrix)
        else if (f == FT::MOSTLY_Q4_K_S && i < n_layer / 8) type = T::Q5_K;
        ++st.i_ffn_down;
    } else if (contains(name, "attn_output.weight")) {
        if (shape.n_expert == 8) {
            if (f == FT::MOSTLY_Q2_K || f == FT::MOSTLY_Q3_K_S || f == FT::MOSTLY_Q3_K_M ||
                f == FT::MOSTLY_Q4_K_S || f == FT::MOSTLY_Q4_K_M || f == FT::MOSTLY_IQ4_NL)
                type = T::Q5_K;
        } else {
            if (f == FT::MOSTLY_Q2_K) type = T::Q3_K;
            else if (f == FT::MOSTLY_Q3_K_M) type = T::Q4_K;
            else if (f == FT::MOSTLY_Q3_K_L) type = T::Q5_K;
        }
    } else if (contains(name, "attn_qkv.weight")) {
        if (f == FT::MOSTLY_Q3_K_M || f == FT::MOSTLY_Q3_K_L) type = T::Q4_K;
        else if (f == FT::MOSTLY_Q4_K_M) type = T::Q5_K;
        else if (f == FT::MOSTLY_Q5_K_M) type = T::Q6_K;
    }
    // ffn_gate / ffn_up: only the IQ3_XS mix changes them.

    // Rows must hold whole blocks. A K type (256 per block) falls back to a legacy type of 32 per block with
    // about as many bits (llama.cpp's tensor_type_fallback at the commit tools/bench/llamacpp.sh names: Q2_K and
    // Q3_K go to Q4_0; older llama.cpp sent them to IQ4_NL); a type of 32 per block stays itself. If even that
    // does not fit, the tensor stays F16.
    *fallback = false;
    if (t.ne[0] % type_info(type).block_size != 0) {
        T fb;
        switch (type) {
            case T::Q2_K:
            case T::Q3_K: fb = T::Q4_0; break;
            case T::Q4_K: fb = T::Q5_0; break;
            case T::Q5_K: fb = T::Q5_1; break;
            case T::Q6_K: fb = T::Q8_0; break;
            default:
                if (type_info(type).block_size <= 32) {
                    fb = type;
                    break;
                }
                fail("quantize: tensor %s has rows of %" PRId64 " elements, not a multiple of %" PRId64
                     " as %s requires, and %s has no fallback type",
                     name.c_str(), t.ne[0], type_info(type).block_size, type_name(type), type_name(type));
        }
        if (t.ne[0] % type_info(fb).block_size != 0) fb = T::F16;
        type = fb;
        *fallback = true;
        ++st.n_fallback;
    }
    return type;
}

}  // namespace

const std::vector<Mix>& all_mixes() {
    static const std::vector<Mix> mixes = {
        {"Q8_0", FT::MOSTLY_Q8_0, T::Q8_0},       {"Q6_K", FT::MOSTLY_Q6_K, T::Q6_K},
        {"Q5_K_M", FT::MOSTLY_Q5_K_M, T::Q5_K},   {"Q5_K_S", FT::MOSTLY_Q5_K_S, T::Q5_K},
        {"Q4_K_M", FT::MOSTLY_Q4_K_M, T::Q4_K},   {"Q4_K_S", FT::MOSTLY_Q4_K_S, T::Q4_K},
        {"Q3_K_L", FT::MOSTLY_Q3_K_L, T::Q3_K},   {"Q3_K_M", FT::MOSTLY_Q3_K_M, T::Q3_K},
        {"Q3_K_S", FT::MOSTLY_Q3_K_S, T::Q3_K},   {"Q2_K", FT::MOSTLY_Q2_K, T::Q2_K},
        {"Q4_0", FT::MOSTLY_Q4_0, T::Q4_0},       {"Q4_1", FT::MOSTLY_Q4_1, T::Q4_1},
        {"Q5_0", FT::MOSTLY_Q5_0, T::Q5_0},       {"Q5_1", FT::MOSTLY_Q5_1, T::Q5_1},
        {"IQ4_NL", FT::MOSTLY_IQ4_NL, T::IQ4_NL},
        {"F16", FT::MOSTLY_F16, T::F16},          {"BF16", FT::MOSTLY_BF16, T::BF16},
    };
    return mixes;
}

std::optional<Mix> mix_from_name(std::string_view name) {
    std::string up(name);
    for (char& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
    if (up == "Q3_K") up = "Q3_K_M";  // llama-quantize's aliases
    if (up == "Q4_K") up = "Q4_K_M";
    if (up == "Q5_K") up = "Q5_K_M";
    for (const Mix& m : all_mixes()) {
        std::string n = m.name;
        for (char& c : n) c = char(std::toupper(static_cast<unsigned char>(c)));
        if (n == up) return m;
    }
    return std::nullopt;
}

std::string mix_names() {
    std::string s;
    for (const Mix& m : all_mixes()) {
        if (!s.empty()) s += ", ";
        s += m.name;
    }
    return s;
}

ModelShape model_shape(const gguf::File& f) {
    if (f.get_string("general.architecture", "") != "llama") {
        const std::string arch = f.get_string("general.architecture", "");
        fail("%s: not a llama model (general.architecture is %s; slm quantize knows the llama rules only)",
             f.path().c_str(), arch.empty() ? "missing" : ("\"" + escape_text(arch) + "\"").c_str());
    }
    const ModelConfig c = read_model_config(f);  // the one reader of the configuration (model.h)
    ModelShape s;
    s.arch = c.arch;
    s.n_layer = c.n_layer;
    s.n_head = c.n_head;
    s.n_head_kv = c.n_head_kv;
    s.n_expert = c.n_expert;
    return s;
}

bool is_quantizable(const TensorDesc& t) {
    const std::string& n = t.name;
    if (!ends_with(n, "weight")) return false;
    if (effective_dims(t) < 2) return false;  // norms, biases, rope_freqs
    static const char* kKeep[] = {
        "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d.weight",
        "shortconv.conv.weight", "time_mix_", "attn_rel_b.weight",
    };
    for (const char* k : kKeep)
        if (contains(n, k)) return false;
    return n != "position_embd.weight" && n != "token_types.weight";
}

Plan make_plan(const Mix& mix, const ModelShape& shape, const std::vector<TensorDesc>& tensors) {
    Plan plan;
    plan.mix = mix;
    PlanState st;
    for (const TensorDesc& t : tensors) {
        if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") ||
            contains(t.name, "attn_kv_b.weight"))
            ++st.n_attention_wv;
        else if (t.name == "output.weight")
            st.has_output = true;
    }
    // llama.cpp visits tensors sorted by layer number, then name; its counters (i_attention_wv, i_ffn_down)
    // number tensors in that order.
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        int la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
        if (la != lb) return la < lb;
        return tensors[a].name < tensors[b].name;
    });

    plan.entries.resize(tensors.size());
    const bool mix_quantized = is_block_quantized(mix.default_type);
    for (size_t idx : order) {
        const TensorDesc& t = tensors[idx];
        for (int d = 0; d < 4; ++d)
            if (t.ne[d] <= 0) fail("quantize: tensor %s has dimension %d of size %" PRId64, t.name.c_str(), d, t.ne[d]);
        PlanEntry e;
        e.tensor = t;
        e.to = t.type;
        if (is_quantizable(t)) {
            T to = mix.default_type;
            if (mix_quantized) to = choose_type(mix, shape, t, st, &e.fallback);
            e.to = to;
        }
        e.convert = e.to != t.type;
        const TypeInfo& fi = type_info(t.type);
        if (t.ne[0] % fi.block_size != 0)
            fail("quantize: tensor %s: row of %" PRId64 " is not a multiple of %s's block", t.name.c_str(), t.ne[0],
                 fi.name);
        e.bytes_from = uint64_t(row_bytes(t.type, t.ne[0]) * (t.n_elements() / t.ne[0]));
        e.bytes_to = uint64_t(row_bytes(e.to, t.ne[0]) * (t.n_elements() / t.ne[0]));
        plan.entries[idx] = e;
    }
    for (const PlanEntry& e : plan.entries) {
        plan.bytes_from += e.bytes_from;
        plan.bytes_to += e.bytes_to;
        plan.n_elements += e.tensor.n_elements();
        plan.n_fallback += e.fallback ? 1 : 0;
    }
    return plan;
}

namespace {
}  // namespace

std::string format_plan(const Plan& plan) {
    std::string out;
    size_t w = 6;
    for (const PlanEntry& e : plan.entries) w = std::max(w, e.tensor.name.size());
    out += strfmt("%-*s  %-16s  %-6s    %-6s  %12s  %12s\n", int(w), "tensor", "shape", "from", "to", "bytes before",
                  "bytes after");
    for (const PlanEntry& e : plan.entries) {
        out += strfmt("%-*s  %-16s  %-6s -> %-6s  %12" PRIu64 "  %12" PRIu64 "%s%s\n", int(w), e.tensor.name.c_str(),
                      shape_str(e.tensor.ne.data(), int(e.tensor.n_dims), true).c_str(), type_name(e.tensor.type), type_name(e.to), e.bytes_from, e.bytes_to,
                      e.convert ? "" : "  (copied)", e.fallback ? "  (fallback: row length)" : "");
    }
    out += strfmt("total: %zu tensors, %" PRId64 " weights, %.2f MB -> %.2f MB, %.3f -> %.3f bits per weight (%s)\n",
                  plan.entries.size(), plan.n_elements, plan.bytes_from / 1e6, plan.bytes_to / 1e6, plan.bpw_from(),
                  plan.bpw_to(), plan.mix.name);
    if (plan.n_fallback) out += strfmt("%d tensor(s) use a fallback type\n", plan.n_fallback);
    return out;
}

std::vector<uint8_t> convert_tensor(const TensorDesc& t, const uint8_t* data, GgmlType to, ThreadPool& pool) {
    const int64_t n_per_row = t.ne[0];
    const int64_t n_rows = t.n_elements() / n_per_row;
    if (n_per_row % type_info(to).block_size != 0 || n_per_row % type_info(t.type).block_size != 0)
        fail("quantize: tensor %s: rows of %" PRId64 " do not fit %s -> %s blocks", t.name.c_str(), n_per_row,
             type_name(t.type), type_name(to));
    // Check the conversion exists before starting threads, so the error comes from this thread.
    if (!codec::can_quantize(to)) fail("quantize: tensor %s: slm cannot produce type %s", t.name.c_str(), type_name(to));
    if (!codec::can_dequantize(t.type))
        fail("quantize: tensor %s: tensor type %s is not supported by slm's CPU kernels", t.name.c_str(), type_name(t.type));

    const int64_t in_row = row_bytes(t.type, n_per_row), out_row = row_bytes(to, n_per_row);
    std::vector<uint8_t> out(size_t(out_row * n_rows));
    // About 64K elements per chunk: big enough to amortize scheduling, small enough to balance two threads.
    const int64_t grain = std::max<int64_t>(1, 65536 / n_per_row);
    pool.parallel_for(n_rows, grain, [&](int64_t r0, int64_t r1, int) {
        std::vector<float> buf(static_cast<size_t>(n_per_row));
        for (int64_t r = r0; r < r1; ++r) {
            codec::dequantize_row(t.type, data + r * in_row, buf.data(), n_per_row);
            codec::quantize_row(to, buf.data(), out.data() + r * out_row, n_per_row);
        }
    });
    return out;
}

std::vector<size_t> tensor_write_order(const std::vector<std::string>& names) {
    auto layer = [](const std::string& s) {
        int l = -1;
        if (std::sscanf(s.c_str(), "blk.%d.", &l) != 1) l = -1;
        return l;
    };
    std::vector<size_t> idx(names.size());
    std::iota(idx.begin(), idx.end(), size_t(0));
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
        const int la = layer(names[a]), lb = layer(names[b]);
        if (la != lb) return la < lb;
        return names[a] < names[b];
    });
    return idx;
}

QuantizeResult quantize_file(const std::string& in_path, const std::string& out_path, const Mix& mix,
                             ThreadPool& pool, const QuantizeOptions& opts) {
    gguf::File in = gguf::File::open(in_path);
    ModelShape shape = model_shape(in);
    OutputFile out(out_path);  // created before the work: a bad output path fails now, not after it

    std::vector<TensorDesc> descs;
    for (const gguf::TensorInfo& ti : in.tensors()) {
        TensorDesc d;
        d.name = ti.name;
        d.ne = ti.ne;
        d.n_dims = ti.n_dims;
        d.type = ti.type;
        descs.push_back(d);
    }
    QuantizeResult res;
    res.plan = make_plan(mix, shape, descs);

    // Requantizing compounds two rounding errors; llama.cpp refuses it unless asked, and so do we.
    for (const PlanEntry& e : res.plan.entries) {
        if (!e.convert || !is_block_quantized(e.tensor.type)) continue;
        if (!opts.allow_requantize)
            fail("%s: tensor %s is already quantized (%s); requantizing to %s loses accuracy twice. Quantize from "
                 "the F16/BF16/F32 model, or pass --allow-requantize",
                 in_path.c_str(), e.tensor.name.c_str(), type_name(e.tensor.type), type_name(e.to));
        std::fprintf(stderr, "warning: %s: requantizing %s from %s to %s\n", in_path.c_str(), e.tensor.name.c_str(),
                     type_name(e.tensor.type), type_name(e.to));
    }

    // The file llama-quantize writes: the input's metadata in order, then general.quantization_version and
    // general.file_type moved to the end (gguf_set_val removes a key and appends it), split keys dropped; the
    // tensors in llama.cpp's weights_map order (tensor_write_order).
    gguf::Writer w;
    for (const gguf::KV& kv : in.metadata()) w.set(kv.key, kv.value);
    for (const char* k : {"general.quantization_version", "general.file_type", "split.no", "split.count", "split.tensors.count"})
        w.remove(k);
    w.set("general.quantization_version", gguf::Value::make_u32(2));
    w.set("general.file_type", gguf::Value::make_u32(uint32_t(mix.ftype)));

    uint64_t total_in = 0, done_in = 0;
    for (const PlanEntry& e : res.plan.entries) total_in += e.convert ? e.bytes_from : 0;
    const auto t0 = std::chrono::steady_clock::now();
    Progress progress("quantize", "tensors", "MB/s", 1e6, opts.progress);
    const size_t n = res.plan.entries.size();
    std::vector<std::string> names;
    for (const gguf::TensorInfo& ti : in.tensors()) names.push_back(ti.name);
    const std::vector<size_t> order = tensor_write_order(names);
    for (size_t k = 0; k < n; ++k) {
        const size_t i = order[k];
        const PlanEntry& e = res.plan.entries[i];
        const gguf::TensorInfo& ti = in.tensors()[i];
        std::vector<int64_t> ne(ti.ne.begin(), ti.ne.begin() + std::max<uint32_t>(ti.n_dims, 1));
        if (!e.convert) {
            w.add_tensor_view(ti.name, ti.type, ne, in.tensor_data(ti), ti.nbytes);
            continue;
        }
        std::vector<uint8_t> bytes = convert_tensor(e.tensor, in.tensor_data(ti), e.to, pool);
        w.add_tensor(ti.name, e.to, ne, std::move(bytes));
        done_in += e.bytes_from;
        progress.update(double(k + 1), double(n), double(done_in), double(total_in));
    }
    progress.update(double(n), double(n), double(done_in), double(total_in));
    progress.finish();
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.mb_per_s = res.seconds > 0 ? total_in / 1e6 / res.seconds : 0;
    w.write(out);
    out.commit();
    return res;
}

}  // namespace slm::quant
