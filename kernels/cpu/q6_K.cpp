// STUB: to be replaced by the real kernels for q6_K (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q6_K() {
    static const TypeOps ops{GgmlType::Q6_K};
    return ops;
}

}  // namespace slm::kernels
