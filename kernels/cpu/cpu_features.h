// Which SIMD level this CPU supports, decided once at run time from cpuid (the binary itself is built for
// baseline x86-64). SLM_SIMD=scalar|avx2|avx512|avx512_vnni in the environment caps the level (for tests and
// comparisons); any other value is an error.
#pragma once
#include <optional>
#include <string_view>

namespace slm {

// Each level includes the ones below it; kernels/cpu/simd.h has one target macro per level.
//   avx2         AVX2 + FMA + F16C
//   avx512       + AVX512 F, BW, VL, DQ
//   avx512_vnni  + AVX512-VNNI
enum class SimdLevel { scalar = 0, avx2 = 1, avx512 = 2, avx512_vnni = 3 };

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
};

const CpuFeatures& cpu_features();  // detected once (a function-local static: constant after first call)
// The highest level this CPU runs, ignoring SLM_SIMD.
SimdLevel cpu_level();
// The level the engine uses: cpu_level() capped by SLM_SIMD (throws slm::Error for an unknown SLM_SIMD value).
SimdLevel simd_level();
const char* simd_level_name(SimdLevel l);
std::optional<SimdLevel> simd_level_from_name(std::string_view name);

}  // namespace slm
