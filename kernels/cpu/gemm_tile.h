// The loop shared by the quantized GEMM tiles (GemmTile, kernels.h): a tile of rows [r0, r1) x tokens [t0, t1)
// is cut into micro-tiles of R weight rows x T tokens; each micro-tile walks the row length once, unpacking each
// weight block once for its T tokens and each activation block once for its R rows. Rows and tokens left over
// (fewer than R or T) run the type's dot kernel.
//
// Bit-identity: a micro-kernel computes each of its R x T outputs with the same per-block float operations in
// the same order as the dot kernel of its level (the integer block sums are exact, whichever instructions
// produce them), so a tile gives the same bits as one dot call per output, and the logits do not depend on
// whether a tile ran. tests/test_gemm_tiles.cpp checks this for every tile at every level.
#pragma once
#include <cstdint>

#include "cpu/kernels.h"

namespace slm::kernels {

// micro(g, r, t) computes outputs (r..r+R-1) x (t..t+T-1).
template <int R, int T, class Micro>
inline void gemm_tiles(const GemmTile& g, Micro micro) {
    const int64_t t_full = g.t0 + (g.t1 - g.t0) / T * T;
    const int64_t r_full = g.r0 + (g.r1 - g.r0) / R * R;
    for (int64_t t = g.t0; t < t_full; t += T) {
        for (int64_t r = g.r0; r < r_full; r += R) micro(g, r, t);
        for (int64_t k = t; k < t + T; k++)
            for (int64_t r = r_full; r < g.r1; r++)
                g.y[k * g.y_stride + r] = g.dot(g.n_in, g.w + r * g.w_stride, g.x + k * g.x_stride);
    }
    for (int64_t k = t_full; k < g.t1; k++)
        for (int64_t r = g.r0; r < g.r1; r++)
            g.y[k * g.y_stride + r] = g.dot(g.n_in, g.w + r * g.w_stride, g.x + k * g.x_stride);
}

}  // namespace slm::kernels
