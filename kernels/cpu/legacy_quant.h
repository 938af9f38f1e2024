// Helpers for the legacy block quantizers (q4_0, q4_1, q5_0, q5_1).
#pragma once
#include <algorithm>
#include <cstdint>

namespace slm::kernels {

// ggml's legacy quantizers convert with a C cast, `(int8_t)(x*id + 8.5f)`: truncation toward zero. For
// ordinary inputs the value is in range and that is all there is to it. For inf/NaN inputs C leaves the
// cast undefined; x86 (where ggml's fixtures come from) truncates to int32 with cvttss2si, which gives
// INT32_MIN for NaN and out-of-range values, and keeps the low byte. This spells that out, so slm
// matches llama.cpp byte for byte there too, without undefined behaviour.
inline int32_t x86_truncate_to_int32(float f) {
    if (!(f >= -2147483648.0f && f < 2147483648.0f)) return INT32_MIN;
    return int32_t(f);
}
inline int8_t ggml_float_to_int8(float f) { return int8_t(uint8_t(uint32_t(x86_truncate_to_int32(f)) & 0xffu)); }
inline uint8_t ggml_float_to_uint8(float f) { return uint8_t(uint32_t(x86_truncate_to_int32(f)) & 0xffu); }

}  // namespace slm::kernels
