// Builds the kernel sets (kernels.h) once from the per-type tables, and the host codecs of src/backend.h.

#include "backend.h"
#include "common.h"
#include "cpu/gptq.h"
#include "cpu/kernels.h"

namespace slm::kernels {

namespace {

constexpr GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,
                               GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q2_K,
                               GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K,
                               GgmlType::IQ4_NL};

TypeKernels load(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return kernels_f32();
        case GgmlType::F16: return kernels_f16();
        case GgmlType::BF16: return kernels_bf16();
        case GgmlType::Q4_0: return kernels_q4_0();
        case GgmlType::Q4_1: return kernels_q4_1();
        case GgmlType::Q5_0: return kernels_q5_0();
        case GgmlType::Q5_1: return kernels_q5_1();
        case GgmlType::Q8_0: return kernels_q8_0();
        case GgmlType::Q8_1: return kernels_q8_1();
        case GgmlType::Q2_K: return kernels_q2_K();
        case GgmlType::Q3_K: return kernels_q3_K();
        case GgmlType::Q4_K: return kernels_q4_K();
        case GgmlType::Q5_K: return kernels_q5_K();
        case GgmlType::Q6_K: return kernels_q6_K();
        case GgmlType::Q8_K: return kernels_q8_K();
        case GgmlType::IQ4_NL: return kernels_iq4_nl();
        default: fail("internal error: no kernel table for %s", type_name(t));
    }
}

// The per-type tables, read once (they are plain data; the reference TypeOps stay at fixed addresses).
struct Tables {
    std::array<TypeKernels, 64> by_id{};
    std::array<bool, 64> present{};
};
const Tables& tables() {
    static const Tables t = [] {
        Tables r;
        for (GgmlType ty : kTypes) {
            const size_t id = size_t(ty);
            r.by_id[id] = load(ty);
            r.present[id] = r.by_id[id].ref.dequantize != nullptr;
        }
        return r;
    }();
    return t;
}

template <class F>
F pick(F mine, F fallback) { return mine ? mine : fallback; }

}  // namespace

struct SetBuilder {
    // The set of level l: every slot from the highest level <= l that has one, else the reference.
    static void build(KernelSet& s, SimdLevel l, KernelOrder order, const char* name) {
        s.level_ = l;
        s.order_ = order;
        s.name_ = name;
        const Tables& tb = tables();
        for (GgmlType ty : kTypes) {
            const size_t id = size_t(ty);
            if (!tb.present[id]) continue;
            const TypeKernels& tk = tb.by_id[id];
            KernelSet::Row& row = s.rows_[id];
            row.ref = &tk.ref;
            LevelKernels k;
            for (int i = 0; i <= int(l); i++) {
                const LevelKernels& v = tk.level[size_t(i)];
                k.dot = pick(v.dot, k.dot);
                k.quantize = pick(v.quantize, k.quantize);
                k.quantize_activation = pick(v.quantize_activation, k.quantize_activation);
                // A tile sums as its level's dot does: a level with a dot of its own drops the tile below it.
                k.gemm = v.dot ? v.gemm : pick(v.gemm, k.gemm);
                k.dequantize = pick(v.dequantize, k.dequantize);
            }
            k.dequantize = pick(k.dequantize, tk.ref.dequantize);
            k.dot = pick(k.dot, tk.ref.dot_ref);
            k.quantize = pick(k.quantize, tk.ref.quantize);
            k.quantize_activation = pick(k.quantize_activation, pick(tk.ref.quantize_activation, k.quantize));
            if (order == KernelOrder::llamacpp) {
                k.dot = pick(tk.llamacpp.dot, k.dot);
                k.gemm = pick(tk.llamacpp.gemm, k.gemm);
            }
            row.k = k;
        }
    }
    static void link(KernelSet& s, const KernelSet& llamacpp) { s.llamacpp_ = &llamacpp; }
};

namespace {

struct Sets {
    std::array<KernelSet, kNumSimdLevels> fastest;
    // llama.cpp's x86 CPU backend: scalar code on CPUs without AVX2, its AVX2 vec_dot code on every CPU
    // with AVX2 (also those with AVX-512), so two sets serve all four levels.
    KernelSet llamacpp_scalar, llamacpp_avx2;
};

const Sets& sets() {
    static const Sets s = [] {
        Sets r;
        const char* names[kNumSimdLevels] = {"scalar", "avx2", "avx512", "avx512_vnni"};
        for (int i = 0; i < kNumSimdLevels; i++) SetBuilder::build(r.fastest[size_t(i)], SimdLevel(i), KernelOrder::fastest, names[i]);
        SetBuilder::build(r.llamacpp_scalar, SimdLevel::scalar, KernelOrder::llamacpp, "scalar (llama.cpp order)");
        SetBuilder::build(r.llamacpp_avx2, SimdLevel::avx2, KernelOrder::llamacpp, "avx2 (llama.cpp order)");
        SetBuilder::link(r.llamacpp_scalar, r.llamacpp_scalar);
        SetBuilder::link(r.llamacpp_avx2, r.llamacpp_avx2);
        SetBuilder::link(r.fastest[0], r.llamacpp_scalar);
        for (int i = 1; i < kNumSimdLevels; i++) SetBuilder::link(r.fastest[size_t(i)], r.llamacpp_avx2);
        return r;
    }();
    return s;
}

}  // namespace

bool KernelSet::has(GgmlType t) const {
    const size_t id = size_t(t);
    return id < rows_.size() && rows_[id].ref;
}

const KernelSet::Row& KernelSet::row(GgmlType t) const {
    if (!has(t)) fail("tensor type %s is not supported by slm's CPU kernels", type_name(t));
    return rows_[size_t(t)];
}

quantize_row_fn KernelSet::activation_quantizer(GgmlType t) const {
    const quantize_row_fn q = row(t).k.quantize_activation;
    if (!q) fail("no quantizer for activation type %s", type_name(t));
    return q;
}

const KernelSet& for_level(SimdLevel l) {
    if (int(l) < 0 || int(l) >= kNumSimdLevels) fail("internal error: SIMD level %d", int(l));
    if (int(l) > int(cpu_level()))
        fail("SIMD level %s is not available on this CPU (it runs up to %s)", simd_level_name(l), simd_level_name(cpu_level()));
    return sets().fastest[size_t(l)];
}

const KernelSet& active() {
    static const KernelSet& s = for_level(simd_level());
    return s;
}

bool has_ops(GgmlType t) {
    const size_t id = size_t(t);
    return id < 64 && tables().present[id];
}

const TypeOps& type_ops(GgmlType t) {
    if (!has_ops(t)) fail("tensor type %s is not supported by slm's CPU kernels", type_name(t));
    return tables().by_id[size_t(t)].ref;
}

}  // namespace slm::kernels

namespace slm::codec {

// Both also resolve the active kernel set on the calling thread, so that a bad SLM_SIMD is reported there and not
// from inside a worker of a parallel loop that calls quantize_row.
bool can_dequantize(GgmlType t) {
    (void)kernels::active();
    return kernels::has_ops(t);
}

bool can_quantize(GgmlType t) {
    (void)kernels::active();
    return kernels::has_ops(t) && kernels::type_ops(t).quantize;
}

GgmlType activation_type(GgmlType t) { return kernels::type_ops(t).vec_dot_type; }

void dequantize_row(GgmlType t, const void* x, float* y, int64_t n) {
    const int64_t bs = type_info(t).block_size;
    if (n % bs) fail("dequantize %s: row length %lld is not a multiple of the block size %lld", type_name(t), (long long)n, (long long)bs);
    kernels::type_ops(t).dequantize(x, y, n);
}

void quantize_row(GgmlType t, const float* x, void* y, int64_t n) {
    if (!can_quantize(t)) fail("slm cannot quantize to %s", type_name(t));
    const int64_t bs = type_info(t).block_size;
    if (n % bs) fail("quantize %s: row length %lld is not a multiple of the block size %lld", type_name(t), (long long)n, (long long)bs);
    kernels::active().quantizer(t)(x, y, n);
}

// Any weight view, multi-part formats (GPTQ) included (src/backend.h).
std::string check_weight(const WeightView& w) {
    if (w.format == WeightFormat::gptq) return kernels::gptq_check(w);
    if (!w.data || w.n_in <= 0 || w.n_out <= 0) return "empty weight";
    if (!can_dequantize(w.type)) return strfmt("type %s has no kernels", type_name(w.type));
    if (w.n_in % type_info(w.type).block_size) return strfmt("rows are not whole %s blocks", type_name(w.type));
    return "";
}

void dequantize_weight_row(const WeightView& w, int64_t row, float* out) {
    if (row < 0 || row >= w.n_out) fail("dequantize: row %lld out of range [0, %lld)", (long long)row, (long long)w.n_out);
    if (w.format == WeightFormat::gptq) kernels::gptq_dequantize_row(w, row, out);
    else dequantize_row(w.type, w.row(row), out, w.n_in);
}

}  // namespace slm::codec
