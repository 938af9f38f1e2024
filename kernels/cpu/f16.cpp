// STUB: to be replaced by the real kernels for f16 (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_f16() {
    static const TypeOps ops{GgmlType::F16};
    return ops;
}

}  // namespace slm::kernels
