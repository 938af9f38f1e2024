// Helpers shared by the ggml block quantizers (the K-quants and the legacy types).
#pragma once
#include <cstdint>
#include <cstring>

namespace slm::kernels {

// Round to nearest, ties to even, for |fval| < 2^22: adding 1.5*2^23 puts the integer in the mantissa
// (the same trick ggml uses, so results are bit-identical to its quantizers).
inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

constexpr int QK_K = 256;  // elements per K-quant super-block

}  // namespace slm::kernels
