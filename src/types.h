// The ggml tensor types: ids exactly as GGUF stores them, block sizes and bytes per block, names, and the
// scalar half-precision conversions every format uses for its scales.
#pragma once
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace slm {

// Values are the on-disk ids of ggml's `enum ggml_type`; never renumber.
enum class GgmlType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeInfo {
    GgmlType type;
    const char* name;     // as ggml prints it ("q4_K", "f16")
    int64_t block_size;   // elements per block
    int64_t type_size;    // bytes per block
};

// Info for a type id read from a file; nullopt for ids ggml does not define.
std::optional<TypeInfo> type_info(uint32_t id);
const TypeInfo& type_info(GgmlType t);  // for known enum values
inline const char* type_name(GgmlType t) { return type_info(t).name; }
// Parse "Q4_K", "q4_k", "F16", ... (case-insensitive); nullopt if unknown.
std::optional<GgmlType> type_from_name(std::string_view name);
// Bytes of one row of n elements; n must be a multiple of the block size (checked by callers).
inline int64_t row_bytes(GgmlType t, int64_t n) {
    const TypeInfo& ti = type_info(t);
    return n / ti.block_size * ti.type_size;
}

// ---- IEEE half and bfloat16 conversions (scalar, round-to-nearest-even, exact like the F16C instructions) ----
using fp16_t = uint16_t;
using bf16_t = uint16_t;

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float f32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float fp16_to_fp32(fp16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  // inf / nan
    if (exp == 0) {
        if (mant == 0) return f32_from_bits(sign);
        // subnormal: value = mant * 2^-24
        float v = float(mant) * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

inline fp16_t fp32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {  // inf or nan
        return fp16_t(sign | 0x7c00 | (ax > 0x7f800000u ? (0x200 | ((ax >> 13) & 0x3ff)) : 0));
    }
    if (ax >= 0x477ff000u) return fp16_t(sign | 0x7c00);  // rounds to >= 65520 -> inf
    if (ax < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
        // value in units of 2^-24, rounded to nearest even
        if (ax < 0x33000000u) return fp16_t(sign);  // < 2^-25: rounds to 0 (2^-25 exactly ties to even 0)
        uint32_t e = ax >> 23;              // biased exponent, 102..112
        uint32_t m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;           // 14..24 ; result = m >> shift
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return fp16_t(sign | r);
    }
    // normal: rebias exponent (127 -> 15), round mantissa from 23 to 10 bits
    uint32_t r = ((ax - 0x38000000u) >> 13);
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return fp16_t(sign | r);
}

inline float bf16_to_fp32(bf16_t h) { return f32_from_bits(uint32_t(h) << 16); }
inline bf16_t fp32_to_bf16(float f) {  // round to nearest even; NaN stays NaN (quiet)
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return bf16_t((x >> 16) | 0x40);
    return bf16_t((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

}  // namespace slm
