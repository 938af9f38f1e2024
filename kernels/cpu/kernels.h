// The CPU kernel sets: for each SIMD level, one table of what that level runs for every ggml type, resolved
// once; nothing branches on the CPU per call.
//
// Per type there are two parts:
//  - TypeOps, level-independent: the reference functions (the quantizer byte-identical to ggml's, the
//    dequantizer, the scalar dot product every variant is tested against) and the activation partner type;
//  - LevelKernels, one per SIMD level: the functions written for that level (dot product, activation
//    quantizer, ...; nullptr where a level has nothing of its own).
// A KernelSet resolves both into one row per type: each slot takes the highest variant at or below the set's
// level, so `dot()` is never nullptr for a type with kernels. Type-specific rules live in the type's file
// (kernels/cpu/q4_K.cpp, ...), which draws its block layout, and in the set (the llama.cpp order below);
// matmul knows no type.
//
// Each type's file defines `TypeKernels kernels_<type>()`; dispatch.cpp builds the sets from them.
#pragma once
#include <array>
#include <cstdint>

#include "cpu/cpu_features.h"
#include "types.h"

namespace slm::kernels {

// x: n floats -> y: n/block_size blocks. n must be a multiple of the block size.
using quantize_row_fn = void (*)(const float* x, void* y, int64_t n);
// x: n/block_size blocks -> y: n floats.
using dequantize_row_fn = void (*)(const void* x, float* y, int64_t n);
// Dot product of n elements: x is a weight row of this type, y an activation row of vec_dot_type.
using vec_dot_fn = float (*)(int64_t n, const void* x, const void* y);

// One tile of Y = X W^T: y[t * y_stride + r] = dot(W row r, X row t) for r in [r0, r1), t in [t0, t1).
// The activations are already converted to the type's vec_dot_type.
struct GemmTile {
    int64_t n_in = 0, n_out = 0, n_tok = 0;  // the whole product (some summation orders depend on it)
    const uint8_t* w = nullptr;              // weight row 0
    int64_t w_stride = 0;                    // bytes per weight row
    const uint8_t* x = nullptr;              // activation row 0 (vec_dot_type)
    int64_t x_stride = 0;                    // bytes per activation row
    float* y = nullptr;                      // output row 0
    int64_t y_stride = 0;                    // floats per output row (n_out)
    int64_t r0 = 0, r1 = 0, t0 = 0, t1 = 0;
    vec_dot_fn dot = nullptr;                // the set's dot product for this type (for tiles that fall back to it)
};
using gemm_fn = void (*)(const GemmTile& tile);

// The level-independent part of a type.
struct TypeOps {
    GgmlType type = GgmlType::F32;
    quantize_row_fn quantize = nullptr;      // the reference (ggml's, no importance matrix); nullptr: cannot produce
    dequantize_row_fn dequantize = nullptr;  // nullptr: not implemented
    GgmlType vec_dot_type = GgmlType::F32;   // what activations are converted to before the dot product
    vec_dot_fn dot_ref = nullptr;            // the scalar reference dot; every variant is tested against it
    // How activations are converted to this type when it is a vec_dot_type (reference form); nullptr: the
    // quantizer. Q8_0 and Q8_1 round activations as ggml's SIMD code does, not as its reference quantizer does.
    quantize_row_fn quantize_activation = nullptr;
};

// What one SIMD level runs for one type. Every member may be nullptr: the level has no variant of its own.
// (Room for more: the transposed products training needs, dX = dY W and dW = dY^T X, go here as slots.)
struct LevelKernels {
    vec_dot_fn dot = nullptr;
    quantize_row_fn quantize = nullptr;             // byte-identical to TypeOps::quantize
    quantize_row_fn quantize_activation = nullptr;  // byte-identical to TypeOps::quantize_activation
    gemm_fn gemm = nullptr;                         // a tile over many tokens; nullptr: one dot per output
    dequantize_row_fn dequantize = nullptr;         // bit-identical to TypeOps::dequantize (training's tiles)
};

constexpr int kNumSimdLevels = 4;

// Everything a type's file offers.
struct TypeKernels {
    TypeOps ref;
    std::array<LevelKernels, kNumSimdLevels> level{};  // indexed by SimdLevel
    // Overrides for the llama.cpp summation order (MatmulOrder::llamacpp), at every level; nullptr members
    // keep the set's own.
    LevelKernels llamacpp{};
};

// The usual table of a type: its reference part and one dot product per SIMD level (nullptr: the level has
// none of its own and runs the next one down). Types with more (quantizers, GEMM tiles, the llama.cpp order)
// add them to what this returns.
inline TypeKernels dot_kernels(const TypeOps& ref, vec_dot_fn avx2, vec_dot_fn avx512 = nullptr,
                               vec_dot_fn avx512_vnni = nullptr) {
    TypeKernels k;
    k.ref = ref;
    k.level[int(SimdLevel::avx2)].dot = avx2;
    k.level[int(SimdLevel::avx512)].dot = avx512;
    k.level[int(SimdLevel::avx512_vnni)].dot = avx512_vnni;
    return k;
}

// Which summation order a set follows. `fastest`: the level's own kernels (which already sum as ggml's vec_dot
// does). `llamacpp`: as llama.cpp's CPU backend does on a CPU of that level; its x86 vec_dot code is AVX2 even
// on AVX-512 CPUs, so the llamacpp set of an AVX-512 level runs the AVX2 kernels, and types where llama.cpp
// uses other kernels (it repacks Q4_K for a GEMM/GEMV) put those orders in their TypeKernels::llamacpp.
enum class KernelOrder { fastest, llamacpp };

class KernelSet {
public:
    struct Row {
        const TypeOps* ref = nullptr;  // nullptr: no kernels for this type
        LevelKernels k;                // resolved: dot/quantize/quantize_activation non-null where ref has them
    };

    SimdLevel level() const { return level_; }
    KernelOrder order() const { return order_; }
    // "avx512_vnni", "avx2 (llama.cpp order)".
    const char* name() const { return name_; }

    bool has(GgmlType t) const;  // the type has kernels (a dequantizer at least)
    // Throw slm::Error naming the type when it has no kernels.
    const Row& row(GgmlType t) const;
    const TypeOps& ref(GgmlType t) const { return *row(t).ref; }
    vec_dot_fn dot(GgmlType t) const { return row(t).k.dot; }
    gemm_fn gemm(GgmlType t) const { return row(t).k.gemm; }  // nullptr: loop over dot
    // Converts an activation row to vec_dot_type t (t's activation rounding, this level's fastest code).
    quantize_row_fn activation_quantizer(GgmlType t) const;
    // The weight quantizer of t (byte-identical to the reference; this level's fastest code), or nullptr.
    quantize_row_fn quantizer(GgmlType t) const { return row(t).k.quantize; }
    // The dequantizer of t (bit-identical to the reference; this level's fastest code).
    dequantize_row_fn dequantizer(GgmlType t) const { return row(t).k.dequantize; }

    // The set that sums as llama.cpp does on a CPU of this level (itself if it is one already).
    const KernelSet& llamacpp() const { return *llamacpp_; }

private:
    friend struct SetBuilder;
    SimdLevel level_ = SimdLevel::scalar;
    KernelOrder order_ = KernelOrder::fastest;
    const char* name_ = "";
    const KernelSet* llamacpp_ = this;
    std::array<Row, 64> rows_{};  // indexed by the ggml type id (all ids with kernels are < 64)
};

// This CPU's level capped by SLM_SIMD (simd_level()), resolved once.
const KernelSet& active();
// The set of level l. Throws slm::Error when this CPU cannot run l (tests and benches iterate over
// levels_available()).
const KernelSet& for_level(SimdLevel l);

// Reference functions of a type (level-independent); type_ops throws for a type without kernels.
const TypeOps& type_ops(GgmlType t);
bool has_ops(GgmlType t);

// Per-type tables, one per file.
TypeKernels kernels_f32();
TypeKernels kernels_f16();
TypeKernels kernels_bf16();
TypeKernels kernels_q4_0();
TypeKernels kernels_q4_1();
TypeKernels kernels_q5_0();
TypeKernels kernels_q5_1();
TypeKernels kernels_q8_0();
TypeKernels kernels_q8_1();
TypeKernels kernels_q2_K();
TypeKernels kernels_q3_K();
TypeKernels kernels_q4_K();
TypeKernels kernels_q5_K();
TypeKernels kernels_q6_K();
TypeKernels kernels_q8_K();
TypeKernels kernels_iq4_nl();

}  // namespace slm::kernels
