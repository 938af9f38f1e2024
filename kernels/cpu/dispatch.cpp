#include "cpu/kernels.h"

#include "common.h"
#include "cpu/cpu_features.h"

namespace slm::kernels {

namespace {
const TypeOps* lookup(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return &ops_f32();
        case GgmlType::F16: return &ops_f16();
        case GgmlType::BF16: return &ops_bf16();
        case GgmlType::Q4_0: return &ops_q4_0();
        case GgmlType::Q4_1: return &ops_q4_1();
        case GgmlType::Q5_0: return &ops_q5_0();
        case GgmlType::Q5_1: return &ops_q5_1();
        case GgmlType::Q8_0: return &ops_q8_0();
        case GgmlType::Q8_1: return &ops_q8_1();
        case GgmlType::Q2_K: return &ops_q2_K();
        case GgmlType::Q3_K: return &ops_q3_K();
        case GgmlType::Q4_K: return &ops_q4_K();
        case GgmlType::Q5_K: return &ops_q5_K();
        case GgmlType::Q6_K: return &ops_q6_K();
        case GgmlType::Q8_K: return &ops_q8_K();
        default: return nullptr;
    }
}
}  // namespace

bool has_ops(GgmlType t) {
    const TypeOps* o = lookup(t);
    return o && o->dequantize;
}

const TypeOps& type_ops(GgmlType t) {
    const TypeOps* o = lookup(t);
    if (!o || !o->dequantize) fail("tensor type %s is not supported by slm's CPU kernels", type_name(t));
    return *o;
}

vec_dot_fn best_dot(GgmlType t) {
    const TypeOps& o = type_ops(t);
    SimdLevel l = simd_level();
    if (l >= SimdLevel::avx512 && o.dot_avx512) return o.dot_avx512;
    if (l >= SimdLevel::avx2 && o.dot_avx2) return o.dot_avx2;
    if (!o.dot_scalar) fail("tensor type %s has no dot product kernel", type_name(t));
    return o.dot_scalar;
}

}  // namespace slm::kernels
