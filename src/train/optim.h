// AdamW (decoupled weight decay, Loshchilov & Hutter), gradient clipping by global norm, and the learning-rate
// schedules (linear warm-up, then cosine / linear decay to zero, or constant).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace slm::train {

enum class Schedule { cosine, linear, constant };
Schedule parse_schedule(const std::string& s);  // "cosine" | "linear" | "const"
const char* schedule_name(Schedule s);

// lr at optimizer step `step` (0-based) of `total`: linear warm-up over the first `warmup` steps from lr/warmup
// to lr, then the decay over the remaining steps (reaching 0 after the last).
double lr_at(Schedule s, double lr, int64_t step, int64_t total, int64_t warmup);

// Scales g so its L2 norm is at most max_norm (max_norm <= 0: no clipping). Returns the norm before clipping
// (summed in double).
double clip_global_norm(std::vector<float>& g, double max_norm);

struct AdamW {
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
    int64_t t = 0;            // steps taken
    std::vector<float> m, v;  // first and second moments, one per parameter

    // theta -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * theta) where decay[i] (wd only where decay is true;
    // decay may be empty: everywhere).
    void step(std::vector<float>& theta, const std::vector<float>& grad, double lr, const std::vector<uint8_t>& decay);
};

}  // namespace slm::train
