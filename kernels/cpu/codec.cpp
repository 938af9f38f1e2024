// The host-side format codecs of src/backend.h (slm::codec), served by each type's kernel table.
#include "backend.h"

#include "common.h"
#include "cpu/kernels.h"

namespace slm::codec {

bool can_dequantize(GgmlType t) { return kernels::has_ops(t); }

bool can_quantize(GgmlType t) { return kernels::has_ops(t) && kernels::type_ops(t).quantize != nullptr; }

void dequantize_row(GgmlType t, const void* x, float* y, int64_t n) {
    const int64_t bs = type_info(t).block_size;
    if (n % bs) fail("dequantize: %lld values are not a whole number of %s blocks", (long long)n, type_name(t));
    kernels::type_ops(t).dequantize(x, y, n);
}

void quantize_row(GgmlType t, const float* x, void* y, int64_t n) {
    if (!can_quantize(t)) fail("slm cannot quantize to %s", type_name(t));
    const int64_t bs = type_info(t).block_size;
    if (n % bs) fail("quantize: %lld values are not a whole number of %s blocks", (long long)n, type_name(t));
    kernels::type_ops(t).quantize(x, y, n);
}

}  // namespace slm::codec
