// STUB: to be replaced by the real kernels for q3_K (layout comment, quantize, dequantize, dots).
#include "kernels.h"

namespace slm::kernels {

const TypeOps& ops_q3_K() {
    static const TypeOps ops{GgmlType::Q3_K};
    return ops;
}

}  // namespace slm::kernels
