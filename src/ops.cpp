#include "ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"

namespace slm::ops {

float rmsnorm(const float* x, const float* w, float* out, int n, float eps) {
    double ss = 0;  // in double: the sum of n squares is where f32 loses digits
    for (int i = 0; i < n; i++) ss += double(x[i]) * double(x[i]);
    const float scale = float(1.0 / std::sqrt(ss / n + double(eps)));
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
    return scale;
}

std::vector<double> rope_inv_freq(int n_rot, float base, const std::vector<float>& rope_freqs) {
    if (n_rot <= 0 || n_rot % 2) fail("rope: rotated dimension count %d must be even and positive", n_rot);
    if (!rope_freqs.empty() && int(rope_freqs.size()) != n_rot / 2)
        fail("rope: rope_freqs has %zu entries, expected n_rot/2 = %d", rope_freqs.size(), n_rot / 2);
    std::vector<double> f(size_t(n_rot / 2));
    for (int i = 0; i < n_rot / 2; i++) {
        f[size_t(i)] = std::pow(double(base), -2.0 * i / n_rot);
        // Llama 3.x rope scaling: rope_freqs.weight holds a divisor per frequency (1 for the high ones, the
        // scaling factor for the low ones, a smooth blend between); ggml divides the angle by it.
        if (!rope_freqs.empty()) f[size_t(i)] /= double(rope_freqs[size_t(i)]);
    }
    return f;
}

void rope_angles(int n_rot, int pos, const double* inv_freq, float* cs) {
    for (int i = 0; i < n_rot / 2; i++) {
        const double theta = double(pos) * inv_freq[i];
        cs[2 * i] = float(std::cos(theta));
        cs[2 * i + 1] = float(std::sin(theta));
    }
}

// llama.cpp's rope (ggml_rope_cache_init + rope_yarn with ext_factor 0, freq_scale 1, mscale 1): the angle
// starts at the position as a float and is multiplied by theta_scale = base^(-2/n_rot) once per pair, in
// float, then divided by the pair's frequency factor; cosf/sinf of that. The rounding drift of that product
// (a few ulps by the last pair) is what llama.cpp rotates by, so it is reproduced here to compare like with like.
void rope_angles_ggml(int n_rot, int pos, float base, const float* freq_factors, float* cs) {
    const float theta_scale = std::pow(base, -2.0f / float(n_rot));
    float theta = float(pos);
    for (int i = 0; i < n_rot / 2; i++) {
        const float th = theta / (freq_factors ? freq_factors[i] : 1.0f);
        cs[2 * i] = std::cos(th);
        cs[2 * i + 1] = std::sin(th);
        theta *= theta_scale;
    }
}

void rope_rotate(float* x, int n_heads, int head_dim, int n_rot, const float* cs) {
    for (int i = 0; i < n_rot / 2; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        for (int h = 0; h < n_heads; h++) {
            float* p = x + size_t(h) * size_t(head_dim) + size_t(2 * i);
            const float x0 = p[0], x1 = p[1];
            p[0] = x0 * c - x1 * s;
            p[1] = x0 * s + x1 * c;
        }
    }
}

void rope(float* x, int n_heads, int head_dim, int n_rot, int pos, const double* inv_freq) {
    std::vector<float> cs(static_cast<size_t>(n_rot));
    rope_angles(n_rot, pos, inv_freq, cs.data());
    rope_rotate(x, n_heads, head_dim, n_rot, cs.data());
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void softmax(float* x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = std::max(mx, x[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = float(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

double log_sum_exp(const float* x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = std::max(mx, x[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += std::exp(double(x[i]) - double(mx));
    return double(mx) + std::log(sum);
}


void attention(const float* q, const float* k, const float* v, int n, int pos0, const AttentionShape& s, float* out,
               float* probs) {
    const int hd = s.head_dim, group = s.n_head / s.n_head_kv, n_all = pos0 + n;
    const size_t dq = size_t(s.n_head) * size_t(hd), dkv = size_t(s.n_head_kv) * size_t(hd);
    const float scale = float(1.0 / std::sqrt(double(hd)));
    std::vector<float> p(static_cast<size_t>(n_all));
    for (int t = 0; t < n; t++) {
        const int n_pos = pos0 + t + 1;  // causal: this token and every one before it
        for (int h = 0; h < s.n_head; h++) {
            const float* qh = q + size_t(t) * dq + size_t(h) * size_t(hd);
            const size_t kv_off = size_t(h / group) * size_t(hd);
            for (int j = 0; j < n_pos; j++) {
                const float* kj = k + size_t(j) * dkv + kv_off;
                double d = 0;
                for (int i = 0; i < hd; i++) d += double(qh[i]) * double(kj[i]);
                p[size_t(j)] = float(d) * scale;
            }
            softmax(p.data(), n_pos);
            float* o = out + size_t(t) * dq + size_t(h) * size_t(hd);
            for (int i = 0; i < hd; i++) {
                double acc = 0;
                for (int j = 0; j < n_pos; j++) acc += double(p[size_t(j)]) * double(v[size_t(j) * dkv + kv_off + size_t(i)]);
                o[i] = float(acc);
            }
            if (probs) {
                float* pr = probs + (size_t(t) * size_t(s.n_head) + size_t(h)) * size_t(n_all);
                std::copy(p.begin(), p.begin() + n_pos, pr);
                std::fill(pr + n_pos, pr + n_all, 0.0f);
            }
        }
    }
}

}  // namespace slm::ops
