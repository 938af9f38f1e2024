// STUB: to be replaced by the real kernels for q8_K (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q8_K() {
    static const TypeOps ops{GgmlType::Q8_K};
    return ops;
}

}  // namespace slm::kernels
