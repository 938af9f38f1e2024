// `slm audit`: what quantization did to a model, in numbers an auditor can check.
//
//   Weights: every tensor of the quantized file is dequantized and compared with the reference tensor (both as
//   f32): RMSE, max |error|, SNR in dB (10 log10(sum ref^2 / sum err^2)), relative Frobenius error
//   (||q - ref|| / ||ref||), bits per weight; the same pooled per layer and per tensor kind.
//   Behaviour: both models run over a text; at every position the KL divergence KL(P_ref || P_quant) of the
//   next-token distributions (mean, median, p99, max), the top-1 agreement, and each model's perplexity.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "json.h"
#include "types.h"

namespace slm {
class Session;
class ThreadPool;
class Model;
namespace gguf { class File; }
}

namespace slm::audit {

// Sums from which every error metric follows; they add up over rows, tensors, layers.
struct ErrorSums {
    int64_t n = 0;           // elements
    double sum_sq_ref = 0;   // sum ref^2
    double sum_sq_err = 0;   // sum (q - ref)^2
    double max_abs_err = 0;  // max |q - ref|
    uint64_t bytes = 0;      // bytes of the quantized data
    void add(const ErrorSums& o);
    double rmse() const;
    // +inf when there is no error at all (a copied tensor), NaN for an all-zero reference with errors.
    double snr_db() const;
    double rel_fro() const;  // 0 when both are zero
    double bpw() const { return n ? 8.0 * double(bytes) / double(n) : 0; }
};

// Accumulates the error of n elements.
ErrorSums compare_values(const float* ref, const float* q, int64_t n);

struct TensorAudit {
    std::string name;
    std::string kind;  // "attn_q", "ffn_down", "token_embd", "attn_norm", ...
    int layer = -1;    // blk.N, else -1
    GgmlType ref_type = GgmlType::F32, q_type = GgmlType::F32;
    bool q_gptq = false;  // the quantized tensor is a GPTQ weight (its parts), q_type then means nothing
    const char* q_type_name() const { return q_gptq ? "gptq4" : type_name(q_type); }
    std::vector<int64_t> shape;
    ErrorSums err;
};

struct GroupAudit {
    std::string key;  // layer number or kind
    int n_tensors = 0;
    ErrorSums err;
};

// "blk.3.attn_q.weight" -> "attn_q"; "token_embd.weight" -> "token_embd".
std::string tensor_kind(const std::string& name);
int tensor_layer(const std::string& name);

struct TextAudit {
    int n_tokens = 0;     // tokens evaluated (including BOS)
    int n_positions = 0;  // positions compared (= n_tokens)
    double kl_mean = 0, kl_median = 0, kl_p99 = 0, kl_max = 0;
    double top1_agreement = 0;  // fraction of positions where both argmaxes agree
    double ppl_ref = 0, ppl_quant = 0;  // over the n_tokens - 1 next-token predictions
    std::vector<double> kl;     // per position
};

// Accumulates per-position comparisons of two logit rows (n_vocab each) into a TextAudit; next_token < 0 at
// the last position (no perplexity term).
class TextAccumulator {
public:
    void add(const float* logits_ref, const float* logits_q, int n_vocab, int32_t next_token);
    TextAudit finish() const;

private:
    std::vector<double> kl_;
    int64_t agree_ = 0;
    double nll_ref_ = 0, nll_q_ = 0;
    int64_t n_nll_ = 0;
};

struct Report {
    std::string ref_path, quant_path;
    std::vector<TensorAudit> tensors;   // in the quantized file's order
    std::vector<GroupAudit> by_layer;   // "0", "1", ..., then "other" (embeddings, output, final norm)
    std::vector<GroupAudit> by_kind;    // in order of first appearance
    ErrorSums total;
    ErrorSums total_quantized;          // only the tensors whose type differs from the reference
    std::optional<TextAudit> text;
};

// Compares every tensor (matched by name; shapes must agree) of two GGUF files. Throws slm::Error naming the
// tensor when one is missing or shaped differently, or a type cannot be dequantized.
// With progress, a line with tensors done, MB/s and ETA goes to stderr.
Report audit_weights(const gguf::File& ref, const gguf::File& quant, ThreadPool& pool, bool progress = false);

// Checks the two models can be compared token by token (same vocabulary and shape); throws slm::Error saying
// what differs.
void check_compatible(const Model& ref, const Model& quant);

// Runs both sessions' models over ids (at most n_ctx tokens, in chunks; each session is cleared first and must
// hold that many positions) and compares their next-token distributions.
TextAudit audit_text(Session& ref, Session& quant, const std::vector<int32_t>& ids, int n_ctx);

// The built-in multilingual sample text (a few hundred tokens in several languages and scripts).
const char* default_text();

// The terminal table, the JSON document, the SVG chart.
std::string format_report(const Report& r);
json::Value to_json(const Report& r);
// Heatmap of the relative Frobenius error by layer (columns) and tensor kind (rows), log colour scale, with
// axis labels, a colour legend and a tooltip per cell; copied (unchanged) tensors are grey.
std::string to_svg(const Report& r);

}  // namespace slm::audit
