// STUB: to be replaced by the real kernels for q8_1 (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q8_1() {
    static const TypeOps ops{GgmlType::Q8_1};
    return ops;
}

}  // namespace slm::kernels
