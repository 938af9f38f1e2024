// The one way tests reach the SIMD variants of a kernel: through kernels::for_level, for every level this run
// checks (each level this CPU has, up to simd_level(): SLM_SIMD caps it). The levels left out are named in a
// MESSAGE, with the reason.
#pragma once
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/kernels.h"

namespace slm::test {

// The kernel sets above scalar that this run checks.
inline std::vector<const kernels::KernelSet*> simd_sets(const std::string& what) {
    std::vector<const kernels::KernelSet*> sets;
    std::string skipped;
    for (int i = 1; i < kernels::kNumSimdLevels; i++) {
        const SimdLevel l = SimdLevel(i);
        if (int(l) <= int(simd_level())) sets.push_back(&kernels::for_level(l));
        else skipped += std::string(" ") + simd_level_name(l) + (int(l) <= int(cpu_level()) ? " (capped by SLM_SIMD)" : " (not on this CPU)");
    }
    if (!skipped.empty()) MESSAGE(what << ": SIMD levels skipped:" << skipped);
    return sets;
}

struct LevelDot {
    std::string name;  // the level ("avx2", ...)
    kernels::vec_dot_fn fn;
};

// The dot product of type t at each level simd_sets() returns (a level without a variant of its own repeats the
// one below it).
inline std::vector<LevelDot> simd_dots(GgmlType t) {
    std::vector<LevelDot> v;
    for (const kernels::KernelSet* s : simd_sets(std::string(type_name(t)) + " dot")) v.push_back({s->name(), s->dot(t)});
    return v;
}

}  // namespace slm::test
