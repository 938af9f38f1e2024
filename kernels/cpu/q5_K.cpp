// STUB: to be replaced by the real kernels for q5_K (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q5_K() {
    static const TypeOps ops{GgmlType::Q5_K};
    return ops;
}

}  // namespace slm::kernels
