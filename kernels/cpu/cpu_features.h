// Which SIMD level this CPU supports, decided once at run time from cpuid (the binary itself is built for
// baseline x86-64). SLM_SIMD=scalar|avx2|avx512 in the environment caps the level (for tests and comparisons).
#pragma once

namespace slm {

enum class SimdLevel { scalar = 0, avx2 = 1, avx512 = 2 };

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
    bool avx512bf16 = false, avxvnni = false;
};

const CpuFeatures& cpu_features();  // detected once (a function-local static: constant after first call)
// Highest usable level: avx2 needs AVX2+FMA+F16C, avx512 needs F+BW+VL+DQ; capped by SLM_SIMD if set.
SimdLevel simd_level();
const char* simd_level_name(SimdLevel l);

}  // namespace slm
