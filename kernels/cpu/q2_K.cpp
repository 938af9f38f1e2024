// STUB: to be replaced by the real kernels for q2_K (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q2_K() {
    static const TypeOps ops{GgmlType::Q2_K};
    return ops;
}

}  // namespace slm::kernels
