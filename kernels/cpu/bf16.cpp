// STUB: to be replaced by the real kernels for bf16 (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_bf16() {
    static const TypeOps ops{GgmlType::BF16};
    return ops;
}

}  // namespace slm::kernels
