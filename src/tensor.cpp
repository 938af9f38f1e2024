#include "tensor.h"

namespace slm {

std::string shape_str(const int64_t* ne, int n_dims, bool compact) {
    std::string s = compact ? "" : "[";
    for (int d = 0; d < (n_dims < 1 ? 1 : n_dims); d++) {
        if (d) s += compact ? "x" : ", ";
        s += std::to_string(ne[d]);
    }
    return compact ? s : s + "]";
}

}  // namespace slm
