// What the CPU kernel benchmarks (tools/bench/*_bench.cpp) share: reproducible random operands and the timing
// loop. Header-only: each benchmark is one g++ command (see its opening comment).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <vector>

namespace slm::bench {

// n floats in [-1, 1) from a fixed linear congruential generator: the same operands on every machine.
inline std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::vector<float> v(n);
    uint32_t s = seed * 2654435761u + 1;
    for (float& x : v) {
        s = s * 1664525u + 1013904223u;
        x = float(s >> 8) / float(1 << 24) * 2.0f - 1.0f;
    }
    return v;
}

inline double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Timing {
    double best_wall = 0;     // the fastest call, wall-clock seconds
    double cpu_per_call = 0;  // mean process CPU seconds per call (all threads summed)
};

// Calls fn once to warm up, then repeatedly for `seconds` of wall time and at least `min_calls` times.
inline Timing time_calls(double seconds, const std::function<void()>& fn, int min_calls = 1) {
    fn();
    Timing t;
    t.best_wall = 1e30;
    double total = 0, cpu = 0;
    int calls = 0;
    while (total < seconds || calls < min_calls) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = process_cpu_seconds();
        fn();
        cpu += process_cpu_seconds() - c0;
        calls++;
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        t.best_wall = std::min(t.best_wall, dt);
        total += dt;
    }
    t.cpu_per_call = cpu / calls;
    return t;
}

}  // namespace slm::bench
