// LoRA adapters in llama.cpp's GGUF layout (what llama-adapter.cpp reads and what slm's trainer will write):
//   general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32)
//   for each adapted weight W (ne [n_in, n_out]) named "<base>":  "<base>.lora_a" ne [n_in, r]
//                                                                 "<base>.lora_b" ne [r, n_out]
//   effect: W x  ->  W x + scale * B (A x),  scale = user_scale * alpha / r  (user_scale only when alpha = 0)
#pragma once
#include <string>
#include <vector>

#include "gguf.h"
#include "tensor.h"

namespace slm {

struct LoraTensorPair {
    std::string base_name;  // the adapted weight's tensor name, e.g. "blk.0.attn_q.weight"
    WeightView a, b;        // a: n_in -> r, b: r -> n_out
    int64_t rank() const { return a.n_out; }
};

struct LoraAdapter {
    float alpha = 0.0f;  // adapter.lora.alpha (0 when absent: then the scale is the user scale alone)
    std::vector<LoraTensorPair> pairs;
    // The factor B(Ax) is multiplied by, for a user scale: user_scale * alpha / r (alpha 0: user_scale).
    float effective_scale(float user_scale, int64_t rank) const;
};

// Validates the metadata and pairs every .lora_a with its .lora_b (ranks equal, shapes consistent). Views point
// into f's data, so f must outlive the result. Throws slm::Error naming the file and tensor on any problem.
LoraAdapter parse_lora_adapter(const gguf::File& f);

}  // namespace slm
