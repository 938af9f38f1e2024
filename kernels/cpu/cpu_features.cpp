#include "cpu/cpu_features.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>

#include "common.h"

namespace slm {

namespace {
uint64_t xgetbv0() {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (uint64_t(edx) << 32) | eax;
}

CpuFeatures detect() {
    CpuFeatures f;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    bool osxsave = c & (1u << 27);
    bool avx = c & (1u << 28);
    f.fma = c & (1u << 12);
    f.f16c = c & (1u << 29);
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    bool os_ymm = (xcr0 & 0x6) == 0x6;
    bool os_zmm = (xcr0 & 0xe6) == 0xe6;
    if (!avx || !os_ymm) { f.fma = f.f16c = false; return f; }
    if (__get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = b & (1u << 5);
    if (os_zmm) {
        f.avx512f = b & (1u << 16);
        f.avx512dq = b & (1u << 17);
        f.avx512bw = b & (1u << 30);
        f.avx512vl = b & (1u << 31);
        f.avx512vnni = c & (1u << 11);
    }
    return f;
}
}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

SimdLevel cpu_level() {
    static const SimdLevel level = [] {
        const CpuFeatures& f = cpu_features();
        SimdLevel l = SimdLevel::scalar;
        if (f.avx2 && f.fma && f.f16c) l = SimdLevel::avx2;
        if (l == SimdLevel::avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) l = SimdLevel::avx512;
        if (l == SimdLevel::avx512 && f.avx512vnni) l = SimdLevel::avx512_vnni;
        return l;
    }();
    return level;
}

SimdLevel simd_level() {
    static const SimdLevel level = [] {
        SimdLevel l = cpu_level();
        if (const char* env = std::getenv("SLM_SIMD"); env && *env) {
            const std::optional<SimdLevel> cap = simd_level_from_name(env);
            if (!cap) fail("SLM_SIMD=%s: expected scalar, avx2, avx512 or avx512_vnni", env);
            if (int(*cap) < int(l)) l = *cap;
        }
        return l;
    }();
    return level;
}

const char* simd_level_name(SimdLevel l) {
    switch (l) {
        case SimdLevel::scalar: return "scalar";
        case SimdLevel::avx2: return "avx2";
        case SimdLevel::avx512: return "avx512";
        case SimdLevel::avx512_vnni: return "avx512_vnni";
    }
    return "?";
}

std::optional<SimdLevel> simd_level_from_name(std::string_view name) {
    for (SimdLevel l : {SimdLevel::scalar, SimdLevel::avx2, SimdLevel::avx512, SimdLevel::avx512_vnni})
        if (name == simd_level_name(l)) return l;
    return std::nullopt;
}

}  // namespace slm
