// The CPU kernel table: for each ggml type, the reference quantizer, the dequantizer, and the dot product of
// one weight row with one activation row already converted to the type's partner ("vec_dot_type").
//
// Each type's file (kernels/cpu/q4_K.cpp, ...) defines `const TypeOps& ops_<type>()` with its block layout
// drawn in a comment, a scalar reference dot product, and AVX2 / AVX-512 variants compiled with
// `#pragma GCC target(...)` so the binary stays baseline x86-64; dispatch.cpp picks one at run time.
#pragma once
#include <cstdint>

#include "types.h"

namespace slm::kernels {

// x: n floats -> y: n/block_size blocks. n must be a multiple of the block size. The reference algorithm
// (byte-identical to ggml's reference quantizer without importance matrix).
using quantize_row_fn = void (*)(const float* x, void* y, int64_t n);
// x: n/block_size blocks -> y: n floats.
using dequantize_row_fn = void (*)(const void* x, float* y, int64_t n);
// Dot product of n elements: x is a weight row of this type, y an activation row of vec_dot_type.
using vec_dot_fn = float (*)(int64_t n, const void* x, const void* y);

struct TypeOps {
    GgmlType type;
    quantize_row_fn quantize = nullptr;      // nullptr: slm cannot produce this type
    dequantize_row_fn dequantize = nullptr;  // nullptr: not implemented
    GgmlType vec_dot_type = GgmlType::F32;   // what activations are converted to before the dot product
    vec_dot_fn dot_scalar = nullptr;         // the reference; every variant is tested against it
    vec_dot_fn dot_avx2 = nullptr;           // nullptr where no variant exists
    vec_dot_fn dot_avx512 = nullptr;
    // How the forward pass converts activations to this type when it is a vec_dot_type; nullptr: quantize.
    // Q8_0 and Q8_1 round activations as ggml's SIMD code does, not as its reference quantizer does.
    quantize_row_fn quantize_activation = nullptr;
};

// How activations are converted to t (as a vec_dot_type): quantize_activation, else quantize.
inline quantize_row_fn activation_quantizer(const TypeOps& t) { return t.quantize_activation ? t.quantize_activation : t.quantize; }
// Throws slm::Error for a type without kernels.
const TypeOps& type_ops(GgmlType t);
bool has_ops(GgmlType t);
// The fastest dot product this CPU runs (respecting SLM_SIMD), never nullptr for a type with kernels.
vec_dot_fn best_dot(GgmlType t);

// Per-type tables, one per file.
const TypeOps& ops_f32();
const TypeOps& ops_f16();
const TypeOps& ops_bf16();
const TypeOps& ops_q4_0();
const TypeOps& ops_q4_1();
const TypeOps& ops_q5_0();
const TypeOps& ops_q5_1();
const TypeOps& ops_q8_0();
const TypeOps& ops_q8_1();
const TypeOps& ops_q2_K();
const TypeOps& ops_q3_K();
const TypeOps& ops_q4_K();
const TypeOps& ops_q5_K();
const TypeOps& ops_q6_K();
const TypeOps& ops_q8_K();

}  // namespace slm::kernels
