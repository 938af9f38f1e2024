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

// Training: the double form the finite-difference tests differentiate, and the backward.
double rmsnorm(const double* x, const double* w, double* out, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const double r = 1.0 / std::sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * r * w[i];
    return r;
}

template <class T>
void rmsnorm_backward(const T* x, const T* w, double inv_rms, const T* dy, T* dx, T* dw, int n) {
    double dot = 0;  // sum_j w_j dy_j x_j
    for (int i = 0; i < n; i++) dot += double(w[i]) * double(dy[i]) * double(x[i]);
    const double r = inv_rms, c = r * r * r * dot / n;
    for (int i = 0; i < n; i++) {
        dx[i] += T(r * double(w[i]) * double(dy[i]) - c * double(x[i]));
        if (dw) dw[i] += T(double(dy[i]) * double(x[i]) * r);
    }
}

template <class T>
void embedding_backward(const int32_t* ids, int n, const T* dx, int E, T* dtable) {
    for (int t = 0; t < n; t++) {
        T* row = dtable + size_t(ids[t]) * size_t(E);
        const T* d = dx + size_t(t) * size_t(E);
        for (int i = 0; i < E; i++) row[i] += d[i];
    }
}

template <class T>
void residual_backward(const T* dx, T* da, T* db, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        da[i] += dx[i];
        db[i] += dx[i];
    }
}

template <class T>
void linear(const T* x, const T* W, const T* A, const T* B, double scale, int n, int n_in, int n_out, int r, T* y) {
    std::vector<double> u(static_cast<size_t>(std::max(r, 0)));
    for (int t = 0; t < n; t++) {
        const T* xt = x + size_t(t) * size_t(n_in);
        if (A && B)
            for (int k = 0; k < r; k++) {
                double acc = 0;
                for (int i = 0; i < n_in; i++) acc += double(A[size_t(k) * size_t(n_in) + size_t(i)]) * double(xt[i]);
                u[size_t(k)] = acc;
            }
        for (int o = 0; o < n_out; o++) {
            double acc = 0;
            for (int i = 0; i < n_in; i++) acc += double(W[size_t(o) * size_t(n_in) + size_t(i)]) * double(xt[i]);
            if (A && B) {
                double l = 0;
                for (int k = 0; k < r; k++) l += double(B[size_t(o) * size_t(r) + size_t(k)]) * u[size_t(k)];
                acc += scale * l;
            }
            y[size_t(t) * size_t(n_out) + size_t(o)] = T(acc);
        }
    }
}

template <class T>
void linear_backward(const T* x, const T* W, const T* A, const T* B, double scale, int n, int n_in, int n_out, int r,
                     const T* dy, T* dx, T* dW, T* dA, T* dB) {
    const bool lora = A && B;
    std::vector<double> u(static_cast<size_t>(std::max(r, 0))), du(static_cast<size_t>(std::max(r, 0)));
    for (int t = 0; t < n; t++) {
        const T* xt = x + size_t(t) * size_t(n_in);
        const T* dyt = dy + size_t(t) * size_t(n_out);
        T* dxt = dx + size_t(t) * size_t(n_in);
        if (lora)
            for (int k = 0; k < r; k++) {
                double a = 0, b = 0;
                for (int i = 0; i < n_in; i++) a += double(A[size_t(k) * size_t(n_in) + size_t(i)]) * double(xt[i]);
                for (int o = 0; o < n_out; o++) b += double(dyt[o]) * double(B[size_t(o) * size_t(r) + size_t(k)]);
                u[size_t(k)] = a;
                du[size_t(k)] = scale * b;  // d(loss)/d(A x) for this token
            }
        for (int i = 0; i < n_in; i++) {
            double acc = 0;
            for (int o = 0; o < n_out; o++) acc += double(dyt[o]) * double(W[size_t(o) * size_t(n_in) + size_t(i)]);
            if (lora)
                for (int k = 0; k < r; k++) acc += du[size_t(k)] * double(A[size_t(k) * size_t(n_in) + size_t(i)]);
            dxt[i] += T(acc);
        }
        if (dW)
            for (int o = 0; o < n_out; o++)
                for (int i = 0; i < n_in; i++) dW[size_t(o) * size_t(n_in) + size_t(i)] += T(double(dyt[o]) * double(xt[i]));
        if (lora) {
            if (dA)
                for (int k = 0; k < r; k++)
                    for (int i = 0; i < n_in; i++) dA[size_t(k) * size_t(n_in) + size_t(i)] += T(du[size_t(k)] * double(xt[i]));
            if (dB)
                for (int o = 0; o < n_out; o++)
                    for (int k = 0; k < r; k++) dB[size_t(o) * size_t(r) + size_t(k)] += T(scale * double(dyt[o]) * u[size_t(k)]);
        }
    }
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

void rope_rotate(double* x, int n_heads, int head_dim, int n_rot, const double* cs) {
    for (int i = 0; i < n_rot / 2; i++)
        for (int h = 0; h < n_heads; h++) {
            double* p = x + size_t(h) * size_t(head_dim) + size_t(2 * i);
            const double x0 = p[0], x1 = p[1];
            p[0] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
            p[1] = x0 * cs[2 * i + 1] + x1 * cs[2 * i];
        }
}

template <class T>
void rope_rotate_backward(T* d, int n_heads, int head_dim, int n_rot, const T* cs) {
    for (int i = 0; i < n_rot / 2; i++) {
        const T c = cs[2 * i], s = cs[2 * i + 1];
        for (int h = 0; h < n_heads; h++) {
            T* p = d + size_t(h) * size_t(head_dim) + size_t(2 * i);
            const T d0 = p[0], d1 = p[1];
            p[0] = d0 * c + d1 * s;  // [c -s; s c]^T = [c s; -s c]
            p[1] = -d0 * s + d1 * c;
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

void swiglu(const double* gate, const double* up, double* out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
}

template <class T>
void swiglu_backward(const T* gate, const T* up, const T* dout, T* dgate, T* dup, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double g = gate[i], sg = 1.0 / (1.0 + std::exp(-g));
        dgate[i] += T(double(dout[i]) * double(up[i]) * sg * (1.0 + g * (1.0 - sg)));
        dup[i] += T(double(dout[i]) * g * sg);
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

template <class T>
double cross_entropy(const T* logits, int V, int target) {
    T mx = logits[0];
    for (int i = 1; i < V; i++) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < V; i++) sum += std::exp(double(logits[i]) - double(mx));
    return double(mx) + std::log(sum) - double(logits[target]);
}

template <class T>
void cross_entropy_backward(const T* logits, int V, int target, double dloss, T* dlogits) {
    T mx = logits[0];
    for (int i = 1; i < V; i++) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < V; i++) sum += std::exp(double(logits[i]) - double(mx));
    const double inv = 1.0 / sum;
    for (int i = 0; i < V; i++) {
        const double p = std::exp(double(logits[i]) - double(mx)) * inv;
        dlogits[i] += T(dloss * (p - (i == target ? 1.0 : 0.0)));
    }
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

void attention(const double* q, const double* k, const double* v, int n, int pos0, const AttentionShape& s,
               double* out, double* probs) {
    const int hd = s.head_dim, group = s.n_head / s.n_head_kv, n_all = pos0 + n;
    const size_t dq = size_t(s.n_head) * size_t(hd), dkv = size_t(s.n_head_kv) * size_t(hd);
    const double scale = 1.0 / std::sqrt(double(hd));
    std::vector<double> p(static_cast<size_t>(n_all));
    for (int t = 0; t < n; t++) {
        const int n_pos = pos0 + t + 1;
        for (int h = 0; h < s.n_head; h++) {
            const double* qh = q + size_t(t) * dq + size_t(h) * size_t(hd);
            const size_t kv_off = size_t(h / group) * size_t(hd);
            double mx = -INFINITY;
            for (int j = 0; j < n_pos; j++) {
                double d = 0;
                for (int i = 0; i < hd; i++) d += qh[i] * k[size_t(j) * dkv + kv_off + size_t(i)];
                p[size_t(j)] = d * scale;
                mx = std::max(mx, p[size_t(j)]);
            }
            double sum = 0;
            for (int j = 0; j < n_pos; j++) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
            for (int j = 0; j < n_pos; j++) p[size_t(j)] /= sum;
            double* o = out + size_t(t) * dq + size_t(h) * size_t(hd);
            for (int i = 0; i < hd; i++) {
                double acc = 0;
                for (int j = 0; j < n_pos; j++) acc += p[size_t(j)] * v[size_t(j) * dkv + kv_off + size_t(i)];
                o[i] = acc;
            }
            if (probs) {
                double* pr = probs + (size_t(t) * size_t(s.n_head) + size_t(h)) * size_t(n_all);
                for (int j = 0; j < n_all; j++) pr[j] = j < n_pos ? p[size_t(j)] : 0.0;
            }
        }
    }
}

template <class T>
void attention_backward(const T* q, const T* k, const T* v, const T* probs, int n, int pos0, const AttentionShape& s,
                        const T* dout, T* dq, T* dk, T* dv) {
    const int hd = s.head_dim, group = s.n_head / s.n_head_kv, n_all = pos0 + n;
    const size_t dqs = size_t(s.n_head) * size_t(hd), dkv = size_t(s.n_head_kv) * size_t(hd);
    const double scale = 1.0 / std::sqrt(double(hd));
    std::vector<double> dp(static_cast<size_t>(n_all));
    for (int t = 0; t < n; t++) {
        const int n_pos = pos0 + t + 1;
        for (int h = 0; h < s.n_head; h++) {
            const T* P = probs + (size_t(t) * size_t(s.n_head) + size_t(h)) * size_t(n_all);
            const T* qh = q + size_t(t) * dqs + size_t(h) * size_t(hd);
            const T* doh = dout + size_t(t) * dqs + size_t(h) * size_t(hd);
            T* dqh = dq + size_t(t) * dqs + size_t(h) * size_t(hd);
            const size_t kv_off = size_t(h / group) * size_t(hd);
            double pdp = 0;
            for (int j = 0; j < n_pos; j++) {
                const T* vj = v + size_t(j) * dkv + kv_off;
                T* dvj = dv + size_t(j) * dkv + kv_off;
                double d = 0;
                for (int i = 0; i < hd; i++) {
                    d += double(doh[i]) * double(vj[i]);
                    dvj[i] += T(double(P[j]) * double(doh[i]));
                }
                dp[size_t(j)] = d;
                pdp += double(P[j]) * d;
            }
            for (int j = 0; j < n_pos; j++) {
                const double ds = double(P[j]) * (dp[size_t(j)] - pdp) * scale;
                const T* kj = k + size_t(j) * dkv + kv_off;
                T* dkj = dk + size_t(j) * dkv + kv_off;
                for (int i = 0; i < hd; i++) {
                    dqh[i] += T(ds * double(kj[i]));
                    dkj[i] += T(ds * double(qh[i]));
                }
            }
        }
    }
}

// The backward templates, for the trainer (float) and the finite-difference tests (double).
#define SLM_OPS_BACKWARD(T)                                                                                        \
    template void rmsnorm_backward<T>(const T*, const T*, double, const T*, T*, T*, int);                          \
    template void embedding_backward<T>(const int32_t*, int, const T*, int, T*);                                  \
    template void residual_backward<T>(const T*, T*, T*, int64_t);                                                \
    template void linear<T>(const T*, const T*, const T*, const T*, double, int, int, int, int, T*);              \
    template void linear_backward<T>(const T*, const T*, const T*, const T*, double, int, int, int, int, const T*, \
                                     T*, T*, T*, T*);                                                             \
    template void rope_rotate_backward<T>(T*, int, int, int, const T*);                                           \
    template void swiglu_backward<T>(const T*, const T*, const T*, T*, T*, int64_t);                               \
    template double cross_entropy<T>(const T*, int, int);                                                         \
    template void cross_entropy_backward<T>(const T*, int, int, double, T*);                                      \
    template void attention_backward<T>(const T*, const T*, const T*, const T*, int, int, const AttentionShape&,   \
                                        const T*, T*, T*, T*);
SLM_OPS_BACKWARD(float)
SLM_OPS_BACKWARD(double)
#undef SLM_OPS_BACKWARD

}  // namespace slm::ops

