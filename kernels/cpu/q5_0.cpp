// STUB: to be replaced by the real kernels for q5_0 (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q5_0() {
    static const TypeOps ops{GgmlType::Q5_0};
    return ops;
}

}  // namespace slm::kernels
