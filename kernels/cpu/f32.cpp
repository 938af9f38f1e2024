// STUB: to be replaced by the real kernels for f32 (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_f32() {
    static const TypeOps ops{GgmlType::F32};
    return ops;
}

}  // namespace slm::kernels
