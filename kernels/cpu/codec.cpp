// The host-side format codecs of src/backend.h (slm::codec), served by each type's kernel table.
#include "backend.h"

#include "common.h"
#include "cpu/gptq.h"
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

std::string check_weight(const WeightView& w) {
    if (w.format == WeightFormat::gptq) return kernels::gptq_check(w);
    if (!w.data || w.n_in <= 0 || w.n_out <= 0) return "empty weight";
    if (!kernels::has_ops(w.type)) return strfmt("type %s has no kernels", type_name(w.type));
    if (w.n_in % type_info(w.type).block_size) return strfmt("rows are not whole %s blocks", type_name(w.type));
    return "";
}

void dequantize_weight_row(const WeightView& w, int64_t row, float* out) {
    if (row < 0 || row >= w.n_out) fail("dequantize: row %lld out of range [0, %lld)", (long long)row, (long long)w.n_out);
    if (w.format == WeightFormat::gptq) kernels::gptq_dequantize_row(w, row, out);
    else dequantize_row(w.type, w.row(row), out, w.n_in);
}

}  // namespace slm::codec
