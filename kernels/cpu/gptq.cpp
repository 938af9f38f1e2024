// GPTQ-4: 4-bit weights with one fp16 scale and one integer zero point per group of `group_size` input columns
// (Frantar et al., "GPTQ", 2022; the quantizer is src/gptq.cpp). This file is the format's one description:
// the layout, the scalar reference and the CPU matmul. llama.cpp does not know this layout and will not load
// these files.
//
// A weight W maps n_in inputs to n_out outputs (ggml order ne = [n_in, n_out], "one dot product per row").
// It is stored as 3 GGUF tensors, or 4 with act-order, named after the weight ("blk.0.attn_q.weight" becomes
// "blk.0.attn_q.qweight", ...; the ".weight" tensor itself is absent):
//
//   tensor          type  ne (ggml order)         content
//   NAME.qweight    I32   [n_in / 8, n_out]       row o: n_in/8 little-endian words; word j holds stored columns
//                                                 8j .. 8j+7, column 8j+i in bits 4i .. 4i+3, unsigned 0..15
//   NAME.scales     F16   [n_groups, n_out]       s[o][g], n_groups = ceil(n_in / group_size)
//   NAME.zeros      I8    [n_groups, n_out]       z[o][g], the integer zero point (0..15; 8 with --sym)
//   NAME.perm       I32   [n_in]                  act-order only: stored column k is input column perm[k]
//
//        word j of row o:   bits 31..28  27..24  ...  7..4    3..0
//                           col 8j+7     8j+6    ...  8j+1    8j
//
//   W[o][perm[k]] = s[o][k / group_size] * (q[o][k] - z[o][k / group_size])       (perm = identity if absent)
//
// group_size (a multiple of 8) is one per file, the GGUF key slm.gptq.group_size; when it does not divide n_in
// the last group is shorter (SmolLM2's 576 columns at group 128: 4 groups of 128 and one of 64).
//
// Act-order (GPTQ's "desc_act") quantizes columns in order of decreasing Hessian diagonal. AutoGPTQ keeps the
// columns in place and gives each one a group index g_idx[c]; this layout instead stores the columns in the
// order they were quantized, so the groups are contiguous again and a kernel reads weights exactly as without
// act-order; only the input is gathered, x'[k] = x[perm[k]], once per matmul (n_in floats). perm is g_idx's
// stable argsort, so an AutoGPTQ checkpoint converts by permuting its columns.
//
// The dot product, per row and group g of stored columns [k0, k1):
//   sum_k W[o][perm[k]] x[perm[k]] = sum_g s_g * (sum_{k in g} q_k x'_k - z_g * sum_{k in g} x'_k)
// The group sums of x' are shared by every row, so each weight costs one multiply-add of a small integer.
#include "cpu/gptq.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "threadpool.h"

namespace slm::kernels {

namespace {
const WeightPart* find_part(const WeightView& w, const char* role) {
    for (int i = 0; i < w.n_parts; i++)
        if (std::strcmp(w.parts[size_t(i)].role, role) == 0) return &w.parts[size_t(i)];
    return nullptr;
}
int64_t n_groups_of(int64_t n_in, int64_t g) { return g > 0 ? (n_in + g - 1) / g : 0; }
}  // namespace

std::string gptq_check(const WeightView& w) {
    if (w.format != WeightFormat::gptq) return "not a GPTQ weight";
    if (w.n_in <= 0 || w.n_out <= 0) return "empty shape";
    if (w.n_in % 8) return strfmt("%lld input columns are not a multiple of 8", (long long)w.n_in);
    if (w.group_size < 8 || w.group_size % 8)
        return strfmt("group size %lld is not a positive multiple of 8", (long long)w.group_size);
    const int64_t ng = n_groups_of(w.n_in, w.group_size);
    struct Want {
        const char* role;
        GgmlType type;
        int64_t ne0, ne1;
        bool required;
    };
    const Want want[4] = {{"qweight", GgmlType::I32, w.n_in / 8, w.n_out, true},
                          {"scales", GgmlType::F16, ng, w.n_out, true},
                          {"zeros", GgmlType::I8, ng, w.n_out, true},
                          {"perm", GgmlType::I32, w.n_in, 1, false}};
    for (const Want& q : want) {
        const WeightPart* p = find_part(w, q.role);
        if (!p) {
            if (q.required) return strfmt("missing part %s", q.role);
            continue;
        }
        if (p->type != q.type || p->ne0 != q.ne0 || p->ne1 != q.ne1 || !p->data)
            return strfmt("part %s is %s [%lld, %lld], expected %s [%lld, %lld]", q.role, type_name(p->type),
                          (long long)p->ne0, (long long)p->ne1, type_name(q.type), (long long)q.ne0,
                          (long long)q.ne1);
    }
    if (const WeightPart* p = find_part(w, "perm")) {
        // A permutation: every column exactly once (a bad file must not make the gather read out of bounds).
        std::vector<uint8_t> seen(size_t(w.n_in), 0);
        const int32_t* perm = static_cast<const int32_t*>(p->data);
        for (int64_t k = 0; k < w.n_in; k++) {
            if (perm[k] < 0 || perm[k] >= w.n_in || seen[size_t(perm[k])]) return "part perm is not a permutation";
            seen[size_t(perm[k])] = 1;
        }
    }
    return "";
}

GptqParts gptq_parts(const WeightView& w) {
    GptqParts p;
    p.qweight = static_cast<const uint32_t*>(find_part(w, "qweight")->data);
    p.scales = static_cast<const fp16_t*>(find_part(w, "scales")->data);
    p.zeros = static_cast<const int8_t*>(find_part(w, "zeros")->data);
    if (const WeightPart* pp = find_part(w, "perm")) p.perm = static_cast<const int32_t*>(pp->data);
    p.n_groups = n_groups_of(w.n_in, w.group_size);
    return p;
}

WeightView gptq_view(int64_t n_in, int64_t n_out, int64_t group_size, const uint32_t* qweight, const fp16_t* scales,
                     const int8_t* zeros, const int32_t* perm) {
    WeightView w;
    w.format = WeightFormat::gptq;
    w.type = GgmlType::I32;
    w.data = qweight;
    w.n_in = n_in;
    w.n_out = n_out;
    w.group_size = group_size;
    const int64_t ng = n_groups_of(n_in, group_size);
    w.parts[0] = {kGptqRoles[0], GgmlType::I32, qweight, n_in / 8, n_out};
    w.parts[1] = {kGptqRoles[1], GgmlType::F16, scales, ng, n_out};
    w.parts[2] = {kGptqRoles[2], GgmlType::I8, zeros, ng, n_out};
    w.n_parts = 3;
    if (perm) {
        w.parts[3] = {kGptqRoles[3], GgmlType::I32, perm, n_in, 1};
        w.n_parts = 4;
    }
    return w;
}

void gptq_dequantize_row(const WeightView& w, int64_t row, float* out) {
    const GptqParts p = gptq_parts(w);
    const uint32_t* q = p.qweight + row * (w.n_in / 8);
    for (int64_t k = 0; k < w.n_in; k++) {
        const int64_t g = k / w.group_size;
        const float s = fp16_to_fp32(p.scales[row * p.n_groups + g]);
        const int z = p.zeros[row * p.n_groups + g];
        const int v = int((q[k / 8] >> (4 * (k % 8))) & 15u);
        out[p.perm ? p.perm[k] : k] = s * float(v - z);
    }
}

double gptq_dot_reference(const WeightView& w, int64_t row, const float* x) {
    std::vector<float> r(size_t(w.n_in));
    gptq_dequantize_row(w, row, r.data());
    double acc = 0;
    for (int64_t k = 0; k < w.n_in; k++) acc += double(r[size_t(k)]) * double(x[k]);
    return acc;
}

void gptq_matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
    const GptqParts p = gptq_parts(w);
    const int64_t K = w.n_in, G = w.group_size, ng = p.n_groups;
    std::vector<float> xp(static_cast<size_t>(K)), gsum(static_cast<size_t>(ng));
    for (int64_t t = 0; t < n; t++) {
        const float* xt = x + t * K;
        if (p.perm) {
            for (int64_t k = 0; k < K; k++) xp[size_t(k)] = xt[p.perm[k]];
            xt = xp.data();
        }
        for (int64_t g = 0; g < ng; g++) {
            float s = 0;
            for (int64_t k = g * G; k < std::min(K, (g + 1) * G); k++) s += xt[k];
            gsum[size_t(g)] = s;
        }
        float* yt = y + t * w.n_out;
        pool.parallel_for(w.n_out, 16, [&](int64_t r0, int64_t r1, int) {
            for (int64_t o = r0; o < r1; o++) {
                const uint32_t* q = p.qweight + o * (K / 8);
                float acc = 0;
                for (int64_t g = 0; g < ng; g++) {
                    const int64_t k0 = g * G, k1 = std::min(K, k0 + G);
                    // 8 partial sums (one per nibble position) keep the loop free of a serial dependency.
                    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    for (int64_t k = k0; k < k1; k += 8) {
                        const uint32_t word = q[k / 8];
                        for (int i = 0; i < 8; i++) part[i] += float((word >> (4 * i)) & 15u) * xt[k + i];
                    }
                    const float dot = ((part[0] + part[1]) + (part[2] + part[3])) +
                                      ((part[4] + part[5]) + (part[6] + part[7]));
                    acc += fp16_to_fp32(p.scales[o * ng + g]) * (dot - float(p.zeros[o * ng + g]) * gsum[size_t(g)]);
                }
                yt[o] = acc;
            }
        });
    }
}

}  // namespace slm::kernels
