// Machine probes for slm bench: the read bandwidth decode sees, and the f32 multiply-add peak of a SIMD level.
#pragma once
#include <cstddef>

#include "cpu/cpu_features.h"

namespace slm {
class ThreadPool;
}

namespace slm::kernels {

// GB/s (1e9 bytes) of streaming reads by all the pool's threads over a buffer of `bytes` (much larger than the
// caches), read as decode reads weights: each thread streams its own contiguous part through the active
// set's f32 dot kernel. Best of `reps` passes.
double read_bandwidth_gbs(ThreadPool& pool, size_t bytes = size_t(1) << 30, int reps = 5);

// GFLOP/s of f32 fused multiply-adds held in registers (no memory traffic) at level l, all the pool's threads:
// the compute ceiling prefill is measured against. Refuses a level the CPU lacks.
double peak_gflops(ThreadPool& pool, SimdLevel l, double seconds = 0.2);

}  // namespace slm::kernels
