#include "train/optim.h"

#include <cmath>

#include "common.h"

namespace slm::train {

Schedule parse_schedule(const std::string& s) {
    if (s == "cosine") return Schedule::cosine;
    if (s == "linear") return Schedule::linear;
    if (s == "const" || s == "constant") return Schedule::constant;
    fail("--sched: unknown schedule \"%s\" (choose cosine, linear or const)", s.c_str());
}

const char* schedule_name(Schedule s) {
    switch (s) {
        case Schedule::cosine: return "cosine";
        case Schedule::linear: return "linear";
        case Schedule::constant: return "const";
    }
    return "?";
}

double lr_at(Schedule s, double lr, int64_t step, int64_t total, int64_t warmup) {
    if (warmup > 0 && step < warmup) return lr * double(step + 1) / double(warmup);
    if (s == Schedule::constant) return lr;
    const int64_t n = std::max<int64_t>(1, total - warmup);
    const double p = std::min(1.0, double(step - warmup + 1) / double(n));  // 1 at the last step
    if (s == Schedule::linear) return lr * (1.0 - p);
    return lr * 0.5 * (1.0 + std::cos(M_PI * p));
}

double clip_global_norm(std::vector<float>& g, double max_norm) {
    double ss = 0;
    for (float x : g) ss += double(x) * double(x);
    const double norm = std::sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        const float k = float(max_norm / (norm + 1e-12));
        for (float& x : g) x *= k;
    }
    return norm;
}

void AdamW::step(std::vector<float>& theta, const std::vector<float>& grad, double lr, const std::vector<uint8_t>& decay) {
    if (m.size() != theta.size()) {
        m.assign(theta.size(), 0.0f);
        v.assign(theta.size(), 0.0f);
    }
    t++;
    const double bc1 = 1.0 - std::pow(beta1, double(t)), bc2 = 1.0 - std::pow(beta2, double(t));
    const float b1 = float(beta1), b2 = float(beta2);
    for (size_t i = 0; i < theta.size(); i++) {
        const float g = grad[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        const double mh = m[i] / bc1, vh = v[i] / bc2;
        double upd = mh / (std::sqrt(vh) + eps);
        if (weight_decay != 0 && (decay.empty() || decay[i])) upd += weight_decay * double(theta[i]);
        theta[i] = float(double(theta[i]) - lr * upd);
    }
}

}  // namespace slm::train
