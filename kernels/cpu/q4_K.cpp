// STUB: to be replaced by the real kernels for q4_K (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q4_K() {
    static const TypeOps ops{GgmlType::Q4_K};
    return ops;
}

}  // namespace slm::kernels
