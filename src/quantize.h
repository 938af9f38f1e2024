// `slm quantize`: the per-tensor type plan of llama.cpp's quantization mixes (Q4_K_M, Q3_K_S, ...) for llama
// models without an importance matrix, and the driver that converts a GGUF file by that plan.
//
// The plan follows llama.cpp's llama_tensor_get_type() (src/llama-quant.cpp) rule for rule as it applies to
// the llama architecture: 1-D tensors and norms stay as they are, the output matrix (or the token embedding
// when it is tied to the output) gets Q6_K (Q8_0 stays Q8_0), attn_v / ffn_down get more bits on chosen layers,
// attn_output / attn_qkv get more bits in some mixes, and a K type whose row length is not a multiple of 256
// falls back to a legacy type. The counters llama.cpp uses to number layers run over tensors sorted by layer
// number and then name; make_plan reproduces that order, so the plan does not depend on the file's order.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "types.h"

namespace slm {
class ThreadPool;
namespace gguf { class File; }
}

namespace slm::quant {

// llama.cpp's `enum llama_ftype` (what general.file_type holds); values are on-disk ids, never renumber.
enum class FileType : uint32_t {
    ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, MOSTLY_Q4_1 = 3, MOSTLY_Q8_0 = 7, MOSTLY_Q5_0 = 8,
    MOSTLY_Q5_1 = 9, MOSTLY_Q2_K = 10, MOSTLY_Q3_K_S = 11, MOSTLY_Q3_K_M = 12, MOSTLY_Q3_K_L = 13,
    MOSTLY_Q4_K_S = 14, MOSTLY_Q4_K_M = 15, MOSTLY_Q5_K_S = 16, MOSTLY_Q5_K_M = 17, MOSTLY_Q6_K = 18,
    MOSTLY_IQ4_NL = 25, MOSTLY_BF16 = 32,
};

// A quantization mix: its name on the command line, the file type it records, and the type most tensors get.
struct Mix {
    const char* name;
    FileType ftype;
    GgmlType default_type;
};
// The mixes slm can produce, in the order `--help` lists them.
const std::vector<Mix>& all_mixes();
// Case-insensitive; also accepts llama-quantize's aliases Q3_K, Q4_K, Q5_K (= the _M mixes). nullopt if unknown.
std::optional<Mix> mix_from_name(std::string_view name);
std::string mix_names();  // "Q8_0, Q6_K, ..." for error messages

// What the plan needs to know about the model (llama.* metadata).
struct ModelShape {
    std::string arch = "llama";
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int n_expert = 0;
    int n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
    // llama.cpp's LLM_TYPE_70B for the llama architecture: 80 layers with grouped-query attention.
    bool is_70b() const { return n_layer == 80 && n_head != n_head_kv; }
};
// Reads the shape from a GGUF file; throws slm::Error if general.architecture is not "llama" or keys are bad.
ModelShape model_shape(const gguf::File& f);

struct TensorDesc {
    std::string name;
    std::array<int64_t, 4> ne{1, 1, 1, 1};  // ggml order
    uint32_t n_dims = 1;                    // as stored in the file
    GgmlType type = GgmlType::F32;
    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

struct PlanEntry {
    TensorDesc tensor;
    GgmlType to = GgmlType::F32;
    bool convert = false;   // false: bytes are copied unchanged (to == tensor.type)
    bool fallback = false;  // the mix's type did not fit the row length; a fallback type was chosen
    uint64_t bytes_from = 0, bytes_to = 0;
};

struct Plan {
    Mix mix{};
    std::vector<PlanEntry> entries;  // in the order of the input tensors
    uint64_t bytes_from = 0, bytes_to = 0;
    int64_t n_elements = 0;
    int n_fallback = 0;
    double bpw_from() const { return n_elements ? 8.0 * double(bytes_from) / double(n_elements) : 0; }
    double bpw_to() const { return n_elements ? 8.0 * double(bytes_to) / double(n_elements) : 0; }
};

// Whether llama.cpp quantizes this tensor at all (2-D+ weights that are not norms, gates of experts, ...).
bool is_quantizable(const TensorDesc& t);

// The type plan. Throws slm::Error when a tensor's row length fits neither the mix's type nor any fallback.
Plan make_plan(const Mix& mix, const ModelShape& shape, const std::vector<TensorDesc>& tensors);

// Human-readable plan: one line per tensor (name, shape, from -> to, bytes before/after), then totals and
// bits per weight.
std::string format_plan(const Plan& plan);

// The order llama-quantize writes tensors in (llama.cpp's weights_map: tensors outside blocks first, then block
// by block in numeric order, by name within each): indices into `names`.
std::vector<size_t> tensor_write_order(const std::vector<std::string>& names);

// Converts one tensor (data of type t.type) to `to`, rows split over the pool. Returns the new bytes.
std::vector<uint8_t> convert_tensor(const TensorDesc& t, const uint8_t* data, GgmlType to, ThreadPool& pool);

struct QuantizeOptions {
    bool allow_requantize = false;  // quantized inputs are refused unless set (then dequantized with a warning)
    bool progress = true;           // progress line on stderr
};

struct QuantizeResult {
    Plan plan;
    double seconds = 0;
    double mb_per_s = 0;  // MB (1e6 bytes) of source tensor data converted per second
};

// Reads in_path, checks it is a llama model, plans, converts every tensor and writes out_path with all input
// metadata, general.quantization_version = 2 and general.file_type = the mix's file type.
QuantizeResult quantize_file(const std::string& in_path, const std::string& out_path, const Mix& mix,
                             ThreadPool& pool, const QuantizeOptions& opts = {});

}  // namespace slm::quant
